// The packed package's `browser` entry in headless Chromium: served from the scratch
// project's node_modules and imported by name through an import map, as a page would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { installedPackage } from "../node_support/package.mjs";

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

test("memory in Chromium: search by meaning, facts, memory tools, extraction, compaction, IndexedDB without re-embedding", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(origin + "/");
  const r = await page.evaluate(async () => {
    const { Agent, demoModel, indexedDbStorage } = await import("tenantry");
    // Pets on axis 0, travel on axis 1; a constant so no vector is all zeros.
    const axes = { cat: 0, kitten: 0, feline: 0, flight: 1, trip: 1 };
    const embedded = [];
    const embedder = async (texts, { userId }) => {
      embedded.push(...texts.map((t) => `${userId}:${t}`));
      return texts.map((t) => {
        const v = [0, 0, 0.1];
        for (const w of t.toLowerCase().split(/[^a-z]+/)) if (w in axes) v[axes[w]] += 1;
        return v;
      });
    };
    const storage = indexedDbStorage("tenantry-memory-test");
    const config = {
      model: demoModel(),
      memory: { storage, embedder, tools: true, facts: { extract: true }, compaction: { triggerTokens: 60, keepTurns: 1 } },
    };
    const agent = new Agent(config);
    await agent.run("We adopted a kitten", "alice");
    await agent.run("Booking a flight", "alice", { sessionId: "travel" });
    await agent.run("my cat is a feline cat", "bob");
    const semantic = (await agent.search("alice", "feline", { mode: "semantic" })).map((h) => h.content);
    const hybrid = (await agent.search("alice", "cat", { mode: "hybrid" })).map((h) => h.content);
    const tool = (await agent.run("remember that my favourite colour is green", "alice", { sessionId: "prefs" })).text;
    await agent.run("My city is Lyon.", "alice", { sessionId: "prefs" });
    const known = (await agent.run("what do you know about me?", "alice", { sessionId: "prefs" })).text;
    for (let i = 0; i < 4; i++) await agent.run(`a longer message number ${i} with several words in it`, "alice", { sessionId: "long" });
    const long = agent.history("alice", "long");
    const bobFacts = (await agent.facts("bob")).map((f) => `${f.predicate}=${f.object}`);
    const latest = (await agent.search("alice", "feline", { mode: "semantic" })).map((h) => h.content);
    const before = embedded.length;
    const reloaded = new Agent({ ...config, memory: { ...config.memory, storage: indexedDbStorage("tenantry-memory-test") } });
    const again = (await reloaded.search("alice", "feline", { mode: "semantic" })).map((h) => h.content);
    const facts = (await reloaded.facts("alice", { validAt: Date.now() })).map((f) => `${f.predicate}=${f.object}`).sort();
    const reembedded = embedded.length - before;
    await reloaded.forget("alice");
    const third = new Agent({ ...config, memory: { ...config.memory, storage: indexedDbStorage("tenantry-memory-test") } });
    const afterForget = [(await third.search("alice", "feline", { mode: "semantic" })).length, (await third.facts("alice")).length];
    await third.clearAll();
    return { semantic, hybrid, tool, known, long: long.map((m) => m.role), bobFacts, latest, again, facts, reembedded, afterForget };
  });
  assert.deepEqual(errors, []);
  assert.equal(r.semantic[0], "We adopted a kitten");
  assert.ok(!r.semantic.concat(r.hybrid).some((c) => c.includes("feline cat")), JSON.stringify(r));
  assert.match(r.tool, /favourite colour is green/);
  assert.match(r.known, /favourite colour: green/);
  assert.match(r.known, /city: Lyon/);
  assert.equal(r.long[0], "system", "the long session was compacted into a summary turn");
  assert.deepEqual(r.bobFacts, ["cat=a feline cat"], "extracted from his own turn");
  assert.equal(r.again[0], "We adopted a kitten");
  assert.deepEqual(r.again, r.latest);
  assert.deepEqual(r.facts, ["city=Lyon", "favourite colour=green"]);
  assert.equal(r.reembedded, 1, "a reload embeds the query only");
  assert.deepEqual(r.afterForget, [0, 0]);
});

test("issue 19 in Chromium: structured output, image parts, the UI message stream and tool() through the browser entry", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(origin + "/");
  const r = await page.evaluate(async () => {
    const { Agent, TenantryError, tool, ANONYMOUS_USER } = await import("tenantry");
    const seen = [];
    const model = async (req) => {
      seen.push(req);
      if (req.output) return { text: JSON.stringify({ city: "Lyon" }) };
      return { text: `parts: ${(req.messages.at(-1).parts ?? []).map((p) => p.type).join(",")}` };
    };
    const echo = tool({ name: "echo", parameters: { type: "object" }, execute: (a) => a });
    const agent = new Agent({ model, tools: [echo], requireUser: true });
    const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
    const object = (await agent.run("where?", "alice", { output: { schema } })).object;
    const pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    const parts = (await agent.run([{ type: "text", text: "look" }, { type: "image", data: pixel, mediaType: "image/png" }], "alice")).text;
    const body = { id: "chat-1", trigger: "submit-message", messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "hi" }] }] };
    const response = agent.streamChat(body, "alice").toUIMessageStreamResponse();
    const sse = await response.text();
    let anonymous = null;
    try {
      await agent.run("hi", null);
    } catch (e) {
      anonymous = e instanceof TenantryError ? e.code : String(e);
    }
    return { object, parts, header: response.headers.get("x-vercel-ai-ui-message-stream"), sse, anonymous, sentinel: ANONYMOUS_USER, chatSessions: agent.sessions("alice").map((s) => s.id) };
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(r.object, { city: "Lyon" });
  assert.equal(r.parts, "parts: text,image");
  assert.equal(r.header, "v1");
  assert.match(r.sse, /"type":"text-delta"/);
  assert.match(r.sse, /data: \[DONE\]\n\n$/);
  assert.equal(r.anonymous, "user_required");
  assert.equal(r.sentinel, "__tenantry_anonymous__");
  assert.ok(r.chatSessions.includes("chat-1"), JSON.stringify(r.chatSessions));
});

test("the hostile-value cases of hostile-cases.mjs hold in Chromium through the browser entry", async () => {
  // The case list is served at a path of its own (not from the scratch project), as an ES
  // module next to the import map that resolves `tenantry` to the browser entry.
  const casesSource = await readFile(new URL("./hostile-cases.mjs", import.meta.url));
  const results = [];
  let total = Infinity;
  let start = 0;
  // A case that leaves the page unusable (an exception through wasm, a hang) ends its page;
  // the next case starts in a fresh one, so no case fails because of an earlier one.
  while (start < total) {
    const page = await browser.newPage();
    await page.route(`${origin}/hostile-cases.mjs`, (route) => route.fulfill({ body: casesSource, contentType: "text/javascript" }));
    let current = start;
    page.on("console", (m) => {
      const started = /^hostile-start (\d+)$/.exec(m.text());
      if (started) current = Number(started[1]);
    });
    const crashed = new Promise((resolve) => page.on("crash", () => resolve({ crashed: true })));
    await page.goto(origin + "/");
    const chunk = page.evaluate(async (from) => {
      const tenantry = await import("tenantry");
      const { hostileCases, runHostile } = await import("/hostile-cases.mjs");
      const cases = hostileCases(tenantry);
      const out = [];
      const trap = (report) => {
        const onError = (e) => {
          e.preventDefault();
          report("uncaught exception", e.error ?? e.message);
        };
        const onRejection = (e) => {
          e.preventDefault();
          report("unhandled rejection", e.reason);
        };
        addEventListener("error", onError);
        addEventListener("unhandledrejection", onRejection);
        return () => {
          removeEventListener("error", onError);
          removeEventListener("unhandledrejection", onRejection);
        };
      };
      const { next } = await runHostile(cases, {
        start: from,
        trap,
        onStart: (i) => console.log(`hostile-start ${i}`),
        onResult: (i, c, r) => out.push({ i, name: c.name, group: c.group, ok: r.ok, detail: r.detail }),
      });
      return { out, next, total: cases.length };
    }, start);
    let watchdog;
    const stalled = new Promise((resolve) => (watchdog = setTimeout(() => resolve({ stalled: true }), 20 * 60_000)));
    const r = await Promise.race([chunk.catch((e) => ({ failed: String(e?.message ?? e) })), crashed, stalled]);
    clearTimeout(watchdog);
    if (r.out) {
      results.push(...r.out);
      total = r.total;
      start = r.next;
    } else {
      assert.ok(Number.isFinite(total), `the page could not start the case list: ${JSON.stringify(r)}`);
      // The page crashed, froze or threw outside the runner while in case `current`.
      results.push({ i: current, name: `case #${current}`, ok: false, detail: `[crash] the page ${r.crashed ? "crashed" : r.stalled ? "stopped answering" : `failed: ${r.failed}`} in this case` });
      start = current + 1;
    }
    await page.close().catch(() => {});
  }
  const failed = results.filter((r) => !r.ok);
  const byCause = new Map();
  for (const r of failed) {
    const cause = /^\[([^\]]+)\]/.exec(r.detail)?.[1] ?? "unknown";
    byCause.set(cause, [...(byCause.get(cause) ?? []), r]);
  }
  const report = [...byCause].map(([cause, rs]) => `[${cause}] ${rs.length}:\n${rs.slice(0, 25).map((r) => `  - ${r.name}: ${r.detail.slice(0, 300)}`).join("\n")}${rs.length > 25 ? `\n  ... and ${rs.length - 25} more` : ""}`);
  assert.equal(failed.length, 0, `${failed.length} of ${results.length} hostile cases failed in Chromium:\n${report.join("\n")}`);
});
