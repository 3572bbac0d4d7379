// The demo Worker under workerd (Miniflare), bundled against the packed npm package exactly
// as `npm start` bundles it: the first demo's routes (POST /chat, POST /chat/stream,
// GET /history), now served by one Durable Object per user: two users stay apart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { installedPackage, root } from "../node_support/package.mjs";
import { bundleWorker, startWorker } from "../../scripts/worker.mjs";

let mf;
let origin;

before(async () => {
  const { modulesDir } = installedPackage();
  const scriptPath = await bundleWorker({ modulesDir, outdir: join(root, "target", "worker-test-dist") });
  const started = await startWorker({ scriptPath, port: 0 });
  mf = started.mf;
  origin = started.url.origin;
});

after(async () => {
  await mf?.dispose();
});

async function chat(body) {
  const res = await fetch(`${origin}/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** POST on a connection of its own (node:http, no pool): the server may refuse before it
 *  has read the body and drop the connection, which fetch's pool could otherwise reuse. */
function postAlone(path, text) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${origin}${path}`, { method: "POST", agent: false, headers: { "content-type": "application/json" } }, (res) => {
      let data = "";
      res.on("data", (c) => (data += c));
      res.on("end", () => resolve({ status: res.statusCode, body: data }));
    });
    req.on("error", reject);
    req.end(text);
  });
}

test("two users through POST /chat: each is remembered, neither sees the other", async () => {
  let r = await chat({ user_id: "alice", message: "My name is Alice" });
  assert.equal(r.status, 200);
  assert.equal(r.body.user_id, "alice");
  assert.match(r.body.run_id, /^run_[0-9a-f]{24}$/);
  r = await chat({ user_id: "bob", message: "My name is Bob" });
  assert.equal(r.status, 200);
  const [alice, bob, carol] = await Promise.all([
    chat({ user_id: "alice", message: "What's my name?" }),
    chat({ user_id: "bob", message: "What's my name?" }),
    chat({ user_id: "carol", message: "What's my name?" }),
  ]);
  assert.equal(alice.body.response, "Your name is Alice.");
  assert.equal(bob.body.response, "Your name is Bob.");
  assert.doesNotMatch(carol.body.response, /Alice|Bob/);
  assert.ok(alice.body.usage.totalTokens > 0);

  const history = await (await fetch(`${origin}/history?user_id=alice`)).json();
  assert.deepEqual(
    history.history.map((m) => m.content),
    ["My name is Alice", "Nice to meet you, Alice! I'll remember your name.", "What's my name?", "Your name is Alice."],
  );
  // The same session id under another user is another conversation.
  const other = await chat({ user_id: "alice ", message: "What's my name?", session_id: "default" });
  assert.doesNotMatch(other.body.response, /Alice/);
});

test("bad requests get clear JSON errors and change nothing", async () => {
  const before = await (await fetch(`${origin}/history?user_id=dave`)).json();
  let r = await chat({ user_id: "", message: "hi" });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_user_id");
  r = await chat({ user_id: "dave", message: 7 });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_input");
  r = await chat("{not json");
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, "invalid_json");
  r = await postAlone("/chat", JSON.stringify({ user_id: "dave", message: "x".repeat(70 * 1024) }));
  assert.equal(r.status, 413);
  const res = await fetch(`${origin}/nope`);
  assert.equal(res.status, 404);
  const afterwards = await (await fetch(`${origin}/history?user_id=dave`)).json();
  assert.deepEqual(afterwards, before);
  assert.deepEqual(afterwards.history, []);
});

test("POST /chat/stream streams a real provider's answer as SSE under workerd", async () => {
  // A second Worker, configured for an OpenAI-compatible provider whose replies come from
  // this test through Miniflare's outbound service: the Worker's own fetch is exercised.
  const seen = [];
  const sse = [
    { choices: [{ index: 0, delta: { content: "Streaming " } }] },
    { choices: [{ index: 0, delta: { content: "works." } }] },
    { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
    { choices: [], usage: { prompt_tokens: 20, completion_tokens: 3 } },
  ].map((c) => `data: ${JSON.stringify(c)}\n\n`).join("") + "data: [DONE]\n\n";
  const { modulesDir } = installedPackage();
  const scriptPath = await bundleWorker({ modulesDir, outdir: join(root, "target", "worker-test-dist-llm") });
  const llm = await startWorker({
    scriptPath,
    port: 0,
    bindings: { OPENAI_API_KEY: "sk-worker-secret", OPENAI_BASE_URL: "http://llm.test/v1", OPENAI_MODEL: "tiny" },
    outboundService: async (request) => {
      seen.push({ url: request.url, auth: request.headers.get("authorization"), body: await request.json() });
      const bytes = new TextEncoder().encode(sse);
      let i = 0;
      const body = new ReadableStream({
        pull(c) {
          if (i >= bytes.length) return c.close();
          c.enqueue(bytes.slice(i, i + 7));
          i += 7;
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  });
  try {
    const res = await fetch(`${llm.url.origin}/chat/stream`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user_id: "zoe", message: "test the stream" }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /text\/event-stream/);
    const text = await res.text();
    const events = text.trim().split("\n\n").map((block) => JSON.parse(block.split("\n").find((l) => l.startsWith("data: ")).slice(6)));
    assert.deepEqual(events.map((e) => e.type), ["text-delta", "text-delta", "usage", "finish"]);
    assert.equal(events.at(-1).text, "Streaming works.");
    assert.ok(events.every((e) => e.userId === "zoe" && e.runId.startsWith("run_")));
    assert.equal(seen.length, 1);
    assert.equal(seen[0].url, "http://llm.test/v1/chat/completions");
    assert.equal(seen[0].auth, "Bearer sk-worker-secret");
    assert.equal(seen[0].body.model, "tiny");
    assert.ok(!text.includes("sk-worker-secret"));
    const history = await (await fetch(`${llm.url.origin}/history?user_id=zoe`)).json();
    assert.equal(history.history.at(-1).content, "Streaming works.");
  } finally {
    await llm.mf.dispose();
  }
});

test("the demo model remembers through the memory tools; each tenant's facts are its own", async () => {
  let r = await chat({ user_id: "dana", message: "Remember that my favourite colour is green" });
  assert.equal(r.status, 200);
  assert.equal(r.body.response, "Noted: your favourite colour is green. I'll remember that.");
  await chat({ user_id: "erin", message: "Remember that my favourite colour is red" });
  // Another session: the answer comes from the facts, not the conversation.
  r = await chat({ user_id: "dana", message: "What do you know about me?", session_id: "later" });
  assert.equal(r.body.response, "Here is what I know about you: favourite colour: green.");
  const facts = async (t) => (await (await fetch(`${origin}/v1/tenants/${t}/facts`)).json()).facts;
  const dana = await facts("dana");
  assert.deepEqual(dana.map((f) => [f.predicate, f.object, f.source]), [["favourite colour", "green", "model"]]);
  assert.deepEqual((await facts("erin")).map((f) => f.object), ["red"]);
  assert.deepEqual(await facts("frank"), []);
});

test("open mode: POST /v1/chat/ui names its tenant in the query, never in the body", async () => {
  const body = (text) => ({ id: "chat-open", trigger: "submit-message", messages: [{ id: "m", role: "user", parts: [{ type: "text", text }] }], tenant_id: "mallory" });
  const post = (query, b) =>
    fetch(`${origin}/v1/chat/ui${query}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(b) });
  let res = await post("?tenant_id=zed", body("My name is Zed"));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-tenantry-auth"), "open");
  assert.equal(res.headers.get("x-vercel-ai-ui-message-stream"), "v1");
  assert.ok((await res.text()).endsWith("data: [DONE]\n\n"));
  res = await post("?tenant_id=zed", body("What's my name?"));
  assert.match(await res.text(), /"delta":"Zed\."/);
  // The body's tenant_id is not a tenant: without the query the request names none.
  res = await post("", body("hi"));
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.code, "invalid_user_id");
  const mallory = await fetch(`${origin}/agent/history/mallory`);
  assert.equal(mallory.status, 404);
});
