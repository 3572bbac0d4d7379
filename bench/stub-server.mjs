// An OpenAI-compatible chat-completions stub for benchmarks: answers every request after
// DELAY_MS with a short SSE stream (or JSON when stream is false). Run as a child process so
// it does not share the benchmark's event loop. Prints its port on stdout.
import { createServer } from "node:http";

const DELAY_MS = Number(process.env.DELAY_MS ?? 1);
const chunk = (c) => `data: ${JSON.stringify(c)}\n\n`;
const SSE =
  chunk({ id: "c", object: "chat.completion.chunk", created: 0, model: "stub", choices: [{ index: 0, delta: { role: "assistant", content: "Hello" } }] }) +
  chunk({ id: "c", object: "chat.completion.chunk", created: 0, model: "stub", choices: [{ index: 0, delta: { content: " there!" } }] }) +
  chunk({ id: "c", object: "chat.completion.chunk", created: 0, model: "stub", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }) +
  chunk({ id: "c", object: "chat.completion.chunk", created: 0, model: "stub", choices: [], usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } }) +
  "data: [DONE]\n\n";

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
    setTimeout(() => {
      res.writeHead(200, { "content-type": stream ? "text/event-stream" : "application/json" });
      res.end(stream ? SSE : JSON_BODY);
    }, DELAY_MS);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.on("disconnect", () => process.exit(0));
