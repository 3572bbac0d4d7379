// The packed package built into a small app by each bundler we document (README, "Bundlers"),
// with exactly the recipe documented for it, and the app run where the bundle is meant to
// run: headless Chromium for Vite 6/7/8 (build and dev server), webpack 5 and esbuild's
// browser bundle; workerd (Miniflare) for wrangler's. Vite 6's build, Vite 7's dev server
// and esbuild's browser bundle are also shown failing without their recipe, so the README
// asks for no more than is needed, and with the package's own error where it has one.
// The bundlers are installed once into target/bundlers/ (tests/node_support/bundlers.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, normalize, sep } from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { build as esbuild } from "esbuild";
import { Miniflare } from "miniflare";
import { chromium } from "playwright-core";
import { root } from "../node_support/package.mjs";
import { EXPECTED, appDir, bundlerTools } from "../node_support/bundlers.mjs";

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const CLASSIC_PAGE = '<!doctype html><html><body><script src="./main.js"></script></body></html>';
const MODULE_PAGE = '<!doctype html><html><body><script type="module" src="./browser.js"></script></body></html>';

let tools;
let browser;

before(async () => {
  tools = bundlerTools();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(() => browser?.close());

/**
 * Serves `dir` at the root of a loopback origin, as a static host would serve a build's
 * output (a missing file is a 404), and loads its index.html in Chromium: the app's result,
 * or the page's first error.
 */
async function runBuilt(dir) {
  const server = createServer(async (req, res) => {
    const file = normalize(join(dir, decodeURIComponent(new URL(req.url, "http://x").pathname)));
    if (!file.startsWith(dir + sep)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    return await runPage(`http://127.0.0.1:${server.address().port}/index.html`);
  } finally {
    server.close();
  }
}

/** Loads `url` and resolves to what the app set, or to the page's first error. */
async function runPage(url) {
  const page = await browser.newPage();
  try {
    const failed = new Promise((resolve) => page.on("pageerror", (e) => resolve({ pageError: e.message })));
    await page.goto(url);
    const done = page.waitForFunction(() => globalThis.tenantryResult, null, { timeout: 30_000 }).then(() => page.evaluate(() => globalThis.tenantryResult));
    return await Promise.race([done, failed]);
  } finally {
    await page.close();
  }
}

/** One Vite major in its own process (tests/bundlers/vite.mjs). */
function vite(major, command, args) {
  const child = spawn(process.execPath, [join(root, "tests", "bundlers", "vite.mjs"), tools, String(major), command, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const line = new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", (l) => resolve(JSON.parse(l)));
    child.once("exit", (code) => reject(new Error(`vite ${major} ${command} exited (${code}) before answering: ${stderr}`)));
  });
  return { child, line };
}

async function viteBuild(major, app, config = {}) {
  const { line } = vite(major, "build", [app, join(app, "dist"), JSON.stringify(config)]);
  return line;
}

async function withViteDev(major, app, config, fn) {
  const { child, line } = vite(major, "dev", [app, JSON.stringify(config)]);
  try {
    const { url } = await line;
    return await fn(url);
  } finally {
    child.kill();
  }
}

// The recipes as the README gives them.
const VITE6 = { build: { target: "es2022" }, optimizeDeps: { exclude: ["tenantry"] } };
const VITE7 = { optimizeDeps: { exclude: ["tenantry"] } };

test("Vite 8: build and dev server with no configuration", async () => {
  const app = appDir("vite8");
  assert.deepEqual(await viteBuild(8, app), { ok: true });
  assert.ok(readdirSync(join(app, "dist", "assets")).some((f) => f.endsWith(".wasm")), "the .wasm is emitted");
  assert.deepEqual(await runBuilt(join(app, "dist")), EXPECTED);
  await withViteDev(8, app, {}, async (url) => assert.deepEqual(await runPage(url), EXPECTED));
});

test("Vite 7: build with no configuration; the dev server needs optimizeDeps.exclude", async () => {
  const app = appDir("vite7");
  assert.deepEqual(await viteBuild(7, app), { ok: true });
  assert.deepEqual(await runBuilt(join(app, "dist")), EXPECTED);
  // Pre-bundled into node_modules/.vite/deps, the entry looks for the .wasm there and the dev
  // server answers with its index.html: the package's error says so and names the recipe.
  await withViteDev(7, app, {}, async (url) => {
    const r = await runPage(url);
    assert.match(r.pageError ?? "", /tenantry: \S+tenantry_bg\.wasm answered with an HTML page instead of the \.wasm\..*optimizeDeps: \{ exclude: \["tenantry"\] \}/);
  });
  await withViteDev(7, appDir("vite7-recipe"), VITE7, async (url) => assert.deepEqual(await runPage(url), EXPECTED));
});

test("Vite 6: build and dev server with build.target es2022 and optimizeDeps.exclude", async () => {
  // Vite 6 builds for browsers without top-level await unless told otherwise.
  const plain = await viteBuild(6, appDir("vite6"));
  assert.match(plain.error ?? "", /Top-level await is not available in the configured target environment/);
  const app = appDir("vite6-recipe");
  assert.deepEqual(await viteBuild(6, app, VITE6), { ok: true });
  assert.deepEqual(await runBuilt(join(app, "dist")), EXPECTED);
  await withViteDev(6, app, VITE6, async (url) => assert.deepEqual(await runPage(url), EXPECTED));
});

test("webpack 5 with no configuration, and no warning but its asset-size advice", async () => {
  const app = appDir("webpack5");
  const { default: webpack } = await import(pathToFileURL(join(tools, "node_modules", "webpack", "lib", "index.js")).href);
  const stats = await new Promise((resolve, reject) =>
    webpack({ mode: "production", context: app, entry: "./browser.js", output: { path: join(app, "dist") } }, (err, s) => (err ? reject(err) : resolve(s))),
  );
  const { errors, warnings } = stats.toJson({ all: false, errors: true, warnings: true });
  assert.deepEqual(errors, []);
  assert.deepEqual(warnings.map((w) => w.message).filter((m) => !/asset size limit|entrypoint size limit|performance recommendations/.test(m)), []);
  writeFileSync(join(app, "dist", "index.html"), CLASSIC_PAGE);
  assert.deepEqual(await runBuilt(join(app, "dist")), EXPECTED);
});

test("esbuild for the browser: runs once the .wasm is copied beside the bundle", async () => {
  const app = appDir("esbuild-browser");
  const dist = join(app, "dist");
  const result = await esbuild({ entryPoints: [join(app, "browser.js")], bundle: true, format: "esm", outdir: dist, logLevel: "silent" });
  assert.deepEqual(result.warnings, []);
  writeFileSync(join(dist, "index.html"), MODULE_PAGE);
  // esbuild does not emit files located through import.meta.url: the fetch is a 404, and the
  // package's error says which file and what to do.
  const missing = await runBuilt(dist);
  assert.match(missing.pageError ?? "", /tenantry: \S+tenantry_bg\.wasm answered HTTP 404 instead of the \.wasm\. A bundler that does not emit the files a module locates through import\.meta\.url \(esbuild\) needs tenantry\/tenantry_bg\.wasm copied next to the bundle/);
  copyFileSync(createRequire(join(app, "browser.js")).resolve("tenantry/tenantry_bg.wasm"), join(dist, "tenantry_bg.wasm"));
  assert.deepEqual(await runBuilt(dist), EXPECTED);
});

test("wrangler deploy --dry-run bundles a Worker with a Durable Object, and the bundle runs under workerd", async () => {
  const app = appDir("wrangler");
  copyFileSync(join(root, "tests", "worker", "rpc-worker.js"), join(app, "worker.js"));
  writeFileSync(
    join(app, "wrangler.toml"),
    [
      'name = "tenantry-bundler-test"',
      'main = "worker.js"',
      'compatibility_date = "2026-04-21"',
      "[[durable_objects.bindings]]",
      'name = "TENANT"',
      'class_name = "Tenant"',
      "[[migrations]]",
      'tag = "v1"',
      'new_sqlite_classes = ["Tenant"]',
    ].join("\n") + "\n",
  );
  execFileSync(process.execPath, [join(tools, "node_modules", "wrangler", "bin", "wrangler.js"), "deploy", "--dry-run", "--outdir", "dist"], {
    cwd: app,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", WRANGLER_LOG_PATH: join(app, "logs") },
  });
  const dist = join(app, "dist");
  assert.ok(readdirSync(dist).some((f) => f.endsWith("tenantry_bg.wasm")), "wrangler keeps the .wasm a module of its own");
  const mf = new Miniflare({
    scriptPath: join(dist, "worker.js"),
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-21",
    durableObjects: { TENANT: { className: "Tenant", useSQLite: true } },
  });
  try {
    const res = await mf.dispatchFetch("http://worker.test/run?input=My+name+is+Alice&user=alice");
    assert.deepEqual(await res.json(), { text: "Nice to meet you, Alice! I'll remember your name." });
    const bad = await mf.dispatchFetch("http://worker.test/run?input=hi&user=");
    assert.equal((await bad.json()).revived.code, "invalid_user_id");
  } finally {
    await mf.dispose();
  }
});
