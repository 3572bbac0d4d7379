// The demo Worker end to end under workerd (Miniflare) on loopback: POST /agent/interact
// across 100 tenants (100 Durable Objects, each persisting every turn to its storage on
// disk) with the offline demo model, at a fixed concurrency; beside it, in the same run, its
// floor (bench/worker-floor.js): the same routing, Durable Object per tenant and storage
// writes per turn, no agent. Same tenants, requests, concurrency and persistence for both,
// alternated over rounds (the middle one in reverse order), best round of each. Reports
// requests/s and p50/p99 latency as seen by the client, and the floor's requests/s over
// tenantry's. Bounded in requests and in time.
//
//   npm run bench
//   BENCH_WORKER_REQUESTS=5000 BENCH_WORKER_CONCURRENCY=32 BENCH_WORKER_TENANTS=100 \
//   BENCH_WORKER_SECONDS=120 BENCH_WORKER_PERSIST=0 BENCH_WORKER_ROUNDS=3 node bench/worker.mjs
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { bundleWorker, localModulesDir, root, startWorker } from "../scripts/worker.mjs";

const REQUESTS = Number(process.env.BENCH_WORKER_REQUESTS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_WORKER_CONCURRENCY ?? 32);
const TENANTS = Number(process.env.BENCH_WORKER_TENANTS ?? 100);
const SECONDS = Number(process.env.BENCH_WORKER_SECONDS ?? 120);
const PERSIST = process.env.BENCH_WORKER_PERSIST !== "0";
const ROUNDS = Number(process.env.BENCH_WORKER_ROUNDS ?? 3);
const TARGET = 1.5; // tenantry within 1.5x of the floor's requests/s

// The limiter still runs on every request; it is set high so that it never refuses one.
const bindings = { RATE_LIMIT_REQUESTS: "1000000", TENANT_DAILY_TOKENS: "none" };

async function start(name, entry, durableObjects) {
  const state = join(root, "target", `bench-worker-state-${name}`);
  rmSync(state, { recursive: true, force: true });
  const outdir = join(root, "target", `bench-worker-dist-${name}`);
  const scriptPath = await bundleWorker({ modulesDir: localModulesDir(), outdir, ...(entry ? { entry } : {}) });
  const { mf, url } = await startWorker({
    scriptPath,
    port: 0, // loopback (startWorker binds 127.0.0.1), any free port
    bindings,
    persist: PERSIST ? state : undefined,
    ...(durableObjects ? { durableObjects } : {}),
  });
  return { name, mf, url, state };
}

const tenant = (i) => `tenant-${String(i % TENANTS).padStart(3, "0")}`;
// Every tenant introduces itself, then asks: answers depend on each one's own memory.
const message = (i) => (i < TENANTS ? `My name is T${i % TENANTS}` : "What's my name?");

async function interact(url, i) {
  const t0 = performance.now();
  const res = await fetch(`${url.origin}/agent/interact`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tenant_id: tenant(i), message: message(i) }),
  });
  const body = await res.json();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`request ${i}: ${res.status} ${JSON.stringify(body)}`);
  if (i >= TENANTS && body.response !== `Your name is T${i % TENANTS}.`) throw new Error(`request ${i}: tenant ${tenant(i)} got ${JSON.stringify(body.response)}`);
  return ms;
}

async function load(url, count, offset) {
  const latencies = [];
  const deadline = performance.now() + SECONDS * 1000;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count && performance.now() < deadline) latencies.push(await interact(url, offset + next++));
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

function summary({ seconds, latencies }) {
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    requestsPerSec: latencies.length / seconds,
    p50Ms: pct(latencies, 50),
    p99Ms: pct(latencies, 99),
    maxMs: latencies.at(-1),
  };
}

const workers = [];
try {
  workers.push(await start("tenantry"));
  workers.push(await start("floor", join(root, "bench", "worker-floor.js"), { TENANTS: { className: "FloorTenant", useSQLite: true } }));
  // Warm-up: each tenant's object created and introduced (and the JIT warm), not measured.
  for (const w of workers) for (let i = 0; i < TENANTS; i++) await interact(w.url, i);
  const rounds = Object.fromEntries(workers.map((w) => [w.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 1 ? [...workers].reverse() : workers;
    for (const w of order) {
      // Each tenant introduces itself again, not measured: the demo agent keeps 100 messages,
      // so over rounds the first introduction leaves its memory.
      await load(w.url, TENANTS, 0);
      rounds[w.name].push(summary(await load(w.url, REQUESTS, TENANTS)));
    }
  }
  const best = Object.fromEntries(Object.entries(rounds).map(([name, rs]) => [name, rs.reduce((a, b) => (b.requestsPerSec > a.requestsPerSec ? b : a))]));
  const ratio = best.floor.requestsPerSec / best.tenantry.requestsPerSec;
  console.log(`Worker POST /agent/interact: ${REQUESTS} requests per round, best of ${ROUNDS}, ${TENANTS} tenants (Durable Objects${PERSIST ? ", storage on disk" : ", storage in memory"}), concurrency ${CONCURRENCY}, loopback`);
  for (const [name, label] of [["tenantry", "tenantry (demo model)"], ["floor", "floor (no agent)"]]) {
    const r = best[name];
    console.log(`  ${label.padEnd(22)} ${r.requestsPerSec.toFixed(0).padStart(6)} requests/s   p50 ${r.p50Ms.toFixed(2)} ms   p99 ${r.p99Ms.toFixed(2)} ms   max ${r.maxMs.toFixed(1)} ms   (rounds: ${rounds[name].map((x) => x.requestsPerSec.toFixed(0)).join(", ")})`);
    if (r.requests < REQUESTS) console.log(`    (stopped at the ${SECONDS} s bound after ${r.requests} of ${REQUESTS})`);
  }
  console.log(`  the floor's requests/s = ${ratio.toFixed(2)}x tenantry's (target: at most ${TARGET}x, ${ratio <= TARGET ? "met" : "not met"})`);
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  writeFileSync(
    join(root, "bench", "results", "worker.json"),
    JSON.stringify(
      {
        date: new Date().toISOString(),
        machine: `${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}`,
        requests: REQUESTS,
        concurrency: CONCURRENCY,
        tenants: TENANTS,
        persisted: PERSIST,
        rounds: ROUNDS,
        tenantry: best.tenantry,
        floor: best.floor,
        floorOverTenantry: ratio,
        target: TARGET,
        allRounds: rounds,
      },
      null,
      2,
    ) + "\n",
  );
} finally {
  for (const w of workers) {
    await w.mf.dispose();
    rmSync(w.state, { recursive: true, force: true });
  }
}
