// Framework overhead per run, side by side in one process: tenantry (one shared Agent,
// wasm) vs a plain-JS baseline that does the same per-user bookkeeping by hand (a Map of
// histories, the same prompt assembly, the same instant model). The model is instant so
// what is measured is the framework, not the model. Issue 10 adds the Vercel AI SDK peer.
//
//   npm run bench            (builds pkg/ first if needed)
//   BENCH_USERS=500 BENCH_TURNS=5 node bench/run.mjs
import { performance } from "node:perf_hooks";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { Agent } from "../pkg/node.js";

const USERS = Number(process.env.BENCH_USERS ?? 500);
const TURNS = Number(process.env.BENCH_TURNS ?? 5);
const ROUNDS = 3;

// The same instant model for both contenders.
const model = (req) => ({
  text: `ok ${req.messages.length}`,
  usage: { inputTokens: req.messages.length * 8, outputTokens: 2 },
});

function baseline() {
  const histories = new Map();
  return async (input, userId, sessionId = "default") => {
    const key = JSON.stringify([userId, sessionId]);
    const history = histories.get(key) ?? [];
    const messages = [{ role: "system", content: "Be brief." }, ...history, { role: "user", content: input }];
    const res = await model({ messages, tools: [], maxOutputTokens: 1024, userId, sessionId, runId: "r" });
    history.push({ role: "user", content: input }, { role: "assistant", content: res.text });
    while (history.length > 100) history.splice(0, 2);
    histories.set(key, history);
    return res;
  };
}

function tenantry() {
  const agent = new Agent({ instructions: "Be brief.", model });
  return (input, userId) => agent.run(input, userId);
}

// The same, with a per-user and a global budget and a rate limit that never bind: what
// the reserve/settle/rate checks cost per run.
function tenantryBudgeted() {
  const agent = new Agent({
    instructions: "Be brief.",
    model,
    budget: {
      perUser: [{ maxTotalTokens: 1e12, window: "day" }, { maxRequests: 1e9, window: "minute" }],
      global: { maxTotalTokens: 1e15, window: "hour" },
    },
    rateLimit: { perUser: { requests: 1e9, perMs: 1000 } },
  });
  return (input, userId) => agent.run(input, userId);
}

// Each turn: every user sends one message concurrently (the shape of a busy shared agent).
async function measure(makeRun) {
  const run = makeRun();
  const latencies = [];
  const t0 = performance.now();
  for (let turn = 0; turn < TURNS; turn++) {
    await Promise.all(
      Array.from({ length: USERS }, async (_, u) => {
        const s = performance.now();
        await run(`message ${turn} from user ${u}`, `user-${u}`);
        latencies.push(performance.now() - s);
      }),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const runs = USERS * TURNS;
  return {
    runs,
    runsPerSec: runs / seconds,
    usPerRun: (seconds * 1e6) / runs,
    p50ms: latencies[Math.floor(runs * 0.5)],
    p99ms: latencies[Math.floor(runs * 0.99)],
  };
}

const best = async (f) => {
  let r;
  for (let i = 0; i < ROUNDS; i++) {
    const m = await measure(f);
    if (!r || m.runsPerSec > r.runsPerSec) r = m;
  }
  return r;
};

const t = await best(tenantry);
const tb = await best(tenantryBudgeted);
const b = await best(baseline);
const fmt = (n, d = 1) => n.toFixed(d);
console.log(`framework overhead, ${USERS} users x ${TURNS} turns, best of ${ROUNDS}`);
console.log("contender        runs/s    us/run   p50 ms   p99 ms");
for (const [name, r] of [["tenantry", t], ["+ budgets", tb], ["plain JS Map", b]]) {
  console.log(`${name.padEnd(14)} ${fmt(r.runsPerSec, 0).padStart(8)} ${fmt(r.usPerRun).padStart(9)} ${fmt(r.p50ms, 2).padStart(8)} ${fmt(r.p99ms, 2).padStart(8)}`);
}
const ratio = t.usPerRun / b.usPerRun;
console.log(`tenantry costs ${fmt(ratio, 2)}x the hand-written baseline per run`);
console.log(`budget and rate-limit checks add ${fmt(tb.usPerRun - t.usPerRun, 2)} us per run (${fmt(tb.usPerRun / t.usPerRun, 2)}x)`);
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./results/overhead.json", import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), machine: `${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}`, users: USERS, turns: TURNS, tenantry: t, tenantryBudgeted: tb, baseline: b, ratio, budgetOverheadUs: tb.usPerRun - t.usPerRun }, null, 2),
);
