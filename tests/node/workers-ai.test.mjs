// workersAI(env.AI, model) through the packed package, against doubles of the Workers AI
// binding that answer in the documented shapes: the binding's own `{ response, tool_calls,
// usage }` (traditional function calling, arguments as an object), the OpenAI-compatible
// `choices` of newer models, JSON mode's object `response`, and `stream: true` answers as
// a ReadableStream of SSE bytes (`data: {"response":...}`, tool call fragments, a usage
// event, `data: [DONE]`). Also: what the inputs carry (and never carry), usage charged to
// the user's budget and priced by the model id, aborts, and hostile bindings.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { installedPackage } from "../node_support/package.mjs";

let t; // the package

before(async () => {
  const { project } = installedPackage();
  writeFileSync(join(project, "reexport.mjs"), 'export * from "tenantry";\n');
  t = await import(pathToFileURL(join(project, "reexport.mjs")).href);
});

const MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

test("the node, browser and workerd entries export workersAI from the wasm glue", () => {
  const dir = join(installedPackage().modulesDir, "tenantry");
  assert.match(readFileSync(join(dir, "tenantry.js"), "utf8"), /export function workersAI\(/);
  for (const entry of ["node.js", "browser.js", "workerd.js"]) {
    assert.match(readFileSync(join(dir, entry), "utf8"), /^export \{[^}]*\bworkersAI\b[^}]*\} from "\.\/tenantry\.js";$/m, entry);
  }
  assert.equal(typeof t.workersAI, "function");
});
const PRICES = { [MODEL]: { inputPerMTok: 0.29, outputPerMTok: 2.25 } };

/** A binding whose `run` answers with `answer(inputs, call)`, recording each call. */
function binding(answer) {
  const calls = [];
  return {
    calls,
    async run(model, inputs, options) {
      calls.push({ model, inputs: structuredClone(inputs), options });
      return answer(inputs, calls.length);
    },
  };
}

/** SSE bytes as the binding streams them: one `data:` event per value, then `[DONE]`. */
function sse(events, { done = true, chunk } = {}) {
  let text = events.map((e) => `data: ${typeof e === "string" ? e : JSON.stringify(e)}\n\n`).join("");
  if (done) text += "data: [DONE]\n\n";
  const bytes = new TextEncoder().encode(text);
  const size = chunk ?? bytes.length;
  return new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += size) c.enqueue(bytes.slice(i, i + size));
      c.close();
    },
  });
}

async function drain(stream) {
  const events = [];
  for await (const ev of stream) events.push(ev);
  return events;
}

async function eventually(check, what) {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), what);
}

test("a run sends role-scoped messages and max_tokens, reads response and usage, and is priced by the model id", async () => {
  const ai = binding((inputs) => ({
    response: `heard ${inputs.messages.at(-1).content}`,
    usage: { prompt_tokens: 31, completion_tokens: 4, total_tokens: 35 },
  }));
  const model = t.workersAI(ai, MODEL);
  assert.equal(model.modelId, MODEL);
  const agent = new t.Agent({
    model,
    instructions: "Be brief.",
    maxOutputTokens: 77,
    budget: { perUser: { maxCostUsd: 1 }, prices: PRICES },
  });
  const controller = new AbortController();
  const out = await agent.run("hello", "alice-7f3", { sessionId: "conv-9", signal: controller.signal });
  assert.equal(out.text, "heard hello");
  assert.deepEqual([out.usage.inputTokens, out.usage.outputTokens, out.usage.totalTokens, out.usage.estimated], [31, 4, 35, false]);
  assert.equal(out.finishReason, "stop");
  // 31 input and 4 output tokens at $0.29 and $2.25 per million.
  assert.ok(Math.abs(out.usage.costUsd - (31 * 0.29 + 4 * 2.25) / 1e6) < 1e-9, String(out.usage.costUsd));
  assert.equal(agent.usage("alice-7f3").totals.costUsd, out.usage.costUsd);

  assert.equal(ai.calls.length, 1);
  const [{ model: id, inputs, options }] = ai.calls;
  assert.equal(id, MODEL);
  assert.deepEqual(inputs.messages, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "hello" },
  ]);
  assert.equal(inputs.max_tokens, 77);
  assert.equal(inputs.stream, undefined, "a plain run does not ask for a stream");
  assert.ok(options.signal instanceof AbortSignal, "the run's signal goes to run()");
  // Nothing in the call names the user, the session or the run.
  const sent = JSON.stringify([inputs, options]);
  for (const secret of ["alice-7f3", "conv-9", out.runId]) assert.ok(!sent.includes(secret), `${secret} was sent`);
});

test("agent.stream asks for a stream and passes the SSE text on as it arrives, with the final usage", async () => {
  const ai = binding(() =>
    sse(
      [
        { response: "Bon", p: "abcdef" },
        { response: "jour, ça " },
        { response: "va ?" },
        { response: "", usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 } },
      ],
      { chunk: 7 }, // cut inside events and inside "ç"
    ),
  );
  const agent = new t.Agent({ model: t.workersAI(ai, MODEL) });
  const events = await drain(agent.stream("Salut", "alice"));
  const deltas = events.filter((e) => e.type === "text-delta").map((e) => e.text);
  assert.deepEqual(deltas, ["Bon", "jour, ça ", "va ?"]);
  const finish = events.find((e) => e.type === "finish");
  assert.equal(finish.text, "Bonjour, ça va ?");
  assert.deepEqual([finish.usage.inputTokens, finish.usage.outputTokens, finish.usage.estimated], [12, 5, false]);
  assert.equal(ai.calls[0].inputs.stream, true);
  assert.equal(agent.history("alice").at(-1).content, "Bonjour, ça va ?");
});

test("a model that answers JSON to a stream request is read whole", async () => {
  const ai = binding(() => ({ response: "not streamed", usage: { prompt_tokens: 3, completion_tokens: 2 } }));
  const agent = new t.Agent({ model: t.workersAI(ai, MODEL) });
  const events = await drain(agent.stream("hi", "alice"));
  assert.equal(events.find((e) => e.type === "finish").text, "not streamed");
  assert.equal(ai.calls[0].inputs.stream, true);
});

const weather = {
  name: "get_weather",
  description: "Current weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

test("a tool round trip in the traditional shape: the call, the tool's result sent back, the final answer", async () => {
  const seenArgs = [];
  const ai = binding((inputs, n) =>
    n === 1
      ? { response: null, tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }], usage: { prompt_tokens: 80, completion_tokens: 20 } }
      : { response: "It is 21 °C in Paris.", usage: { prompt_tokens: 120, completion_tokens: 9 } },
  );
  const agent = new t.Agent({
    model: t.workersAI(ai, MODEL),
    tools: [{ ...weather, execute: async (args) => (seenArgs.push(args), { temperature: 21 }) }],
  });
  const out = await agent.run("Weather in Paris?", "alice");
  assert.equal(out.text, "It is 21 °C in Paris.");
  assert.deepEqual(seenArgs, [{ city: "Paris" }]);
  assert.deepEqual([out.usage.inputTokens, out.usage.outputTokens], [200, 29], "both calls charged");
  assert.deepEqual(ai.calls[0].inputs.tools, [{ type: "function", function: { name: "get_weather", description: weather.description, parameters: weather.parameters } }]);
  const second = ai.calls[1].inputs.messages;
  const assistant = second.at(-2);
  const toolMessage = second.at(-1);
  assert.equal(assistant.role, "assistant");
  assert.equal(assistant.tool_calls[0].function.name, "get_weather");
  assert.deepEqual(JSON.parse(assistant.tool_calls[0].function.arguments), { city: "Paris" });
  assert.equal(toolMessage.role, "tool");
  assert.equal(toolMessage.tool_call_id, assistant.tool_calls[0].id);
  assert.equal(toolMessage.name, "get_weather");
  assert.deepEqual(JSON.parse(toolMessage.content), { temperature: 21 });
});

test("a streamed tool round trip in the OpenAI-compatible shape of newer models", async () => {
  const chunk = (delta, finish = null) => ({ id: "c1", object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }] });
  const ai = binding((inputs, n) =>
    n === 1
      ? sse([
          chunk({ role: "assistant", content: "" }),
          chunk({ tool_calls: [{ index: 0, id: "call_x", type: "function", function: { name: "get_weather", arguments: "" } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
          chunk({ tool_calls: [{ index: 0, function: { arguments: '"Rome"}' } }] }),
          chunk({}, "tool_calls"),
          { id: "c1", choices: [], usage: { prompt_tokens: 50, completion_tokens: 9, total_tokens: 59 } },
        ])
      : sse([chunk({ content: "Sunny " }), chunk({ content: "in Rome." }, "stop"), { choices: [], usage: { prompt_tokens: 70, completion_tokens: 4 } }]),
  );
  const agent = new t.Agent({ model: t.workersAI(ai, MODEL), tools: [{ ...weather, execute: async ({ city }) => ({ city, sky: "sunny" }) }] });
  const events = await drain(agent.stream("Weather in Rome?", "alice"));
  const call = events.find((e) => e.type === "tool-call");
  assert.equal(call.toolName ?? call.name, "get_weather");
  assert.deepEqual(events.filter((e) => e.type === "text-delta").map((e) => e.text), ["Sunny ", "in Rome."]);
  const finish = events.find((e) => e.type === "finish");
  assert.deepEqual([finish.usage.inputTokens, finish.usage.outputTokens], [120, 13]);
  const toolMessage = ai.calls[1].inputs.messages.at(-1);
  assert.deepEqual([toolMessage.role, toolMessage.tool_call_id], ["tool", "call_x"]);
});

test("structured output asks for JSON mode without a stream and reads the object response", async () => {
  const ai = binding(() => ({ response: { city: "Lyon", population: 522000 }, usage: { prompt_tokens: 40, completion_tokens: 12 } }));
  const agent = new t.Agent({ model: t.workersAI(ai, MODEL) });
  const schema = { type: "object", properties: { city: { type: "string" }, population: { type: "integer" } }, required: ["city"] };
  const stream = agent.stream("Where is the office?", "alice", { output: { schema } });
  await drain(stream);
  const out = await stream.result;
  assert.deepEqual(out.object, { city: "Lyon", population: 522000 });
  assert.deepEqual(ai.calls[0].inputs.response_format, { type: "json_schema", json_schema: schema });
  assert.equal(ai.calls[0].inputs.stream, undefined, "JSON mode does not stream");
});

test("usage is charged to the user who ran, against their own budget; other users are untouched", async () => {
  const ai = binding((inputs) => ({
    response: `ok ${inputs.messages.at(-1).content}`,
    usage: { prompt_tokens: 30, completion_tokens: 10 },
  }));
  const agent = new t.Agent({ model: t.workersAI(ai, MODEL), budget: { perUser: { maxTotalTokens: 100, window: "day" } } });
  const first = await agent.run("one", "alice");
  assert.equal(first.usage.totalTokens, 40);
  await agent.run("two", "alice");
  assert.equal(agent.usage("alice").totals.totalTokens, 80);
  // What is left (20) cannot hold another call's worst case.
  await assert.rejects(agent.run("three", "alice"), { code: "budget_exceeded" });
  assert.equal(agent.usage("bob").totals.totalTokens, 0);
  assert.equal((await agent.run("hi", "bob")).text, "ok hi");
  assert.equal(agent.usage("bob").totals.totalTokens, 40);
  // The refused run never reached the binding.
  assert.equal(ai.calls.length, 3);
  // Concurrent users' calls each carry their own conversation only.
  const both = await Promise.all([agent.run("carol-secret", "carol"), agent.run("dave-secret", "dave")]);
  assert.deepEqual(both.map((r) => r.text), ["ok carol-secret", "ok dave-secret"]);
  for (const call of ai.calls.slice(3)) {
    const text = JSON.stringify(call.inputs);
    assert.ok(!(text.includes("carol") && text.includes("dave")), text);
  }
});

test("the model function can be called directly, as openai()'s can", async () => {
  const ai = binding(() => sse([{ response: "Hi" }, { response: " there" }, { response: "", usage: { prompt_tokens: 2, completion_tokens: 2 } }]));
  const model = t.workersAI(ai, MODEL, { inputs: { temperature: 0.2, seed: 7 }, gateway: { id: "gw" } });
  const deltas = [];
  const out = await model({ messages: [{ role: "user", content: "Hello" }], maxOutputTokens: 10, onTextDelta: (d) => deltas.push(d) });
  assert.deepEqual([out.text, out.usage.inputTokens, out.usage.outputTokens], ["Hi there", 2, 2]);
  assert.deepEqual(deltas, ["Hi", " there"]);
  const [{ inputs, options }] = ai.calls;
  assert.deepEqual([inputs.temperature, inputs.seed, inputs.max_tokens, inputs.stream], [0.2, 7, 10, true]);
  assert.deepEqual(options.gateway, { id: "gw" });
  await assert.rejects(model("not a request"), { code: "invalid_input" });
});

test("an abort reaches run() as its signal; a pending call and an open stream are abandoned; nothing commits", async () => {
  let seen;
  const hanging = {
    run: (model, inputs, options) =>
      new Promise((_, reject) => {
        seen = options.signal;
        options.signal.addEventListener("abort", () => reject(options.signal.reason));
      }),
  };
  const agent = new t.Agent({ model: t.workersAI(hanging, MODEL) });
  const controller = new AbortController();
  const run = agent.run("hi", "alice", { signal: controller.signal });
  await eventually(() => seen !== undefined, "run() was called");
  controller.abort();
  await assert.rejects(run, { code: "aborted" });
  assert.ok(seen.aborted);
  assert.equal(agent.size("alice"), 0);

  // A binding that ignores the signal: the run stops waiting all the same.
  const deaf = { run: () => new Promise(() => {}) };
  const deafAgent = new t.Agent({ model: t.workersAI(deaf, MODEL) });
  const c2 = new AbortController();
  const deafRun = deafAgent.run("hi", "alice", { signal: c2.signal });
  c2.abort();
  await assert.rejects(deafRun, { code: "aborted" });

  // A stream left part-way is cancelled.
  let cancelled = false;
  const open = {
    run: async () =>
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('data: {"response":"partial"}\n\n'));
        },
        cancel() {
          cancelled = true;
        },
      }),
  };
  const streaming = new t.Agent({ model: t.workersAI(open, MODEL) });
  const stream = streaming.stream("hi", "carol");
  for await (const ev of stream) if (ev.type === "text-delta") break;
  await assert.rejects(stream.result, { code: "aborted" });
  await eventually(() => cancelled, "the binding's stream was cancelled");
  assert.equal(streaming.size("carol"), 0);
});

test("workersAI refuses a missing binding, a bad model id and bad options with invalid_config", () => {
  const isConfig = (field) => (e) => e instanceof t.TenantryError && e.code === "invalid_config" && e.details.field === field;
  const ok = { run: async () => ({ response: "" }) };
  const bindings = [undefined, null, "AI", 42, {}, { run: "run" }, { get run() { throw new Error("trap"); } }, new Proxy({}, { get() { throw new Error("trap"); } })];
  for (const [i, bad] of bindings.entries()) assert.throws(() => t.workersAI(bad, MODEL), isConfig("binding"), `binding ${i}`);
  for (const bad of [undefined, "", "   ", 42, "\ud800bad", ["@cf/x"], { toString: () => MODEL }, "@cf/x\n"]) {
    assert.throws(() => t.workersAI(ok, bad), isConfig("model"), String(bad));
  }
  assert.throws(() => t.workersAI(ok, MODEL, { stream: true }), isConfig("options.stream"));
  assert.throws(() => t.workersAI(ok, MODEL, "fast"), isConfig("options"));
  assert.throws(() => t.workersAI(ok, MODEL, { inputs: { messages: [] } }), isConfig("options.inputs.messages"));
  assert.throws(() => t.workersAI(ok, MODEL, { inputs: { max_tokens: 5 } }), isConfig("options.inputs.max_tokens"));
  assert.throws(() => t.workersAI(ok, MODEL, { inputs: [1] }), isConfig("options.inputs"));
  assert.throws(() => t.workersAI(ok, MODEL, { inputs: { temperature: NaN } }), (e) => e.code === "invalid_config");
  assert.throws(() => t.workersAI(ok, MODEL, { inputs: { seed: 1n } }), (e) => e.code === "invalid_config");
  assert.throws(() => t.workersAI(ok, MODEL, { gateway: "gw" }), isConfig("options.gateway"));
  assert.equal(typeof t.workersAI(ok, MODEL), "function");
});

test("hostile bindings fail the run with a typed error, commit nothing, and leave other users' runs alone", async () => {
  const stream = (parts) =>
    new ReadableStream({
      start(c) {
        for (const p of parts) c.enqueue(typeof p === "string" ? new TextEncoder().encode(p) : p);
        c.close();
      },
    });
  let flips = 0;
  const cases = [
    ["run throws", { run() { throw new TypeError("binding broke"); } }, { code: "model_error", message: /binding broke/ }],
    ["run rejects", { run: async () => { throw new Error("network lost"); } }, { code: "model_error", message: /network lost/ }],
    [
      "run rejects as the binding does for the service's errors",
      { run: async () => { const e = new Error("5007: No such model"); e.name = "InferenceUpstreamError"; throw e; } },
      { code: "model_http", message: /5007/ },
    ],
    ["run rejects with a non-Error", { run: () => Promise.reject(Symbol("s")) }, { code: "model_error" }],
    ["run stops being a function", { get run() { return flips++ === 0 ? async () => ({}) : undefined; } }, { code: "model_error", message: /not a function/ }],
    ["run's getter throws at call time", { get run() { if (flips++ > 0) throw new Error("trap"); return async () => ({}); } }, { code: "model_error", message: /trap/ }],
    ["resolves to a number", { run: async () => 42 }, { code: "model_malformed" }],
    ["resolves to null", { run: async () => null }, { code: "model_malformed" }],
    ["resolves to a string", { run: async () => "hello" }, { code: "model_malformed" }],
    ["resolves to an empty object", { run: async () => ({}) }, { code: "model_malformed" }],
    // Resolving a promise with it reads `then`, so the promise itself rejects.
    ["resolves to a Proxy whose traps throw", { run: async () => new Proxy({}, { get() { throw new Error("trap"); } }) }, { code: "model_error", message: /trap/ }],
    [
      "resolves to a Proxy whose traps throw past `then`",
      { run: async () => new Proxy({}, { get(_, k) { if (k === "then") return undefined; throw new Error("trap"); }, ownKeys() { throw new Error("trap"); } }) },
      { code: "model_malformed", message: /trap/ },
    ],
    ["a throwing getter in the answer", { run: async () => ({ get response() { throw new Error("getter"); } }) }, { code: "model_malformed" }],
    ["a cyclic answer", { run: async () => { const o = { response: "x" }; o.self = o; return o; } }, { code: "model_malformed" }],
    ["a BigInt in the answer", { run: async () => ({ response: "x", usage: { prompt_tokens: 3n } }) }, { code: "model_malformed" }],
    ["NaN usage", { run: async () => ({ response: "x", usage: { prompt_tokens: NaN, completion_tokens: 1 } }) }, { code: "model_malformed" }],
    ["negative usage", { run: async () => ({ response: "x", usage: { prompt_tokens: 5, completion_tokens: -1 } }) }, { code: "model_malformed" }],
    ["Infinity usage", { run: async () => ({ response: "x", usage: { prompt_tokens: Infinity } }) }, { code: "model_malformed" }],
    ["a lone surrogate", { run: async () => ({ response: "\ud800" }) }, { code: "model_malformed" }],
    [
      "a stream that errors part-way",
      {
        run: async () =>
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode('data: {"response":"Partial"}\n\n'));
            },
            pull(c) {
              c.error(new Error("connection reset"));
            },
          }),
      },
      { code: "model_error", message: /connection reset/ },
    ],
    ["a stream of strings, not bytes", { run: async () => new ReadableStream({ start(c) { c.enqueue("data: {}\n\n"); c.close(); } }) }, { code: "model_malformed" }],
    ["a stream of garbage", { run: async () => stream(["data: {not json\n\n", "data: [DONE]\n\n"]) }, { code: "model_malformed" }],
    ["a stream cut off before [DONE]", { run: async () => stream(['data: {"response":"Hel"}\n\n']) }, { code: "model_malformed" }],
    ["a stream with negative usage", { run: async () => stream(['data: {"response":"x","usage":{"prompt_tokens":-4}}\n\n', "data: [DONE]\n\n"]) }, { code: "model_malformed" }],
    ["a stream whose getReader throws", { run: async () => ({ getReader() { throw new Error("no reader"); } }) }, { code: "model_error", message: /no reader/ }],
    ["a stream whose reader is not one", { run: async () => ({ getReader: () => ({}) }) }, { code: "model_malformed" }],
  ];
  for (const [what, ai, expected] of cases) {
    flips = 0; // the getters below count reads: workersAI() reads `run` once, each call again
    const agent = new t.Agent({ model: t.workersAI(ai, MODEL) });
    const good = new t.Agent({ model: t.workersAI(binding(() => ({ response: "fine" })), MODEL) });
    for (const streaming of [false, true]) {
      const attempt = streaming ? runOf(agent.stream("hi", "alice")) : agent.run("hi", "alice");
      const [bad, fine] = await Promise.allSettled([attempt, good.run("hi", "bob")]);
      assert.equal(bad.status, "rejected", `${what} (stream: ${streaming})`);
      const e = bad.reason;
      assert.ok(e instanceof t.TenantryError, `${what}: ${e}`);
      assert.equal(e.code, expected.code, `${what} (stream: ${streaming}): ${e.message}`);
      if (expected.message) assert.match(e.message, expected.message, what);
      assert.equal(agent.size("alice"), 0, `${what}: nothing committed`);
      assert.equal(fine.status, "fulfilled", `${what}: bob's run`);
    }
  }
});

/** The result of a stream, read to its end. */
async function runOf(stream) {
  await drain(stream).catch(() => {});
  return stream.result;
}
