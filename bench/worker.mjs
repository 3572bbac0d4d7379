// The demo Worker end to end under workerd (Miniflare) on loopback: POST /agent/interact
// across 100 tenants (100 Durable Objects, each persisting every turn to its storage on
// disk) with the offline demo model, at a fixed concurrency. Reports requests/s and p50/p99
// latency as seen by the client. Bounded in requests and in time.
//
//   npm run bench
//   BENCH_WORKER_REQUESTS=5000 BENCH_WORKER_CONCURRENCY=32 BENCH_WORKER_TENANTS=100 \
//   BENCH_WORKER_SECONDS=120 BENCH_WORKER_PERSIST=0 node bench/worker.mjs
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

const state = join(root, "target", "bench-worker-state");
rmSync(state, { recursive: true, force: true });
const scriptPath = await bundleWorker({ modulesDir: localModulesDir(), outdir: join(root, "target", "bench-worker-dist") });
const { mf, url } = await startWorker({
  scriptPath,
  port: 0, // loopback (startWorker binds 127.0.0.1), any free port
  // The limiter still runs on every request; it is set high so that it never refuses one.
  bindings: { RATE_LIMIT_REQUESTS: "1000000", TENANT_DAILY_TOKENS: "none" },
  persist: PERSIST ? state : undefined,
});

const tenant = (i) => `tenant-${String(i % TENANTS).padStart(3, "0")}`;
// Every tenant introduces itself, then asks: answers depend on each one's own memory.
const message = (i) => (i < TENANTS ? `My name is T${i % TENANTS}` : "What's my name?");

async function interact(i) {
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

async function load(count, offset) {
  const latencies = [];
  const deadline = performance.now() + SECONDS * 1000;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count && performance.now() < deadline) latencies.push(await interact(offset + next++));
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, latencies };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

try {
  // Warm-up: each tenant's object created and introduced (and the JIT warm), not measured.
  for (let i = 0; i < TENANTS; i++) await interact(i);
  const { seconds, latencies } = await load(REQUESTS, TENANTS);
  latencies.sort((a, b) => a - b);
  const row = {
    requests: latencies.length,
    concurrency: CONCURRENCY,
    tenants: TENANTS,
    persisted: PERSIST,
    requestsPerSec: latencies.length / seconds,
    p50Ms: pct(latencies, 50),
    p99Ms: pct(latencies, 99),
    maxMs: latencies.at(-1),
  };
  console.log(`Worker POST /agent/interact: ${row.requests} requests, ${TENANTS} tenants (Durable Objects${PERSIST ? ", storage on disk" : ", storage in memory"}), concurrency ${CONCURRENCY}, demo model, loopback`);
  console.log(`  ${row.requestsPerSec.toFixed(0)} requests/s   p50 ${row.p50Ms.toFixed(2)} ms   p99 ${row.p99Ms.toFixed(2)} ms   max ${row.maxMs.toFixed(1)} ms`);
  if (row.requests < REQUESTS) console.log(`  (stopped at the ${SECONDS} s bound after ${row.requests} of ${REQUESTS})`);
  // Under target/ (not bench/results/): a local measurement, not a committed baseline.
  mkdirSync(join(root, "target", "bench"), { recursive: true });
  writeFileSync(
    join(root, "target", "bench", "worker.json"),
    JSON.stringify({ date: new Date().toISOString(), machine: `${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}`, ...row }, null, 2),
  );
} finally {
  await mf.dispose();
  rmSync(state, { recursive: true, force: true });
}
