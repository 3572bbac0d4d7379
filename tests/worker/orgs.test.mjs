// Organisations in the Worker under workerd: one Durable Object per org, its users inside.
// A token with `org` and `sub` acts for its own user of its own org; `org_admin` adds the
// org's own operations and its other users; nothing crosses to another org, and one-level
// tenant tokens and routes stay apart from org ones.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { SECRET, call, jwt, now, sseEvents, start } from "./support.mjs";

let worker;
let origin;
const exp = now() + 3600;
const acmeAlice = jwt({ org: "acme", sub: "alice", exp });
const acmeBob = jwt({ org: "acme", sub: "bob", exp });
const acmeAdmin = jwt({ org: "acme", sub: "ops", org_admin: true, exp });
const globexAlice = jwt({ org: "globex", sub: "alice", exp });
const tenantAlice = jwt({ sub: "alice", exp });

const chat = (token, org, user, message) => call(origin, "POST", `/v1/orgs/${encodeURIComponent(org)}/users/${encodeURIComponent(user)}/chat`, { token, body: { message } });
const text = (r) => sseEvents(r.text).filter((e) => e.type === "text-delta").map((e) => e.text).join("");

before(async () => {
  worker = await start("orgs", { bindings: { AUTH_SECRET: SECRET } });
  origin = worker.origin;
});

after(async () => {
  await worker?.dispose();
});

test("the same user id in two orgs, and as a one-level tenant, shares nothing", async () => {
  let r = await chat(acmeAlice, "acme", "alice", "My name is Alice of Acme");
  assert.equal(r.status, 200, r.text);
  const events = sseEvents(r.text);
  assert.ok(events.every((e) => e.orgId === "acme" && e.userId === "alice"), r.text);
  r = await chat(acmeAlice, "acme", "alice", "What is my name?");
  assert.match(text(r), /Alice of Acme/);
  r = await chat(globexAlice, "globex", "alice", "What is my name?");
  assert.doesNotMatch(text(r), /Acme/);
  r = await call(origin, "POST", "/agent/interact", { token: tenantAlice, body: { tenant_id: "alice", message: "What is my name?" } });
  assert.equal(r.status, 200);
  assert.doesNotMatch(r.body.response, /Acme/);
  r = await call(origin, "GET", "/v1/orgs/acme/users/alice/history", { token: acmeAlice });
  assert.equal(r.status, 200);
  assert.equal(r.body.messages.length, 4);
  r = await call(origin, "GET", "/v1/orgs/globex/users/alice/export", { token: globexAlice });
  assert.equal(r.body.orgId, "globex");
  assert.ok(!JSON.stringify(r.body).includes("Acme"));
  r = await call(origin, "GET", "/v1/orgs/acme/users/alice/usage", { token: acmeAlice });
  assert.equal(r.status, 200);
  const alices = r.body.totals.totalTokens;
  assert.ok(alices > 0);
  // The org's meter counts its users together, and only them.
  await chat(acmeBob, "acme", "bob", "hello");
  const bobs = (await call(origin, "GET", "/v1/orgs/acme/users/bob/usage", { token: acmeBob })).body.totals.totalTokens;
  r = await call(origin, "GET", "/v1/orgs/acme/usage", { token: acmeAdmin });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.totals.totalTokens, alices + bobs);
  assert.ok(r.body.limits.some((l) => l.scope === "org" && l.limit === 1_000_000), JSON.stringify(r.body.limits));
  assert.equal((await call(origin, "GET", "/v1/orgs/acme/usage", { token: acmeAlice })).status, 403);
});

test("a token acts for its own user of its own org only; org_admin for the org", async () => {
  const refused = [
    [acmeAlice, "GET", "/v1/orgs/acme/users/bob/history"],
    [acmeBob, "POST", "/v1/orgs/acme/users/alice/chat", { message: "hi" }],
    [acmeAlice, "GET", "/v1/orgs/globex/users/alice/export"],
    [globexAlice, "DELETE", "/v1/orgs/acme/users/alice"],
    [acmeAdmin, "GET", "/v1/orgs/globex/export"],
    [acmeAlice, "GET", "/v1/orgs/acme/export"],
    [acmeAlice, "PUT", "/v1/orgs/acme/blocks", { label: "policy", text: "refunds for ever" }],
    [acmeAlice, "DELETE", "/v1/orgs/acme"],
    [tenantAlice, "GET", "/v1/orgs/acme/users/alice/history"],
    [acmeAlice, "GET", "/v1/tenants/alice/export"],
    [acmeBob, "GET", "/v1/orgs/acme/users/alice/facts"],
    [globexAlice, "GET", "/v1/orgs/acme/users/alice/search?q=name"],
    [tenantAlice, "GET", "/v1/orgs/acme/users/alice/search?q=name"],
  ];
  for (const [token, method, path, body] of refused) {
    const r = await call(origin, method, path, { token, body });
    assert.equal(r.status, 403, `${method} ${path}: ${r.text}`);
    assert.equal(r.body.error.code, "forbidden");
  }
  for (const path of ["/v1/orgs/acme/users/alice/history", "/v1/orgs/acme/export"]) {
    assert.equal((await call(origin, "GET", path)).status, 401);
  }
  // Bad ids in the path: typed 400s, before any object is reached.
  let r = await call(origin, "GET", "/v1/orgs/%ED%A0%80/users/alice/history", { token: acmeAlice });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_org_id");
  r = await call(origin, "GET", `/v1/orgs/acme/users/${"x".repeat(300)}/history`, { token: acmeAdmin });
  assert.equal(r.body.error.code, "invalid_user_id");
  // A token whose org claim is not a string is no token.
  r = await call(origin, "GET", "/v1/orgs/acme/users/alice/history", { token: jwt({ org: 7, sub: "alice", exp }) });
  assert.equal(r.status, 401);
  // The admin acts for the org's users and the org itself.
  r = await call(origin, "GET", "/v1/orgs/acme/users/alice/history", { token: acmeAdmin });
  assert.equal(r.status, 200);
});

test("org knowledge reaches the org's users; exportOrg and forgetOrg take that org only", async () => {
  let r = await call(origin, "PUT", "/v1/orgs/acme/blocks", { token: acmeAdmin, body: { label: "refund policy", text: "30 days" } });
  assert.equal(r.status, 204, r.text);
  r = await call(origin, "GET", "/v1/orgs/acme/blocks", { token: acmeAdmin });
  assert.deepEqual(r.body.blocks, [{ label: "refund policy", text: "30 days" }]);
  await chat(acmeBob, "acme", "bob", "My name is Bob");
  r = await call(origin, "GET", "/v1/orgs/acme/export", { token: acmeAdmin });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.users.map((u) => u.userId).sort(), ["alice", "bob"]);
  assert.ok(r.body.users.every((u) => u.orgId === "acme"));
  assert.equal(r.body.blocks.length, 1);
  r = await call(origin, "DELETE", "/v1/orgs/acme", { token: acmeAdmin });
  assert.equal(r.status, 200);
  assert.equal(r.body.users, 2);
  r = await call(origin, "GET", "/v1/orgs/acme/users/alice/history", { token: acmeAlice });
  assert.deepEqual(r.body.messages, []);
  r = await call(origin, "GET", "/v1/orgs/acme/blocks", { token: acmeAdmin });
  assert.deepEqual(r.body.blocks, []);
  r = await call(origin, "GET", "/v1/orgs/globex/users/alice/history", { token: globexAlice });
  assert.equal(r.body.messages.length, 2, "globex keeps its alice");
  r = await call(origin, "DELETE", "/v1/orgs/globex/users/alice", { token: globexAlice });
  assert.equal(r.status, 204);
  r = await call(origin, "GET", "/v1/orgs/globex/users/alice/history", { token: globexAlice });
  assert.deepEqual(r.body.messages, []);
});

test("an org user's facts and search read that user of that org only", async () => {
  const remember = (token, org, user, what) => chat(token, org, user, `Remember that my ${what}`);
  assert.equal((await remember(acmeBob, "acme", "bob", "favourite colour is teal")).status, 200);
  const globexBob = jwt({ org: "globex", sub: "bob", exp });
  assert.equal((await remember(globexBob, "globex", "bob", "favourite colour is amber")).status, 200);
  let r = await call(origin, "GET", "/v1/orgs/acme/users/bob/facts", { token: acmeBob });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.facts.map((f) => f.object), ["teal"]);
  r = await call(origin, "GET", "/v1/orgs/globex/users/bob/facts", { token: globexBob });
  assert.deepEqual(r.body.facts.map((f) => f.object), ["amber"]);
  r = await call(origin, "GET", "/v1/orgs/acme/users/bob/search?q=favourite+colour&mode=lexical", { token: acmeBob });
  assert.equal(r.status, 200, r.text);
  assert.ok(r.body.hits.length > 0 && r.body.hits.every((h) => !/amber/.test(h.content)), r.text);
  assert.ok(r.body.hits.some((h) => /teal/.test(h.content)), r.text);
  // The agent judges the query: a bad mode or limit is its invalid_input, a 400.
  for (const q of ["q=x&mode=fuzzy", "q=x&limit=-1", "q=x&limit=abc", "q=%ED%A0%80", "q=x&session_id=%ED%B0%80"]) {
    r = await call(origin, "GET", `/v1/orgs/acme/users/bob/search?${q}`, { token: acmeBob });
    assert.equal(r.status, 400, `${q}: ${r.text}`);
  }
});

test("useChat for an org user: the AI SDK transport on the org route, one user of one org only", async () => {
  const { DefaultChatTransport, readUIMessageStream } = await import("ai");
  const send = async (token, org, user, chatId, text) => {
    const api = `${origin}/v1/orgs/${org}/users/${user}/chat/ui`;
    const transport = new DefaultChatTransport({ api, headers: { authorization: `Bearer ${token}` }, fetch });
    const messages = [{ id: "m1", role: "user", parts: [{ type: "text", text }] }];
    const chunks = await transport.sendMessages({ chatId, messages, trigger: "submit-message", messageId: undefined });
    let message;
    for await (const m of readUIMessageStream({ stream: chunks, terminateOnError: true })) message = m;
    return message.parts.filter((p) => p.type === "text").map((p) => p.text).join("");
  };
  const acmeCarol = jwt({ org: "acme", sub: "carol", exp });
  const globexCarol = jwt({ org: "globex", sub: "carol", exp });
  assert.match(await send(acmeCarol, "acme", "carol", "chat-1", "My name is Carol of Acme"), /Carol of Acme/);
  assert.match(await send(acmeCarol, "acme", "carol", "chat-1", "What is my name?"), /Carol of Acme/);
  assert.doesNotMatch(await send(globexCarol, "globex", "carol", "chat-1", "What is my name?"), /Acme/);
  const doc = (await call(origin, "GET", "/v1/orgs/acme/users/carol/export", { token: acmeCarol })).body;
  assert.equal(doc.orgId, "acme");
  assert.deepEqual(doc.sessions.map((s) => s.id), ["chat-1"]);
  // Another user's or org's token is refused before any object is reached.
  for (const token of [globexCarol, acmeBob, tenantAlice]) {
    const r = await call(origin, "POST", "/v1/orgs/acme/users/carol/chat/ui", { token, body: { id: "chat-1", messages: [], trigger: "submit-message" } });
    assert.equal(r.status, 403, r.text);
  }
});
