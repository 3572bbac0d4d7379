// A2A v1.0 (and v0.3's method names) under workerd, driven by the official SDK's client
// (`@a2a-js/sdk`: ClientFactory from the agent card, the bearer token added by an
// interceptor) and by raw JSON-RPC for what the client cannot say: the card's shape,
// contexts as sessions of the token's tenant only, tasks per tenant, cancellation of a
// running task (against a fake provider that answers slowly), malformed calls, limits.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Role, TaskState } from "@a2a-js/sdk";
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory } from "@a2a-js/sdk/client";
import { isLegacyAgentCard } from "@a2a-js/sdk/compat/v0_3/client";
import { TaskNotCancelableError, TaskNotFoundError } from "@a2a-js/sdk/errors";
import { OPENAI_BINDINGS, SECRET, call, fakeOpenAI, jwt, now, start } from "./support.mjs";

const token = (tenant) => jwt({ sub: tenant, exp: now() + 3600 });
const ALICE = token("alice");
const BOB = token("bob");

// Slow answers for messages that ask for them: many pieces, apart in time, so a task is
// still running while the test cancels it.
const SLOW_PIECES = Array.from({ length: 40 }, (_, i) => `piece${i} `);
const seen = [];
const slowProvider = fakeOpenAI({
  pieces: (last) => (last.includes("slowly") ? SLOW_PIECES : ["Quick ", "answer."]),
  gapMs: (last) => (last.includes("slowly") ? 100 : 0),
  seen,
});

let demo; // the offline demo model, as the Worker runs by default
let slow; // the fake provider above, no memory tools, at most 3 tasks per tenant

before(async () => {
  demo = await start("a2a", { bindings: { AUTH_SECRET: SECRET } });
  slow = await start("a2a", {
    bindings: { AUTH_SECRET: SECRET, ...OPENAI_BINDINGS, MEMORY_TOOLS: "none", A2A_MAX_TASKS: "3", RATE_LIMIT_REQUESTS: "1000" },
    outboundService: slowProvider,
  });
});

after(async () => {
  await demo?.dispose();
  await slow?.dispose();
});

// --- the SDK's client ----------------------------------------------------------------------

/** A CallInterceptor that sends the bearer token with every call. */
const bearer = (jwtText) => ({
  async before(args) {
    args.options = { ...args.options, serviceParameters: { ...args.options?.serviceParameters, authorization: `Bearer ${jwtText}` } };
  },
  async after() {},
});

async function clientFor(origin, jwtText) {
  const options = ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { clientConfig: { interceptors: [bearer(jwtText)] } });
  return new ClientFactory(options).createFromUrl(origin);
}

const textPart = (value) => ({ content: { $case: "text", value }, metadata: undefined, filename: "", mediaType: "" });
const userMessage = (text, { contextId = "", taskId = "", metadata } = {}) => ({
  messageId: randomUUID(),
  contextId,
  taskId,
  role: Role.ROLE_USER,
  parts: [textPart(text)],
  metadata,
  extensions: [],
  referenceTaskIds: [],
});
const sendRequest = (text, options) => ({ tenant: "", message: userMessage(text, options), configuration: undefined, metadata: undefined });
const partsText = (parts) => parts.map((p) => p.content?.value ?? "").join("");
const artifactText = (task) => task.artifacts.map((a) => partsText(a.parts)).join("");

async function send(client, text, options) {
  const task = await client.sendMessage(sendRequest(text, options));
  assert.ok(!("messageId" in task), "a Task, not a Message");
  return task;
}

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event.payload);
  return events;
}

// --- raw JSON-RPC -------------------------------------------------------------------------

/** One JSON-RPC call: { status, headers, body, text }. */
function rpc(origin, jwtText, method, params, { id = 1, query = "", headers = {} } = {}) {
  return call(origin, "POST", `/a2a/v1${query}`, { token: jwtText, headers, body: { jsonrpc: "2.0", id, method, params } });
}

/** The JSON-RPC responses of an SSE body. */
const sseResults = (text) =>
  text
    .split("\n\n")
    .filter((b) => b.trim())
    .map((b) => JSON.parse(b.split("\n").find((l) => l.startsWith("data: ")).slice(6)));

function assertRpcError(r, code, status = 200) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.body.jsonrpc, "2.0", r.text);
  assert.equal(r.body.error.code, code, r.text);
  assert.equal(typeof r.body.error.message, "string");
  assert.equal(r.body.result, undefined);
}

const v1Text = (text) => ({ message: { messageId: randomUUID(), role: "ROLE_USER", parts: [{ text }] } });

// --- the card ------------------------------------------------------------------------------

test("the agent card is public and v1.0: the JSON-RPC interface at this origin, streaming, the bearer JWT, skills from the agent's tools", async () => {
  const r = await call(demo.origin, "GET", "/.well-known/agent-card.json");
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^application\/json/);
  const card = r.body;
  assert.equal(card.name, "tenantry demo agent");
  assert.equal(typeof card.description, "string");
  assert.match(card.version, /^\d+\.\d+\.\d+$/);
  assert.deepEqual(card.supportedInterfaces, [
    { url: `${demo.origin}/a2a/v1`, protocolBinding: "JSONRPC", protocolVersion: "1.0" },
    { url: `${demo.origin}/a2a/v1`, protocolBinding: "JSONRPC", protocolVersion: "0.3" },
  ]);
  assert.equal(card.capabilities.streaming, true);
  assert.equal(card.capabilities.pushNotifications, false);
  assert.deepEqual(Object.keys(card.securitySchemes), ["bearer"]);
  const scheme = card.securitySchemes.bearer.httpAuthSecurityScheme;
  assert.equal(scheme.scheme, "Bearer");
  assert.equal(scheme.bearerFormat, "JWT");
  assert.match(scheme.description, /HS256/);
  assert.deepEqual(card.securityRequirements, [{ schemes: { bearer: { list: [] } } }]);
  assert.ok(card.defaultInputModes.includes("text/plain"));
  assert.deepEqual(card.defaultOutputModes, ["text/plain"]);
  assert.deepEqual(card.skills.map((s) => s.id), ["chat", "memory_remember", "memory_forget_fact"]);
  for (const skill of card.skills) {
    assert.ok(skill.name && skill.description && skill.tags.length, JSON.stringify(skill));
  }

  // The Worker's own origin, whatever it is: the card is built per request.
  const other = await call(slow.origin, "GET", "/.well-known/agent-card.json");
  assert.equal(other.body.supportedInterfaces[0].url, `${slow.origin}/a2a/v1`);
  // The slow Worker has no memory tools: only the chat skill.
  assert.deepEqual(other.body.skills.map((s) => s.id), ["chat"]);

  // The SDK reads it, picks JSON-RPC at v1.0, and sees streaming.
  const client = await clientFor(demo.origin, ALICE);
  assert.equal(client.protocolVersion, "1.0");
  const parsed = await client.getAgentCard();
  assert.equal(parsed.capabilities.streaming, true);
  assert.equal(parsed.securitySchemes.bearer.scheme.$case, "httpAuthSecurityScheme");
});

test("a v0.3 peer asking with A2A-Version: 0.3 gets v0.3's card: url, security, typed scheme", async () => {
  const r = await call(demo.origin, "GET", "/.well-known/agent-card.json", { headers: { "a2a-version": "0.3" } });
  assert.equal(r.status, 200);
  const card = r.body;
  assert.ok(isLegacyAgentCard(card), "the SDK's v0.3 detection");
  assert.equal(card.protocolVersion, "0.3.0");
  assert.equal(card.url, `${demo.origin}/a2a/v1`);
  assert.equal(card.preferredTransport, "JSONRPC");
  assert.deepEqual(card.securitySchemes.bearer, { type: "http", scheme: "bearer", bearerFormat: "JWT", description: card.securitySchemes.bearer.description });
  assert.deepEqual(card.security, [{ bearer: [] }]);
  assert.equal(card.supportedInterfaces, undefined);
});

// --- sending -------------------------------------------------------------------------------

test("SendMessage runs the offline demo model: a completed task with the reply as its artifact, in a context the server minted", async () => {
  const client = await clientFor(demo.origin, ALICE);
  const task = await send(client, "My name is Alice");
  assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED);
  assert.match(task.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.match(task.contextId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(task.id, task.contextId);
  assert.match(artifactText(task), /Alice/);
  assert.deepEqual(task.history.map((m) => m.role), [Role.ROLE_USER, Role.ROLE_AGENT]);
  assert.equal(partsText(task.history[0].parts), "My name is Alice");
  assert.equal(partsText(task.history[1].parts), artifactText(task));
  assert.ok(task.history.every((m) => m.contextId === task.contextId && m.taskId === task.id));

  // The second message of the context sees the first: it is the agent's session.
  const next = await send(client, "What's my name?", { contextId: task.contextId });
  assert.equal(next.contextId, task.contextId);
  assert.notEqual(next.id, task.id);
  assert.equal(artifactText(next), "Your name is Alice.");
  const history = await call(demo.origin, "GET", `/history?user_id=alice&session_id=${task.contextId}`, { token: ALICE });
  assert.deepEqual(history.body.history.map((m) => m.content), ["My name is Alice", artifactText(task), "What's my name?", "Your name is Alice."]);

  // Each task is kept: GetTask reads it back, historyLength cuts its history.
  const got = await client.getTask({ tenant: "", id: task.id, historyLength: undefined });
  assert.equal(got.status.state, TaskState.TASK_STATE_COMPLETED);
  assert.equal(artifactText(got), artifactText(task));
  assert.equal(got.history.length, 2);
  assert.deepEqual((await client.getTask({ tenant: "", id: task.id, historyLength: 1 })).history.map((m) => m.role), [Role.ROLE_AGENT]);
  assert.deepEqual((await client.getTask({ tenant: "", id: task.id, historyLength: 0 })).history, []);
});

test("SendStreamingMessage: the task first, the reply as artifact chunks, the last marked, then COMPLETED; GetTask agrees", async () => {
  const client = await clientFor(demo.origin, ALICE);
  const first = await send(client, "My name is Alice");
  const events = await collect(client.sendMessageStream(sendRequest("What's my name?", { contextId: first.contextId })));
  assert.equal(events[0].$case, "task");
  const task = events[0].value;
  assert.equal(task.status.state, TaskState.TASK_STATE_WORKING);
  assert.equal(task.contextId, first.contextId);
  assert.equal(partsText(task.history[0].parts), "What's my name?");
  const chunks = events.slice(1, -1);
  assert.ok(chunks.length > 1, `${chunks.length} chunk(s)`);
  assert.ok(chunks.every((e) => e.$case === "artifactUpdate" && e.value.taskId === task.id && e.value.artifact.artifactId === chunks[0].value.artifact.artifactId));
  assert.deepEqual(chunks.map((e) => e.value.append), chunks.map((_, i) => i > 0));
  assert.deepEqual(chunks.map((e) => e.value.lastChunk), chunks.map((_, i) => i === chunks.length - 1));
  const streamed = chunks.map((e) => partsText(e.value.artifact.parts)).join("");
  assert.equal(streamed, "Your name is Alice.");
  const last = events.at(-1);
  assert.equal(last.$case, "statusUpdate");
  assert.equal(last.value.status.state, TaskState.TASK_STATE_COMPLETED);
  assert.equal(last.value.taskId, task.id);

  const got = await client.getTask({ tenant: "", id: task.id });
  assert.equal(got.status.state, TaskState.TASK_STATE_COMPLETED);
  assert.equal(artifactText(got), streamed);
});

// --- tenants -------------------------------------------------------------------------------

test("cross-tenant: bob naming alice's contextId gets a context of his own; alice's tasks are TaskNotFound to him; a token for alice cannot act for bob", async () => {
  const alice = await clientFor(demo.origin, ALICE);
  const bob = await clientFor(demo.origin, BOB);
  const mine = await send(alice, "My name is Alice");
  const aliceHistory = async () => (await call(demo.origin, "GET", `/history?user_id=alice&session_id=${mine.contextId}`, { token: ALICE })).body.history;
  const before = await aliceHistory();
  assert.equal(before.length, 2);

  const theirs = await send(bob, "What's my name?", { contextId: mine.contextId });
  assert.equal(theirs.contextId, mine.contextId, "the id is accepted, as a session of bob's");
  assert.doesNotMatch(artifactText(theirs), /Alice/);
  const bobHistory = await call(demo.origin, "GET", `/history?user_id=bob&session_id=${mine.contextId}`, { token: BOB });
  assert.deepEqual(bobHistory.body.history.map((m) => m.content), ["What's my name?", artifactText(theirs)]);
  assert.deepEqual(await aliceHistory(), before, "alice's conversation is untouched");

  await assert.rejects(bob.getTask({ tenant: "", id: mine.id }), TaskNotFoundError);
  await assert.rejects(bob.cancelTask({ tenant: "", id: mine.id, metadata: undefined }), TaskNotFoundError);
  await assert.rejects(alice.getTask({ tenant: "", id: theirs.id }), TaskNotFoundError);
  // Still alice's, still completed.
  assert.equal((await alice.getTask({ tenant: "", id: mine.id })).status.state, TaskState.TASK_STATE_COMPLETED);

  // Naming bob anywhere a request can: refused before anything runs, or not read at all.
  const asBob = await rpc(demo.origin, ALICE, "SendMessage", v1Text("My name is Mallory"), { query: "?tenant_id=bob" });
  assertRpcError(asBob, -32000, 403);
  assert.equal(asBob.body.error.data[0].metadata.code, "forbidden");
  assertRpcError(await rpc(demo.origin, ALICE, "SendMessage", { ...v1Text("My name is Mallory"), tenant: "bob" }), -32000, 403);
  assertRpcError(await rpc(demo.origin, ALICE, "GetTask", { id: theirs.id, tenant: "bob" }), -32000, 403);
  // Metadata is the client's and names nothing: the task is alice's.
  const tagged = await send(alice, "hello", { metadata: { tenant: "bob", tenant_id: "bob", userId: "bob" } });
  await assert.rejects(bob.getTask({ tenant: "", id: tagged.id }), TaskNotFoundError);
  assert.equal((await alice.getTask({ tenant: "", id: tagged.id })).id, tagged.id);
  // A matching tenant, in the URL or the params, is fine.
  const ok = await rpc(demo.origin, ALICE, "GetTask", { id: mine.id, tenant: "alice" }, { query: "?tenant_id=alice" });
  assert.equal(ok.body.result.id, mine.id);
  assert.equal((await call(demo.origin, "GET", `/history?user_id=bob&session_id=${tagged.contextId}`, { token: BOB })).body.history.length, 0);
});

test("auth: no token, a bad one, an expired one are HTTP 401 JSON-RPC errors that touch no tenant; the SDK client without the token fails", async () => {
  const cases = [
    [undefined, "no token"],
    ["not.a.jwt", "garbage"],
    [jwt({ sub: "alice", exp: now() + 3600 }, { secret: "another-secret" }), "wrong key"],
    [jwt({ sub: "alice", exp: now() - 10 }), "expired"],
    [jwt({ sub: "alice", exp: now() + 3600 }, { alg: "none" }), "alg none"],
  ];
  for (const [jwtText, what] of cases) {
    const r = await rpc(demo.origin, jwtText, "SendMessage", v1Text("My name is Mallory"), { id: "x", query: "?tenant_id=carol" });
    assertRpcError(r, -32000, 401);
    assert.equal(r.body.error.data[0].metadata.code, "unauthorized", what);
    assert.match(r.headers.get("www-authenticate"), /^Bearer/, what);
  }
  const anonymous = await new ClientFactory().createFromUrl(demo.origin);
  await assert.rejects(anonymous.sendMessage(sendRequest("hello")));
  // A token for alice naming carol is refused before carol's object is reached.
  assertRpcError(await rpc(demo.origin, ALICE, "SendMessage", v1Text("My name is Mallory"), { query: "?tenant_id=carol" }), -32000, 403);
  // None of these reached carol's object: her meter has spent only this usage request.
  const usage = await call(demo.origin, "GET", "/v1/tenants/carol/usage", { token: token("carol") });
  assert.equal(usage.body.rate.available, usage.body.rate.burst - 1);
  assert.deepEqual(usage.body.limits.map((l) => l.used), usage.body.limits.map(() => 0));
});

// --- v0.3 ------------------------------------------------------------------------------------

test("v0.3 method names: message/send, message/stream, tasks/get, tasks/cancel with kind-tagged objects", async () => {
  const message = (text, extra = {}) => ({ message: { kind: "message", messageId: randomUUID(), role: "user", parts: [{ kind: "text", text }], ...extra } });
  const sent = await rpc(demo.origin, ALICE, "message/send", message("My name is Alice"), { id: "legacy-1" });
  assert.equal(sent.status, 200, sent.text);
  assert.equal(sent.body.id, "legacy-1");
  const task = sent.body.result;
  assert.equal(task.kind, "task");
  assert.equal(task.status.state, "completed");
  assert.equal(task.artifacts[0].parts[0].kind, "text");
  assert.match(task.artifacts[0].parts[0].text, /Alice/);
  assert.deepEqual(task.history.map((m) => [m.kind, m.role]), [["message", "user"], ["message", "agent"]]);

  const streamed = await rpc(demo.origin, ALICE, "message/stream", message("What's my name?", { contextId: task.contextId }), { id: 7 });
  assert.match(streamed.headers.get("content-type"), /^text\/event-stream/);
  const results = sseResults(streamed.text);
  assert.ok(results.every((r) => r.jsonrpc === "2.0" && r.id === 7));
  const kinds = results.map((r) => r.result.kind);
  assert.equal(kinds[0], "task");
  assert.equal(kinds.at(-1), "status-update");
  assert.ok(kinds.slice(1, -1).every((k) => k === "artifact-update"));
  assert.equal(results.at(-1).result.final, true);
  assert.equal(results.at(-1).result.status.state, "completed");
  assert.equal(results.slice(1, -1).map((r) => r.result.artifact.parts[0].text).join(""), "Your name is Alice.");

  const got = await rpc(demo.origin, ALICE, "tasks/get", { id: task.id, historyLength: 1 });
  assert.equal(got.body.result.kind, "task");
  assert.equal(got.body.result.history.length, 1);
  assertRpcError(await rpc(demo.origin, ALICE, "tasks/cancel", { id: task.id }), -32002);
  assertRpcError(await rpc(demo.origin, BOB, "tasks/get", { id: task.id }), -32001);
  // The same task in v1.0's shape.
  const v1 = await rpc(demo.origin, ALICE, "GetTask", { id: task.id });
  assert.equal(v1.body.result.status.state, "TASK_STATE_COMPLETED");
  assert.equal(v1.body.result.kind, undefined);
});

test("the SDK's own v0.3 transport (legacyCompat) against the v0.3 card sends, reads and is refused as v0.3 expects", async () => {
  const resolver = new DefaultAgentCardResolver({ legacyCompat: { enabled: true } });
  const res = await fetch(`${demo.origin}/.well-known/agent-card.json`, { headers: { "a2a-version": "0.3" } });
  const card = resolver.normalizeAgentCard(await res.json());
  assert.match(card.supportedInterfaces[0].protocolVersion, /^0\.3(\.0)?$/);
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new JsonRpcTransportFactory({ legacyCompat: { enabled: true } })],
      cardResolver: resolver,
      clientConfig: { interceptors: [bearer(BOB)] },
    }),
  );
  const client = await factory.createFromAgentCard(card);
  assert.equal(client.protocolVersion, "0.3");
  const task = await send(client, "My name is Bob");
  assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED);
  const next = await send(client, "What's my name?", { contextId: task.contextId });
  assert.equal(artifactText(next), "Your name is Bob.");
  assert.equal((await client.getTask({ tenant: "", id: next.id })).id, next.id);
  await assert.rejects(client.cancelTask({ tenant: "", id: next.id, metadata: undefined }), TaskNotCancelableError);
});

// --- malformed calls -------------------------------------------------------------------------

test("malformed calls get JSON-RPC errors (or HTTP 413/415), never a crash, and run nothing", async () => {
  const raw = (body, headers = {}) => call(demo.origin, "POST", "/a2a/v1", { token: ALICE, body, headers });
  assertRpcError(await raw("{not json"), -32700, 400);
  // A lone surrogate, as JSON lets one be escaped: not text that can be stored or sent on.
  assertRpcError(await raw('{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"\\udc00"}]}}}'), -32602);
  assertRpcError(await raw("[]"), -32600, 400);
  assertRpcError(await raw([{ jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "x" } }]), -32600, 400);
  assertRpcError(await raw("null"), -32600, 400);
  assertRpcError(await raw('"SendMessage"'), -32600, 400);
  assertRpcError(await raw({ id: 1, method: "GetTask", params: { id: "x" } }), -32600, 400);
  assertRpcError(await raw({ jsonrpc: "1.0", id: 1, method: "GetTask", params: { id: "x" } }), -32600, 400);
  assertRpcError(await raw({ jsonrpc: "2.0", method: "GetTask", params: { id: "x" } }), -32600, 400);
  assertRpcError(await raw({ jsonrpc: "2.0", id: { x: 1 }, method: "GetTask", params: { id: "x" } }), -32600, 400);
  assertRpcError(await raw({ jsonrpc: "2.0", id: "i".repeat(300), method: "GetTask", params: { id: "x" } }), -32600, 400);
  assertRpcError(await raw({ jsonrpc: "2.0", id: 1, method: 5 }), -32600, 400);
  for (const method of ["NoSuchMethod", "toString", "__proto__", "constructor", "hasOwnProperty", "sendmessage", ""]) {
    const r = await raw({ jsonrpc: "2.0", id: 1, method, params: {} });
    assertRpcError(r, -32601);
    assert.equal(r.body.id, 1);
  }
  // Keys named like Object.prototype's are data, never inherited: no id here.
  assertRpcError(await raw('{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"__proto__":{"id":"x"}}}'), -32602);
  assertRpcError(await raw({ jsonrpc: "2.0", id: 1, method: "GetTask", params: ["x"] }), -32602, 400);
  assertRpcError(await raw({ jsonrpc: "2.0", id: 1, method: "GetTask", params: null }), -32602, 400);

  const spent = async () => (await call(demo.origin, "GET", "/v1/tenants/alice/usage", { token: ALICE })).body.limits.map((l) => l.used);
  const spentBefore = await spent();
  const bad = [
    ["SendMessage", {}],
    ["SendMessage", { message: "hi" }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_AGENT", parts: [{ text: "I am the agent" }] } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: [] } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: [{}] } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: [{ text: "a", url: "https://example.com/x" }] } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: [{ text: 5 }] } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: ["text"] } }],
    ["SendMessage", { message: { role: "ROLE_USER", parts: [{ text: "no id" }] } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: [{ text: "x" }], contextId: "ctl\u0001" } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: [{ text: "x" }], contextId: "c".repeat(256) } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: [{ text: "x" }], contextId: 12 } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: [{ text: "x" }], metadata: "tenant=bob" } }],
    ["SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: Array.from({ length: 101 }, () => ({ text: "x" })) } }],
    ["SendMessage", { ...v1Text("x"), configuration: { historyLength: -1 } }],
    ["SendMessage", { ...v1Text("x"), configuration: { historyLength: 1.5 } }],
    ["SendMessage", { ...v1Text("x"), configuration: "blocking" }],
    ["SendMessage", { ...v1Text("x"), tenant: 7 }],
    ["message/send", v1Text("v1 shape to a v0.3 method")],
    ["message/send", { message: { kind: "message", messageId: "m", role: "user", parts: [{ kind: "image", text: "x" }] } }],
    ["GetTask", {}],
    ["GetTask", { id: "" }],
    ["GetTask", { id: 42 }],
    ["GetTask", { id: "t".repeat(256) }],
    ["GetTask", { id: "x", historyLength: "all" }],
    ["CancelTask", { id: null }],
  ];
  for (const [method, params] of bad) {
    const r = await rpc(demo.origin, ALICE, method, params, { id: "bad" });
    assertRpcError(r, -32602);
    assert.equal(r.body.id, "bad", JSON.stringify(params));
    assert.equal(r.body.error.data[0].reason, "INVALID_PARAMS");
  }
  // What the agent does not offer is said so, with A2A's errors.
  assertRpcError(await rpc(demo.origin, ALICE, "SendMessage", { ...v1Text("x"), configuration: { returnImmediately: true } }), -32004);
  assertRpcError(await rpc(demo.origin, ALICE, "SendMessage", { ...v1Text("x"), configuration: { taskPushNotificationConfig: { url: "https://example.com/hook" } } }), -32003);
  assertRpcError(await rpc(demo.origin, ALICE, "SendMessage", { ...v1Text("x"), configuration: { acceptedOutputModes: ["image/png"] } }), -32005);
  assertRpcError(await rpc(demo.origin, ALICE, "SendMessage", { message: { messageId: "m", role: "ROLE_USER", parts: [{ url: "https://example.com/x" }] } }), -32005);
  assertRpcError(await rpc(demo.origin, ALICE, "CreateTaskPushNotificationConfig", { taskId: "x", url: "https://example.com" }), -32003);
  assertRpcError(await rpc(demo.origin, ALICE, "ListTasks", {}), -32004);
  assertRpcError(await rpc(demo.origin, ALICE, "SubscribeToTask", { id: "x" }), -32004);
  assertRpcError(await rpc(demo.origin, ALICE, "GetTask", { id: "x" }, { headers: { "a2a-version": "2.0" } }), -32009);
  assertRpcError(await rpc(demo.origin, ALICE, "GetTask", { id: "x" }, { headers: { "a2a-version": "one" } }), -32009);
  assert.deepEqual(await spent(), spentBefore, "a refused call ran the model");
  // A message naming a task continues nothing: unknown is TaskNotFound, a finished one unsupported.
  assertRpcError(await rpc(demo.origin, ALICE, "SendMessage", { message: { ...v1Text("x").message, taskId: "no-such-task" } }), -32001);
  const done = (await rpc(demo.origin, ALICE, "SendMessage", v1Text("hello"))).body.result.task;
  assertRpcError(await rpc(demo.origin, ALICE, "SendMessage", { message: { ...v1Text("x").message, taskId: done.id } }), -32004);
  assertRpcError(await rpc(demo.origin, ALICE, "SendMessage", { message: { ...v1Text("x").message, taskId: done.id, contextId: "another" } }), -32602);

  // Not JSON at all, or too big: HTTP errors in JSON-RPC's shape.
  const plain = await call(demo.origin, "POST", "/a2a/v1", { token: ALICE, body: '{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}', headers: { "content-type": "text/plain" } });
  assertRpcError(plain, -32600, 415);
  assert.equal(plain.body.error.data[0].metadata.code, "unsupported_media_type");
  const big = await rpc(demo.origin, ALICE, "SendMessage", v1Text("x".repeat(65 * 1024)));
  assertRpcError(big, -32600, 413);
  assert.equal(big.body.error.data[0].metadata.code, "body_too_large");
  assert.equal((await call(demo.origin, "GET", "/a2a/v1", { token: ALICE })).status, 405);

  // Still serving, and none of the above reached the model: one task was run, `done`.
  const fine = await rpc(demo.origin, ALICE, "SendMessage", v1Text("still there?"));
  assert.equal(fine.body.result.task.status.state, "TASK_STATE_COMPLETED");
});

// --- cancellation ----------------------------------------------------------------------------

test("CancelTask of a running task aborts its run: the stream ends CANCELED, the task is CANCELED with no artifact, and the context holds nothing", async () => {
  const client = await clientFor(slow.origin, token("canceller"));
  const calls = seen.length;
  const stream = client.sendMessageStream(sendRequest("answer me slowly"));
  const iterator = stream[Symbol.asyncIterator]();
  const first = (await iterator.next()).value.payload;
  assert.equal(first.$case, "task");
  const task = first.value;
  assert.equal(task.status.state, TaskState.TASK_STATE_WORKING);
  const chunk = (await iterator.next()).value.payload;
  assert.equal(chunk.$case, "artifactUpdate");
  assert.equal(seen.length, calls + 1, "the run reached the provider");

  // While it runs: GetTask sees it working.
  assert.equal((await client.getTask({ tenant: "", id: task.id })).status.state, TaskState.TASK_STATE_WORKING);
  const canceled = await client.cancelTask({ tenant: "", id: task.id, metadata: undefined });
  assert.equal(canceled.id, task.id);
  assert.equal(canceled.status.state, TaskState.TASK_STATE_CANCELED);

  const rest = [];
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest.push(next.value.payload);
  const end = rest.at(-1);
  assert.equal(end.$case, "statusUpdate");
  assert.equal(end.value.status.state, TaskState.TASK_STATE_CANCELED);
  const streamedPieces = [chunk, ...rest.slice(0, -1)].length;
  assert.ok(streamedPieces < SLOW_PIECES.length, `${streamedPieces} pieces streamed: the run went on`);

  const got = await client.getTask({ tenant: "", id: task.id });
  assert.equal(got.status.state, TaskState.TASK_STATE_CANCELED);
  assert.deepEqual(got.artifacts, []);
  const history = await call(slow.origin, "GET", `/history?user_id=canceller&session_id=${task.contextId}`, { token: token("canceller") });
  assert.deepEqual(history.body.history, [], "the aborted run committed nothing");
  // Done is done: a second cancel, or one of a completed task, is TaskNotCancelable.
  await assert.rejects(client.cancelTask({ tenant: "", id: task.id, metadata: undefined }), TaskNotCancelableError);
  const quick = await send(client, "quick one", { contextId: task.contextId });
  assert.equal(artifactText(quick), "Quick answer.");
  await assert.rejects(client.cancelTask({ tenant: "", id: quick.id, metadata: undefined }), TaskNotCancelableError);
  // The context goes on with only the completed turn in it.
  const after = await call(slow.origin, "GET", `/history?user_id=canceller&session_id=${task.contextId}`, { token: token("canceller") });
  assert.deepEqual(after.body.history.map((m) => m.content), ["quick one", "Quick answer."]);
});

test("a streaming client that hangs up cancels its task: nothing is committed", async () => {
  const jwtText = token("quitter");
  const controller = new AbortController();
  const res = await fetch(`${slow.origin}/a2a/v1`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${jwtText}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "SendStreamingMessage", params: v1Text("tell me slowly") }),
    signal: controller.signal,
  });
  const reader = res.body.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  const { task } = sseResults(first)[0].result;
  controller.abort();
  await reader.cancel().catch(() => {});
  // The cancel reaches the object asynchronously: ask until the task has ended.
  let state;
  for (let i = 0; i < 200; i++) {
    state = (await rpc(slow.origin, jwtText, "GetTask", { id: task.id })).body.result.status.state;
    if (state !== "TASK_STATE_WORKING") break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(state, "TASK_STATE_CANCELED");
  const history = await call(slow.origin, "GET", `/history?user_id=quitter&session_id=${task.contextId}`, { token: jwtText });
  assert.deepEqual(history.body.history, []);
});

test("a model provider that fails is a 502 JSON-RPC error without the provider's text, and commits nothing", async () => {
  const r = await rpc(slow.origin, token("failing"), "SendMessage", v1Text("FAIL 500 please"));
  assertRpcError(r, -32000, 502);
  assert.equal(r.body.error.message, "the model provider failed");
  assert.equal(r.body.error.data[0].metadata.code, "model_http");
  assert.doesNotMatch(r.text, /fake provider refuses|sk-test/);
  const history = await call(slow.origin, "GET", "/v1/tenants/failing/export", { token: token("failing") });
  assert.deepEqual(history.body.sessions, []);
});

// --- the task store ----------------------------------------------------------------------------

test("tasks per tenant are bounded (A2A_MAX_TASKS): the oldest is evicted and becomes TaskNotFound; another tenant's are untouched", async () => {
  const keeper = await clientFor(slow.origin, token("keeper"));
  const other = await clientFor(slow.origin, token("other-keeper"));
  const theirs = await send(other, "quick");
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push((await send(keeper, `quick ${i}`)).id);
  await assert.rejects(keeper.getTask({ tenant: "", id: ids[0] }), TaskNotFoundError);
  for (const id of ids.slice(1)) assert.equal((await keeper.getTask({ tenant: "", id })).id, id);
  assert.equal((await other.getTask({ tenant: "", id: theirs.id })).id, theirs.id);
});

test("race: concurrent sends of one tenant, in one context and in new ones, each keep their task", async () => {
  const client = await clientFor(demo.origin, token("racer"));
  const first = await send(client, "My name is Rita");
  const tasks = await Promise.all(
    Array.from({ length: 8 }, (_, i) => send(client, i % 2 ? `hello ${i}` : "What's my name?", i % 2 ? {} : { contextId: first.contextId })),
  );
  assert.equal(new Set(tasks.map((t) => t.id)).size, 8);
  for (const task of tasks) {
    const got = await client.getTask({ tenant: "", id: task.id });
    assert.equal(got.status.state, TaskState.TASK_STATE_COMPLETED);
    assert.equal(artifactText(got), artifactText(task));
  }
  assert.ok(tasks.filter((_, i) => i % 2 === 0).every((t) => t.contextId === first.contextId && artifactText(t) === "Your name is Rita."));
  assert.ok(tasks.filter((_, i) => i % 2 === 1).every((t) => t.contextId !== first.contextId));
});

test("erasing the tenant (DELETE /v1/tenants/{id}) erases its tasks", async () => {
  const jwtText = token("erased");
  const client = await clientFor(slow.origin, jwtText);
  const task = await send(client, "quick, then forget me");
  assert.equal((await call(slow.origin, "DELETE", "/v1/tenants/erased", { token: jwtText })).status, 204);
  await assert.rejects(client.getTask({ tenant: "", id: task.id }), TaskNotFoundError);
  // And the tenant starts over with a working store.
  const again = await send(client, "quick again");
  assert.equal((await client.getTask({ tenant: "", id: again.id })).status.state, TaskState.TASK_STATE_COMPLETED);
});

test("open mode: the tenant is the tenant_id query parameter, required, strictly decoded; each call is metered", async () => {
  const open = await start("a2a", { bindings: { RATE_LIMIT_REQUESTS: "2", RATE_LIMIT_WINDOW_MS: "3600000" } });
  try {
    const card = await call(open.origin, "GET", "/.well-known/agent-card.json");
    assert.deepEqual(card.body.securityRequirements, []);
    assert.match(card.body.description, /OPEN DEMO MODE/);
    assertRpcError(await rpc(open.origin, undefined, "SendMessage", v1Text("hello")), -32602, 400);
    assertRpcError(await rpc(open.origin, undefined, "SendMessage", v1Text("hello"), { query: "?tenant_id=%ED%A0%80" }), -32602, 400);
    const r = await rpc(open.origin, undefined, "SendMessage", v1Text("My name is Olga"), { query: "?tenant_id=olga" });
    assert.equal(r.body.result.task.status.state, "TASK_STATE_COMPLETED");
    assert.equal((await rpc(open.origin, undefined, "GetTask", { id: r.body.result.task.id }, { query: "?tenant_id=olga" })).body.result.id, r.body.result.task.id);
    assertRpcError(await rpc(open.origin, undefined, "GetTask", { id: r.body.result.task.id }, { query: "?tenant_id=oleg" }), -32001);
    // olga's two requests of the hour are spent: the third is 429, as a JSON-RPC error.
    const limited = await rpc(open.origin, undefined, "SendMessage", v1Text("again"), { id: 9, query: "?tenant_id=olga" });
    assertRpcError(limited, -32000, 429);
    assert.equal(limited.body.id, 9);
    assert.equal(limited.body.error.data[0].metadata.code, "rate_limited");
    assert.match(limited.headers.get("retry-after"), /^[1-9][0-9]*$/);
  } finally {
    await open.dispose();
  }
});
