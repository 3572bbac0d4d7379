// An OpenAI-compatible chat-completions stub for benchmarks: answers every request after
// DELAY_MS with JSON, or, for `"stream": true`, as OpenAI streams: `text/event-stream`, one
// `data:` event per chunk each written on its own, the usage chunk (empty choices) only when
// `stream_options.include_usage` asks for it, then `data: [DONE]`. Run as a child process so
// it does not share the benchmark's event loop. Prints its port on stdout.
import { createServer } from "node:http";

const DELAY_MS = Number(process.env.DELAY_MS ?? 1);
const chunk = (c) => `data: ${JSON.stringify(c)}\n\n`;
const EVENTS = [
  chunk({ id: "c", object: "chat.completion.chunk", created: 0, model: "stub", choices: [{ index: 0, delta: { role: "assistant", content: "Hello" }, finish_reason: null }] }),
  chunk({ id: "c", object: "chat.completion.chunk", created: 0, model: "stub", choices: [{ index: 0, delta: { content: " there!" }, finish_reason: null }] }),
  chunk({ id: "c", object: "chat.completion.chunk", created: 0, model: "stub", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }),
];
const USAGE = chunk({ id: "c", object: "chat.completion.chunk", created: 0, model: "stub", choices: [], usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } });
const DONE = "data: [DONE]\n\n";

const JSON_BODY = JSON.stringify({
  id: "c", object: "chat.completion", created: 0, model: "stub",
  choices: [{ index: 0, message: { role: "assistant", content: "Hello there!" }, finish_reason: "stop" }],
  usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
});

const server = createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const stream = body.includes('"stream":true');
    const usage = body.includes('"include_usage":true');
    setTimeout(() => {
      if (!stream) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON_BODY);
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" });
      for (const event of EVENTS) res.write(event);
      if (usage) res.write(USAGE);
      res.end(DONE);
    }, DELAY_MS);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.on("disconnect", () => process.exit(0));
