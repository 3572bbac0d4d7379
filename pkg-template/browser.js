// Browser (and bundler) entry: fetch and compile the .wasm next to this file. Top-level
// await keeps the API the same as in Node: once the import resolves, everything is ready.
// The .wasm's URL is written in the one form (a URL constructed from a string literal and
// import.meta.url) that webpack, Vite and Rollup recognise and emit as an asset.
import init, { __tenantryErrorClass, __anonymousUser } from "./tenantry.js";

const wasmUrl = new URL("./tenantry_bg.wasm", import.meta.url);
await init({ module_or_path: fetch(wasmUrl).then(wasmResponse) });

// A missing .wasm otherwise fails inside the glue as "expected magic word 00 61 73 6d",
// which names neither the file nor the usual causes.
function wasmResponse(response) {
  const html = /^text\/html\b/i.test(response.headers.get("content-type") ?? "");
  if (response.ok && !html) return response;
  throw new Error(
    `tenantry: ${wasmUrl} answered ${html ? "with an HTML page" : `HTTP ${response.status}`} instead of the .wasm. ` +
      `A bundler that does not emit the files a module locates through import.meta.url (esbuild) needs ` +
      `tenantry/tenantry_bg.wasm copied next to the bundle; Vite 6 and 7's dev server needs ` +
      `optimizeDeps: { exclude: ["tenantry"] } ("Bundlers" in tenantry's README).`,
  );
}

export { Agent, demoModel, demoEmbedder, tool, memoryStorage, indexedDbStorage, openai, openaiEmbeddings, anthropic, verifyAudit } from "./tenantry.js";
export { workersAI } from "./tenantry.js";
export { durableObjectStorage } from "./durable-object-storage.js";
export const TenantryError = __tenantryErrorClass();
export const ANONYMOUS_USER = __anonymousUser();
