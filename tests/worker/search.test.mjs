// GET /v1/tenants/{id}/search under workerd: lexical, semantic and hybrid search over one
// tenant's messages, through the tenant's own Durable Object, with the package's offline
// demoEmbedder. Each tenant finds only its own messages, however close another's are; the
// agent's refusals come back as 400s with its codes; a token for B cannot search A; and the
// stored vectors survive a restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OPENAI_BINDINGS, SECRET, call, fakeOpenAI, jwt, now, start, stateDir } from "./support.mjs";

const ADA_COLOUR = "My favourite colour is green";
// Closer to the queries below than anything of Ada's: it must never be her hit.
const BEA_HUE = "My preferred hue is blue, what hue do I prefer";
const NO_SHARED_WORD = "what hue do I prefer";

let worker;
let origin;

const say = (o, tenant, message, session_id, token) => call(o, "POST", "/chat", { token, body: { user_id: tenant, message, session_id } });
const search = (o, tenant, params, token) => call(o, "GET", `/v1/tenants/${encodeURIComponent(tenant)}/search?${new URLSearchParams(params)}`, { token });

/** Every message content a tenant has, from its export. */
async function contentsOf(o, tenant, token) {
  const doc = (await call(o, "GET", `/v1/tenants/${tenant}/export`, { token })).body;
  return new Set(doc.sessions.flatMap((s) => s.turns.flatMap((t) => t.messages.map((m) => m.content))));
}

before(async () => {
  worker = await start("search", { bindings: { RATE_LIMIT_REQUESTS: "500" } });
  origin = worker.origin;
  for (const [tenant, message, session] of [
    ["ada", ADA_COLOUR, "prefs"],
    ["ada", "My name is Ada", "intro"],
    ["bea", BEA_HUE, "prefs"],
    ["bea", "My favourite colour is blue too", "prefs"],
  ]) {
    const r = await say(origin, tenant, message, session);
    assert.equal(r.status, 200, r.text);
  }
});

after(async () => {
  await worker?.dispose();
});

test("each mode ranks the tenant's own messages only, however close another tenant's are", async () => {
  const ada = await contentsOf(origin, "ada");
  assert.ok(ada.has(ADA_COLOUR));
  for (const mode of ["lexical", "semantic", "hybrid"]) {
    for (const q of ["favourite colour hue prefer blue", NO_SHARED_WORD, "blue"]) {
      const r = await search(origin, "ada", { q, mode });
      assert.equal(r.status, 200, `${mode} ${q}: ${r.text}`);
      assert.ok(Array.isArray(r.body.hits));
      // Not an empty answer that would pass for isolation: her colour is found whenever its
      // words, or (by meaning) its concepts, are asked for.
      const findable = q !== "blue" && (mode !== "lexical" || q !== NO_SHARED_WORD);
      if (findable) assert.ok(r.body.hits.some((h) => h.content === ADA_COLOUR), `${mode} "${q}": ${r.text}`);
      for (const hit of r.body.hits) {
        assert.ok(ada.has(hit.content), `${mode} "${q}" returned a message Ada never had: ${hit.content}`);
        assert.doesNotMatch(hit.content, /blue|hue/);
        assert.equal(typeof hit.score, "number");
      }
    }
  }
  // Bea's side holds what Ada's search never showed.
  const bea = await search(origin, "bea", { q: "blue", mode: "hybrid" });
  assert.ok(bea.body.hits.some((h) => h.content === BEA_HUE));
});

test("a query with no word in common finds the message by meaning, not by words", async () => {
  const semantic = (await search(origin, "ada", { q: NO_SHARED_WORD, mode: "semantic" })).body.hits;
  assert.equal(semantic[0].content, ADA_COLOUR);
  assert.equal(semantic[0].role, "user");
  assert.equal(semantic[0].sessionId, "prefs");
  assert.ok(semantic[0].score > 0.5 && semantic[0].score <= 1, `cosine ${semantic[0].score}`);
  // "My name is Ada" is about something else: below the colour, if ranked at all.
  const name = semantic.find((h) => h.content === "My name is Ada");
  assert.ok(!name || name.score < semantic[0].score / 2, JSON.stringify(semantic));

  const lexical = (await search(origin, "ada", { q: NO_SHARED_WORD, mode: "lexical" })).body.hits;
  assert.ok(!lexical.some((h) => /green/.test(h.content)), JSON.stringify(lexical));

  const hybrid = (await search(origin, "ada", { q: NO_SHARED_WORD, mode: "hybrid" })).body.hits;
  assert.ok(hybrid.some((h) => h.content === ADA_COLOUR), JSON.stringify(hybrid));

  // The default mode is lexical; limit and session_id narrow the ranking.
  const byWord = (await search(origin, "ada", { q: "colour" })).body.hits;
  assert.ok(byWord.length >= 1 && byWord.every((h) => /colour/.test(h.content)), JSON.stringify(byWord));
  const one = (await search(origin, "ada", { q: NO_SHARED_WORD, mode: "semantic", limit: "1" })).body.hits;
  assert.deepEqual(one, semantic.slice(0, 1));
  const intro = (await search(origin, "ada", { q: "name colour", mode: "hybrid", session_id: "intro" })).body.hits;
  assert.ok(intro.length >= 1 && intro.every((h) => h.sessionId === "intro"), JSON.stringify(intro));
});

test("the agent's refusals are 400s with its code, in the Worker's error shape", async () => {
  const cases = [
    [{ q: "x", mode: "fuzzy" }, /mode/],
    [{ q: "x", mode: "" }, /mode/],
    [{ q: "x", limit: "0" }, /limit/],
    [{ q: "x", limit: "101" }, /limit/],
    [{ q: "x", limit: "2.5" }, /limit/],
    [{ q: "x", limit: "ten" }, /limit/],
    [{ mode: "semantic" }, /query/],
  ];
  for (const [params, about] of cases) {
    const r = await search(origin, "ada", params);
    assert.equal(r.status, 400, `${JSON.stringify(params)}: ${r.text}`);
    assert.match(r.headers.get("content-type"), /^application\/json/);
    assert.equal(r.body.error.code, "invalid_input", JSON.stringify(params));
    assert.match(r.body.error.message, about, JSON.stringify(params));
    assert.equal(typeof r.body.error.details, "object");
  }
  // Strict decoding of the query string, as on the other routes.
  const surrogate = await call(origin, "GET", "/v1/tenants/ada/search?q=%ED%A0%80");
  assert.equal(surrogate.status, 400);
  assert.equal(surrogate.body.error.code, "invalid_input");
  const badSession = await call(origin, "GET", "/v1/tenants/ada/search?q=x&session_id=%ED%B0%80");
  assert.equal(badSession.body.error.code, "invalid_session_id");
  const badTenant = await call(origin, "GET", "/v1/tenants/%ED%A0%80/search?q=x");
  assert.equal(badTenant.body.error.code, "invalid_user_id");
  const wrongMethod = await call(origin, "POST", "/v1/tenants/ada/search?q=x", { body: {} });
  assert.equal(wrongMethod.status, 405);
});

test("with a token, only the tenant it names may search: another's token is 403, none is 401", async () => {
  const jwtWorker = await start("search", { bindings: { AUTH_SECRET: SECRET } });
  try {
    const o = jwtWorker.origin;
    const ada = jwt({ sub: "ada", exp: now() + 600 });
    const bea = jwt({ tenant: "bea", exp: now() + 600 });
    assert.equal((await say(o, "ada", ADA_COLOUR, "prefs", ada)).status, 200);
    assert.equal((await say(o, "bea", BEA_HUE, "prefs", bea)).status, 200);
    const own = await search(o, "ada", { q: NO_SHARED_WORD, mode: "semantic" }, ada);
    assert.equal(own.status, 200, own.text);
    assert.equal(own.body.hits[0].content, ADA_COLOUR);
    for (const mode of ["lexical", "semantic", "hybrid"]) {
      const r = await search(o, "ada", { q: NO_SHARED_WORD, mode }, bea);
      assert.equal(r.status, 403, `${mode}: ${r.text}`);
      assert.equal(r.body.error.code, "forbidden");
      assert.doesNotMatch(r.text, /green/);
    }
    assert.equal((await search(o, "ada", { q: "x" })).status, 401);
    assert.equal((await search(o, "ada", { q: "x" }, jwt({ sub: "ada", exp: now() + 600 }, { secret: "wrong" }))).status, 401);
  } finally {
    await jwtWorker.dispose();
  }
});

test("searches are metered like every tenant route", async () => {
  const metered = await start("search", { bindings: { RATE_LIMIT_REQUESTS: "2", RATE_LIMIT_WINDOW_MS: "3600000" } });
  try {
    const o = metered.origin;
    assert.equal((await search(o, "cleo", { q: "x" })).status, 200);
    assert.equal((await search(o, "cleo", { q: "x", mode: "bogus" })).status, 400);
    const r = await search(o, "cleo", { q: "x" });
    assert.equal(r.status, 429);
    assert.equal(r.body.error.code, "rate_limited");
    assert.ok(Number(r.headers.get("retry-after")) > 0);
  } finally {
    await metered.dispose();
  }
});

test("EMBEDDER: on by default with the demo model, off by default with a provider, opt-in there, anything else a 500", async () => {
  const llm = { outboundService: fakeOpenAI() };
  const cases = [
    [{ EMBEDDER: "none" }, 400],
    [OPENAI_BINDINGS, 400],
    [{ ...OPENAI_BINDINGS, EMBEDDER: "demo" }, 200],
  ];
  for (const [bindings, semanticStatus] of cases) {
    const w = await start("search", { bindings, ...llm });
    try {
      assert.equal((await say(w.origin, "dot", ADA_COLOUR, "prefs")).status, 200);
      const lexical = await search(w.origin, "dot", { q: "colour", mode: "lexical" });
      assert.equal(lexical.status, 200, `${JSON.stringify(bindings)}: ${lexical.text}`);
      assert.ok(lexical.body.hits.some((h) => h.content === ADA_COLOUR));
      const semantic = await search(w.origin, "dot", { q: NO_SHARED_WORD, mode: "semantic" });
      assert.equal(semantic.status, semanticStatus, `${JSON.stringify(bindings)}: ${semantic.text}`);
      if (semanticStatus === 200) {
        assert.equal(semantic.body.hits[0].content, ADA_COLOUR);
      } else {
        assert.equal(semantic.body.error.code, "invalid_input");
        assert.match(semantic.body.error.message, /embedder/);
      }
    } finally {
      await w.dispose();
    }
  }
  const bad = await start("search", { bindings: { EMBEDDER: "openai" } });
  try {
    const r = await search(bad.origin, "dot", { q: "x" });
    assert.equal(r.status, 500);
    assert.equal(r.body.error.code, "invalid_config");
    assert.match(r.body.error.message, /EMBEDDER/);
  } finally {
    await bad.dispose();
  }
});

test("search by meaning survives a restart: the vectors are kept with their turns in the object's storage", async () => {
  const state = stateDir();
  const queries = [
    { q: NO_SHARED_WORD, mode: "semantic" },
    { q: NO_SHARED_WORD, mode: "hybrid" },
    { q: "colour", mode: "lexical" },
  ];
  let w = await start("search", { persist: state.dir });
  const before = [];
  let vectors;
  try {
    assert.equal((await say(w.origin, "eve", ADA_COLOUR, "prefs")).status, 200);
    assert.equal((await say(w.origin, "eve", "My name is Eve", "intro")).status, 200);
    for (const p of queries) before.push((await search(w.origin, "eve", p)).body.hits);
    const doc = (await call(w.origin, "GET", "/v1/tenants/eve/export")).body;
    vectors = doc.sessions.flatMap((s) => s.turns.map((t) => t.vectors));
  } finally {
    await w.dispose();
  }
  assert.equal(before[0][0].content, ADA_COLOUR);
  // One vector per message (input and answer), 256 numbers each, stored with the turn.
  assert.ok(vectors.length === 2 && vectors.every((v) => v.length === 2 && v.every((x) => x.length === 256)));
  w = await start("search", { persist: state.dir });
  try {
    for (const [i, p] of queries.entries()) {
      const r = await search(w.origin, "eve", p);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body.hits, before[i], JSON.stringify(p));
    }
    const doc = (await call(w.origin, "GET", "/v1/tenants/eve/export")).body;
    assert.deepEqual(doc.sessions.flatMap((s) => s.turns.map((t) => t.vectors)), vectors);
  } finally {
    await w.dispose();
    state.cleanup();
  }
});
