// Search latency per mode, and what a stored vector costs, at 1k and 10k messages per user.
//
// One user's history is built through real runs (an instant model, an instant JS embedder
// returning deterministic pseudo-random unit vectors), so every message is embedded and
// stored as a run stores it. Then each mode is timed over the same queries; semantic and
// hybrid include the query's embedder call. Bytes per vector: `stats().approxBytes` with
// vectors minus the same history without, divided by the vectors stored.
//
//   npm run bench            (builds pkg/ first if needed)
//   BENCH_SEARCH_DIMS=1536 node bench/search.mjs
import { mkdirSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import os from "node:os";
import { Agent } from "../pkg/node.js";

const SIZES = (process.env.BENCH_SEARCH_SIZES ?? "1000,10000").split(",").map(Number);
const DIMS = (process.env.BENCH_SEARCH_DIMS ?? "384,1536").split(",").map(Number);
const QUERIES = 30;
const model = ({ messages }) => ({ text: `noted: ${messages.at(-1).content.slice(0, 60)}` });

const WORDS = "invoice refund order shipping account password plan upgrade billing delivery address card kitten flight".split(" ");
function message(i) {
  let s = `m${i}`;
  let x = (i * 104729 + 7) >>> 0;
  while (s.length < 100) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += " " + WORDS[x % WORDS.length];
  }
  return s.slice(0, 100);
}

function vectorOf(text, dims) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  const v = new Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    h = (Math.imul(h, 1103515245) + 12345) >>> 0;
    v[i] = h / 4294967296 - 0.5;
    norm += v[i] * v[i];
  }
  norm = Math.sqrt(norm);
  return v.map((x) => x / norm);
}

async function history(messages, dims) {
  const embedder = dims ? async (texts) => texts.map((t) => vectorOf(t, dims)) : undefined;
  const agent = new Agent({ model, memory: { maxMessagesPerSession: messages, embedder } });
  for (let i = 0; i < messages / 2; i++) await agent.run(message(i), "alice");
  return agent;
}

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timeMode(agent, mode) {
  const times = [];
  for (let q = 0; q < QUERIES; q++) {
    const query = `${WORDS[q % WORDS.length]} ${WORDS[(q * 5) % WORDS.length]} please`;
    const t0 = performance.now();
    const hits = await agent.search("alice", query, { mode, limit: 10 });
    times.push(performance.now() - t0);
    if (hits.length === 0) throw new Error(`${mode}: no hits for ${query}`);
  }
  return median(times);
}

const rows = [];
for (const dims of DIMS) {
  for (const messages of SIZES) {
    const t0 = performance.now();
    const agent = await history(messages, dims);
    const plain = await history(messages, 0);
    const built = performance.now() - t0;
    const vectors = messages; // every input and every answer
    const bytesPerVector = (agent.stats().approxBytes - plain.stats().approxBytes) / vectors;
    const row = { dims, messages, bytesPerVector, lexicalMs: 0, semanticMs: 0, hybridMs: 0 };
    for (const mode of ["lexical", "semantic", "hybrid"]) row[`${mode}Ms`] = await timeMode(agent, mode);
    rows.push(row);
    console.log(
      `${String(dims).padStart(5)} dims, ${String(messages).padStart(6)} messages: ` +
        `lexical ${row.lexicalMs.toFixed(2)} ms, semantic ${row.semanticMs.toFixed(2)} ms, hybrid ${row.hybridMs.toFixed(2)} ms (median of ${QUERIES}); ` +
        `${bytesPerVector.toFixed(0)} B/vector (${4 * dims} B of f32) [built in ${(built / 1000).toFixed(1)} s]`,
    );
    agent.free();
    plain.free();
  }
}

mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./results/search.json", import.meta.url),
  JSON.stringify({ node: process.version, cpu: os.cpus()[0]?.model, queries: QUERIES, rows }, null, 2) + "\n",
);
