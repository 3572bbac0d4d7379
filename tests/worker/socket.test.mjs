// WebSockets under workerd (Miniflare), with a real client (`ws`): GET /v1/ws and
// /v1/orgs/{org}/users/{user}/ws, authenticated and authorized before the upgrade, handled in
// the tenant's (or org's) Durable Object with the hibernation API. Runs stream in frames,
// cancel and hang-ups commit nothing, a socket acts for its own identity only, the rate
// limit and budget are the same as over HTTP, bad frames get error frames, idle sockets
// close, and a socket outlives its object's eviction and the Worker's restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import WebSocket from "ws";
import { OPENAI_BINDINGS, SECRET, call, fakeOpenAI, jwt, now, root, start, stateDir } from "./support.mjs";
import { codeBlock, expectedOutput } from "../node_support/readme.mjs";
import { SocketBackend } from "../../www/page/src/ws-backend.js";

const PIECES = ["One ", "piece ", "at ", "a ", "time."];
const GAP_MS = 200;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const exp = now() + 3600;
const tok = (sub) => jwt({ sub, exp });

// --- a client ---------------------------------------------------------------------------

/** A connected socket: every frame it received, and ways to wait for the next ones. */
class Client {
  constructor(ws) {
    this.ws = ws;
    this.frames = [];
    this.taken = new Set();
    this.waiters = [];
    this.closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: String(reason) })));
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data));
      Object.defineProperty(frame, "at", { value: performance.now() });
      this.frames.push(frame);
      const w = this.waiters.findIndex((x) => x.pred(frame));
      if (w >= 0) {
        this.taken.add(frame);
        this.waiters.splice(w, 1)[0].resolve(frame);
      }
    });
  }

  send(frame) {
    this.ws.send(typeof frame === "string" || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** The first frame matching `pred` not yet waited for, as it arrives. */
  waitFor(pred = () => true, ms = 15_000) {
    const found = this.frames.find((f) => !this.taken.has(f) && pred(f));
    if (found) {
      this.taken.add(found);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve: (f) => (clearTimeout(timer), resolve(f)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no such frame within ${ms} ms; received: ${JSON.stringify(this.frames)}`));
      }, ms);
      this.waiters.push(waiter);
    });
  }

  /** A run's frames up to its last (`finish` or `error`). */
  async events(id) {
    const out = [];
    for (;;) {
      const f = await this.waitFor((x) => x.id === id);
      out.push(f);
      if (f.type === "finish" || f.type === "error") return out;
    }
  }

  async run(message, { id, ...extra }) {
    this.send({ type: "run", id, message, ...extra });
    return this.events(id);
  }

  /** The answer to one frame that names `id`. */
  async ask(frame) {
    this.send(frame);
    return this.waitFor((f) => f.id === frame.id);
  }

  async history(sessionId, id = `h-${Math.random()}`) {
    const f = await this.ask({ type: "history", id, ...(sessionId ? { sessionId } : {}) });
    assert.equal(f.type, "history", JSON.stringify(f));
    return f.messages;
  }

  /** The socket still answers: a ping with an id gets its pong. */
  async alive() {
    const id = `p-${Math.random()}`;
    assert.deepEqual({ ...(await this.ask({ type: "ping", id })) }, { type: "pong", id });
  }

  close() {
    this.ws.close();
    return this.closed;
  }
}

const wsUrl = (origin, path) => origin.replace(/^http/, "ws") + path;

/**
 * Opens a socket. Resolves to a Client, or rejects with the refusal's { status, body,
 * headers } when the Worker answers the upgrade with anything but 101.
 */
function connect(origin, path, { token, protocols, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(origin, path), protocols, {
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    });
    const client = new Client(ws);
    ws.once("upgrade", (res) => (client.upgradeHeaders = res.headers));
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (req, res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => {
        ws.on("error", () => {});
        req.destroy();
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${text}`), { status: res.statusCode, body: JSON.parse(text), headers: res.headers }));
      });
    });
    ws.once("error", reject);
  });
}

/** The refusal of an upgrade (the test fails if the socket opens). */
async function refused(origin, path, options) {
  try {
    const c = await connect(origin, path, options);
    await c.close();
  } catch (err) {
    if (err.status) return err;
    throw err;
  }
  assert.fail(`${path} opened a socket`);
}

/**
 * When the Worker closed the socket: the moment its close frame arrived (`ws` then reports
 * CLOSING; the connection itself may end later).
 */
async function closing(c, ms = 15_000) {
  const t0 = performance.now();
  while (c.ws.readyState === WebSocket.OPEN) {
    if (performance.now() - t0 > ms) assert.fail(`the socket was not closed within ${ms} ms`);
    await sleep(20);
  }
  return performance.now();
}

const deltas = (events) => events.filter((e) => e.type === "text-delta").map((e) => e.text);

// --- the main Worker: JWT auth, a slow fake model, small socket limits --------------------

let worker;
let origin;
const state = stateDir();

before(async () => {
  worker = await start("socket", {
    persist: state.dir,
    bindings: {
      AUTH_SECRET: SECRET,
      ...OPENAI_BINDINGS,
      // An hour's window: within a test nothing refills, so a spent request shows exactly.
      RATE_LIMIT_WINDOW_MS: "3600000",
      WS_MAX_FRAME_BYTES: "4096",
      WS_MAX_RUNS: "2",
    },
    outboundService: fakeOpenAI({ pieces: PIECES, gapMs: (last) => (last.startsWith("slow") ? GAP_MS : 0) }),
  });
  origin = worker.origin;
});

after(async () => {
  await worker?.dispose();
  state.cleanup();
});

const tenantSocket = (tenant, options = {}) => connect(origin, "/v1/ws", { token: tok(tenant), ...options });
/** What the tenant's rate limit has left (the usage request itself takes one). */
const available = async (tenant) => (await call(origin, "GET", `/v1/tenants/${tenant}/usage`, { token: tok(tenant) })).body.rate.available;
const exported = async (tenant) => (await call(origin, "GET", `/v1/tenants/${tenant}/export`, { token: tok(tenant) })).body.sessions;
/** Whether the tenant's Durable Object was ever created (it writes its meter at the first request). */
async function objectExists(tenant) {
  const ns = await worker.mf.getDurableObjectNamespace("TENANTS");
  return existsSync(join(state.dir, "-TenantAgent", `${ns.idFromName(tenant).toString()}.sqlite`));
}

test("a run streams over the socket in several frames, each with the request's id, as the model produces them", async () => {
  const c = await tenantSocket("sam");
  const events = await c.run("slow: tell me", { id: "r1", sessionId: "s1" });
  assert.deepEqual(events.map((e) => e.type), [...PIECES.map(() => "text-delta"), "usage", "finish"]);
  assert.deepEqual(deltas(events), PIECES);
  assert.equal(events.at(-1).text, PIECES.join(""));
  assert.ok(events.every((e) => e.id === "r1" && e.userId === "sam" && e.sessionId === "s1" && e.runId === events[0].runId));
  // Frame by frame as the model produced the pieces, not all at the end.
  const spread = events.at(-1).at - events[0].at;
  assert.ok(spread > 3 * GAP_MS, `all frames came within ${spread} ms`);
  assert.ok(events[1].at - events[0].at > GAP_MS / 2, "the second piece came with the first");
  // Committed to the tenant's memory, as over HTTP.
  const r = await call(origin, "GET", "/history?user_id=sam&session_id=s1", { token: tok("sam") });
  assert.deepEqual(r.body.history.map((m) => m.content), ["slow: tell me", PIECES.join("")]);
  assert.deepEqual((await c.history("s1")).map((m) => m.content), ["slow: tell me", PIECES.join("")]);
  await c.close();
});

test("cancel aborts the run: it ends with `aborted` and nothing is committed", async () => {
  const c = await tenantSocket("cal");
  const before = await exported("cal");
  c.send({ type: "run", id: "x", message: "slow: cancel me" });
  await c.waitFor((f) => f.id === "x" && f.type === "text-delta");
  c.send({ type: "cancel", id: "x" });
  const end = await c.waitFor((f) => f.id === "x" && (f.type === "finish" || f.type === "error"));
  assert.equal(end.type, "error", JSON.stringify(end));
  assert.equal(end.code, "aborted");
  // Well past the time the model would have finished: nothing more of the run, nothing kept.
  await sleep(GAP_MS * (PIECES.length + 3));
  assert.equal(c.frames.filter((f) => f.id === "x").at(-1), end);
  assert.deepEqual(await c.history(), []);
  assert.deepEqual(await exported("cal"), before);
  // A cancel of a run that is not in flight changes nothing; the socket carries on.
  c.send({ type: "cancel", id: "x" });
  await c.alive();
  const events = await c.run("and now finish", { id: "y" });
  assert.equal(events.at(-1).type, "finish");
  assert.deepEqual((await c.history()).map((m) => m.content), ["and now finish", PIECES.join("")]);
  await c.close();
});

test("closing the socket mid-run aborts the run: nothing is committed", async () => {
  const c = await tenantSocket("cleo");
  c.send({ type: "run", id: 1, message: "slow: start, then I leave" });
  await c.waitFor((f) => f.id === 1 && f.type === "text-delta");
  await c.close();
  await sleep(GAP_MS * (PIECES.length + 3));
  const sessions = await exported("cleo");
  assert.deepEqual(sessions.flatMap((s) => s.turns), [], JSON.stringify(sessions));
  // The same run, left to finish, is kept: what the close prevented.
  const d = await tenantSocket("cleo");
  assert.equal((await d.run("slow: this time I stay", { id: 2 })).at(-1).type, "finish");
  assert.equal((await exported("cleo")).flatMap((s) => s.turns).length, 1);
  await d.close();
});

test("two tenants on two sockets: each sees its own runs and memory only", async () => {
  const [ann, ben] = await Promise.all([tenantSocket("ann"), tenantSocket("ben")]);
  // The same request id and session on both, at the same time.
  const [a, b] = await Promise.all([
    ann.run("slow: I am Ann, secret ann-7f3", { id: "same", sessionId: "s" }),
    ben.run("slow: I am Ben, secret ben-9c1", { id: "same", sessionId: "s" }),
  ]);
  assert.ok(a.every((e) => e.userId === "ann") && b.every((e) => e.userId === "ben"));
  assert.equal(a.at(-1).type, "finish");
  assert.equal(b.at(-1).type, "finish");
  assert.ok(ann.frames.every((f) => f.userId === undefined || f.userId === "ann"));
  assert.ok(ben.frames.every((f) => f.userId === undefined || f.userId === "ben"));
  assert.deepEqual((await ann.history("s")).map((m) => m.content), ["slow: I am Ann, secret ann-7f3", PIECES.join("")]);
  assert.deepEqual((await ben.history("s")).map((m) => m.content), ["slow: I am Ben, secret ben-9c1", PIECES.join("")]);
  assert.ok(!JSON.stringify(await exported("ann")).includes("ben-9c1"));
  assert.ok(!JSON.stringify(await exported("ben")).includes("ann-7f3"));
  await Promise.all([ann.close(), ben.close()]);
});

test("a token for A cannot open B's socket, and a frame naming B on A's socket is refused", async () => {
  const benLeft = await available("ben2");
  for (const options of [{ token: tok("ann2") }, { protocols: ["tenantry.v1", `bearer.${tok("ann2")}`] }]) {
    const r = await refused(origin, "/v1/ws?tenant_id=ben2", options);
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "forbidden");
  }
  // Refused at the router: B's object was not reached (its meter took nothing more than the
  // one usage request), and a tenant never seen has no object at all.
  assert.equal(await available("ben2"), benLeft - 1);
  await refused(origin, "/v1/ws?tenant_id=ghost", { token: tok("ann2") });
  assert.equal(await objectExists("ghost"), false);

  const c = await tenantSocket("ann2");
  const annLeft = await available("ann2");
  const benBefore = await exported("ben2");
  const naming = [
    { tenant_id: "ben2" },
    { user_id: "ben2" },
    { userId: "ben2" },
    { org_id: "acme" },
    { orgId: "acme" },
    { tenant_id: "ann2", userId: "ben2" },
  ];
  for (const [i, fields] of naming.entries()) {
    for (const frame of [
      { type: "run", id: `r${i}`, message: "My name is Mallory", ...fields },
      { type: "history", id: `h${i}`, ...fields },
    ]) {
      const f = await c.ask(frame);
      assert.equal(f.type, "error", JSON.stringify(frame));
      assert.equal(f.code, "forbidden", JSON.stringify(f));
      assert.equal(f.details.field, Object.keys(fields).find((k) => fields[k] !== "ann2"));
    }
  }
  // Nothing happened for either tenant: no run, and not one request taken from A's limit.
  assert.equal(await available("ann2"), annLeft - 1);
  assert.deepEqual(await exported("ann2"), []);
  assert.deepEqual(await exported("ben2"), benBefore);
  // Naming itself is fine.
  assert.equal((await c.run("hello", { id: "ok", tenant_id: "ann2", userId: "ann2" })).at(-1).type, "finish");
  await c.close();
});

test("missing, bad and expired tokens are refused at the upgrade, in the header and as a subprotocol", async () => {
  const bad = {
    none: undefined,
    expired: jwt({ sub: "tara", exp: now() - 10 }),
    "wrong key": jwt({ sub: "tara", exp }, { secret: "not-the-secret" }),
    "no exp": jwt({ sub: "tara" }),
    "too long-lived": jwt({ sub: "tara", exp: now() + 10 * 86_400 }),
    "alg none": jwt({ sub: "tara", exp }, { alg: "none" }),
    garbage: "not.a.jwt",
  };
  for (const [name, token] of Object.entries(bad)) {
    for (const options of [{ token }, { protocols: ["tenantry.v1", ...(token ? [`bearer.${token}`] : [])] }]) {
      const r = await refused(origin, "/v1/ws", options);
      assert.equal(r.status, 401, `${name} ${JSON.stringify(options)}`);
      assert.equal(r.body.error.code, "unauthorized");
    }
  }
  // Two tokens, one each way, are no token.
  let r = await refused(origin, "/v1/ws", { token: tok("tara"), protocols: ["tenantry.v1", `bearer.${tok("tara")}`] });
  assert.equal(r.status, 401);
  // A client must offer tenantry.v1 among its subprotocols.
  r = await refused(origin, "/v1/ws", { protocols: [`bearer.${tok("tara")}`] });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "unsupported_protocol");
  // Not an upgrade: 426, after the auth (no token is still 401).
  const plain = await call(origin, "GET", "/v1/ws", { token: tok("tara") });
  assert.equal(plain.status, 426);
  assert.equal(plain.body.error.code, "upgrade_required");
  assert.equal((await call(origin, "GET", "/v1/ws")).status, 401);
  assert.equal((await call(origin, "POST", "/v1/ws", { token: tok("tara"), body: {} })).status, 405);
  // None of that reached tara's object.
  assert.equal(await objectExists("tara"), false);

  // The browser's way: the token as a subprotocol, answered with tenantry.v1 only.
  const token = tok("tara");
  const c = await connect(origin, "/v1/ws", { protocols: ["tenantry.v1", `bearer.${token}`] });
  assert.equal(c.ws.protocol, "tenantry.v1");
  assert.equal(c.upgradeHeaders["sec-websocket-protocol"], "tenantry.v1");
  assert.ok(!JSON.stringify(c.upgradeHeaders).includes(token.split(".")[2]), "the token was echoed");
  assert.equal((await c.run("hi", { id: 1 })).at(-1).type, "finish");
  assert.equal(await objectExists("tara"), true);
  await c.close();
});

test("an org's user has a socket in the org's object, for org tokens of that user (or the org's admin) only", async () => {
  const acmeAlice = jwt({ org: "acme", sub: "alice", exp });
  const path = "/v1/orgs/acme/users/alice/ws";
  for (const token of [jwt({ org: "acme", sub: "bob", exp }), jwt({ org: "globex", sub: "alice", exp }), tok("alice")]) {
    const r = await refused(origin, path, { token });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "forbidden");
  }
  assert.equal((await refused(origin, path, {})).status, 401);
  assert.equal((await call(origin, "GET", path, { token: acmeAlice })).status, 426);

  const c = await connect(origin, path, { protocols: ["tenantry.v1", `bearer.${acmeAlice}`] });
  const events = await c.run("slow: hello from acme", { id: "o1", sessionId: "os" });
  assert.equal(events.at(-1).type, "finish");
  assert.ok(events.every((e) => e.orgId === "acme" && e.userId === "alice" && e.sessionId === "os"));
  assert.deepEqual((await c.history("os")).map((m) => m.content), ["slow: hello from acme", PIECES.join("")]);
  // Bound to acme's alice: another user, org or a one-level tenant is refused.
  for (const fields of [{ org_id: "globex" }, { orgId: "globex" }, { userId: "bob" }, { user_id: "bob" }, { tenant_id: "alice" }]) {
    const f = await c.ask({ type: "run", id: "bad", message: "hi", ...fields });
    assert.equal(f.code, "forbidden", JSON.stringify(fields));
  }
  // The same user over HTTP sees the socket's turn; the admin may open the user's socket too.
  const h = await call(origin, "GET", "/v1/orgs/acme/users/alice/history?session_id=os", { token: acmeAlice });
  assert.equal(h.body.messages.length, 2);
  const admin = await connect(origin, path, { token: jwt({ org: "acme", sub: "ops", org_admin: true, exp }) });
  assert.equal((await admin.history("os")).length, 2);
  // A one-level tenant named alice shares nothing with it.
  const tenant = await tenantSocket("alice");
  assert.deepEqual(await tenant.history("os"), []);
  await Promise.all([c.close(), admin.close(), tenant.close()]);
});

test("oversized, binary and malformed frames each get an error frame, and the socket keeps working", async () => {
  const c = await tenantSocket("fuzzy");
  const cases = [
    ["oversized", "x".repeat(5000), "too_large"],
    ["oversized in UTF-8 bytes only", JSON.stringify({ type: "run", id: "big", message: "€".repeat(1400) }), "too_large"],
    ["binary", Buffer.from('{"type":"ping","id":"bin"}'), "invalid_frame"],
    ["oversized binary", Buffer.alloc(5000), "too_large"],
    ["not JSON", "{type: run}", "invalid_frame"],
    ["empty", "", "invalid_frame"],
    ["an array", "[]", "invalid_frame"],
    ["a number", "42", "invalid_frame"],
    ["null", "null", "invalid_frame"],
    ["a string", '"run"', "invalid_frame"],
    ["no type", { id: "t" }, "invalid_frame", "t"],
    ["unknown type", { type: "shout", id: "u" }, "invalid_frame", "u"],
    ["run without id", { type: "run", message: "hi" }, "invalid_frame"],
    ["cancel without id", { type: "cancel" }, "invalid_frame"],
    ["empty id", { type: "run", id: "", message: "hi" }, "invalid_frame"],
    ["fractional id", { type: "run", id: 1.5, message: "hi" }, "invalid_frame"],
    ["object id", { type: "run", id: { a: 1 }, message: "hi" }, "invalid_frame"],
    ["id too long", { type: "run", id: "i".repeat(129), message: "hi" }, "invalid_frame"],
    ["run without message", { type: "run", id: "m" }, "invalid_input", "m"],
    ["empty message", { type: "run", id: "m2", message: "" }, "invalid_input", "m2"],
    ["bad session id", { type: "run", id: "s", message: "hi", sessionId: "" }, "invalid_session_id", "s"],
    ["session id with a control character", { type: "history", id: "s2", sessionId: "a\u0001" }, "invalid_session_id", "s2"],
  ];
  for (const [name, frame, code, id] of cases) {
    c.send(frame);
    const f = await c.waitFor((x) => x.type === "error");
    assert.equal(f.code, code, `${name}: ${JSON.stringify(f)}`);
    assert.equal(f.id, id, name);
    assert.equal(typeof f.message, "string");
    assert.deepEqual(Object.keys(f).sort(), ["code", "details", "message", "type", ...(id ? ["id"] : [])].sort());
    await c.alive();
  }
  // Nothing of them was run; a frame just under the limit is.
  assert.deepEqual(await exported("fuzzy"), []);
  const under = { type: "run", id: "fits", message: "y".repeat(4000) };
  assert.ok(Buffer.byteLength(JSON.stringify(under)) < 4096);
  c.send(under);
  assert.equal((await c.events("fits")).at(-1).type, "finish");
  assert.equal(c.ws.readyState, WebSocket.OPEN);
  await c.close();
});

test("at most WS_MAX_RUNS runs in flight per socket; an id in flight is not reused; one session's runs keep their order", async () => {
  const c = await tenantSocket("busy");
  c.send({ type: "run", id: "a", message: "slow: first", sessionId: "p1" });
  c.send({ type: "run", id: "b", message: "slow: second", sessionId: "p2" });
  c.send({ type: "run", id: "c", message: "slow: third", sessionId: "p3" });
  c.send({ type: "run", id: "a", message: "slow: again", sessionId: "p3" });
  const third = await c.waitFor((f) => f.id === "c");
  assert.equal(third.type, "error");
  assert.equal(third.code, "too_many_runs");
  assert.equal(third.details.limit, 2);
  const again = await c.waitFor((f) => f.id === "a" && f.type === "error");
  assert.equal(again.code, "duplicate_id");
  const [a, b] = await Promise.all([c.events("a"), c.events("b")]);
  assert.equal(a.at(-1).type, "finish");
  assert.equal(b.at(-1).type, "finish");
  assert.deepEqual(await c.history("p3"), []);
  // With those done, runs start again. Two in one session: the agent keeps their order.
  c.send({ type: "run", id: "o1", message: "slow: one", sessionId: "o" });
  c.send({ type: "run", id: "o2", message: "two", sessionId: "o" });
  const [o1, o2] = await Promise.all([c.events("o1"), c.events("o2")]);
  assert.equal(o1.at(-1).type, "finish");
  assert.equal(o2.at(-1).type, "finish");
  assert.ok(o2.at(-1).at > o1.at(-1).at, "the second run of the session finished first");
  assert.deepEqual((await c.history("o")).map((m) => m.content), ["slow: one", PIECES.join(""), "two", PIECES.join("")]);
  await c.close();
});

// --- the rate limit and the budget, shared with HTTP -------------------------------------------

test("the rate limit holds across HTTP and the socket together: both draw on one bucket", async () => {
  const w = await start("socket", { bindings: { AUTH_SECRET: SECRET, RATE_LIMIT_REQUESTS: "6", RATE_LIMIT_WINDOW_MS: "3600000" } });
  try {
    const token = tok("rita");
    const http = (method, path, body) => call(w.origin, method, path, { token, body });
    // Six requests mixed: the upgrade, HTTP and socket frames alike.
    const c = await connect(w.origin, "/v1/ws", { token }); // 1
    assert.equal((await http("POST", "/v1/chat", { message: "one" })).status, 200); // 2
    assert.equal((await c.run("two", { id: 1 })).at(-1).type, "finish"); // 3
    assert.equal((await http("GET", "/v1/tenants/rita/export")).status, 200); // 4
    assert.equal((await c.history()).length, 4); // 5
    assert.equal((await http("GET", "/v1/tenants/rita/usage")).body.rate.available, 0); // 6
    // The bucket is empty for both.
    const f = await c.ask({ type: "run", id: 2, message: "three" });
    assert.equal(f.code, "rate_limited");
    assert.ok(f.details.retryAfterMs > 0);
    assert.equal((await c.ask({ type: "history", id: 3 })).code, "rate_limited");
    const r = await http("POST", "/v1/chat", { message: "three" });
    assert.equal(r.status, 429);
    assert.equal(r.body.error.code, "rate_limited");
    assert.equal((await refused(w.origin, "/v1/ws", { token })).status, 429);
    // Pings and cancels are not requests; the socket stays open.
    await c.alive();
    await c.close();

    // An org's user: the agent's perUser limit counts runs over HTTP and the socket together.
    const acme = jwt({ org: "acme", sub: "ria", exp });
    const o = await connect(w.origin, "/v1/orgs/acme/users/ria/ws", { token: acme });
    for (let i = 0; i < 3; i++) {
      assert.equal((await call(w.origin, "POST", "/v1/orgs/acme/users/ria/chat", { token: acme, body: { message: `http ${i}` } })).status, 200);
      assert.equal((await o.run(`ws ${i}`, { id: i })).at(-1).type, "finish");
    }
    const refusedRun = await o.ask({ type: "run", id: "over", message: "one more" });
    assert.equal(refusedRun.code, "rate_limited", JSON.stringify(refusedRun));
    assert.equal(refusedRun.details.scope, "user");
    assert.equal((await call(w.origin, "POST", "/v1/orgs/acme/users/ria/chat", { token: acme, body: { message: "over" } })).status, 429);
    await o.close();
  } finally {
    await w.dispose();
  }
});

// --- open mode: the tenant named in the query; idle sockets; the budget --------------------------

test("open mode names the tenant in ?tenant_id=; an idle socket is closed, a pinged one is not", async () => {
  const w = await start("socket", { bindings: { WS_IDLE_TIMEOUT_MS: "1000", TENANT_DAILY_TOKENS: "300" } });
  let stop = () => {};
  try {
    let r = await refused(w.origin, "/v1/ws");
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "invalid_user_id");
    // Decoded strictly, as for /v1/chat/ui: a lone surrogate is refused, not turned into U+FFFD.
    r = await refused(w.origin, "/v1/ws?tenant_id=%ED%A0%80");
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "invalid_input");
    assert.equal(r.headers["x-tenantry-auth"], "open");

    const t0 = performance.now();
    const idle = await connect(w.origin, "/v1/ws?tenant_id=ida");
    const pinged = await connect(w.origin, "/v1/ws?tenant_id=ida");
    const busy = await connect(w.origin, "/v1/ws?tenant_id=ivo");
    // The exact ping the runtime answers itself, and frames the object answers.
    const timer = setInterval(() => {
      pinged.send('{"type":"ping"}');
      busy.send({ type: "history", id: "h" });
    }, 250);
    stop = () => {
      clearInterval(timer);
      for (const c of [idle, pinged, busy]) c.ws.terminate();
    };
    const after = await closing(idle);
    assert.ok(after - t0 >= 1000 && after - t0 < 8000, `closed after ${after - t0} ms`);
    await sleep(1500);
    clearInterval(timer);
    assert.equal(pinged.ws.readyState, WebSocket.OPEN);
    assert.equal(busy.ws.readyState, WebSocket.OPEN);
    assert.ok(pinged.frames.some((f) => f.type === "pong"));
    assert.equal(busy.frames.at(-1).type, "history");
    // Left alone, they are closed too.
    const quiet = performance.now();
    for (const c of [pinged, busy]) {
      const at = await closing(c);
      assert.ok(at - quiet >= 700 && at - quiet < 8000, `closed ${at - quiet} ms after the last frame`);
    }
    // The budget is the agent's, for the socket as for HTTP: spent over one, refused on both.
    const s = await connect(w.origin, "/v1/ws?tenant_id=bud");
    let last;
    for (let i = 0; i < 20; i++) {
      last = (await s.run(`My name is Bud number ${i}`, { id: i })).at(-1);
      if (last.type === "error") break;
    }
    assert.equal(last.code, "budget_exceeded", JSON.stringify(last));
    r = await call(w.origin, "POST", "/v1/chat", { body: { tenant_id: "bud", message: "and over HTTP?" } });
    assert.equal(r.status, 429);
    assert.equal(r.body.error.code, "budget_exceeded");
    await s.close();
    // The idle socket's close, code and reason (under workerd its connection ends only
    // once the object hibernates, some ten seconds after the closing handshake).
    assert.deepEqual(await idle.closed, { code: 1000, reason: "idle timeout" });
  } finally {
    stop();
    await w.dispose();
  }
});

// --- eviction and restart ----------------------------------------------------------------------

test("a socket outlives its object's eviction; after a restart the client reconnects and the session continues", async () => {
  const persisted = stateDir();
  let w = await start("socket", { persist: persisted.dir });
  try {
    let c = await connect(w.origin, "/v1/ws?tenant_id=carol");
    assert.equal((await c.run("My name is Carol", { id: 1, sessionId: "talk" })).at(-1).type, "finish");
    // workerd evicts an object that only holds hibernated sockets after about ten idle
    // seconds; the socket stays open, and what it is bound to comes from its attachment.
    await sleep(12_000);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
    assert.equal((await c.ask({ type: "history", id: "x", tenant_id: "dave" })).code, "forbidden");
    const second = await c.run("What is my name?", { id: 2, sessionId: "talk" });
    assert.match(second.at(-1).text, /Carol/);
    assert.ok(second.every((e) => e.userId === "carol"));

    // The Worker restarts on the same storage: the socket drops, a new one continues.
    await w.dispose();
    assert.equal((await c.closed).code, 1006);
    w = await start("socket", { persist: persisted.dir });
    c = await connect(w.origin, "/v1/ws?tenant_id=carol");
    const third = await c.run("What is my name?", { id: 1, sessionId: "talk" });
    assert.match(third.at(-1).text, /Carol/);
    const history = (await c.history("talk")).map((m) => m.content);
    assert.equal(history.length, 6);
    assert.deepEqual(history.filter((_, i) => i % 2 === 0), ["My name is Carol", "What is my name?", "What is my name?"]);
    await c.close();

    // The page's SocketBackend: replies streamed over one socket per tenant, reconnecting
    // when it drops, and counting the reconnects.
    const backend = await SocketBackend.create({ origin: w.origin, WebSocket });
    const carol = { user: "carol" };
    assert.equal(backend.mode, "socket");
    assert.equal(backend.auth, "open");
    const seen = [];
    backend.onReconnect = (who, n) => seen.push([who.user, n]);
    const pieces = [];
    const finish = await backend.stream(carol, "What is my name?", { sessionId: "talk", onDelta: (t) => pieces.push(t) });
    assert.match(finish.text, /Carol/);
    assert.ok(pieces.length > 1);
    assert.equal(pieces.join(""), finish.text);
    assert.equal(backend.reconnects, 0);
    // The connection drops (the client's side here): the backend opens it again by itself.
    backend.socketFor(carol).ws.terminate();
    for (let i = 0; i < 100 && backend.reconnects === 0; i++) await sleep(50);
    assert.equal(backend.reconnects, 1);
    assert.deepEqual(seen, [["carol", 1]]);
    const again = await backend.stream(carol, "What is my name?", { sessionId: "talk", onDelta: () => {} });
    assert.match(again.text, /Carol/);
    assert.equal(backend.reconnects, 1);
    // An agent's refusal comes back as the panel's error.
    await assert.rejects(backend.stream(carol, "", { onDelta: () => {} }), (err) => err.code === "invalid_input");
    backend.dispose();
  } finally {
    await w.dispose();
    persisted.cleanup();
  }
});

test("the README's WebSocket example runs as written and prints what its comments say", async () => {
  const w = await start("socket");
  const file = join(root, "target", "readme-websocket-example.mjs");
  try {
    const code = codeBlock(readFileSync(join(root, "README.md"), "utf8"), "### WebSockets");
    assert.ok(code.includes("ws://127.0.0.1:8787/"));
    writeFileSync(file, code.replace("ws://127.0.0.1:8787/", `${w.origin.replace(/^http/, "ws")}/`));
    const { stdout } = await promisify(execFile)(process.execPath, [file], { env: { ...process.env, JWT: "" }, timeout: 30_000 });
    const expected = expectedOutput(code);
    assert.ok(expected.length >= 4);
    assert.deepEqual(stdout.trimEnd().split("\n"), expected);
  } finally {
    rmSync(file, { force: true });
    await w.dispose();
  }
});
