// Memory at tenant scale, side by side with a plain-JS peer in the same process:
//
// 1. Resident bytes per user for USERS users x 10 messages of 100 characters: tenantry's
//    wasm heap growth vs. the V8 heap growth of a Map of per-user arrays holding the same
//    strings. Target: tenantry within 1.5x of the payload bytes.
// 2. The cost of history, recall and forget as the tenant count grows 1k -> 10k -> 100k.
//    Target: flat (the 100k/1k ratio near 1), since each touches one user's data only.
//
//   npm run bench            (builds pkg/ first if needed)
//   BENCH_MEMORY_USERS=20000 node --expose-gc bench/memory.mjs
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import os from "node:os";
import "../pkg/node.js"; // the Node entry, as users load it (it also applies its V8 workaround)
import { initSync, Agent } from "../pkg/tenantry.js";
import { lineChart } from "./plot.mjs";

const USERS = Number(process.env.BENCH_MEMORY_USERS ?? 100_000);
const MESSAGES = 10;
const CHARS = 100;
// Already instantiated by the Node entry: this returns the same instance's exports.
const wasm = initSync({ module: readFileSync(new URL("../pkg/tenantry_bg.wasm", import.meta.url)) });
const gc = globalThis.gc ?? (() => {});
const model = () => ({ text: "ok" });

const WORDS = "invoice refund order shipping account password plan upgrade billing delivery address card".split(" ");
// Deterministic, distinct 100-character messages, with words recall can find.
function message(u, i) {
  let s = `u${u} m${i}`;
  let x = (u * 7919 + i * 104729) >>> 0;
  while (s.length < CHARS) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += " " + WORDS[x % WORDS.length];
  }
  return s.slice(0, CHARS);
}

function userDoc(u) {
  const turns = [];
  for (let i = 0; i < MESSAGES; i += 2) {
    turns.push({ at: 1, messages: [{ role: "user", content: message(u, i) }, { role: "assistant", content: message(u, i + 1) }] });
  }
  return {
    format: "tenantry.user", version: 1, userId: `user-${u}`, exportedAt: 1,
    sessions: [{ userId: `user-${u}`, id: "default", createdAt: 1, lastActivity: 1, turns }],
    blocks: [], properties: {},
  };
}

const mb = (n) => `${(n / 1048576).toFixed(1)} MB`;

async function residentBytes() {
  const payload = USERS * MESSAGES * CHARS;
  const agent = new Agent({ model, memory: { maxUsers: USERS, idleTtlMs: Infinity } });
  const before = wasm.memory.buffer.byteLength;
  const rssBefore = process.memoryUsage().rss;
  const curve = [];
  const checkpoints = new Set([1_000, 3_000, 10_000, 30_000, 100_000, USERS]);
  for (let u = 0; u < USERS; u++) {
    await agent.import(userDoc(u));
    if (u % 10000 === 9999) process.stdout.write(`\r  tenantry: ${u + 1}/${USERS} users`);
    if (checkpoints.has(u + 1)) {
      gc();
      curve.push({ users: u + 1, wasmBytes: wasm.memory.buffer.byteLength - before, rssBytes: process.memoryUsage().rss - rssBefore, payload: (u + 1) * MESSAGES * CHARS });
    }
  }
  const tenantry = wasm.memory.buffer.byteLength - before;
  const stats = agent.stats();
  process.stdout.write("\n");

  gc(); gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const peer = new Map();
  for (let u = 0; u < USERS; u++) {
    const history = [];
    for (let i = 0; i < MESSAGES; i++) history.push({ role: i % 2 ? "assistant" : "user", content: message(u, i) });
    peer.set(`user-${u}`, new Map([["default", history]]));
  }
  gc(); gc();
  const js = process.memoryUsage().heapUsed - heapBefore;
  if (peer.size !== USERS || stats.users !== USERS || stats.messages !== USERS * MESSAGES) throw new Error("bench lost data");
  agent.free();
  return { payload, tenantry, js, approxBytes: stats.approxBytes, curve };
}

function timeOps(agent, n, label, op, count) {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) op((i * 7919) % n);
  return ((performance.now() - t0) * 1000) / count;
}

async function scaling() {
  const rows = [];
  const agent = new Agent({ model, memory: { maxUsers: 200_000, idleTtlMs: Infinity } });
  let have = 0;
  for (const n of [1_000, 10_000, Math.max(USERS, 10_000)]) {
    for (; have < n; have++) await agent.import(userDoc(have));
    let leaks = 0;
    const history = timeOps(agent, n, "history", (u) => agent.history(`user-${u}`).length, 5_000);
    const recall = timeOps(agent, n, "recall", (u) => {
      for (const h of agent.recall(`user-${u}`, "refund invoice", { limit: 3 })) if (!h.content.startsWith(`u${u} `)) leaks++;
    }, 5_000);
    // forget then re-import, so the tenant count stays n.
    const forgot = [];
    const t0 = performance.now();
    for (let i = 0; i < 500; i++) {
      const u = (i * 104729) % n;
      await agent.forget(`user-${u}`);
      forgot.push(u);
    }
    const forget = ((performance.now() - t0) * 1000) / 500;
    for (const u of forgot) if (agent.size(`user-${u}`) === 0) await agent.import(userDoc(u));
    if (leaks) throw new Error(`recall returned ${leaks} messages of other users`);
    rows.push({ users: n, historyUs: history, recallUs: recall, forgetUs: forget });
    console.log(`  ${String(n).padStart(7)} users: history ${history.toFixed(2)} us, recall ${recall.toFixed(2)} us, forget ${forget.toFixed(2)} us`);
  }
  agent.free();
  return rows;
}

console.log(`memory: ${USERS} users x ${MESSAGES} messages of ${CHARS} characters`);
const r = await residentBytes();
const perUser = (b) => `${(b / USERS).toFixed(0)} B/user`;
console.log(`payload              ${mb(r.payload).padStart(10)}  ${perUser(r.payload)}`);
console.log(`tenantry (wasm heap) ${mb(r.tenantry).padStart(10)}  ${perUser(r.tenantry)}  = ${(r.tenantry / r.payload).toFixed(2)}x payload (target <= 1.5x); stats().approxBytes says ${(r.approxBytes / r.payload).toFixed(2)}x`);
console.log(`plain JS Map (V8)    ${mb(r.js).padStart(10)}  ${perUser(r.js)}  = ${(r.js / r.payload).toFixed(2)}x payload${globalThis.gc ? "" : " (run with --expose-gc for a clean figure)"}`);
console.log(`tenantry / JS peer: ${(r.tenantry / r.js).toFixed(2)}x`);
console.log("cost per call as tenants grow (target: flat)");
const rows = await scaling();
const first = rows[0], last = rows.at(-1);
console.log(`  ${last.users}/${first.users} ratio: history ${(last.historyUs / first.historyUs).toFixed(2)}x, recall ${(last.recallUs / first.recallUs).toFixed(2)}x, forget ${(last.forgetUs / first.forgetUs).toFixed(2)}x`);

for (const p of r.curve) console.log(`  ${String(p.users).padStart(7)} users: wasm heap ${(p.wasmBytes / p.users).toFixed(0)} B/user, process RSS ${(p.rssBytes / p.users).toFixed(0)} B/user (payload ${CHARS * MESSAGES} B/user)`);
// BENCH_NO_WRITE=1: a check run (tests/node/v8-workaround.test.mjs), not a measurement.
if (process.env.BENCH_NO_WRITE === "1") process.exit(0);
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./results/memory.svg", import.meta.url),
  lineChart({
    title: `Resident memory per tenant (${MESSAGES} messages of ${CHARS} characters each)`,
    xLabel: "tenants resident",
    yLabel: "MB",
    points: {
      "tenantry wasm heap": r.curve.map((p) => [p.users, p.wasmBytes / 1048576]),
      "process RSS growth": r.curve.map((p) => [p.users, p.rssBytes / 1048576]),
      "payload (the text itself)": r.curve.map((p) => [p.users, p.payload / 1048576]),
    },
  }),
);
writeFileSync(
  new URL("./results/memory.json", import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), machine: `${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}`, users: USERS, resident: r, scaling: rows }, null, 2),
);
