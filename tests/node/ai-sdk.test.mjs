// AI SDK language models as `model`, through the packed package: `MockLanguageModelV3`
// from `ai/test` (doGenerate for runs, doStream for streams, a tool round trip, usage,
// finish reasons, aborts, failures), a hand-written V2 object, and `@ai-sdk/openai-compatible`
// against a local chat-completions server on 127.0.0.1 (what the server receives, SSE,
// and that nothing of one user's run reaches another's request).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { APICallError } from "ai";
import { MockLanguageModelV3, convertArrayToReadableStream } from "ai/test";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { installedPackage } from "../node_support/package.mjs";

let t; // the package

before(async () => {
  const { project } = installedPackage();
  writeFileSync(join(project, "reexport.mjs"), 'export * from "tenantry";\n');
  t = await import(pathToFileURL(join(project, "reexport.mjs")).href);
});

const usageV3 = (input, output) => ({
  inputTokens: { total: input, noCache: input - 2, cacheRead: 2, cacheWrite: undefined },
  outputTokens: { total: output, text: output - 1, reasoning: 1 },
});
const stop = { unified: "stop", raw: "stop" };
const textResult = (text, usage = usageV3(10, 5)) => ({ content: [{ type: "text", text }], finishReason: stop, usage, warnings: [] });
const lastText = (prompt) => prompt.at(-1).content[0].text;

async function drain(stream) {
  const events = [];
  for await (const ev of stream) events.push(ev);
  return events;
}

async function eventually(check, what) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), what);
}

test("a run calls doGenerate with the conversation as V3 prompt parts and reads text, usage and finish reason", async () => {
  const model = new MockLanguageModelV3({
    modelId: "mock-model",
    doGenerate: async ({ prompt }) => textResult(`heard ${lastText(prompt)}`),
  });
  const agent = new t.Agent({
    model,
    instructions: "Be brief.",
    maxOutputTokens: 77,
    audit: { key: "an-audit-key-of-32-bytes-or-more!" },
    // Priced by the model's own modelId.
    budget: { perUser: { maxCostUsd: 5 }, prices: { "mock-model": { inputPerMTok: 1000, outputPerMTok: 2000 } } },
  });
  const out = await agent.run("hello", "alice-7f3", { sessionId: "s" });
  assert.equal(out.text, "heard hello");
  assert.deepEqual([out.usage.inputTokens, out.usage.outputTokens, out.usage.totalTokens, out.usage.estimated], [10, 5, 15, false]);
  assert.equal(out.finishReason, "stop");
  assert.ok(Math.abs(out.usage.costUsd - 0.02) < 1e-9, `cost ${out.usage.costUsd}`);
  assert.equal(model.doStreamCalls.length, 0, "a run that does not stream uses doGenerate");
  const [call] = model.doGenerateCalls;
  assert.deepEqual(call.prompt, [
    { role: "system", content: "Be brief." },
    { role: "user", content: [{ type: "text", text: "hello" }] },
  ]);
  assert.equal(call.maxOutputTokens, 77);
  assert.equal(call.tools, undefined);
  assert.ok(!JSON.stringify(call).includes("alice"), "the call options name no user");

  // Memory: the next call carries the committed turn.
  const again = await agent.run("and again", "alice-7f3", { sessionId: "s" });
  assert.equal(again.text, "heard and again");
  assert.deepEqual(model.doGenerateCalls[1].prompt.slice(1).map((m) => [m.role, m.content[0].text]), [
    ["user", "hello"],
    ["assistant", "heard hello"],
    ["user", "and again"],
  ]);
  assert.equal(agent.history("alice-7f3", "s").length, 4);
  // Audit: each model call with the usage the model reported and the name it was priced by.
  const calls = agent.auditLog("alice-7f3").filter((e) => e.type === "model.call");
  assert.equal(calls.length, 2);
  assert.equal(calls[0].data.usage.inputTokens, 10);
  assert.equal(calls[0].data.model, "mock-model");
  assert.ok(t.verifyAudit(agent.auditEntries(), "an-audit-key-of-32-bytes-or-more!").ok);
});

test("agent.stream calls doStream and passes its text deltas on as they arrive", async () => {
  let release;
  const gate = new Promise((r) => (release = r));
  const model = new MockLanguageModelV3({
    doStream: async () => ({
      stream: new ReadableStream({
        async start(c) {
          c.enqueue({ type: "stream-start", warnings: [] });
          c.enqueue({ type: "text-start", id: "t" });
          c.enqueue({ type: "text-delta", id: "t", delta: "The answer" });
          await gate; // the first delta must reach the consumer before the model goes on
          c.enqueue({ type: "reasoning-delta", id: "r", delta: "not part of the answer" });
          c.enqueue({ type: "text-delta", id: "t", delta: " is 42." });
          c.enqueue({ type: "text-end", id: "t" });
          c.enqueue({ type: "finish", finishReason: { unified: "length", raw: "max_tokens" }, usage: usageV3(30, 6) });
          c.close();
        },
      }),
    }),
  });
  const agent = new t.Agent({ model });
  const events = [];
  for await (const ev of agent.stream("question", "bob")) {
    events.push(ev);
    if (ev.type === "text-delta") release();
  }
  assert.deepEqual(events.filter((e) => e.type === "text-delta").map((e) => e.text), ["The answer", " is 42."]);
  const finish = events.find((e) => e.type === "finish");
  assert.equal(finish.text, "The answer is 42.");
  assert.equal(finish.finishReason, "length");
  assert.deepEqual([finish.usage.inputTokens, finish.usage.outputTokens, finish.usage.estimated], [30, 6, false]);
  assert.equal(model.doGenerateCalls.length, 0);
  assert.equal(model.doStreamCalls.length, 1);
  assert.equal(agent.history("bob").at(-1).content, "The answer is 42.");
});

const WEATHER = {
  name: "get_weather",
  description: "Current weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  execute: async ({ city }) => ({ city, temperature: 21 }),
};

test("a tool call round trip: the call goes to the tool and its result back as a tool-result part (doGenerate and doStream)", async () => {
  const callParts = [{ type: "text", text: "Let me look." }, { type: "tool-call", toolCallId: "call_1", toolName: "get_weather", input: JSON.stringify({ city: "Paris" }) }];
  const answer = (prompt) => {
    const result = prompt.at(-1).content[0].output.value;
    return `It is ${result.temperature} °C in ${result.city}.`;
  };
  const model = new MockLanguageModelV3({
    doGenerate: async ({ prompt }) =>
      prompt.at(-1).role === "user"
        ? { content: callParts, finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage: usageV3(20, 8), warnings: [] }
        : textResult(answer(prompt), usageV3(40, 9)),
    doStream: async ({ prompt }) => ({
      stream: convertArrayToReadableStream(
        prompt.at(-1).role === "user"
          ? [
              { type: "text-delta", id: "t", delta: "Let me look." },
              { type: "tool-input-start", id: "call_1", toolName: "get_weather" },
              { type: "tool-input-delta", id: "call_1", delta: '{"city":' },
              callParts[1],
              { type: "finish", finishReason: { unified: "tool-calls", raw: "tool_calls" }, usage: usageV3(20, 8) },
            ]
          : [{ type: "text-delta", id: "t", delta: answer(prompt) }, { type: "finish", finishReason: stop, usage: usageV3(40, 9) }],
      ),
    }),
  });
  const agent = new t.Agent({ model, tools: [WEATHER] });
  const out = await agent.run("Weather in Paris?", "alice");
  assert.equal(out.text, "It is 21 °C in Paris.");
  assert.equal(out.steps, 2);
  assert.deepEqual([out.usage.inputTokens, out.usage.outputTokens], [60, 17]);
  const [first, second] = model.doGenerateCalls;
  assert.deepEqual(first.tools, [{ type: "function", name: "get_weather", description: WEATHER.description, inputSchema: WEATHER.parameters }]);
  assert.deepEqual(second.prompt.slice(-2), [
    { role: "assistant", content: [callParts[0], { ...callParts[1], input: { city: "Paris" } }] },
    { role: "tool", content: [{ type: "tool-result", toolCallId: "call_1", toolName: "get_weather", output: { type: "json", value: { city: "Paris", temperature: 21 } } }] },
  ]);
  assert.equal(agent.history("alice").map((m) => m.role).join(","), "user,assistant,tool,assistant");

  const events = await drain(agent.stream("Weather in Paris?", "bob"));
  assert.deepEqual(events.map((e) => e.type).filter((x) => x !== "usage"), ["text-delta", "tool-call", "tool-result", "text-delta", "finish"]);
  assert.equal(events.find((e) => e.type === "tool-call").args, '{"city":"Paris"}');
  assert.equal(events.at(-1).text, "It is 21 °C in Paris.");
  assert.equal(model.doStreamCalls.length, 2);
  assert.deepEqual(model.doStreamCalls[1].prompt.at(-1).content[0].output, { type: "json", value: { city: "Paris", temperature: 21 } });
});

test("an abort reaches doGenerate as its abortSignal, and an abandoned doStream is cancelled; nothing commits", async () => {
  let seen;
  const model = new MockLanguageModelV3({
    doGenerate: ({ abortSignal }) =>
      new Promise((_, reject) => {
        seen = abortSignal;
        abortSignal.addEventListener("abort", () => reject(abortSignal.reason));
      }),
  });
  const agent = new t.Agent({ model });
  const controller = new AbortController();
  const run = agent.run("hi", "alice", { signal: controller.signal });
  setTimeout(() => controller.abort(), 5);
  await assert.rejects(run, { code: "aborted" });
  assert.ok(seen instanceof AbortSignal && seen.aborted);
  assert.equal(agent.size("alice"), 0);

  let cancelled = false;
  const streaming = new t.Agent({
    model: new MockLanguageModelV3({
      doStream: async () => ({
        stream: new ReadableStream({
          start(c) {
            c.enqueue({ type: "text-delta", id: "t", delta: "partial" });
          },
          cancel() {
            cancelled = true;
          },
        }),
      }),
    }),
  });
  const stream = streaming.stream("hi", "carol");
  for await (const ev of stream) if (ev.type === "text-delta") break;
  await assert.rejects(stream.result, { code: "aborted" });
  await eventually(() => cancelled, "the model's stream was cancelled");
  assert.equal(streaming.size("carol"), 0);
});

test("a throwing model, an HTTP error, a stream that errors mid-way and an error part each fail with a typed error and commit nothing", async () => {
  const cases = [
    ["doGenerate throws", { doGenerate: async () => { throw new Error("provider down"); } }, false, { code: "model_error", message: "provider down" }],
    [
      "doGenerate rejects with an APICallError",
      { doGenerate: async () => { throw new APICallError({ message: "Too Many Requests", url: "http://127.0.0.1/v1/chat/completions", requestBodyValues: {}, statusCode: 429, isRetryable: true }); } },
      false,
      { code: "model_http", status: 429 },
    ],
    ["doGenerate resolves to garbage", { doGenerate: async () => ({ content: "not parts" }) }, false, { code: "model_malformed" }],
    [
      "the stream errors mid-way",
      {
        doStream: async () => ({
          stream: new ReadableStream({
            start(c) {
              c.enqueue({ type: "text-delta", id: "t", delta: "Partial" });
            },
            pull(c) {
              c.error(new Error("connection reset"));
            },
          }),
        }),
      },
      true,
      { code: "model_error", message: "connection reset" },
    ],
    [
      "an error part",
      { doStream: async () => ({ stream: convertArrayToReadableStream([{ type: "text-delta", id: "t", delta: "Par" }, { type: "error", error: new Error("overloaded") }, { type: "finish", finishReason: { unified: "error", raw: undefined }, usage: usageV3(1, 1) }]) }) },
      true,
      { code: "model_error", message: "overloaded" },
    ],
  ];
  for (const [what, spec, streamed, want] of cases) {
    const agent = new t.Agent({ model: new MockLanguageModelV3(spec) });
    const check = (e) => {
      assert.ok(e instanceof t.TenantryError, `${what}: ${e}`);
      assert.equal(e.code, want.code, `${what}: ${e.message}`);
      if (want.message) assert.equal(e.details.message, want.message, what);
      if (want.status) assert.equal(e.details.status, want.status, what);
      return true;
    };
    if (streamed) {
      const stream = agent.stream("hi", "dan");
      const events = await drain(stream);
      assert.deepEqual(events.map((e) => e.type), ["text-delta", "error"], what);
      await assert.rejects(stream.result, check);
    } else {
      await assert.rejects(agent.run("hi", "dan"), check);
    }
    assert.equal(agent.size("dan"), 0, `${what}: nothing committed`);
    assert.equal((await new t.Agent({ model: t.demoModel() }).run("hi", "dan")).userId, "dan");
  }
});

test("a hand-written V2 model: flat usage, string finish reasons, textDelta parts, and methods called on the model", async () => {
  const calls = [];
  const v2 = {
    specificationVersion: "v2",
    provider: "hand",
    modelId: "v2-model",
    supportedUrls: {},
    async doGenerate(options) {
      calls.push(["generate", this === v2, options]);
      return { content: [{ type: "text", text: "v2 says hi" }], finishReason: "stop", usage: { inputTokens: 4, outputTokens: 3, totalTokens: 7, cachedInputTokens: 1, reasoningTokens: 0 }, warnings: [] };
    },
    async doStream(options) {
      calls.push(["stream", this === v2, options]);
      return {
        stream: convertArrayToReadableStream([
          { type: "text-delta", id: "0", delta: "v2 " },
          { type: "text-delta", textDelta: "streams" },
          { type: "finish", finishReason: "content-filter", usage: { inputTokens: 6, outputTokens: 2, totalTokens: 8 } },
        ]),
      };
    },
  };
  const agent = new t.Agent({ model: v2, budget: { perUser: { maxCostUsd: 1 }, prices: { "v2-model": { inputPerMTok: 1, outputPerMTok: 1 } } } });
  const out = await agent.run("hi", "erin");
  assert.equal(out.text, "v2 says hi");
  assert.deepEqual([out.usage.inputTokens, out.usage.outputTokens, out.usage.estimated, out.finishReason], [4, 3, false, "stop"]);
  const events = await drain(agent.stream("again", "erin"));
  assert.deepEqual(events.filter((e) => e.type === "text-delta").map((e) => e.text), ["v2 ", "streams"]);
  const finish = events.at(-1);
  assert.deepEqual([finish.text, finish.finishReason, finish.usage.inputTokens, finish.usage.outputTokens], ["v2 streams", "content-filter", 6, 2]);
  assert.deepEqual(calls.map(([kind, bound]) => [kind, bound]), [["generate", true], ["stream", true]]);
  assert.deepEqual(calls[1][2].prompt.at(-1), { role: "user", content: [{ type: "text", text: "again" }] });
});

test("model objects that are not language models, or whose getters throw, are refused at construction", () => {
  const base = () => new MockLanguageModelV3({ doGenerate: async () => textResult("x") });
  const refused = [
    ["another specificationVersion", Object.assign(base(), { specificationVersion: "v9" })],
    ["no doGenerate", { specificationVersion: "v3", modelId: "m", doStream: async () => ({}) }],
    ["no doStream", { specificationVersion: "v3", modelId: "m", doGenerate: async () => ({}) }],
    ["a modelId that is not a string", { specificationVersion: "v3", modelId: 42, doGenerate: async () => ({}), doStream: async () => ({}) }],
    ["a throwing specificationVersion getter", { get specificationVersion() { throw new Error("boom"); } }],
    ["a throwing doGenerate getter", { specificationVersion: "v3", get doGenerate() { throw new Error("boom"); }, doStream: async () => ({}) }],
    ["a throwing modelId getter", { specificationVersion: "v3", get modelId() { throw new Error("boom"); }, doGenerate: async () => ({}), doStream: async () => ({}) }],
    ["a plain object", { text: "not a model" }],
  ];
  for (const [what, model] of refused) {
    assert.throws(() => new t.Agent({ model }), (e) => e instanceof t.TenantryError && e.code === "invalid_config" && e.details.field === "model", what);
  }
  new t.Agent({ model: base() });
});

// ---- @ai-sdk/openai-compatible against a local server ----

let server;
let baseURL;
const received = [];
let hungClosed = false;

/** Chat completions, answered from the request: tool calls when asked for the weather, the
 *  tool's result after one, an echo otherwise; SSE when `stream` is set. */
function reply(body) {
  const last = body.messages.at(-1);
  const usage = { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 };
  if (last.role === "user" && last.content.includes("weather") && body.tools) {
    return { message: { role: "assistant", content: null, tool_calls: [{ id: "call_w", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }] }, finish: "tool_calls", usage };
  }
  const text = last.role === "tool" ? `tool said ${last.content}` : `You said: ${last.content}`;
  return { message: { role: "assistant", content: text }, finish: "stop", usage };
}

before(async () => {
  server = createServer(async (req, res) => {
    let raw = "";
    for await (const c of req) raw += c;
    const body = JSON.parse(raw);
    received.push({ url: req.url, headers: req.headers, body, raw });
    if (body.messages.at(-1).content === "hang") {
      // Until the client aborts, which closes the connection.
      res.on("close", () => (hungClosed = true));
      return;
    }
    const r = reply(body);
    const head = { id: "chatcmpl-1", created: 1, model: body.model };
    if (!body.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ...head, object: "chat.completion", choices: [{ index: 0, message: r.message, finish_reason: r.finish }], usage: r.usage }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const chunk = (delta, finish = null, extra = {}) => `data: ${JSON.stringify({ ...head, object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
    const text = r.message.content ?? "";
    for (const piece of [text.slice(0, 5), text.slice(5)]) {
      res.write(chunk({ role: "assistant", content: piece }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    res.write(chunk({}, r.finish));
    if (body.stream_options?.include_usage) res.write(`data: ${JSON.stringify({ ...head, object: "chat.completion.chunk", choices: [], usage: r.usage })}\n\n`);
    res.end("data: [DONE]\n\n");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseURL = `http://127.0.0.1:${server.address().port}/v1`;
});

after(() => server?.closeAllConnections?.() ?? server?.close());

const compatible = (settings = {}) => createOpenAICompatible({ baseURL, name: "local", apiKey: "sk-local", ...settings }).chatModel("m");

test("@ai-sdk/openai-compatible: the server receives the messages, tools and max_tokens, and the answer comes back", async () => {
  const agent = new t.Agent({
    model: compatible(),
    instructions: "Be brief.",
    maxOutputTokens: 64,
    tools: [{ ...WEATHER, execute: async ({ city }) => ({ city, temperature: -3 }) }],
    budget: { perUser: { maxCostUsd: 1 }, prices: { m: { inputPerMTok: 1, outputPerMTok: 1 } } },
  });
  const from = received.length;
  const out = await agent.run("hello", "alice");
  assert.equal(out.text, "You said: hello");
  assert.deepEqual([out.usage.inputTokens, out.usage.outputTokens, out.usage.estimated, out.finishReason], [12, 4, false, "stop"]);
  const first = received[from];
  assert.equal(first.url, "/v1/chat/completions");
  assert.equal(first.headers.authorization, "Bearer sk-local");
  assert.equal(first.body.model, "m");
  assert.equal(first.body.max_tokens, 64);
  assert.equal(first.body.stream, undefined);
  assert.deepEqual(first.body.messages, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "hello" },
  ]);
  assert.deepEqual(first.body.tools, [{ type: "function", function: { name: "get_weather", description: WEATHER.description, parameters: WEATHER.parameters } }]);

  const weather = await agent.run("weather in Oslo?", "alice");
  assert.equal(weather.text, 'tool said {"city":"Oslo","temperature":-3}');
  assert.equal(weather.steps, 2);
  const second = received.at(-1).body.messages.slice(-2);
  assert.deepEqual(second, [
    { role: "assistant", content: null, tool_calls: [{ id: "call_w", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }] },
    { role: "tool", tool_call_id: "call_w", content: '{"city":"Oslo","temperature":-3}' },
  ]);
});

test("@ai-sdk/openai-compatible streams over SSE through agent.stream, usage included", async () => {
  const agent = new t.Agent({ model: compatible({ includeUsage: true }) });
  const from = received.length;
  const events = await drain(agent.stream("stream this", "bob"));
  assert.deepEqual(events.filter((e) => e.type === "text-delta").map((e) => e.text), ["You s", "aid: stream this"]);
  const finish = events.at(-1);
  assert.deepEqual([finish.type, finish.text, finish.usage.inputTokens, finish.usage.outputTokens, finish.usage.estimated], ["finish", "You said: stream this", 12, 4, false]);
  assert.equal(received[from].body.stream, true);
  assert.deepEqual(received[from].body.stream_options, { include_usage: true });
  assert.equal(agent.history("bob").at(-1).content, "You said: stream this");
});

test("@ai-sdk/openai-compatible: concurrent users' requests carry only their own conversation, and an abort closes the request", async () => {
  const agent = new t.Agent({ model: compatible() });
  const from = received.length;
  const users = { "alice-7f3": "my PIN is 4417", "bob-9c1": "my PIN is 8820" };
  for (let round = 0; round < 3; round++) {
    await Promise.all(Object.entries(users).map(([u, secret]) => agent.run(`${secret} (round ${round})`, u)));
  }
  const mine = received.slice(from);
  assert.equal(mine.length, 6);
  for (const r of mine) {
    const owner = Object.keys(users).find((u) => r.raw.includes(users[u]));
    assert.ok(owner, r.raw);
    for (const [u, secret] of Object.entries(users)) {
      assert.ok(!r.raw.includes(u), `a request names user ${u}: ${r.raw}`);
      if (u !== owner) assert.ok(!r.raw.includes(secret), `${owner}'s request carries ${u}'s message: ${r.raw}`);
    }
  }

  const controller = new AbortController();
  const hung = agent.run("hang", "carol", { signal: controller.signal });
  await eventually(() => received.at(-1).body.messages.at(-1).content === "hang", "the request reached the server");
  controller.abort();
  await assert.rejects(hung, { code: "aborted" });
  assert.equal(agent.size("carol"), 0);
  await eventually(() => hungClosed, "the aborted request's connection was closed");
});

test("input parts reach an AI SDK model as file parts: base64 as a string, a link as a URL", async () => {
  const model = new MockLanguageModelV3({ doGenerate: async () => textResult("a cat") });
  const agent = new t.Agent({ model });
  const pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
  await agent.run(
    [
      { type: "text", text: "What is this?" },
      { type: "image", data: pixel, mediaType: "image/png" },
      { type: "image", url: "https://example.com/cat.jpg" },
    ],
    "alice",
  );
  const content = model.doGenerateCalls[0].prompt.at(-1).content;
  assert.deepEqual(content[0], { type: "text", text: "What is this?" });
  assert.deepEqual(content[1], { type: "file", mediaType: "image/png", data: pixel });
  assert.ok(content[2].data instanceof URL, "a link is a URL object");
  assert.equal(content[2].data.href, "https://example.com/cat.jpg");
  assert.equal(content[2].mediaType, "image/*");
});
