// workersAI(env.AI, ...) under workerd, through the packed package's `workerd` entry, in a
// Durable Object of a test Worker (workers-ai-worker.js). env.AI is the runtime's own
// Workers AI binding (Miniflare's `ai` binding), which sends each `run` as an HTTP request
// to its inference service; here that service is a double on 127.0.0.1 answering in the
// documented shapes (JSON `{ response, tool_calls, usage }`, SSE for `stream: true`, a JSON
// `errors` body for a refusal). So the binding's own code (how it sends inputs and options,
// returns JSON or the SSE body, throws InferenceUpstreamError, passes `signal` to its fetch)
// is what the package meets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { installedPackage, root } from "../node_support/package.mjs";
import { bundleWorker } from "../../scripts/worker.mjs";

const MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

let mf;
let server;
const requests = []; // what the inference service received: { headers, body, closedEarly }

const sse = (events) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n";

function answer(req, res, record) {
  const { inputs } = record.body;
  const last = inputs.messages.at(-1);
  if (last.content === "hang") return; // until the caller goes away
  if (last.content === "refuse") {
    res.writeHead(400, { "content-type": "application/json" });
    return res.end(JSON.stringify({ success: false, errors: [{ code: 5007, message: "No such model" }] }));
  }
  if (inputs.stream) {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const events = [{ response: "Bon" }, { response: "jour, ça " }, { response: "va ?" }, { response: "", usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 } }];
    return res.end(sse(events));
  }
  res.writeHead(200, { "content-type": "application/json" });
  if (last.content.includes("weather")) {
    return res.end(JSON.stringify({ response: null, tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }], usage: { prompt_tokens: 80, completion_tokens: 20 } }));
  }
  const text = last.role === "tool" ? `It is ${JSON.parse(last.content).temperature} °C.` : `heard ${last.content}`;
  res.end(JSON.stringify({ response: text, usage: { prompt_tokens: 31, completion_tokens: 4, total_tokens: 35 } }));
}

before(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const record = { headers: req.headers, body: JSON.parse(body), closedEarly: false };
      requests.push(record);
      res.on("close", () => {
        if (!res.writableEnded) record.closedEarly = true;
      });
      answer(req, res, record);
    });
  });
  // The binding's client also tries a WebSocket session for RPC methods; only fetch is used.
  server.on("upgrade", (_req, socket) => socket.destroy());
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { modulesDir } = installedPackage();
  const scriptPath = await bundleWorker({
    modulesDir,
    outdir: join(root, "target", "worker-test-workers-ai"),
    entry: join(root, "tests", "worker", "workers-ai-worker.js"),
  });
  mf = new Miniflare({
    scriptPath,
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01",
    bindings: { MODEL },
    durableObjects: { HOST: { className: "Host", useSQLite: true } },
    ai: { binding: "AI", remoteProxyConnectionString: new URL(`http://127.0.0.1:${server.address().port}/`) },
  });
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  server?.close();
});

async function call(method, ...args) {
  const res = await mf.dispatchFetch(`http://worker.test/call/${method}`, { method: "POST", body: JSON.stringify(args) });
  return res.json();
}

async function eventually(check, what) {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), what);
}

test("under workerd: runs, streams, a tool round trip, a refusal and an abort through the runtime's AI binding", async () => {
  // A run: the binding's JSON answer, usage charged and priced by the model id.
  const { value: out } = await call("run", "hello", "alice");
  assert.equal(out.text, "heard hello");
  assert.deepEqual([out.usage.inputTokens, out.usage.outputTokens, out.usage.estimated, out.finishReason], [31, 4, false, "stop"]);
  assert.ok(out.usage.costUsd > 0);
  const sent = requests.at(-1);
  assert.equal(sent.headers["mf-header-cf-consn-model-id"], MODEL);
  assert.deepEqual(sent.body.inputs.messages, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "hello" },
  ]);
  assert.equal(sent.body.inputs.max_tokens, 64);
  assert.equal(sent.body.inputs.tools[0].function.name, "get_weather");
  assert.ok(!JSON.stringify(sent.body).includes("alice"), "nothing names the user");

  // A stream: the binding hands back the SSE body, read as it arrives.
  const { value: streamed } = await call("run", "Salut", "alice", { stream: true });
  assert.equal(requests.at(-1).body.inputs.stream, true);
  assert.equal(streamed.deltas.join(""), "Bonjour, ça va ?");
  assert.deepEqual([streamed.text, streamed.usage.inputTokens, streamed.usage.outputTokens], ["Bonjour, ça va ?", 12, 5]);
  assert.equal(streamed.size, 4);

  // A tool round trip: the traditional call, the result sent back with the call's name.
  const before = requests.length;
  const { value: tool } = await call("run", "weather in Paris?", "bob");
  assert.equal(tool.text, "It is 21 °C.");
  assert.deepEqual([tool.usage.inputTokens, tool.usage.outputTokens], [111, 24]);
  const back = requests[before + 1].body.inputs.messages.at(-1);
  assert.deepEqual([back.role, back.name, JSON.parse(back.content)], ["tool", "get_weather", { city: "Paris", temperature: 21 }]);
  assert.deepEqual((await call("totals", "bob")).value.totalTokens, 135);

  // The service's refusal: the binding throws InferenceUpstreamError; nothing is committed.
  const { value: refused } = await call("run", "refuse", "carol");
  assert.deepEqual([refused.error.code, refused.error.isTenantryError, refused.size], ["model_http", true, 0]);
  assert.match(refused.error.message, /5007: No such model/);

  // An abort: the run rejects at once and the binding's request to the service is closed.
  const pending = call("run", "hang", "dave", { id: "h" });
  await eventually(() => requests.at(-1).body.inputs.messages.at(-1).content === "hang", "the request reached the service");
  const hung = requests.at(-1);
  await call("abort", "h");
  const { value: aborted } = await pending;
  assert.deepEqual([aborted.error.code, aborted.size], ["aborted", 0]);
  await eventually(() => hung.closedEarly, "the aborted inference request was closed");
  // Other users' runs go on.
  assert.equal((await call("run", "still here", "erin")).value.text, "heard still here");
  // A model built at the module's global scope works.
  assert.equal((await call("global", "hi")).value, "global hi");
});

test("the demo Worker answers with Workers AI when it has an AI binding and no API key", async () => {
  const { modulesDir } = installedPackage();
  const scriptPath = await bundleWorker({ modulesDir, outdir: join(root, "target", "worker-test-workers-ai-demo") });
  const demo = new Miniflare({
    scriptPath,
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-04-01",
    durableObjects: { TENANTS: { className: "TenantAgent", useSQLite: true } },
    ai: { binding: "AI", remoteProxyConnectionString: new URL(`http://127.0.0.1:${server.address().port}/`) },
  });
  try {
    await demo.ready;
    const home = await (await demo.dispatchFetch("http://worker.test/")).text();
    assert.match(home, /model: workers-ai/);
    const res = await demo.dispatchFetch("http://worker.test/chat", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user_id: "frank", message: "hi from the demo" }),
    });
    const out = await res.json();
    assert.equal(out.response, "heard hi from the demo");
    assert.deepEqual([out.usage.inputTokens, out.usage.outputTokens], [31, 4]);
    const sent = requests.at(-1);
    // The default model, and the demo's memory tools offered as function tools.
    assert.equal(sent.headers["mf-header-cf-consn-model-id"], "@cf/meta/llama-3.3-70b-instruct-fp8-fast");
    assert.ok(sent.body.inputs.tools.some((tool) => tool.function.name === "memory_remember"));
  } finally {
    await demo.dispose();
  }
});
