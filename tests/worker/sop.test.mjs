// The multi-tenant-agent-SOP API, answered by the Worker under workerd: the exact shapes its
// FastAPI service returns, so that its clients work unchanged.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { call, start } from "./support.mjs";

let worker;
let origin;

before(async () => {
  worker = await start("sop");
  origin = worker.origin;
});

after(async () => {
  await worker?.dispose();
});

test("POST /agent/interact answers exactly { tenant_id, response }, with the tenant's own memory", async () => {
  let r = await call(origin, "POST", "/agent/interact", { body: { tenant_id: "tenant1", message: "My name is Ada" } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^application\/json/);
  assert.deepEqual(r.body, { tenant_id: "tenant1", response: "Nice to meet you, Ada! I'll remember your name." });
  r = await call(origin, "POST", "/agent/interact", { body: { tenant_id: "tenant1", message: "What's my name?" } });
  assert.deepEqual(r.body, { tenant_id: "tenant1", response: "Your name is Ada." });
  r = await call(origin, "POST", "/agent/interact", { body: { tenant_id: "tenant2", message: "What's my name?" } });
  assert.equal(r.status, 200);
  assert.deepEqual(Object.keys(r.body).sort(), ["response", "tenant_id"]);
  assert.doesNotMatch(r.body.response, /Ada/);
});

test("GET /agent/history/{tenant_id} lists { message, response } pairs, oldest first", async () => {
  const r = await call(origin, "GET", "/agent/history/tenant1");
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, {
    tenant_id: "tenant1",
    history: [
      { message: "My name is Ada", response: "Nice to meet you, Ada! I'll remember your name." },
      { message: "What's my name?", response: "Your name is Ada." },
    ],
  });
  const other = await call(origin, "GET", "/agent/history/tenant2");
  assert.equal(other.body.history.length, 1);
  assert.equal(other.body.history[0].message, "What's my name?");
});

test("a tenant that never interacted is 404 { detail: 'Tenant not found' }, and so is one forgotten", async () => {
  let r = await call(origin, "GET", "/agent/history/nobody-here");
  assert.equal(r.status, 404);
  assert.match(r.headers.get("content-type"), /^application\/json/);
  assert.equal(r.text, '{"detail":"Tenant not found"}');

  await call(origin, "POST", "/agent/interact", { body: { tenant_id: "leaver", message: "My name is Lea" } });
  assert.equal((await call(origin, "GET", "/agent/history/leaver")).status, 200);
  const del = await call(origin, "DELETE", "/v1/tenants/leaver");
  assert.ok(del.status === 204 || del.status === 200, `DELETE answered ${del.status}`);
  r = await call(origin, "GET", "/agent/history/leaver");
  assert.equal(r.status, 404);
  assert.deepEqual(r.body, { detail: "Tenant not found" });
  // tenant1 is untouched by that.
  assert.equal((await call(origin, "GET", "/agent/history/tenant1")).body.history.length, 2);
});

test("tenant ids with '/', '%' and non-ASCII travel percent-encoded in the path and stay apart", async () => {
  const ids = ["acme/eu", "acme", "acme%2Feu", "zoë 🦀"];
  for (const id of ids) {
    const r = await call(origin, "POST", "/agent/interact", { body: { tenant_id: id, message: `My name is ${id.length}x` } });
    assert.equal(r.status, 200);
    assert.equal(r.body.tenant_id, id);
  }
  for (const id of ids) {
    const r = await call(origin, "GET", `/agent/history/${encodeURIComponent(id)}`);
    assert.equal(r.status, 200, id);
    assert.equal(r.body.tenant_id, id);
    assert.deepEqual(r.body.history.map((h) => h.message), [`My name is ${id.length}x`]);
  }
});

test("bad SOP requests are 400 with a message (and FastAPI's `detail`), and create no tenant", async () => {
  const cases = [
    [{ message: "hi" }, "invalid_user_id"],
    [{ tenant_id: 42, message: "hi" }, "invalid_user_id"],
    [{ tenant_id: "", message: "hi" }, "invalid_user_id"],
    [{ tenant_id: "bad\u0007bell", message: "hi" }, "invalid_user_id"],
    [{ tenant_id: "x".repeat(256), message: "hi" }, "invalid_user_id"],
    [{ tenant_id: "fresh" }, "invalid_input"],
    [{ tenant_id: "fresh", message: "" }, "invalid_input"],
    [{ tenant_id: "fresh", message: ["hi"] }, "invalid_input"],
    [{ tenant_id: "fresh", message: "hi", session_id: 5 }, "invalid_session_id"],
    ["[1,2]", "invalid_json"],
    ["{\"tenant_id\":", "invalid_json"],
  ];
  for (const [body, code] of cases) {
    const r = await call(origin, "POST", "/agent/interact", { body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.body.error.code, code, JSON.stringify(body));
    assert.equal(typeof r.body.error.message, "string");
    assert.ok(r.body.error.message.length > 0);
    assert.equal(r.body.detail, r.body.error.message);
  }
  assert.equal((await call(origin, "GET", "/agent/history/fresh")).status, 404);
  // A path id that is not valid percent-encoding is a 400 too.
  assert.equal((await call(origin, "GET", "/agent/history/%E0%A4%A")).status, 400);
});
