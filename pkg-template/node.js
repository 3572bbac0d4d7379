// Node entry: read the .wasm next to this file and instantiate it synchronously, so the
// package is ready as soon as `import` resolves (no top-level await needed).
import { readFileSync } from "node:fs";
import { initSync, __tenantryErrorClass } from "./tenantry.js";

initSync({ module: readFileSync(new URL("./tenantry_bg.wasm", import.meta.url)) });

export { Agent, demoModel, memoryStorage, indexedDbStorage, openai, anthropic, verifyAudit } from "./tenantry.js";
export const TenantryError = __tenantryErrorClass();
