// Inputs of parts through the packed package: what a model function receives, what
// openai() and anthropic() send (against a local node:http server, checking the request
// body), what memory keeps, and how bad parts are refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { installedPackage } from "../node_support/package.mjs";

let t;
let server;
let base;
const bodies = [];

before(async () => {
  const { project } = installedPackage();
  writeFileSync(join(project, "reexport.mjs"), 'export * from "tenantry";\n');
  t = await import(pathToFileURL(join(project, "reexport.mjs")).href);
  server = createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    bodies.push(JSON.parse(body));
    res.writeHead(200, { "content-type": "application/json" });
    const reply = req.url.endsWith("/messages")
      ? { type: "message", content: [{ type: "text", text: "a pixel" }], stop_reason: "end_turn", usage: { input_tokens: 1200, output_tokens: 3 } }
      : { choices: [{ index: 0, message: { role: "assistant", content: "a pixel" }, finish_reason: "stop" }], usage: { prompt_tokens: 1200, completion_tokens: 3 } };
    res.end(JSON.stringify(reply));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}/v1`;
});

after(() => server?.closeAllConnections?.() ?? server?.close());

const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const PDF = Buffer.from("%PDF-1.4 tiny").toString("base64");
const PARTS = [
  { type: "text", text: "What is this?" },
  { type: "image", data: PNG, mediaType: "image/png" },
  { type: "image", url: "https://example.com/cat.png" },
  { type: "file", data: PDF, mediaType: "application/pdf", filename: "a.pdf" },
];

test("a model function receives the parts, and memory keeps them with the turn", async () => {
  const seen = [];
  const model = async (req) => {
    seen.push(req.messages);
    return { text: "ok" };
  };
  const agent = new t.Agent({ model });
  await agent.run(PARTS, "alice", { sessionId: "s" });
  const first = seen[0].at(-1);
  assert.deepEqual(first, { role: "user", content: "What is this?", parts: PARTS });
  await agent.run("and now?", "alice", { sessionId: "s" });
  // The stored message comes back with its parts in the next prompt.
  assert.deepEqual(seen[1].find((m) => m.parts), first);
  assert.deepEqual(agent.history("alice", "s")[0], first);
  const doc = await agent.export("alice");
  const other = new t.Agent({ model });
  await other.import(JSON.parse(JSON.stringify(doc)));
  assert.deepEqual(other.history("alice", "s")[0], first);
  // A stream takes parts as well.
  const text = await agent.stream(PARTS, "bob").text;
  assert.equal(text, "ok");
  assert.deepEqual(seen.at(-1).at(-1).parts, PARTS);
});

test("openai() sends a content array with image_url and file parts", async () => {
  const agent = new t.Agent({ model: t.openai({ baseUrl: base, apiKey: "k", model: "m", stream: false }) });
  const out = await agent.run(PARTS, "carol");
  assert.equal(out.text, "a pixel");
  assert.equal(out.usage.inputTokens, 1200);
  assert.deepEqual(bodies.at(-1).messages.at(-1), {
    role: "user",
    content: [
      { type: "text", text: "What is this?" },
      { type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } },
      { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
      { type: "file", file: { file_data: `data:application/pdf;base64,${PDF}`, filename: "a.pdf" } },
    ],
  });
  const sent = bodies.length;
  const e = await agent.run([{ type: "text", text: "read" }, { type: "file", url: "https://example.com/a.pdf", mediaType: "application/pdf" }], "carol").catch((x) => x);
  assert.equal(e.code, "unsupported");
  assert.equal(bodies.length, sent, "nothing was sent");
  assert.equal(agent.size("carol"), 2);
});

test("anthropic() sends image and document blocks", async () => {
  const agent = new t.Agent({ model: t.anthropic({ baseUrl: base, apiKey: "k", model: "m", stream: false }) });
  await agent.run(PARTS, "dave");
  assert.deepEqual(bodies.at(-1).messages.at(-1), {
    role: "user",
    content: [
      { type: "text", text: "What is this?" },
      { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
      { type: "image", source: { type: "url", url: "https://example.com/cat.png" } },
      { type: "document", title: "a.pdf", source: { type: "base64", media_type: "application/pdf", data: PDF } },
    ],
  });
  const e = await agent.run([{ type: "text", text: "read" }, { type: "file", data: PDF, mediaType: "text/csv" }], "dave").catch((x) => x);
  assert.equal(e.code, "unsupported");
});

test("bad parts are invalid_input, naming the part, and keep nothing", async () => {
  const agent = new t.Agent({ model: async () => ({ text: "ok" }) });
  const cases = [
    [[], "at least one part"],
    [[{ type: "image", data: PNG, mediaType: "image/png" }], "no text"],
    [[{ type: "text", text: "x" }, { type: "image", data: PNG }], "input[1].mediaType"],
    [[{ type: "text", text: "x" }, { type: "image", data: "%%%%", mediaType: "image/png" }], "input[1].data"],
    [[{ type: "text", text: "x" }, { type: "image", url: "ftp://x/a.png" }], "input[1].url"],
    [[{ type: "text", text: "x" }, { type: "video", url: "https://x/a.mp4" }], "input[1].type"],
    [[{ type: "text", text: "x", mediaType: "text/plain" }], "input[0].mediaType"],
    [[{ type: "text", text: 1n }], "input[0].text"],
    [[{ type: "text", text: "x" }, { type: "image", data: "A".repeat(5 << 20), mediaType: "image/png" }], "limit"],
    [new Array(101).fill({ type: "text", text: "x" }), "limit"],
  ];
  for (const [input, why] of cases) {
    const e = await agent.run(input, "erin").catch((x) => x);
    assert.equal(e.code, "invalid_input", `${why}: ${e}`);
    assert.ok(e.message.includes(why), `${why}: ${e.message}`);
  }
  const huge = new Proxy([], { get: (o, k) => (k === "length" ? 1e9 : o[k]) });
  assert.equal((await agent.run(huge, "erin").catch((x) => x)).code, "invalid_input");
  assert.equal(agent.size("erin"), 0);
});
