// POST /v1/chat under workerd, against a fake OpenAI-compatible provider (Miniflare's
// outbound service) that streams its answer with pauses: the reply reaches the client in
// pieces, as it is produced, one SSE message per run event.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { OPENAI_BINDINGS, call, fakeOpenAI, sseEvents, start } from "./support.mjs";

const PIECES = ["One ", "piece ", "at ", "a ", "time."];
const GAP_MS = 150;
let worker;
const seen = [];

before(async () => {
  worker = await start("stream", { bindings: OPENAI_BINDINGS, outboundService: fakeOpenAI({ pieces: PIECES, gapMs: GAP_MS, seen }) });
});

after(async () => {
  await worker?.dispose();
});

/** The response body as it arrives: each chunk with the time it came. */
async function readChunks(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const chunks = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return chunks;
    chunks.push({ at: performance.now(), text: decoder.decode(value, { stream: true }) });
  }
}

test("POST /v1/chat streams the reply as SSE, piece by piece as the model produces it", async () => {
  const t0 = performance.now();
  const res = await fetch(`${worker.origin}/v1/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tenant_id: "streamer", message: "tell me slowly", session_id: "s1" }),
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  assert.equal(res.headers.get("x-tenantry-auth"), "open");
  const chunks = await readChunks(res);
  const total = performance.now() - t0;

  assert.ok(chunks.length > 1, `the body arrived in ${chunks.length} chunk(s)`);
  // The first text reached the client long before the model had finished.
  const firstDelta = chunks.find((c) => c.text.includes("event: text-delta"));
  assert.ok(firstDelta.at - t0 < total - 3 * GAP_MS, "the first piece waited for the whole answer");

  const text = chunks.map((c) => c.text).join("");
  const events = sseEvents(text);
  assert.deepEqual(events.map((e) => e.type), [...PIECES.map(() => "text-delta"), "usage", "finish"]);
  assert.ok(events.every((e) => e.name === e.type), "each SSE message is named by its event type");
  assert.deepEqual(events.filter((e) => e.type === "text-delta").map((e) => e.text), PIECES);
  assert.equal(events.at(-1).text, PIECES.join(""));
  assert.ok(events.every((e) => e.userId === "streamer" && e.sessionId === "s1" && e.runId === events[0].runId));
  assert.ok(!text.includes(OPENAI_BINDINGS.OPENAI_API_KEY));
  assert.equal(seen.at(-1).auth, `Bearer ${OPENAI_BINDINGS.OPENAI_API_KEY}`);

  // The streamed turn was committed to the tenant's own memory, in its session.
  const history = await call(worker.origin, "GET", "/history?user_id=streamer&session_id=s1");
  assert.deepEqual(history.body.history.map((m) => m.content), ["tell me slowly", PIECES.join("")]);
});

test("a client that hangs up mid-stream aborts the run, which keeps nothing", async () => {
  const controller = new AbortController();
  const res = await fetch(`${worker.origin}/v1/chat`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tenant_id: "quitter", message: "start, then I leave" }),
    signal: controller.signal,
  });
  const reader = res.body.getReader();
  const { value } = await reader.read();
  assert.match(new TextDecoder().decode(value), /event: text-delta/);
  controller.abort();
  await reader.cancel().catch(() => {});
  // Well past the time the model would have finished.
  await new Promise((r) => setTimeout(r, GAP_MS * (PIECES.length + 3)));
  const history = await call(worker.origin, "GET", "/agent/history/quitter");
  assert.equal(history.status, 404, `kept: ${history.text}`);
});
