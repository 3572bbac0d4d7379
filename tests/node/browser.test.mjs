// The packed package's `browser` entry in headless Chromium: served from the scratch
// project's node_modules and imported by name through an import map, as a page would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { installedPackage } from "../support/package.mjs";

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".json": "application/json" };
const PAGE = `<!doctype html><script type="importmap">{"imports":{"tenantry":"/node_modules/tenantry/browser.js"}}</script><p>tenantry</p>`;

let server;
let browser;
let origin;

before(async () => {
  const { project } = installedPackage();
  server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    const file = normalize(join(project, path));
    if (!file.startsWith(project)) return res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("the browser entry runs one shared agent for two users in Chromium", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(origin + "/");
  const result = await page.evaluate(async () => {
    const { Agent, demoModel, TenantryError } = await import("tenantry");
    const agent = new Agent({ model: demoModel() });
    await agent.run("My name is Alice", "alice");
    const [alice, bob] = await Promise.all([agent.run("What's my name?", "alice"), agent.run("What's my name?", "bob")]);
    let code = null;
    try {
      await agent.run("hi", "");
    } catch (e) {
      code = e instanceof TenantryError ? e.code : `not a TenantryError: ${e}`;
    }
    // Persistence in the page's IndexedDB: a second agent (a reload) finds Alice there.
    const { indexedDbStorage } = await import("tenantry");
    const storage = indexedDbStorage("tenantry-package-test");
    const first = new Agent({ model: demoModel(), memory: { storage } });
    await first.run("My name is Alice", "alice");
    const second = new Agent({ model: demoModel(), memory: { storage: indexedDbStorage("tenantry-package-test") } });
    const remembered = (await second.run("What's my name?", "alice")).text;
    await second.clearAll();
    return { alice: alice.text, bob: bob.text, aliceSize: agent.size("alice"), code, remembered };
  });
  assert.equal(result.remembered, "Your name is Alice.");
  assert.deepEqual(errors, []);
  assert.equal(result.alice, "Your name is Alice.");
  assert.doesNotMatch(result.bob, /Alice/);
  assert.equal(result.aliceSize, 4);
  assert.equal(result.code, "invalid_user_id");
});
