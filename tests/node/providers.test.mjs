// The packed package's openai()/anthropic() clients against a local HTTP server on
// 127.0.0.1 that replays provider-shaped responses, through Node's real fetch: SSE split at
// every byte, tool calls over many deltas, missing usage, 429 then success, 500 forever, a
// stream that dies mid-message, malformed JSON, and an abort mid-stream.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { installedPackage } from "../node_support/package.mjs";

let t; // the package
let server;
let base;
const replies = [];
const requests = [];

before(async () => {
  const { project } = installedPackage();
  writeFileSync(join(project, "reexport.mjs"), 'export * from "tenantry";\n');
  t = await import(pathToFileURL(join(project, "reexport.mjs")).href);
  server = createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    requests.push({ url: req.url, headers: req.headers, body: body && JSON.parse(body) });
    const r = replies.shift() ?? { status: 500, chunks: ["no reply scripted"] };
    res.writeHead(r.status ?? 200, { "content-type": r.sse === false ? "application/json" : "text/event-stream", ...(r.headers ?? {}) });
    for (const chunk of r.chunks ?? []) {
      res.write(chunk);
      // Yield to the event loop so chunks reach the client as separate network reads.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (r.destroy) return res.destroy();
    if (r.hang) return; // never ends; the client must abort or time out
    res.end();
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}/v1`;
});

after(() => server?.closeAllConnections?.() ?? server?.close());

const sse = (...events) => events.map((e) => `data: ${typeof e === "string" ? e : JSON.stringify(e)}\n\n`).join("");
const delta = (content) => ({ choices: [{ index: 0, delta: { content } }] });
const STREAM = sse(delta("The answer"), delta(" is 42."), { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }, { choices: [], usage: { prompt_tokens: 30, completion_tokens: 6 } }, "[DONE]");
const everyByte = (s) => [...Buffer.from(s)].map((b) => Buffer.from([b]));

function agentOn(options) {
  const model = t.openai({ baseUrl: base, apiKey: "sk-local-secret", model: "local-model", ...options });
  return new t.Agent({ model, instructions: "Be brief." });
}

test("an SSE stream split at every byte streams the same text, usage and turn", async () => {
  replies.push({ chunks: everyByte(STREAM) });
  const agent = agentOn();
  const stream = agent.stream("question", "alice", { sessionId: "s" });
  const deltas = [];
  let finish;
  for await (const ev of stream) {
    assert.equal(ev.userId, "alice");
    if (ev.type === "text-delta") deltas.push(ev.text);
    if (ev.type === "finish") finish = ev;
  }
  assert.equal(deltas.join(""), "The answer is 42.");
  assert.equal(finish.finishReason, "stop");
  assert.deepEqual([finish.usage.inputTokens, finish.usage.outputTokens, finish.usage.estimated], [30, 6, false]);
  assert.equal(agent.history("alice", "s").at(-1).content, "The answer is 42.");
  const req = requests.at(-1);
  assert.equal(req.url, "/v1/chat/completions");
  assert.equal(req.headers.authorization, "Bearer sk-local-secret");
  assert.equal(req.body.stream, true);
  assert.deepEqual(req.body.stream_options, { include_usage: true });
});

test("tool calls split over many deltas come back whole from the client", async () => {
  const tc = (index, fn, id) => ({ choices: [{ index: 0, delta: { tool_calls: [{ index, ...(id ? { id, type: "function" } : {}), function: fn }] } }] });
  replies.push({
    chunks: [sse(
      tc(0, { name: "get_weather", arguments: "" }, "call_1"),
      tc(0, { arguments: '{"ci' }),
      tc(0, { arguments: 'ty":"Par' }),
      tc(0, { arguments: 'is"}' }),
      { choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] },
      "[DONE]",
    )],
  });
  const model = t.openai({ baseUrl: base, model: "m" });
  const out = await model({ messages: [{ role: "user", content: "weather?" }], maxOutputTokens: 50 });
  assert.deepEqual(out.toolCalls, [{ id: "call_1", name: "get_weather", arguments: '{"city":"Paris"}' }]);
  assert.equal(out.finishReason, "tool_calls");
  // Without tools configured, the agent refuses a tool call rather than inventing a result.
  replies.push({ chunks: [sse(tc(0, { name: "x", arguments: "{}" }, "c"), { choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] }, "[DONE]")] });
  await assert.rejects(agentOn().run("hi", "bob"), { code: "unsupported" });
});

test("a stream without usage is estimated and flagged", async () => {
  replies.push({ chunks: [sse(delta("short"), { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }, "[DONE]")] });
  const out = await agentOn().run("hello there", "carol");
  assert.equal(out.text, "short");
  assert.equal(out.usage.estimated, true);
  assert.ok(out.usage.inputTokens > 0 && out.usage.outputTokens > 0);
});

test("429 then success is retried after Retry-After; 500 forever gives up with model_http", async () => {
  replies.push({ status: 429, sse: false, headers: { "retry-after": "0" }, chunks: ['{"error":{"message":"Rate limit reached","type":"requests"}}'] });
  replies.push({ chunks: [STREAM] });
  const before = requests.length;
  const out = await agentOn().run("hi", "dan");
  assert.equal(out.text, "The answer is 42.");
  assert.equal(requests.length - before, 2);

  for (let i = 0; i < 3; i++) replies.push({ status: 500, sse: false, chunks: ['{"error":{"message":"The server had an error"}}'] });
  const agent = agentOn({ maxRetries: 2 });
  await assert.rejects(agent.run("hi", "dan"), (e) => {
    assert.equal(e.code, "model_http");
    assert.equal(e.details.status, 500);
    assert.equal(e.details.attempts, 3);
    assert.equal(e.details.message, "The server had an error");
    return true;
  });
  assert.equal(agent.size("dan"), 0);
});

test("a 401 is not retried and the key appears nowhere", async () => {
  replies.push({ status: 401, sse: false, chunks: ['{"error":{"message":"Incorrect API key provided: sk-local-secret.","type":"invalid_request_error","code":"invalid_api_key"}}'] });
  const before = requests.length;
  const err = await agentOn().run("hi", "erin").catch((e) => e);
  assert.equal(err.code, "model_http");
  assert.equal(requests.length - before, 1);
  const shown = JSON.stringify({ message: err.message, details: err.details, stack: err.stack });
  assert.ok(!shown.includes("sk-local-secret"), shown);
});

test("a stream that dies mid-message fails without committing, and is not retried once text was seen", async () => {
  replies.push({ chunks: [sse(delta("Partial ans"))], destroy: true });
  const agent = agentOn();
  const stream = agent.stream("hi", "frank");
  const events = [];
  for await (const ev of stream) events.push(ev);
  assert.deepEqual(events.map((e) => e.type), ["text-delta", "error"]);
  assert.equal(events[1].code, "model_http");
  await assert.rejects(stream.result, { code: "model_http" });
  assert.equal(agent.size("frank"), 0);
});

test("malformed JSON in the stream is model_malformed", async () => {
  replies.push({ chunks: ["data: {\"choices\": [oops\n\n"] });
  await assert.rejects(agentOn().run("hi", "gina"), { code: "model_malformed" });
});

test("an abort mid-stream rejects with aborted and commits nothing", async () => {
  replies.push({ chunks: [sse(delta("Once upon a time"))], hang: true });
  const agent = agentOn();
  const controller = new AbortController();
  const stream = agent.stream("story", "hank", { signal: controller.signal });
  for await (const ev of stream) {
    if (ev.type === "text-delta") controller.abort();
  }
  await assert.rejects(stream.result, { code: "aborted" });
  assert.equal(agent.size("hank"), 0);
});

test("anthropic() streams from a Messages API server", async () => {
  const ev = (name, data) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
  replies.push({
    chunks: everyByte(
      ev("message_start", { message: { usage: { input_tokens: 11, output_tokens: 1 } } }) +
        ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }) +
        ev("ping", {}) +
        ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Hallo " } }) +
        ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Welt" } }) +
        ev("content_block_stop", { index: 0 }) +
        ev("message_delta", { delta: { stop_reason: "end_turn" }, usage: { output_tokens: 3 } }) +
        ev("message_stop", {}),
    ),
  });
  const model = t.anthropic({ baseUrl: base, apiKey: "ak-secret", model: "claude-local" });
  const agent = new t.Agent({ model, instructions: "Be brief." });
  const text = await agent.stream("hi", "ivy").text;
  assert.equal(text, "Hallo Welt");
  const req = requests.at(-1);
  assert.equal(req.url, "/v1/messages");
  assert.equal(req.headers["x-api-key"], "ak-secret");
  assert.equal(req.body.system, "Be brief.");
});

test("toReadableStream() carries the same events", async () => {
  replies.push({ chunks: [STREAM] });
  const rs = agentOn().stream("q", "jo").toReadableStream();
  const types = [];
  for await (const ev of rs) types.push(ev.type);
  assert.deepEqual(types, ["text-delta", "text-delta", "usage", "finish"]);
});

const PLACE = {
  name: "place",
  schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
};

test("structured output: openai() sends response_format json_schema and the answer comes back as result.object", async () => {
  replies.push({ chunks: [sse(delta('{"city":'), delta('"Lyon"}'), { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }, "[DONE]")] });
  const agent = agentOn();
  const result = await agent.run("where?", "kim", { output: PLACE });
  assert.deepEqual(result.object, { city: "Lyon" });
  assert.deepEqual(requests.at(-1).body.response_format, { type: "json_schema", json_schema: { name: "place", schema: PLACE.schema } });
  // An answer that does not match commits nothing.
  replies.push({ chunks: [sse(delta('{"town":"Lyon"}'), { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }, "[DONE]")] });
  await assert.rejects(agent.run("where?", "kim", { output: PLACE }), (e) => e instanceof t.TenantryError && e.code === "output_invalid" && /city/.test(e.details.reason));
  assert.equal(agent.size("kim"), 2);
});

test("structured output: anthropic() forces a tool of the output's name and reads its input as the answer", async () => {
  replies.push({
    status: 200,
    sse: false,
    chunks: [JSON.stringify({ type: "message", role: "assistant", content: [{ type: "tool_use", id: "tu_1", name: "place", input: { city: "Lyon" } }], stop_reason: "tool_use", usage: { input_tokens: 9, output_tokens: 4 } })],
  });
  const model = t.anthropic({ baseUrl: base, apiKey: "ak-secret", model: "claude-local", stream: false });
  const agent = new t.Agent({ model });
  const result = await agent.run("where?", "lee", { output: PLACE });
  assert.deepEqual(result.object, { city: "Lyon" });
  assert.equal(result.finishReason, "stop");
  const body = requests.at(-1).body;
  assert.deepEqual(body.tool_choice, { type: "tool", name: "place" });
  assert.deepEqual(body.tools.map((x) => x.name), ["place"]);
  assert.deepEqual(body.tools[0].input_schema, PLACE.schema);
  assert.equal(agent.history("lee").at(-1).content, '{"city":"Lyon"}');
});

test("structured output: a host model sees request.output; bad output options and a name clash are refused", async () => {
  const seen = [];
  const model = async (req) => {
    seen.push(req.output);
    return { text: '{"city":"Oslo"}' };
  };
  const tools = [{ name: "place", description: "x", parameters: { type: "object" }, execute: () => "no" }];
  const agent = new t.Agent({ model, tools });
  await assert.rejects(agent.run("where?", "max", { output: PLACE }), (e) => e.code === "invalid_input" && /tools/.test(e.message));
  const plain = new t.Agent({ model });
  assert.deepEqual((await plain.run("where?", "max", { output: { schema: PLACE.schema } })).object, { city: "Oslo" });
  assert.deepEqual(seen.at(-1), { type: "json", schema: PLACE.schema, name: "output" });
  for (const output of [null, "x", { schema: "object" }, { schema: {}, name: "has space" }, { schema: {}, extra: 1 }, { schema: { a: 1n } }, { get schema() { throw new Error("hostile"); } }]) {
    await assert.rejects(plain.run("x", "max", { output }), (e) => e instanceof t.TenantryError && e.code === "invalid_input", String(output));
  }
  assert.equal(plain.size("max"), 2);
});
