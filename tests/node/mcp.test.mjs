// MCP tools through the packed package, against real servers built with the official
// `@modelcontextprotocol/sdk` (McpServer + StreamableHTTPServerTransport over node:http on a
// random port), stateless and with sessions, answering with SSE and with JSON. What the
// servers saw proves whose credentials went where; a scripted model drives the runs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { installedPackage } from "../node_support/package.mjs";
import { startServer as startMcpServer } from "../node_support/mcp-server.mjs";

let t; // the package
const servers = [];

/** A server closed after the suite (see mcp-server.mjs). */
async function startServer(options) {
  const s = await startMcpServer(options);
  servers.push(s);
  return s;
}

before(async () => {
  const { project } = installedPackage();
  writeFileSync(join(project, "reexport.mjs"), 'export * from "tenantry";\n');
  t = await import(pathToFileURL(join(project, "reexport.mjs")).href);
});

after(async () => {
  for (const s of servers) await s.close();
});

/** `CALL <tool> <json>` asks for that tool; after a tool result, answers with it. */
function scriptedModel(seen = []) {
  return async (req) => {
    seen.push(req);
    const last = req.messages.at(-1);
    if (last.role === "tool") return { text: `tool said ${last.content}` };
    const m = last.content.match(/^CALL (\S+)(?: (.*))?$/);
    if (!m) return { text: "ok" };
    return { text: "", toolCalls: [{ id: "c1", name: m[1], arguments: m[2] ?? "{}" }] };
  };
}

const token = (u) => `Bearer ${u}-token`;
const headers = (u) => ({ authorization: token(u) });

async function events(stream) {
  const out = [];
  for await (const e of stream) out.push(e);
  return out;
}

/** Every request of a session carried the Authorization of the user who opened it. */
function sessionsKeptTheirUser(server) {
  for (const r of server.requests.filter((r) => r.session)) {
    assert.equal(r.auth, server.openers.get(r.session), `a request in session ${r.session} carried ${r.auth}`);
  }
}

for (const stateful of [true, false]) {
  for (const json of [false, true]) {
    test(`per-user headers reach the server and its tools are offered as crm_* (${stateful ? "sessions" : "stateless"}, ${json ? "JSON" : "SSE"})`, async () => {
      const server = await startServer({ stateful, json });
      const seen = [];
      const asked = [];
      const agent = new t.Agent({
        model: scriptedModel(seen),
        mcp: [{ name: "crm", url: server.url, headers: (userId, ctx) => (asked.push([userId, ctx.server]), headers(userId)) }],
      });
      assert.equal((await agent.run("CALL crm_whoami", "alice")).text, `tool said ${token("alice")}`);
      assert.equal((await agent.run("CALL crm_whoami", "bob")).text, `tool said ${token("bob")}`);
      const offered = seen[0].tools;
      assert.deepEqual(offered.map((x) => x.name).sort(), ["crm_big", "crm_broken", "crm_lookup", "crm_slow", "crm_whoami"]);
      const lookup = offered.find((x) => x.name === "crm_lookup");
      assert.equal(lookup.description, "Finds an order");
      assert.equal(lookup.parameters.properties.id.type, "string");
      assert.deepEqual(lookup.parameters.required, ["id"]);
      const out = await agent.run('CALL crm_lookup {"id":"A-1"}', "alice");
      assert.equal(out.text, 'tool said {"content":"order A-1: shipped","structuredContent":{"id":"A-1","status":"shipped"}}');
      // The protocol: initialize, then notifications/initialized, then the protocol version on every later request.
      assert.deepEqual(server.requests.slice(0, 3).map((r) => r.method), ["initialize", "notifications/initialized", "tools/list"]);
      assert.ok(server.requests.filter((r) => r.method !== "initialize").every((r) => r.protocol === "2025-06-18"));
      assert.equal(server.count("tools/list"), 2, "alice's second run used her cached list");
      if (stateful) {
        assert.equal(server.sessions.size, 2, "one session per user");
        assert.ok(server.requests.filter((r) => r.method !== "initialize").every((r) => r.session), "the session id is sent back");
        sessionsKeptTheirUser(server);
      }
      for (const r of server.requests) assert.ok([token("alice"), token("bob")].includes(r.auth), r.auth);
      const bobs = server.requests.filter((r) => r.auth === token("bob"));
      assert.equal(bobs.length, stateful ? 4 : 4, "bob: initialize, initialized, list, call");
      assert.deepEqual([...new Set(asked.map(([, s]) => s))], ["crm"]);
    });
  }
}

test("concurrent runs of several users never carry another user's credentials", async () => {
  const server = await startServer({ stateful: true, json: false });
  const agent = new t.Agent({
    model: scriptedModel(),
    mcp: [{ name: "crm", url: server.url, headers: async (u) => (await new Promise((r) => setTimeout(r, Math.random() * 3)), headers(u)) }],
  });
  const users = ["alice", "bob", "carol", "dave"];
  const runs = Array.from({ length: 24 }, (_, i) => {
    const u = users[i % users.length];
    return agent.run("CALL crm_whoami", u, { sessionId: `s${i}` }).then((r) => [u, r.text]);
  });
  for (const [u, text] of await Promise.all(runs)) assert.equal(text, `tool said ${token(u)}`);
  assert.equal(server.count("tools/call"), 24);
  sessionsKeptTheirUser(server);
  for (const u of users) {
    const calls = server.requests.filter((r) => r.method === "tools/call" && r.auth === token(u));
    assert.equal(calls.length, 6, u);
  }
});

test("permissions, policy and approve rule on MCP tools by full name, with events and audit entries", async () => {
  const server = await startServer({ stateful: true, json: false });
  const seen = [];
  const approvals = [];
  const agent = new t.Agent({
    model: scriptedModel(seen),
    mcp: [{ name: "crm", url: server.url, headers: (u) => headers(u) }],
    // Names of tools no one has listed yet: accepted under a configured server's prefix.
    permissions: { users: { bob: { deny: ["crm_whoami"] } }, requireApproval: ["crm_lookup"] },
    policy: (userId, tool) => (tool === "crm_broken" ? "deny" : "allow"),
    approve: (req) => (approvals.push(req), req.userId === "alice"),
    audit: { key: "an-audit-key-of-32-bytes-or-more!" },
  });
  const ev = await events(agent.stream("CALL crm_whoami", "alice"));
  const call = ev.find((e) => e.type === "tool-call");
  const result = ev.find((e) => e.type === "tool-result");
  assert.equal(call.toolName, "crm_whoami");
  assert.deepEqual([result.toolName, result.decision, result.result], ["crm_whoami", "allowed", token("alice")]);
  const audit = agent.auditLog("alice");
  const toolEntry = audit.find((e) => e.type === "tool.call");
  assert.deepEqual([toolEntry.data.tool, toolEntry.data.decision], ["crm_whoami", "allowed"]);
  const listed = audit.find((e) => e.type === "mcp.list");
  assert.deepEqual([listed.data.server, listed.data.ok, listed.data.tools, listed.data.cached], ["crm", true, 5, false]);
  assert.ok(!JSON.stringify(audit).includes("alice-token"), "no credentials in the audit log");

  // Bob is not told about crm_whoami, and a call to it anyway is denied before it is sent.
  const calls = server.count("tools/call");
  const bob = await events(agent.stream("CALL crm_whoami", "bob"));
  assert.ok(!seen.at(-1).tools.some((x) => x.name === "crm_whoami"));
  assert.equal(bob.find((e) => e.type === "tool-result").decision, "denied");
  // The policy denies crm_broken; approval decides crm_lookup (alice yes, bob no).
  assert.equal((await events(agent.stream("CALL crm_broken", "alice"))).find((e) => e.type === "tool-result").decision, "denied");
  const approved = await events(agent.stream('CALL crm_lookup {"id":"7"}', "alice"));
  assert.equal(approved.find((e) => e.type === "tool-result").decision, "approved");
  const refused = await events(agent.stream('CALL crm_lookup {"id":"7"}', "bob"));
  assert.equal(refused.find((e) => e.type === "tool-result").decision, "approval-refused");
  assert.deepEqual(approvals.map((a) => [a.userId, a.tool]), [["alice", "crm_lookup"], ["bob", "crm_lookup"]]);
  assert.equal(server.count("tools/call"), calls + 1, "only alice's approved lookup reached the server");
});

test("failures are tool errors the run survives; a server that cannot list leaves the run without its tools", async () => {
  const server = await startServer({ stateful: false, json: true });
  const down = await startServer({ stateful: false, json: true });
  await down.close();
  const seen = [];
  const agent = new t.Agent({
    model: scriptedModel(seen),
    mcp: [
      { name: "crm", url: server.url, headers: (u) => headers(u), timeoutMs: 300 },
      { name: "down", url: down.url },
      { name: "picky", url: server.url, headers: (u) => (u === "mallory" ? Promise.reject(new Error("no linked account")) : headers(u)) },
    ],
    audit: { key: "an-audit-key-of-32-bytes-or-more!" },
  });
  const failed = async (input, fragment, user = "alice") => {
    const ev = await events(agent.stream(input, user));
    const r = ev.find((e) => e.type === "tool-result");
    assert.equal(ev.at(-1).type, "finish", "the run finished");
    assert.ok(r.error.includes(fragment), r.error);
    return r;
  };
  assert.equal((await failed("CALL crm_broken", "database down")).decision, "failed");
  await failed("CALL crm_slow", "no answer from the server within 300 ms");
  await failed("CALL crm_big", "the limit is 262144");
  await failed('CALL crm_lookup {"id":5}', "schema");
  // The server that is down offers nothing; the others still do.
  const names = seen.at(-1).tools.map((x) => x.name);
  assert.ok(names.includes("crm_whoami") && names.includes("picky_whoami") && !names.some((n) => n.startsWith("down_")), names);
  const downEntry = agent.auditLog("alice").find((e) => e.type === "mcp.list" && e.data.server === "down");
  assert.equal(downEntry.data.ok, false);
  assert.match(downEntry.data.error, /could not be reached/);
  // Mallory's headers fail for picky only: she gets crm's tools and not picky's, from nobody's cache.
  await agent.run("hello", "mallory");
  const hers = seen.at(-1).tools.map((x) => x.name);
  assert.ok(hers.includes("crm_whoami") && !hers.some((n) => n.startsWith("picky_")), hers);
  const picky = agent.auditLog("mallory").find((e) => e.type === "mcp.list" && e.data.server === "picky");
  assert.match(picky.data.error, /headers function failed: "no linked account"/);
  assert.equal((await agent.run("CALL crm_whoami", "mallory")).text, `tool said ${token("mallory")}`);
});

test("forget and clearAll drop the user's cached lists and sessions", async () => {
  const server = await startServer({ stateful: true, json: false });
  const agent = new t.Agent({ model: scriptedModel(), mcp: [{ name: "crm", url: server.url, headers: (u) => headers(u), cacheTtlMs: Infinity }] });
  await agent.run("CALL crm_whoami", "alice");
  await agent.run("CALL crm_whoami", "bob");
  await agent.run("CALL crm_whoami", "alice");
  assert.deepEqual([server.count("tools/list"), server.count("initialize")], [2, 2]);
  assert.equal(agent.stats().mcpCacheEntries, 2);
  await agent.forget("alice");
  assert.equal(agent.stats().mcpCacheEntries, 1, "bob's entry only");
  await agent.run("CALL crm_whoami", "alice");
  await agent.run("CALL crm_whoami", "bob");
  assert.deepEqual([server.count("tools/list"), server.count("initialize")], [3, 3], "alice listed again, bob did not");
  await agent.clearAll();
  assert.equal(agent.stats().mcpCacheEntries, 0);
  await agent.run("CALL crm_whoami", "bob");
  assert.deepEqual([server.count("tools/list"), server.count("initialize")], [4, 4]);
  // A session the server forgot (a restart): opened again once, and the call goes through.
  for (const { transport } of server.sessions.values()) await transport.close();
  server.sessions.clear();
  assert.equal((await agent.run("CALL crm_whoami", "bob")).text, `tool said ${token("bob")}`);
  assert.equal(server.count("initialize"), 5);
  sessionsKeptTheirUser(server);
});

test("hostile config values give invalid_config naming the field, never a crash", async () => {
  const { Agent, TenantryError } = t;
  const model = scriptedModel();
  const url = "https://mcp.example.com/mcp";
  const throwing = { get name() { throw new Error("boom"); }, url };
  const trap = new Proxy({}, { ownKeys() { throw new Error("trap"); }, get() { throw new Error("trap"); } });
  const cases = [
    [{ mcp: "crm" }, "mcp"],
    [{ mcp: {} }, "mcp"],
    [{ mcp: [null] }, "mcp[0]"],
    [{ mcp: [throwing] }, "mcp[0].name"],
    [{ mcp: [trap] }, "mcp[0]"],
    [{ mcp: new Proxy([], { get() { throw new Error("trap"); } }) }, "mcp"],
    [{ mcp: [{ url }] }, "mcp[0].name"],
    [{ mcp: [{ name: "crm" }] }, "mcp[0].url"],
    [{ mcp: [{ name: "a.b", url }] }, "mcp[0].name"],
    [{ mcp: [{ name: "x".repeat(33), url }] }, "mcp[0].name"],
    [{ mcp: [{ name: "\ud800", url }] }, "mcp[0].name"],
    [{ mcp: [{ name: Symbol("crm"), url }] }, "mcp[0].name"],
    [{ mcp: [{ name: "crm", url }, { name: "crm", url }] }, "mcp[1].name"],
    [{ mcp: [{ name: "crm", url: "file:///etc/passwd" }] }, "mcp[0].url"],
    [{ mcp: [{ name: "crm", url: "https://user:secret@mcp.example.com/" }] }, "mcp[0].url"],
    [{ mcp: [{ name: "crm", url: new URL(url) }] }, "mcp[0].url"],
    [{ mcp: [{ name: "crm", url, headers: "Bearer x" }] }, "mcp[0].headers"],
    [{ mcp: [{ name: "crm", url, headers: { authorization: "Bearer x" } }] }, "mcp[0].headers"],
    [{ mcp: [{ name: "crm", url, headers: 42 }] }, "mcp[0].headers"],
    [{ mcp: [{ name: "crm", url, timeoutMs: NaN }] }, "mcp[0].timeoutMs"],
    [{ mcp: [{ name: "crm", url, timeoutMs: 0 }] }, "mcp[0].timeoutMs"],
    [{ mcp: [{ name: "crm", url, timeoutMs: "5" }] }, "mcp[0].timeoutMs"],
    [{ mcp: [{ name: "crm", url, timeoutMs: 10n }] }, "mcp[0].timeoutMs"],
    [{ mcp: [{ name: "crm", url, cacheTtlMs: -1 }] }, "mcp[0].cacheTtlMs"],
    [{ mcp: [{ name: "crm", url, cacheTtlMs: NaN }] }, "mcp[0].cacheTtlMs"],
    [{ mcp: [{ name: "crm", url, token: "x" }] }, "mcp[0].token"],
    [{ mcp: [{ name: "crm", url }], permissions: { requireApproval: ["other_tool"] } }, "permissions.requireApproval"],
    [{ mcp: [{ name: "crm", url }], permissions: { requireApproval: ["crm_"] } }, "permissions.requireApproval"],
  ];
  for (const [i, [config, field]] of cases.entries()) {
    assert.throws(
      () => new Agent({ model, ...config }),
      (e) => e instanceof TenantryError && e.code === "invalid_config" && e.details.field === field,
      `case ${i}: ${field}`,
    );
  }
  // Accepted: rules naming tools of a configured server, policy without `tools`, Infinity.
  new Agent({ model, mcp: [{ name: "crm", url, cacheTtlMs: Infinity, timeoutMs: 1 }], permissions: { default: "deny", users: { a: { allow: ["crm_x"] } } }, policy: () => true });
});

test("hostile headers functions fail that user's listing only, never the run or the process", async () => {
  const server = await startServer({ stateful: false, json: true });
  const seen = [];
  const bad = {
    throws: () => {
      throw new Error("no token");
    },
    throwsString: () => {
      throw "plain";
    },
    rejects: () => Promise.reject(Symbol("nope")),
    number: () => 42,
    nothing: () => undefined,
    symbolValue: () => ({ authorization: Symbol("x") }),
    numberValue: () => ({ authorization: 7 }),
    bigint: () => ({ authorization: 7n }),
    getter: () => ({ get authorization() { throw new Error("getter"); } }),
    proxy: () => new Proxy({}, { ownKeys() { throw new Error("trap"); } }),
    array: () => [["authorization", "x"]],
    loneSurrogate: () => ({ authorization: "Bearer \ud800" }),
    lineBreak: () => ({ authorization: "Bearer x\r\nX-Injected: 1" }),
    reserved: () => ({ "Mcp-Session-Id": "someone-elses" }),
    badName: () => ({ "bad name": "x" }),
    huge: () => Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-h${i}`, "v"])),
    thenable: () => ({ then(ok) { ok(42); } }),
  };
  const agent = new t.Agent({
    model: scriptedModel(seen),
    mcp: [{ name: "crm", url: server.url, headers: (u) => (bad[u] ? bad[u]() : headers(u)) }],
    audit: { key: "an-audit-key-of-32-bytes-or-more!" },
  });
  for (const u of Object.keys(bad)) {
    const out = await agent.run("CALL crm_whoami", u);
    assert.equal(seen.at(-2)?.tools.length ?? 0, 0, `${u} got no crm tools`);
    assert.match(out.text, /unknown tool/, u);
    const entry = agent.auditLog(u).find((e) => e.type === "mcp.list");
    assert.equal(entry.data.ok, false, u);
    assert.ok(!entry.data.error.includes("Injected") && !entry.data.error.includes("someone-elses"), entry.data.error);
  }
  // The well-behaved user is unaffected.
  assert.equal((await agent.run("CALL crm_whoami", "alice")).text, `tool said ${token("alice")}`);
  assert.ok(!server.requests.some((r) => r.auth && r.auth !== token("alice")), "no hostile user's request reached the server");
});
