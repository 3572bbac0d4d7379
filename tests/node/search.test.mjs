// Search through the packed package: a JS embedder function, every mode, scoping to one
// user, and hostile embedder answers, each ending in a TenantryError that commits nothing.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { installedPackage } from "../node_support/package.mjs";

let t;

before(async () => {
  const { project } = installedPackage();
  writeFileSync(join(project, "reexport.mjs"), 'export * from "tenantry";\n');
  t = await import(pathToFileURL(join(project, "reexport.mjs")).href);
});

// Words to concept axes (pets, travel, money), plus a constant so no vector is all zeros.
const CONCEPTS = { cat: 0, kitten: 0, feline: 0, flight: 1, trip: 1, invoice: 2, refund: 2 };
const concept = (text) => {
  const v = [0, 0, 0, 0.1];
  for (const w of text.toLowerCase().split(/[^a-z0-9]+/)) if (w in CONCEPTS) v[CONCEPTS[w]] += 1;
  return v;
};

function recordingEmbedder() {
  const calls = [];
  let answer = null;
  const embedder = async (texts, { userId, signal }) => {
    calls.push({ userId, texts: [...texts], signal });
    if (answer) return answer(texts);
    return { embeddings: texts.map(concept), usage: { tokens: texts.length } };
  };
  return { embedder, calls, answerWith: (f) => (answer = f) };
}

test("search finds by words, by meaning and by both, and only ever in the caller's messages", async () => {
  const { Agent, demoModel } = t;
  const { embedder, calls } = recordingEmbedder();
  const agent = new Agent({ model: demoModel(), memory: { embedder } });
  await agent.run("We adopted a kitten", "alice");
  await agent.run("Please resend the invoice", "alice", { sessionId: "billing" });
  // Bob's is closer to Alice's query than anything of hers, in words and in meaning.
  await agent.run("my cat is a feline cat", "bob");
  assert.equal(calls.length, 3);
  assert.deepEqual(calls.map((c) => c.userId), ["alice", "alice", "bob"]);
  assert.equal(calls[0].texts[0], "We adopted a kitten");

  const lexical = await agent.search("alice", "kitten");
  assert.equal(lexical[0].content, "We adopted a kitten");
  assert.deepEqual(Object.keys(lexical[0]).sort(), ["at", "content", "role", "score", "sessionId"]);
  assert.deepEqual(await agent.search("alice", "feline", { mode: "lexical" }), []);
  const semantic = await agent.search("alice", "feline cat", { mode: "semantic" });
  assert.equal(semantic[0].content, "We adopted a kitten");
  assert.equal(semantic[0].role, "user");
  assert.equal(semantic[0].sessionId, "default");
  const hybrid = await agent.search("alice", "feline cat", { mode: "hybrid", limit: 2 });
  assert.equal(hybrid.length, 2);
  for (const mode of ["lexical", "semantic", "hybrid"]) {
    const hits = await agent.search("alice", "my cat is a feline cat", { mode });
    assert.ok(hits.every((h) => !h.content.includes("feline")), `${mode}: ${JSON.stringify(hits)}`);
  }
  assert.ok(calls.slice(3).every((c) => c.userId === "alice"));
  const billing = await agent.search("alice", "refund", { mode: "semantic", sessionId: "billing" });
  assert.ok(billing.length > 0 && billing.every((h) => h.sessionId === "billing"));
  await assert.rejects(agent.search("alice", "x", { limit: 0 }), { code: "invalid_input" });
  await assert.rejects(agent.search("alice", "x", { mode: "fuzzy" }), { code: "invalid_input" });
  await assert.rejects(agent.search("", "x"), { code: "invalid_user_id" });
  // The synchronous recall() stays lexical.
  assert.equal(agent.recall("alice", "kitten")[0].content, "We adopted a kitten");
});

test("semantic search without an embedder, or an embedder that is not a function, is refused", async () => {
  const { Agent, demoModel, TenantryError } = t;
  const agent = new Agent({ model: demoModel() });
  await assert.rejects(agent.search("alice", "x", { mode: "semantic" }), (e) => e instanceof TenantryError && e.code === "invalid_input");
  await assert.rejects(agent.search("alice", "x", { mode: "hybrid" }), { code: "invalid_input" });
  assert.deepEqual(await agent.search("alice", "x"), []);
  assert.throws(() => new Agent({ model: demoModel(), memory: { embedder: 42 } }), { code: "invalid_config" });
});

test("a hostile embedder answer fails the run with embedding_failed and commits nothing", async () => {
  const { Agent, demoModel, memoryStorage, TenantryError } = t;
  const storage = memoryStorage();
  const { embedder, answerWith } = recordingEmbedder();
  const agent = new Agent({ model: demoModel(), memory: { embedder, storage } });
  await agent.run("first", "alice");
  const keys = async () => JSON.stringify(await Promise.all((await storage.list("")).sort().map(async (k) => [k, await storage.get(k)])));
  const hostile = {
    throws: () => { throw new Error("embedding service down"); },
    rejects: () => Promise.reject(new Error("rate limited")),
    throwsNonError: () => { throw Symbol("odd"); },
    throwingGetter: (texts) => ({ get embeddings() { throw new Error("gotcha"); } }),
    proxy: (texts) => new Proxy([], { get() { throw new Error("trap"); }, ownKeys() { throw new Error("trap"); } }),
    nan: (texts) => texts.map(() => [NaN, 0, 0, 0.1]),
    infinity: (texts) => texts.map(() => [Infinity, 0, 0, 0.1]),
    bigint: (texts) => texts.map(() => [1n, 0, 0, 0.1]),
    wrongCount: (texts) => texts.slice(1).map(concept),
    wrongLength: (texts) => texts.map(() => [1, 2, 3]),
    strings: (texts) => texts.map(() => ["1", "2", "3", "4"]),
    notAnArray: () => ({ vectors: [] }),
    undefinedAnswer: () => undefined,
    huge: (texts) => texts.map(() => new Array(5000).fill(0.5)),
    tooLargeForF32: (texts) => texts.map(() => [1e300, 0, 0, 0.1]),
  };
  for (const [name, answer] of Object.entries(hostile)) {
    const before = await keys();
    answerWith(answer);
    await assert.rejects(agent.run("second", "alice"), (e) => e instanceof TenantryError && e.code === "embedding_failed", name);
    assert.equal(agent.size("alice"), 2, name);
    assert.equal(await keys(), before, name);
    // A search's query embedding fails the same way.
    await assert.rejects(agent.search("alice", "x", { mode: "semantic" }), { code: "embedding_failed" }, name);
  }
  answerWith(null);
  await agent.run("second", "alice");
  assert.equal(agent.size("alice"), 4);
  // Another tenant was never affected.
  await agent.run("hello", "bob");
  assert.equal(agent.size("bob"), 2);
});

test("the embedder gets the run's AbortSignal, and an abort while embedding commits nothing", async () => {
  const { Agent, demoModel } = t;
  let seen;
  const embedder = (texts, { signal }) =>
    new Promise((resolve, reject) => {
      seen = signal;
      signal.addEventListener("abort", () => reject(new Error("aborted")));
    });
  const agent = new Agent({ model: demoModel(), memory: { embedder } });
  const controller = new AbortController();
  const run = agent.run("hi", "alice", { signal: controller.signal });
  setTimeout(() => controller.abort(), 20);
  await assert.rejects(run, { code: "aborted" });
  assert.ok(seen instanceof AbortSignal);
  assert.equal(agent.size("alice"), 0);
});

test("vectors travel through export, import and a restart over the same storage", async () => {
  const { Agent, demoModel, memoryStorage } = t;
  const storage = memoryStorage();
  const first = recordingEmbedder();
  const agent = new Agent({ model: demoModel(), memory: { embedder: first.embedder, storage } });
  await agent.run("We adopted a kitten", "alice");
  const doc = await agent.export("alice");
  assert.deepEqual(doc.sessions[0].turns[0].vectors[0].map((x) => Math.round(x * 10) / 10), [1, 0, 0, 0.1]);
  const second = recordingEmbedder();
  const restarted = new Agent({ model: demoModel(), memory: { embedder: second.embedder, storage } });
  assert.equal((await restarted.search("alice", "feline", { mode: "semantic" }))[0].content, "We adopted a kitten");
  assert.equal(second.calls.length, 1, "only the query");
  const third = recordingEmbedder();
  const other = new Agent({ model: demoModel(), memory: { embedder: third.embedder } });
  await other.import(doc);
  assert.equal((await other.search("alice", "feline", { mode: "hybrid" }))[0].content, "We adopted a kitten");
  await other.forget("alice");
  assert.deepEqual(await other.search("alice", "feline", { mode: "semantic" }), []);
});

test("memory.recall.mode semantic puts a meaning match in the prompt, and needs an embedder", async () => {
  const { Agent } = t;
  const { embedder, calls } = recordingEmbedder();
  const prompts = [];
  const model = async ({ messages }) => {
    prompts.push(messages);
    return { text: "noted" };
  };
  const agent = new Agent({ model, memory: { embedder, recall: { topK: 2, mode: "semantic" } } });
  await agent.run("We adopted a kitten", "alice", { sessionId: "home" });
  await agent.run("Bob has a feline", "bob", { sessionId: "home" });
  const before = calls.length;
  await agent.run("Tell me about my feline", "alice", { sessionId: "other" });
  const system = prompts.at(-1)[0].content;
  assert.match(system, /We adopted a kitten/);
  assert.doesNotMatch(system, /Bob/);
  assert.deepEqual(calls.slice(before).map((c) => [c.userId, c.texts]), [["alice", ["Tell me about my feline"]], ["alice", ["noted"]]]);
  assert.throws(() => new Agent({ model, memory: { recall: { topK: 2, mode: "hybrid" } } }), (e) => e.code === "invalid_config" && e.details.field === "memory.recall.mode");
  assert.throws(() => new Agent({ model, memory: { embedder, recall: { mode: "fuzzy" } } }), { code: "invalid_config" });
});

test("openaiEmbeddings posts { model, input } to {baseUrl}/embeddings and feeds the agent", async () => {
  const { Agent, demoModel, openaiEmbeddings } = t;
  const { createServer } = await import("node:http");
  const seen = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const parsed = JSON.parse(body);
      seen.push({ url: req.url, auth: req.headers.authorization, body: parsed });
      if (parsed.input.some((text) => text.includes("FAIL"))) {
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { type: "invalid_request_error", message: "bad key sk-secret-123" } }));
        return;
      }
      // Out of order, as some servers answer: `index` decides.
      const data = parsed.input.map((text, index) => ({ object: "embedding", index, embedding: concept(text) })).reverse();
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data, model: parsed.model, usage: { prompt_tokens: 5, total_tokens: 5 } }));
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const baseUrl = `http://127.0.0.1:${server.address().port}/v1`;
    const embedder = openaiEmbeddings({ baseUrl, apiKey: "sk-secret-123", model: "text-embedding-3-small", maxRetries: 0 });
    const direct = await embedder(["kitten", "invoice"], { userId: "alice" });
    assert.deepEqual(direct, { embeddings: [concept("kitten"), concept("invoice")], usage: { tokens: 5 } });
    assert.deepEqual(seen[0], { url: "/v1/embeddings", auth: "Bearer sk-secret-123", body: { model: "text-embedding-3-small", input: ["kitten", "invoice"] } });
    const agent = new Agent({ model: demoModel(), memory: { embedder } });
    await agent.run("We adopted a kitten", "alice");
    assert.equal((await agent.search("alice", "feline", { mode: "semantic" }))[0].content, "We adopted a kitten");
    await assert.rejects(agent.run("FAIL now", "alice"), (e) => e.code === "embedding_failed" && !e.message.includes("sk-secret-123") && e.message.includes("401"));
    assert.equal(agent.size("alice"), 2);
    assert.throws(() => openaiEmbeddings({ baseUrl, model: "m", stream: true }), { code: "invalid_config" });
    assert.throws(() => openaiEmbeddings({ baseUrl }), { code: "invalid_config" });
  } finally {
    server.close();
  }
});

test("embedding tokens are charged to the user, priced by the embedder's modelId, and audited", async () => {
  const { Agent, demoModel } = t;
  const { embedder } = recordingEmbedder();
  embedder.modelId = "house-embedder";
  const model = demoModel();
  model.modelId = "house-model";
  const events = [];
  const entries = [];
  const budget = (prices) => ({ perUser: { maxCostUsd: 1 }, prices, defaultPrices: false });
  const both = { "house-model": { inputPerMTok: 0, outputPerMTok: 0 }, "house-embedder": { inputPerMTok: 1000, outputPerMTok: 0 } };
  const agent = new Agent({
    model,
    memory: { embedder },
    budget: budget(both),
    audit: { key: "k".repeat(32), sink: (e) => entries.push(e) },
    onEvent: (e) => events.push(e),
  });
  await agent.run("We adopted a kitten", "alice");
  // The commit embeds two texts; the recording embedder reports one token per text.
  const embeds = events.filter((e) => e.type === "memory.embed");
  assert.equal(embeds.length, 1);
  assert.equal(embeds[0].userId, "alice");
  assert.equal(embeds[0].usage.inputTokens, 2);
  assert.ok(Math.abs(agent.usage("alice").totals.costUsd - 0.002) < 1e-12, JSON.stringify(agent.usage("alice").totals));
  assert.equal(agent.usage("alice").totals.requests, 1);
  assert.ok(entries.some((e) => e.type === "memory.embed" && e.data.usage.inputTokens === 2));
  await agent.search("alice", "feline", { mode: "semantic" });
  assert.ok(Math.abs(agent.usage("alice").totals.costUsd - 0.003) < 1e-12);
  assert.equal(agent.usage("bob").totals.costUsd, 0);

  // Under a cost limit an unpriced embedder is refused before it is called: nothing commits.
  const { embedder: unpriced, calls } = recordingEmbedder();
  unpriced.modelId = "unknown-embedder";
  const strict = new Agent({ model, memory: { embedder: unpriced }, budget: budget({ "house-model": both["house-model"] }) });
  await assert.rejects(strict.run("hello", "alice"), (e) => e.code === "missing_price" && e.message.includes("unknown-embedder"));
  assert.equal(calls.length, 0);
  assert.equal(strict.size("alice"), 0);
});

test("demoEmbedder answers 256-dimension unit vectors, the same every time, and refuses what is not a list of strings", async () => {
  const { Agent, TenantryError, demoEmbedder, demoModel } = t;
  const embed = demoEmbedder();
  const texts = ["My favourite colour is green", "what hue do I prefer", "I drive my car to work", "what is it"];
  const first = await embed(texts, { userId: "alice" });
  assert.deepEqual(Object.keys(first).sort(), ["embeddings", "usage"]);
  assert.equal(first.usage.tokens, texts.reduce((n, s) => n + Math.ceil(new TextEncoder().encode(s).length / 4), 0));
  assert.deepEqual(await demoEmbedder()(texts, { userId: "bob" }), first, "another instance, another user: the same vectors");
  const [colour, hue, car, none] = first.embeddings;
  for (const v of [colour, hue, car]) {
    assert.equal(v.length, 256);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
  }
  assert.ok(none.every((x) => x === 0), "function words only: no direction");
  const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
  assert.ok(dot(colour, hue) > dot(colour, car) + 0.3, `${dot(colour, hue)} vs ${dot(colour, car)}`);

  // What the agent stores is exactly what the embedder answered.
  const agent = new Agent({ model: demoModel(), memory: { embedder: embed } });
  await agent.run(texts[0], "alice");
  const stored = (await agent.export("alice")).sessions[0].turns[0].vectors[0];
  assert.deepEqual(stored, colour);

  const throwing = ["a"];
  Object.defineProperty(throwing, 0, { get: () => { throw new Error("getter"); }, enumerable: true });
  const proxy = new Proxy(["a"], { get: () => { throw new Error("trap"); } });
  const bad = { undefined, null: null, string: "text", number: 7, "[1]": [1], "[ok, null]": ["ok", null], "lone surrogate": ["\ud800"], "throwing getter": throwing, "throwing Proxy": proxy };
  for (const [label, value] of Object.entries(bad)) {
    let p;
    assert.doesNotThrow(() => (p = embed(value, {})), `${label}: rejects, never throws`);
    await assert.rejects(p, (e) => e instanceof TenantryError && e.code === "invalid_input", label);
  }
});
