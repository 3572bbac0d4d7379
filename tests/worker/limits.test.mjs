// Limits under workerd: body size (413), JSON validation (400), the per-tenant rate limit
// (429 with Retry-After) and a failing model (502), each with a JSON error body
// `{ error: { code, message, details } }`, and none of them committing anything.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OPENAI_BINDINGS, call, fakeOpenAI, objectBytes, start, stateDir } from "./support.mjs";

let worker;
let origin;
// Persisted so that a test can look into a tenant's storage without a (metered) request.
const state = stateDir();

before(async () => {
  worker = await start("limits", { persist: state.dir, bindings: { RATE_LIMIT_REQUESTS: "3", RATE_LIMIT_WINDOW_MS: "60000" } });
  origin = worker.origin;
});

after(async () => {
  await worker?.dispose();
  state.cleanup();
});

test("bodies over 64 KiB are 413, whether declared or streamed without a length", async () => {
  const big = JSON.stringify({ tenant_id: "sizer", message: "x".repeat(65 * 1024) });
  for (const path of ["/agent/interact", "/v1/chat", "/chat"]) {
    const r = await call(origin, "POST", path, { body: big });
    assert.equal(r.status, 413, path);
    assert.equal(r.body.error.code, "body_too_large");
    assert.equal(r.body.error.details.limit, 65536);
  }
  // No content-length: the Worker counts bytes as they arrive and stops at the cap.
  const bytes = new TextEncoder().encode(big);
  let sent = 0;
  const res = await fetch(`${origin}/agent/interact`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    duplex: "half",
    body: new ReadableStream({
      pull(c) {
        if (sent >= bytes.length) return c.close();
        c.enqueue(bytes.slice(sent, sent + 8192));
        sent += 8192;
      },
    }),
  });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).error.code, "body_too_large");
  // Just under the cap is fine.
  const ok = await call(origin, "POST", "/agent/interact", { body: { tenant_id: "sizer", message: "y".repeat(60 * 1024) } });
  assert.equal(ok.status, 200);
  assert.equal((await call(origin, "GET", "/agent/history/sizer")).body.history.length, 1);
});

test("malformed bodies are 400 with a message naming the problem", async () => {
  const cases = [
    ["/v1/chat", "not json", "invalid_json"],
    ["/v1/chat", "null", "invalid_json"],
    ["/v1/chat", '"a string"', "invalid_json"],
    ["/v1/chat", { message: "no tenant" }, "invalid_user_id"],
    ["/v1/chat", { tenant_id: "m", message: 12 }, "invalid_input"],
    ["/v1/chat", { tenant_id: "m", message: "hi", session_id: "" }, "invalid_session_id"],
    ["/v1/chat", { tenant_id: "m", user_id: "n", message: "hi" }, "invalid_user_id"],
    ["/chat", { user_id: ["m"], message: "hi" }, "invalid_user_id"],
    ["/chat/stream", { user_id: "m" }, "invalid_input"],
  ];
  for (const [path, body, code] of cases) {
    const r = await call(origin, "POST", path, { body });
    assert.equal(r.status, 400, `${path} ${JSON.stringify(body)}`);
    assert.match(r.headers.get("content-type"), /^application\/json/);
    assert.equal(r.body.error.code, code, `${path} ${JSON.stringify(body)}`);
    assert.ok(r.body.error.message.length > 0);
  }
  // Invalid UTF-8 is not JSON either.
  const res = await fetch(`${origin}/agent/interact`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: new Uint8Array([0x7b, 0xff, 0x7d]),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.code, "invalid_json");
  assert.equal((await call(origin, "GET", "/agent/history/m")).status, 404);
  // Wrong method on a known path: 405 naming the allowed one.
  const wrong = await call(origin, "GET", "/agent/interact");
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.get("allow"), "POST");
});

test("a tenant over its rate limit gets 429 with Retry-After; other tenants do not", async () => {
  for (let i = 0; i < 3; i++) {
    assert.equal((await call(origin, "POST", "/agent/interact", { body: { tenant_id: "hasty", message: `turn ${i}` } })).status, 200);
  }
  for (const [path, body] of [
    ["/agent/interact", { tenant_id: "hasty", message: "one more" }],
    ["/v1/chat", { tenant_id: "hasty", message: "one more" }],
    ["/chat", { user_id: "hasty", message: "one more" }],
  ]) {
    const r = await call(origin, "POST", path, { body });
    assert.equal(r.status, 429, path);
    // Streamed or not, a refused run is a JSON error, not a 200 stream.
    assert.match(r.headers.get("content-type"), /^application\/json/);
    assert.equal(r.body.error.code, "rate_limited");
    const retryAfter = r.headers.get("retry-after");
    assert.match(retryAfter, /^[1-9][0-9]*$/);
    assert.ok(r.body.error.details.retryAfterMs > 0);
    assert.equal(Number(retryAfter), Math.ceil(r.body.error.details.retryAfterMs / 1000));
    assert.ok(Number(retryAfter) <= 20, `Retry-After ${retryAfter}s for one token of 3 a minute`);
  }
  // Reads are metered too, so the drained tenant cannot read back yet: its storage shows
  // that nothing of the refused runs was kept.
  assert.equal((await call(origin, "GET", "/agent/history/hasty")).status, 429);
  const stored = await objectBytes(worker, state.dir, "hasty");
  assert.ok(stored.includes("turn 2"));
  assert.ok(!stored.includes("one more"), "a refused run was kept");
  assert.equal((await call(origin, "POST", "/agent/interact", { body: { tenant_id: "patient", message: "hi" } })).status, 200);
});

test("a failing model is 502 with { error: { code, message, details } }, streamed or not, and keeps nothing", async () => {
  const seen = [];
  const llm = await start("limits", { bindings: OPENAI_BINDINGS, outboundService: fakeOpenAI({ seen }) });
  try {
    for (const [path, body] of [
      ["/agent/interact", { tenant_id: "unlucky", message: "FAIL 401 please" }],
      ["/v1/chat", { tenant_id: "unlucky", message: "FAIL 401 please" }],
      ["/chat", { user_id: "unlucky", message: "FAIL 400 please" }],
    ]) {
      const r = await call(llm.origin, "POST", path, { body });
      assert.equal(r.status, 502, path);
      assert.match(r.headers.get("content-type"), /^application\/json/);
      assert.equal(r.body.error.code, "model_http");
      assert.equal(r.body.error.message, "the model provider failed");
      assert.doesNotMatch(r.text, /fake provider refuses/);
      assert.equal(typeof r.body.error.details, "object");
      assert.ok([400, 401].includes(r.body.error.details.status));
      assert.ok(!r.text.includes(OPENAI_BINDINGS.OPENAI_API_KEY), "the API key leaked into an error");
    }
    assert.ok(seen.length >= 3);
    assert.equal((await call(llm.origin, "GET", "/agent/history/unlucky")).status, 404);
    const fine = await call(llm.origin, "POST", "/agent/interact", { body: { tenant_id: "unlucky", message: "hello" } });
    assert.deepEqual(fine.body, { tenant_id: "unlucky", response: "Hello from the fake provider." });
  } finally {
    await llm.dispose();
  }
});
