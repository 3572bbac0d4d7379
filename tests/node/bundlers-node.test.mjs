// The packed package bundled for Node with esbuild (the recipes of "Bundlers" in the
// README), each bundle run in a fresh Node process: bundled in with the .wasm copied next
// to the bundle, as an ES module and as CommonJS, or left external. And the package's own
// files bundle without a warning.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { build } from "esbuild";
import { root } from "../node_support/package.mjs";
import { EXPECTED, appDir } from "../node_support/bundlers.mjs";

function runNode(file) {
  const r = spawnSync(process.execPath, [file], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function bundle(app, options) {
  const result = await build({ entryPoints: [join(app, "node.js")], bundle: true, platform: "node", outdir: join(app, "dist"), logLevel: "silent", ...options });
  assert.deepEqual(result.warnings, []);
}

// The recipe: the .wasm, found through the package's own export, copied beside the bundle.
const copyWasm = (app) =>
  copyFileSync(createRequire(join(app, "node.js")).resolve("tenantry/tenantry_bg.wasm"), join(app, "dist", "tenantry_bg.wasm"));

for (const [format, ext] of [["esm", ".js"], ["cjs", ".cjs"]]) {
  test(`esbuild --platform=node --format=${format}, tenantry bundled in: runs once the .wasm is copied beside the bundle`, async () => {
    const app = appDir(`esbuild-node-${format}`);
    await bundle(app, { format, outExtension: { ".js": ext } });
    const file = join(app, "dist", `node${ext}`);
    const missing = runNode(file);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /tenantry: \S+tenantry_bg\.wasm does not exist\. A bundle that includes tenantry needs tenantry\/tenantry_bg\.wasm copied next to it/);
    copyWasm(app);
    const ran = runNode(file);
    assert.equal(ran.status, 0, ran.stderr);
    assert.deepEqual(JSON.parse(ran.stdout), EXPECTED);
  });

  test(`esbuild --platform=node --format=${format} --packages=external: runs with no copy`, async () => {
    const app = appDir(`esbuild-node-external-${format}`);
    await bundle(app, { format, outExtension: { ".js": ext }, packages: "external" });
    const ran = runNode(join(app, "dist", `node${ext}`));
    assert.equal(ran.status, 0, ran.stderr);
    assert.deepEqual(JSON.parse(ran.stdout), EXPECTED);
  });
}

test("each entry of the built package bundles without a warning from outside node_modules (a file: dependency, a workspace)", async () => {
  // esbuild hides warnings about files under node_modules: bundling pkg/ itself shows them.
  const pkg = join(root, "pkg");
  for (const [entry, options] of [
    ["browser.js", { platform: "browser" }],
    ["node.js", { platform: "node" }],
    ["workerd.js", { platform: "neutral", loader: { ".wasm": "copy" } }],
  ]) {
    const result = await build({ entryPoints: [join(pkg, entry)], bundle: true, format: "esm", write: false, outdir: "out", logLevel: "silent", ...options });
    assert.deepEqual(result.warnings.map((w) => w.text), [], entry);
  }
});
