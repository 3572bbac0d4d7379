// The HTTP model path: tenantry's openai() client driving one shared Agent, beside the
// Vercel AI SDK's openai-compatible provider (streamText), against the same local stub with
// a 1 ms response delay, at concurrency 8 and 32, and two floors in plain JS: a streaming
// one (the same SSE request, every `data:` line parsed) and a non-streaming one (one JSON
// body). Reported as runs/s, as a fraction of the ideal (concurrency / delay), and peak RSS;
// each cell the best of three rounds, the middle one in reverse order. Same process, same
// stub, same requests.
//
//   npm run bench        BENCH_HTTP_RUNS=4000 node bench/http.mjs
import { fork } from "node:child_process";
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { generateText, streamText } from "ai";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { Agent, openai } from "../pkg/node.js";

const RUNS = Number(process.env.BENCH_HTTP_RUNS ?? 2000);
const DELAY_MS = 1;

const stub = fork(new URL("./stub-server.mjs", import.meta.url), [], { env: { ...process.env, DELAY_MS: String(DELAY_MS) }, stdio: ["ignore", "pipe", "inherit", "ipc"] });
const [portLine] = await once(stub.stdout, "data");
const baseURL = `http://127.0.0.1:${String(portLine).trim()}/v1`;

function contenders() {
  const agent = new Agent({ instructions: "Be brief.", model: openai({ baseUrl: baseURL, apiKey: "k", model: "stub", maxRetries: 0 }) });
  const provider = createOpenAICompatible({ name: "stub", baseURL, apiKey: "k", includeUsage: true });
  return {
    tenantry: async (i) => (await agent.run(`question ${i}`, `user-${i % 1000}`)).text,
    "AI SDK streamText": async (i) => {
      const r = streamText({ model: provider("stub"), system: "Be brief.", prompt: `question ${i}`, maxRetries: 0 });
      return await r.text;
    },
    // The streaming floor: what tenantry's openai() asks for (stream: true, usage included),
    // read as it arrives, every `data:` line's JSON parsed and its text collected; no memory.
    "plain fetch + SSE": async (i) => {
      const res = await fetch(`${baseURL}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer k" },
        body: JSON.stringify({
          model: "stub",
          messages: [{ role: "system", content: "Be brief." }, { role: "user", content: `question ${i}` }],
          stream: true,
          stream_options: { include_usage: true },
        }),
      });
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffered = "";
      let text = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, end);
          buffered = buffered.slice(end + 1);
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") continue;
          const delta = JSON.parse(data).choices[0]?.delta?.content;
          if (delta) text += delta;
        }
      }
      return text;
    },
    // Calibration: the least any client can do (one fetch, one JSON parse, no memory).
    "plain fetch + JSON": async (i) => {
      const res = await fetch(`${baseURL}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer k" },
        body: JSON.stringify({ model: "stub", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: `question ${i}` }] }),
      });
      return (await res.json()).choices[0].message.content;
    },
    "AI SDK generateText": async (i) =>
      (await generateText({ model: provider("stub"), system: "Be brief.", prompt: `question ${i}`, maxRetries: 0 })).text,
  };
}

async function measure(run, concurrency) {
  let next = 0;
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < RUNS) {
        const i = next++;
        const text = await run(i);
        if (text !== "Hello there!") throw new Error(`unexpected answer ${JSON.stringify(text)}`);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const runsPerSec = RUNS / seconds;
  return { runsPerSec, ofIdeal: runsPerSec / (concurrency * (1000 / DELAY_MS)), peakRssMb: peak / 1048576 };
}

const ROUNDS = 3;
const TARGET = 1.3; // tenantry within 1.3x of the streaming floor's runs/s
const rows = [];
console.log(`HTTP model path: ${RUNS} runs per cell against a local stub with ${DELAY_MS} ms delay, best of ${ROUNDS} rounds`);
console.log("contender             conc    runs/s   of ideal   peak RSS");
for (const concurrency of [8, 32]) {
  const entries = Object.entries(contenders());
  for (const [, run] of entries) await measure(run, concurrency); // warm-up (JIT, connection pool)
  const best = new Map();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of round === 1 ? [...entries].reverse() : entries) {
      const r = await measure(run, concurrency);
      if (!best.has(name) || r.runsPerSec > best.get(name).runsPerSec) best.set(name, r);
    }
  }
  for (const [name] of entries) {
    const r = best.get(name);
    rows.push({ name, concurrency, ...r });
    console.log(`${name.padEnd(20)} ${String(concurrency).padStart(5)} ${r.runsPerSec.toFixed(0).padStart(9)} ${(r.ofIdeal * 100).toFixed(1).padStart(9)}% ${r.peakRssMb.toFixed(0).padStart(7)} MB`);
  }
}
for (const concurrency of [8, 32]) {
  const [a, ...peers] = rows.filter((r) => r.concurrency === concurrency);
  for (const b of peers) console.log(`concurrency ${concurrency}: tenantry (streaming) runs/s = ${(a.runsPerSec / b.runsPerSec).toFixed(2)}x ${b.name}`);
}
const floors = [8, 32].map((concurrency) => {
  const of = (name) => rows.find((r) => r.concurrency === concurrency && r.name === name).runsPerSec;
  const ratio = of("plain fetch + SSE") / of("tenantry");
  console.log(`concurrency ${concurrency}: the streaming floor's runs/s = ${ratio.toFixed(2)}x tenantry's (target: at most ${TARGET}x, ${ratio <= TARGET ? "met" : "not met"})`);
  return { concurrency, streamingFloorOverTenantry: ratio };
});
stub.kill();
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./results/http.json", import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), machine: `${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}`, runs: RUNS, delayMs: DELAY_MS, rounds: ROUNDS, rows, target: TARGET, floors }, null, 2),
);
