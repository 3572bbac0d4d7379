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
    "not yet valid": jwt({ sub: "alice", nbf: now() + 3600, exp: now() + 7200 }),
    "exp not a number": jwt({ sub: "alice", exp: "tomorrow" }),
    "iat not a number": jwt({ sub: "alice", iat: "today", exp: now() + 60 }),
    "alg none": jwt({ sub: "alice", exp: now() + 60 }, { alg: "none" }),
    "alg HS512 (validly signed)": jwt({ sub: "alice", exp: now() + 60 }, { alg: "HS512" }),
    "alg HS384 (validly signed)": jwt({ sub: "alice", exp: now() + 60 }, { alg: "HS384" }),
    "wrong secret": jwt({ sub: "alice", exp: now() + 60 }, { secret: "another-secret" }),
    "no tenant claim": jwt({ exp: now() + 60 }),
    "tenant not a string": jwt({ tenant: 7, exp: now() + 60 }),
    "critical extension": jwt({ sub: "alice", exp: now() + 60 }, { header: { crit: ["b64"], b64: false } }),
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

test("attack: a validly signed token without exp (valid forever once leaked) is 401", async () => {
  const before = await bobsData();
  for (const claims of [{ sub: "bob" }, { tenant: "bob", iat: now() }, { sub: "bob", nbf: now() - 10 }, { sub: "bob", exp: null }]) {
    const token = jwt(claims);
    for (const [method, path, body] of [
      ["GET", "/v1/tenants/bob/export"],
      ["POST", "/v1/chat", { message: "My name is Mallory" }],
      ["DELETE", "/v1/tenants/bob"],
    ]) {
      const r = await call(origin, method, path, { token, body });
      assert.equal(r.status, 401, `${JSON.stringify(claims)}: ${method} ${path}`);
      assert.equal(r.body.error.code, "unauthorized");
      assert.match(r.body.error.message, /exp/);
    }
  }
  assert.deepEqual(await bobsData(), before);
});

test("attack: a token whose exp is more than MAX_TOKEN_LIFETIME_S (default a day) after its iat, or after now, is 401", async () => {
  const day = 86_400;
  const t = now();
  const refused = {
    "a year from now, no iat": { sub: "alice", exp: t + 365 * day },
    "a day and a minute from now, no iat": { sub: "alice", exp: t + day + 60 },
    "a day and a second after iat": { sub: "alice", iat: t - 3600, exp: t - 3600 + day + 1 },
    "iat in the future to stretch the window": { sub: "alice", iat: t + 30 * day, exp: t + 30 * day + 60 },
  };
  for (const [name, claims] of Object.entries(refused)) {
    const r = await call(origin, "GET", "/v1/tenants/alice/usage", { token: jwt(claims) });
    assert.equal(r.status, 401, name);
    assert.equal(r.body.error.code, "unauthorized", name);
  }
  const accepted = {
    "just under a day from now": { sub: "alice", exp: t + day - 60 },
    "exactly a day after iat": { sub: "alice", iat: t - 60, exp: t - 60 + day },
  };
  for (const [name, claims] of Object.entries(accepted)) {
    assert.equal((await call(origin, "GET", "/v1/tenants/alice/usage", { token: jwt(claims) })).status, 200, name);
  }
  // The cap is the operator's to set.
  const strict = await start("auth", { bindings: { AUTH_SECRET: SECRET, MAX_TOKEN_LIFETIME_S: "600" } });
  try {
    const long = await call(strict.origin, "GET", "/v1/tenants/alice/usage", { token: jwt({ sub: "alice", exp: now() + 3600 }) });
    assert.equal(long.status, 401);
    const fromIat = await call(strict.origin, "GET", "/v1/tenants/alice/usage", { token: jwt({ sub: "alice", iat: now() - 300, exp: now() + 400 }) });
    assert.equal(fromIat.status, 401);
    const short = await call(strict.origin, "GET", "/v1/tenants/alice/usage", { token: jwt({ sub: "alice", exp: now() + 500 }) });
    assert.equal(short.status, 200);
  } finally {
    await strict.dispose();
  }
});

test("attack: a signed token whose tenant claim holds a lone surrogate is 400 invalid_user_id, never 500", async () => {
  for (const claims of [{ sub: "\ud800" }, { tenant: "bob\udc00" }, { tenant: "\udc00\ud800", sub: "alice" }]) {
    const token = jwt({ ...claims, exp: now() + 600 });
    for (const [method, path, body] of [
      ["POST", "/v1/chat", { message: "hi" }],
      ["GET", "/v1/tenants/alice/export"],
      ["POST", "/agent/interact", { tenant_id: "bob", message: "hi" }],
      ["DELETE", "/v1/tenants/%ED%A0%80"],
    ]) {
      const r = await call(origin, method, path, { token, body });
      assert.equal(r.status, 400, `${JSON.stringify(claims)}: ${method} ${path}: ${r.text}`);
      assert.equal(r.body.error.code, "invalid_user_id");
    }
  }
  // Nor does it reach the tenant its claim would be rewritten to.
  const replaced = await call(origin, "GET", `/v1/tenants/${encodeURIComponent("\ufffd")}/export`, { token: jwt({ sub: "\ufffd", exp: now() + 600 }) });
  assert.deepEqual(replaced.body.sessions, []);
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
