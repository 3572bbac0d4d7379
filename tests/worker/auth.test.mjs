// Auth under workerd: with AUTH_SECRET set, every tenant route needs an HS256 JWT whose
// `tenant` (else `sub`) claim is the tenant; a token for A can neither read, write nor
// forget B. Without a secret the Worker says it is an open demo.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SECRET, call, jwt, now, sseEvents, start } from "./support.mjs";

let worker;
let origin;
const alice = jwt({ sub: "alice", exp: now() + 3600 });
const bob = jwt({ tenant: "bob", sub: "ignored-when-tenant-is-set", exp: now() + 3600, nbf: now() - 10 });

before(async () => {
  worker = await start("auth", { bindings: { AUTH_SECRET: SECRET } });
  origin = worker.origin;
  for (const [token, tenant, name] of [[alice, "alice", "Alice"], [bob, "bob", "Bob"]]) {
    const r = await call(origin, "POST", "/agent/interact", { token, body: { tenant_id: tenant, message: `My name is ${name}` } });
    assert.equal(r.status, 200);
  }
});

after(async () => {
  await worker?.dispose();
});

const bobsData = async () => (await call(origin, "GET", "/v1/tenants/bob/export", { token: bob })).body.sessions;

test("a valid token acts for its own tenant on every route", async () => {
  let r = await call(origin, "POST", "/agent/interact", { token: alice, body: { tenant_id: "alice", message: "What's my name?" } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-tenantry-auth"), "jwt");
  assert.deepEqual(r.body, { tenant_id: "alice", response: "Your name is Alice." });
  r = await call(origin, "GET", "/agent/history/alice", { token: alice });
  assert.equal(r.body.history.length, 2);
  // /v1/chat may leave the tenant out: the token names it.
  r = await call(origin, "POST", "/v1/chat", { token: bob, body: { message: "What's my name?" } });
  assert.equal(r.status, 200);
  const events = sseEvents(r.text);
  assert.equal(events.at(-1).type, "finish");
  assert.equal(events.at(-1).text, "Your name is Bob.");
  assert.ok(events.every((e) => e.userId === "bob"));
  r = await call(origin, "POST", "/chat", { token: alice, body: { user_id: "alice", message: "What's my name?" } });
  assert.equal(r.body.response, "Your name is Alice.");
  r = await call(origin, "GET", "/history?user_id=alice", { token: alice });
  assert.equal(r.body.history.length, 6);
  r = await call(origin, "GET", "/v1/tenants/alice/export", { token: alice });
  assert.equal(r.body.format, "tenantry.user");
  assert.equal(r.body.userId, "alice");
});

test("a token for alice cannot read, write or forget bob: 403, and bob's data is unchanged", async () => {
  const before = await bobsData();
  assert.equal(before[0].turns.length, 2);
  const attempts = [
    ["POST", "/agent/interact", { tenant_id: "bob", message: "My name is Mallory" }],
    ["GET", "/agent/history/bob"],
    ["POST", "/v1/chat", { tenant_id: "bob", message: "My name is Mallory" }],
    ["POST", "/v1/chat", { user_id: "bob", message: "My name is Mallory" }],
    ["DELETE", "/v1/tenants/bob"],
    ["GET", "/v1/tenants/bob/export"],
    ["GET", "/v1/tenants/bob/usage"],
    ["POST", "/chat", { user_id: "bob", message: "My name is Mallory" }],
    ["POST", "/chat/stream", { user_id: "bob", message: "My name is Mallory" }],
    ["GET", "/history?user_id=bob"],
  ];
  for (const [method, path, body] of attempts) {
    const r = await call(origin, method, path, { token: alice, body });
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(r.body.error.code, "forbidden");
    assert.doesNotMatch(r.text, /Bob/);
  }
  // Naming both, one of them someone else, is refused too (400 before any tenant is touched).
  const both = await call(origin, "POST", "/v1/chat", { token: alice, body: { tenant_id: "alice", user_id: "bob", message: "hi" } });
  assert.equal(both.status, 400);
  assert.deepEqual(await bobsData(), before);
  const r = await call(origin, "POST", "/agent/interact", { token: bob, body: { tenant_id: "bob", message: "What's my name?" } });
  assert.equal(r.body.response, "Your name is Bob.");
});

test("missing, garbage, expired, not-yet-valid, wrong-alg and wrong-key tokens are 401", async () => {
  const bad = {
    missing: undefined,
    garbage: "not-a-jwt",
    "three garbage parts": "a.b.c",
    "bad base64": "@@@.###.$$$",
    expired: jwt({ sub: "alice", exp: now() - 60 }),
    "not yet valid": jwt({ sub: "alice", nbf: now() + 3600 }),
    "exp not a number": jwt({ sub: "alice", exp: "tomorrow" }),
    "alg none": jwt({ sub: "alice" }, { alg: "none" }),
    "alg HS512 (validly signed)": jwt({ sub: "alice" }, { alg: "HS512" }),
    "alg HS384 (validly signed)": jwt({ sub: "alice" }, { alg: "HS384" }),
    "wrong secret": jwt({ sub: "alice" }, { secret: "another-secret" }),
    "no tenant claim": jwt({ exp: now() + 60 }),
    "tenant not a string": jwt({ tenant: 7 }),
    "critical extension": jwt({ sub: "alice" }, { header: { crit: ["b64"], b64: false } }),
    "tampered payload": (() => {
      const [h, , s] = alice.split(".");
      return `${h}.${Buffer.from(JSON.stringify({ sub: "bob", exp: now() + 3600 })).toString("base64url")}.${s}`;
    })(),
  };
  const before = await bobsData();
  for (const [name, token] of Object.entries(bad)) {
    for (const [method, path, body] of [
      ["POST", "/agent/interact", { tenant_id: "bob", message: "My name is Mallory" }],
      ["GET", "/agent/history/alice"],
      ["DELETE", "/v1/tenants/bob"],
    ]) {
      const r = await call(origin, method, path, { token, body });
      assert.equal(r.status, 401, `${name}: ${method} ${path}`);
      assert.equal(r.body.error.code, "unauthorized");
    }
  }
  // A scheme other than Bearer is no token either.
  const basic = await call(origin, "GET", "/agent/history/alice", { headers: { authorization: `Basic ${alice}` } });
  assert.equal(basic.status, 401);
  assert.deepEqual(await bobsData(), before);
  assert.equal((await call(origin, "GET", "/agent/history/alice", { token: alice })).status, 200);
});

test("GET / says which auth mode is on; the open demo says so on every response", async () => {
  const r = await call(origin, "GET", "/");
  assert.equal(r.status, 200);
  assert.equal(r.headers.get("x-tenantry-auth"), "jwt");
  assert.match(r.text, /Authorization: Bearer <JWT>/);

  const open = await start("auth");
  try {
    const home = await call(open.origin, "GET", "/");
    assert.equal(home.headers.get("x-tenantry-auth"), "open");
    assert.match(home.text, /OPEN DEMO MODE/);
    const r2 = await call(open.origin, "POST", "/agent/interact", { body: { tenant_id: "anyone", message: "hi" } });
    assert.equal(r2.status, 200);
    assert.equal(r2.headers.get("x-tenantry-auth"), "open");
    const err = await call(open.origin, "GET", "/nope");
    assert.equal(err.status, 404);
    assert.equal(err.headers.get("x-tenantry-auth"), "open");
  } finally {
    await open.dispose();
  }
});
