// Node entry: read the .wasm next to this file and instantiate it synchronously, so the
// package is ready as soon as `import` resolves (no top-level await needed).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { initSync, __tenantryErrorClass, __anonymousUser } from "./tenantry.js";

// V8 11.x (Node 20) can abort the whole process ("Fatal error: unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when TurboFan code that inlined a JS-to-wasm
// call is lazily deoptimized; a hot loop awaiting agent methods hit it at ~20k calls in
// bench/memory.mjs. Turning that one inlining off costs nothing measurable here and is
// the only switch that avoids the crash; newer V8s are left alone.
if (process.versions.v8.startsWith("11.")) setFlagsFromString("--no-turbo-inline-js-wasm-calls");

// Once a bundler has inlined this file, "next to this file" means next to the bundle: an
// ES module bundle still has import.meta.url, a CommonJS one (esbuild --format=cjs) has an
// empty import.meta and only __dirname.
const wasmPath = import.meta.url
  ? fileURLToPath(new URL("./tenantry_bg.wasm", import.meta.url))
  : join(__dirname, "tenantry_bg.wasm");
let bytes;
try {
  bytes = readFileSync(wasmPath);
} catch (e) {
  if (e?.code !== "ENOENT") throw e;
  throw new Error(
    `tenantry: ${wasmPath} does not exist. A bundle that includes tenantry needs ` +
      `tenantry/tenantry_bg.wasm copied next to it, or tenantry left external ` +
      `("Bundlers" in tenantry's README).`,
    { cause: e },
  );
}
initSync({ module: bytes });

export { Agent, demoModel, demoEmbedder, tool, memoryStorage, indexedDbStorage, openai, openaiEmbeddings, anthropic, verifyAudit } from "./tenantry.js";
export { workersAI } from "./tenantry.js";
export { durableObjectStorage } from "./durable-object-storage.js";
export const TenantryError = __tenantryErrorClass();
export const ANONYMOUS_USER = __anonymousUser();
