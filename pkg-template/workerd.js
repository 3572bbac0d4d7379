// Cloudflare Workers entry: workerd (and wrangler/Miniflare) import a .wasm file as a
// compiled WebAssembly.Module, which initSync instantiates without any fetch. Nothing here
// draws random numbers: Workers forbid that at global scope (run ids are drawn per run).
import wasm from "./tenantry_bg.wasm";
import { initSync, __tenantryErrorClass, __anonymousUser } from "./tenantry.js";

initSync({ module: wasm });

export { Agent, demoModel, demoEmbedder, tool, memoryStorage, indexedDbStorage, openai, openaiEmbeddings, anthropic, verifyAudit } from "./tenantry.js";
export { workersAI } from "./tenantry.js";
export { durableObjectStorage } from "./durable-object-storage.js";
export const TenantryError = __tenantryErrorClass();
export const ANONYMOUS_USER = __anonymousUser();
