// MCP tools under workerd (Miniflare): the Worker's agent lists and calls the tools of an
// MCP server built with the official SDK (sessions, SSE) on the host, with each user's own
// token, through workerd's fetch.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { installedPackage, root } from "../node_support/package.mjs";
import { startServer } from "../node_support/mcp-server.mjs";
import { bundleWorker } from "../../scripts/worker.mjs";

let scriptPath;
let server;
let mf;

before(async () => {
  const { modulesDir } = installedPackage();
  scriptPath = await bundleWorker({
    modulesDir,
    outdir: join(root, "target", "worker-test-mcp"),
    entry: join(root, "tests", "worker", "mcp-worker.js"),
  });
  server = await startServer({ stateful: true, json: false });
  mf = new Miniflare({
    scriptPath,
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01",
    bindings: { MCP_URL: server.url },
  });
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  await server?.close();
});

const get = async (path, query) => {
  const res = await mf.dispatchFetch(`http://worker.test${path}?${new URLSearchParams(query)}`);
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    throw new Error(`${res.status}: ${text.slice(0, 500)}`);
  }
};

test("each user's calls carry their own token, in sessions of their own", async () => {
  assert.deepEqual(await get("/run", { input: "CALL crm_whoami", user: "alice" }), { status: 200, body: { text: "tool said Bearer alice-token" } });
  assert.deepEqual(await get("/run", { input: "CALL crm_whoami", user: "bob" }), { status: 200, body: { text: "tool said Bearer bob-token" } });
  // Concurrent requests, each run in a session of its own: workerd cancels a request that
  // waits for another request's run (one session's runs go one at a time).
  const both = await Promise.all(["alice", "bob", "alice", "bob"].map((user, i) => get("/run", { input: "CALL crm_whoami", user, session: `s${i}` })));
  assert.deepEqual(both.map((r) => r.body.text), ["alice", "bob", "alice", "bob"].map((u) => `tool said Bearer ${u}-token`));
  assert.equal(server.openers.size, 2, "one session per user");
  for (const r of server.requests.filter((r) => r.session)) assert.equal(r.auth, server.openers.get(r.session));
  assert.equal(server.count("tools/list"), 2, "each user's list was cached");
  const [listed] = (await get("/audit", { user: "alice" })).body;
  assert.deepEqual([listed.server, listed.ok, listed.tools], ["crm", true, 5]);
});

test("a failing tool is a tool error; the run finishes", async () => {
  const r = await get("/run", { input: "CALL crm_broken", user: "alice" });
  assert.equal(r.status, 200);
  assert.match(r.body.text, /the tool reported an error: .*database down/);
});
