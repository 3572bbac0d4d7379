// Bundles the demo Worker the way wrangler would (esbuild, `workerd` export condition, the
// .wasm kept as a separate module) and runs it under Miniflare (workerd) on 127.0.0.1.
// Shared by `npm start` and the Worker test, so what is tested is what is served.
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { mkdirSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Bundles www/worker/src/index.js (or another Worker, `entry`) into `outdir`. `tenantry`
 * resolves as a package under `modulesDir` (its `node_modules`-like folder), so a test can
 * point it at an installed tarball and `npm start` at pkg/.
 */
export async function bundleWorker({ modulesDir, outdir, entry = join(root, "www", "worker", "src", "index.js") }) {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [entry],
    outdir,
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    nodePaths: [modulesDir],
    // The runtime's own modules (cloudflare:workers for DurableObject).
    external: ["cloudflare:*"],
    // Workers compile .wasm imports ahead of time: keep the file, import it as a module.
    loader: { ".wasm": "copy" },
    assetNames: "[name]-[hash]",
    logLevel: "warning",
  });
  return join(outdir, basename(entry));
}

/** A folder with `tenantry` linked to pkg/, for bundling against the local build. */
export function localModulesDir() {
  const dir = join(root, "target", "worker-modules");
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, "tenantry"), { force: true, recursive: true });
  symlinkSync(join(root, "pkg"), join(dir, "tenantry"), "dir");
  return dir;
}

const DURABLE_OBJECTS = { TENANTS: { className: "TenantAgent", useSQLite: true }, ORGS: { className: "OrgAgent", useSQLite: true } };

/**
 * Starts workerd on 127.0.0.1; `port: 0` picks a free one. Resolves to { mf, url }.
 * The TENANTS binding is the Worker's per-tenant Durable Object, SQLite-backed as in
 * wrangler.toml. `persist` (a folder) keeps the objects' storage across restarts; without
 * it storage lives as long as this Miniflare. `outboundService` (tests) answers the Worker's
 * outgoing fetches instead of the network. `assets` (a folder, e.g. the demo page's build)
 * is served as the Worker's static assets, as wrangler's `[assets]` would: a request for a
 * file there gets the file, everything else reaches the Worker. `durableObjects` replaces the
 * demo's bindings for another Worker (the bench's floor).
 */
export async function startWorker({ scriptPath, port = 8787, bindings = {}, outboundService, persist, assets, durableObjects = DURABLE_OBJECTS }) {
  const mf = new Miniflare({
    scriptPath,
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01",
    host: "127.0.0.1",
    port,
    bindings,
    durableObjects,
    ...(persist ? { durableObjectsPersist: persist } : {}),
    ...(outboundService ? { outboundService } : {}),
    // Without has_user_worker the assets router answers 404 itself instead of calling the Worker.
    ...(assets ? { assets: { directory: assets, routerConfig: { has_user_worker: true } } } : {}),
  });
  const url = await mf.ready;
  return { mf, url };
}
