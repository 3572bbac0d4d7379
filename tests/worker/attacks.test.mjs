// Regression tests for attacks made on the Worker under workerd: ids that are not
// well-formed Unicode, cross-origin "simple" POSTs, provider error text relayed to clients,
// and reads, exports and erasures that cost nothing against the rate limit.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OPENAI_BINDINGS, SECRET, call, jwt, now, sseEvents, start } from "./support.mjs";

let worker;
let origin;

before(async () => {
  worker = await start("attacks", { bindings: { RATE_LIMIT_REQUESTS: "200", RATE_LIMIT_WINDOW_MS: "60000" } });
  origin = worker.origin;
});

after(async () => {
  await worker?.dispose();
});

const HIGH = "\ud800";
const LOW = "\udc00";

function assertError(r, status, code, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.match(r.headers.get("content-type") ?? "", /^application\/json/, what);
  assert.equal(r.body?.error?.code, code, `${what}: ${r.text}`);
}

// What a rewritten id would have become: the lone surrogate as U+FFFD.
async function assertNoReplacementTenant() {
  for (const id of ["\ufffd", "\ufffd\ufffd\ufffd", `a\ufffdb`, "x\ufffd"]) {
    const r = await call(origin, "GET", `/agent/history/${encodeURIComponent(id)}`);
    assert.equal(r.status, 404, `a tenant ${JSON.stringify(id)} was created: ${r.text}`);
  }
}

test("attack: a lone surrogate percent-encoded in the path (%ED%A0%80) is 400 invalid_user_id, not 500", async () => {
  for (const bad of ["%ED%A0%80", "a%ED%A0%80b", "%ED%B0%80", "%ED%A0%80%ED%B0%80", "%F0%9F%A6"]) {
    for (const [method, path] of [
      ["GET", `/agent/history/${bad}`],
      ["GET", `/v1/tenants/${bad}/export`],
      ["GET", `/v1/tenants/${bad}/usage`],
      ["GET", `/v1/tenants/${bad}/search?q=x`],
      ["DELETE", `/v1/tenants/${bad}`],
    ]) {
      assertError(await call(origin, method, path), 400, "invalid_user_id", `${method} ${path}`);
    }
  }
  await assertNoReplacementTenant();
});

test("attack: a lone surrogate in a query parameter is 400, never decoded to U+FFFD", async () => {
  assertError(await call(origin, "GET", "/history?user_id=%ED%A0%80"), 400, "invalid_user_id", "user_id");
  assertError(await call(origin, "GET", "/history?user_id=x%ED%A0%80"), 400, "invalid_user_id", "user_id");
  assertError(await call(origin, "GET", "/history?user_id=ok&session_id=%ED%B0%80"), 400, "invalid_session_id", "session_id");
  // A well-formed id in the query still works, `+` and percent-escapes included.
  const ok = await call(origin, "GET", "/history?user_id=zo%C3%AB+%F0%9F%A6%80");
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.body.user_id, "zoë 🦀");
  await assertNoReplacementTenant();
});

test("attack: a raw lone surrogate in a JSON body's tenant_id, user_id or session_id is 400, never 500 or rewritten", async () => {
  const cases = [
    ["/agent/interact", { tenant_id: HIGH, message: "hi" }, "invalid_user_id"],
    ["/agent/interact", { tenant_id: `a${LOW}b`, message: "hi" }, "invalid_user_id"],
    ["/agent/interact", { tenant_id: "fine", message: "hi", session_id: HIGH }, "invalid_session_id"],
    ["/v1/chat", { tenant_id: HIGH, message: "hi" }, "invalid_user_id"],
    ["/v1/chat", { user_id: `x${HIGH}`, message: "hi" }, "invalid_user_id"],
    ["/v1/chat", { tenant_id: "fine", message: "hi", session_id: `s${LOW}` }, "invalid_session_id"],
    ["/chat", { user_id: HIGH, message: "hi" }, "invalid_user_id"],
    ["/chat", { user_id: "fine", message: "hi", session_id: HIGH }, "invalid_session_id"],
    ["/chat/stream", { user_id: LOW, message: "hi" }, "invalid_user_id"],
    ["/chat/stream", { user_id: "fine", message: "hi", session_id: `${LOW}${HIGH}` }, "invalid_session_id"],
  ];
  for (const [path, body, code] of cases) {
    // JSON.stringify writes a lone surrogate as its \u escape, which JSON.parse reads back.
    assertError(await call(origin, "POST", path, { body }), 400, code, `${path} ${JSON.stringify(body)}`);
  }
  // The same, written by hand as the attacker did.
  const raw = await call(origin, "POST", "/agent/interact", { body: '{"tenant_id":"\\ud800","message":"hi"}' });
  assertError(raw, 400, "invalid_user_id", "hand-written \\ud800");
  assert.equal(raw.body.detail, raw.body.error.message);
  // A surrogate pair is one well-formed character, and fine.
  const crab = await call(origin, "POST", "/agent/interact", { body: { tenant_id: "\ud83e\udd80", message: "hi" } });
  assert.equal(crab.status, 200, crab.text);
  await assertNoReplacementTenant();
  assert.equal((await call(origin, "GET", "/agent/history/fine")).status, 404);
});

test("attack: text/plain, form and missing content types (no-preflight cross-origin POSTs) are 415", async () => {
  const body = (tenant) => JSON.stringify({ tenant_id: tenant, user_id: tenant, message: "My name is Mallory" });
  const posts = ["/agent/interact", "/v1/chat", "/chat", "/chat/stream"];
  for (const path of posts) {
    for (const type of [
      "text/plain",
      "text/plain;charset=UTF-8",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/jsonp",
      "application/json-seq",
      "text/json",
      undefined,
    ]) {
      // A Uint8Array body gets no content type of its own, so `undefined` sends none.
      const res = await fetch(`${origin}${path}`, {
        method: "POST",
        headers: type ? { "content-type": type } : {},
        body: new TextEncoder().encode(body("csrf-victim")),
      });
      const r = { status: res.status, headers: res.headers, text: await res.text() };
      r.body = JSON.parse(r.text);
      assertError(r, 415, "unsupported_media_type", `${path} ${type}`);
    }
  }
  assert.equal((await call(origin, "GET", "/agent/history/csrf-victim")).status, 404, "a refused POST was kept");
  // application/json with parameters, in any case, is accepted.
  for (const type of ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]) {
    const r = await call(origin, "POST", "/agent/interact", { body: body("json-client"), headers: { "content-type": type } });
    assert.equal(r.status, 200, `${type}: ${r.text}`);
  }
});

// A provider whose errors carry its server's internals, as a misconfigured one's do.
const LEAK = "/srv/provider/app/config/secrets.yaml";
const STACK = "    at Object.openSync (node:fs:573:3)\n    at loadConfig (/srv/provider/app/index.js:12:9)";
function leakyProvider() {
  return async (request) => {
    const body = await request.json();
    const last = body.messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
    if (last.startsWith("JSON")) {
      return Response.json({ error: { message: `ENOENT: no such file ${LEAK}\n${STACK}`, type: "server_error" } }, { status: 400 });
    }
    if (last.startsWith("KIND")) {
      return Response.json({ error: { message: "bad", type: `error at ${LEAK}` } }, { status: 401 });
    }
    if (last.startsWith("HTML")) {
      return new Response(`<pre>Traceback (most recent call last):\n  File "${LEAK}", line 3\n${STACK}</pre>`, { status: 403 });
    }
    // Mid-stream: a first piece of text, then an error object inside the stream.
    const sse =
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "Partial " } }] })}\n\n` +
      `data: ${JSON.stringify({ error: { message: `worker crashed: ${LEAK}\n${STACK}`, type: "server_error" } })}\n\n`;
    return new Response(sse, { headers: { "content-type": "text/event-stream" } });
  };
}

test("attack: a 502 body relays none of the provider's error text (server paths, stack lines)", async () => {
  const llm = await start("attacks", { bindings: OPENAI_BINDINGS, outboundService: leakyProvider() });
  try {
    for (const [path, body, status] of [
      ["/agent/interact", { tenant_id: "victim", message: "JSON please" }, 400],
      ["/v1/chat", { tenant_id: "victim", message: "JSON please" }, 400],
      ["/chat", { user_id: "victim", message: "HTML please" }, 403],
      ["/chat/stream", { user_id: "victim", message: "HTML please" }, 403],
      ["/agent/interact", { tenant_id: "victim", message: "KIND please" }, 401],
    ]) {
      const r = await call(llm.origin, "POST", path, { body });
      assert.equal(r.status, 502, `${path}: ${r.text}`);
      assert.equal(r.body.error.code, "model_http");
      assert.equal(r.body.error.message, "the model provider failed");
      assert.equal(r.body.error.details.status, status);
      // Nothing but the status and a plain-identifier kind.
      assert.deepEqual(Object.keys(r.body.error.details).filter((k) => k !== "status" && k !== "kind"), []);
      if (r.body.error.details.kind !== undefined) assert.match(r.body.error.details.kind, /^[a-z][a-z0-9_]*$/);
      if (path === "/agent/interact") assert.equal(r.body.detail, "the model provider failed");
      for (const secret of [LEAK, "srv/provider", "openSync", "Traceback", "ENOENT", "node:fs", OPENAI_BINDINGS.OPENAI_API_KEY]) {
        assert.ok(!r.text.includes(secret), `${path} relayed ${JSON.stringify(secret)}: ${r.text}`);
      }
    }
    // A failure after the stream began is an `error` event, held to the same rule.
    const r = await call(llm.origin, "POST", "/v1/chat", { body: { tenant_id: "victim", message: "stream then fail" } });
    assert.equal(r.status, 200, r.text);
    const events = sseEvents(r.text);
    const error = events.find((e) => e.type === "error");
    assert.ok(error, `no error event in ${r.text}`);
    assert.equal(error.message, "the model provider failed");
    assert.ok(error.code.startsWith("model_"), error.code);
    for (const secret of [LEAK, "srv/provider", "openSync", "crashed"]) assert.ok(!r.text.includes(secret), `the stream relayed ${secret}: ${r.text}`);
    assert.equal((await call(llm.origin, "GET", "/agent/history/victim")).status, 404);
  } finally {
    await llm.dispose();
  }
});

test("attack: history, export, usage, search and DELETE are metered too: each takes a request and the drained tenant gets 429", async () => {
  const metered = await start("attacks", { bindings: { RATE_LIMIT_REQUESTS: "4", RATE_LIMIT_WINDOW_MS: "3600000" } });
  try {
    const o = metered.origin;
    assert.equal((await call(o, "POST", "/agent/interact", { body: { tenant_id: "scraper", message: "My name is Sam" } })).status, 200);
    assert.equal((await call(o, "GET", "/agent/history/scraper")).status, 200);
    assert.equal((await call(o, "GET", "/v1/tenants/scraper/export")).status, 200);
    const usage = await call(o, "GET", "/v1/tenants/scraper/usage");
    assert.equal(usage.status, 200);
    assert.deepEqual(usage.body.rate, { requests: 4, perMs: 3600000, burst: 4, available: 0 });
    for (const [method, path, body] of [
      ["GET", "/agent/history/scraper"],
      ["GET", "/history?user_id=scraper"],
      ["GET", "/v1/tenants/scraper/export"],
      ["GET", "/v1/tenants/scraper/usage"],
      ["GET", "/v1/tenants/scraper/search?q=Sam&mode=hybrid"],
      ["DELETE", "/v1/tenants/scraper"],
      ["POST", "/agent/interact", { tenant_id: "scraper", message: "again" }],
      ["POST", "/v1/chat", { tenant_id: "scraper", message: "again" }],
      ["POST", "/chat", { user_id: "scraper", message: "again" }],
      ["POST", "/chat/stream", { user_id: "scraper", message: "again" }],
    ]) {
      const r = await call(o, method, path, { body });
      assertError(r, 429, "rate_limited", `${method} ${path}`);
      assert.match(r.headers.get("retry-after"), /^[1-9][0-9]*$/);
      // One request of 4 an hour comes back in 15 minutes.
      assert.ok(Number(r.headers.get("retry-after")) > 800, `Retry-After ${r.headers.get("retry-after")}`);
      assert.equal(Number(r.headers.get("retry-after")), Math.ceil(r.body.error.details.retryAfterMs / 1000));
    }
    // Another tenant has its own meter.
    assert.equal((await call(o, "GET", "/agent/history/bystander")).status, 404);
  } finally {
    await metered.dispose();
  }
});

test("attack: requests refused 401 or 403 cannot drain another tenant's rate limit", async () => {
  const jwtWorker = await start("attacks", { bindings: { AUTH_SECRET: SECRET, RATE_LIMIT_REQUESTS: "2", RATE_LIMIT_WINDOW_MS: "3600000" } });
  try {
    const o = jwtWorker.origin;
    const mallory = jwt({ sub: "mallory", exp: now() + 600 });
    const victim = jwt({ sub: "victim", exp: now() + 600 });
    for (let i = 0; i < 5; i++) {
      assert.equal((await call(o, "GET", "/v1/tenants/victim/usage", { token: mallory })).status, 403);
      assert.equal((await call(o, "DELETE", "/v1/tenants/victim", { token: "forged.token.here" })).status, 401);
    }
    assert.equal((await call(o, "POST", "/agent/interact", { token: victim, body: { tenant_id: "victim", message: "hi" } })).status, 200);
    assert.equal((await call(o, "GET", "/v1/tenants/victim/usage", { token: victim })).status, 200);
    assert.equal((await call(o, "GET", "/v1/tenants/victim/usage", { token: victim })).status, 429);
  } finally {
    await jwtWorker.dispose();
  }
});
