// Builds the demo page into `outdir`/page/: the app bundled by esbuild, its HTML and CSS,
// and the package's browser files under page/pkg/. `tenantry` stays external and is
// resolved by the page's import map to page/pkg/browser.js, so the in-browser mode runs the
// package's own `browser` entry, which fetches tenantry_bg.wasm next to itself.
//
// The result is a static-assets folder: `npm start` hands it to Miniflare as the Worker's
// static assets, so the page and the API share one origin (no CORS needed).
import { build } from "esbuild";
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

// What the browser entry needs; the Node/workerd entries, types and CLI are not served.
const PKG_FILES = ["browser.js", "durable-object-storage.js", "tenantry.js", "tenantry_bg.wasm", "snippets"];

/** Builds the page for the package in `pkgDir`; resolves to `outdir` (the assets root). */
export async function buildPage({ outdir, pkgDir }) {
  if (!existsSync(join(pkgDir, "browser.js"))) throw new Error(`${pkgDir} holds no built package: run \`node scripts/build.mjs --if-needed\``);
  rmSync(outdir, { recursive: true, force: true });
  const site = join(outdir, "page");
  mkdirSync(join(site, "pkg"), { recursive: true });
  await build({
    entryPoints: [join(here, "src", "main.js")],
    outfile: join(site, "app.js"),
    bundle: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    external: ["tenantry"],
    logLevel: "warning",
  });
  for (const f of ["index.html", "style.css"]) cpSync(join(here, f), join(site, f));
  for (const f of readdirSync(pkgDir)) {
    if (PKG_FILES.includes(f)) cpSync(join(pkgDir, f), join(site, "pkg", f), { recursive: true, dereference: true });
  }
  return outdir;
}
