// Browser (and bundler) entry: fetch and compile the .wasm next to this file. Top-level
// await keeps the API the same as in Node: once the import resolves, everything is ready.
import init, { __tenantryErrorClass, __anonymousUser } from "./tenantry.js";

await init({ module_or_path: new URL("./tenantry_bg.wasm", import.meta.url) });

export { Agent, demoModel, demoEmbedder, tool, memoryStorage, indexedDbStorage, openai, openaiEmbeddings, anthropic, verifyAudit } from "./tenantry.js";
export const TenantryError = __tenantryErrorClass();
export const ANONYMOUS_USER = __anonymousUser();
