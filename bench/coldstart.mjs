// Cold start and size: how long until a fresh process (Node) or isolate (workerd) has an
// Agent, and what the package weighs on the wire.
//   - Node: a new process per sample; compile + instantiate the .wasm and construct an
//     Agent, timed inside the child (median of the samples).
//   - workerd: Miniflare started on a Worker that imports tenantry and answers its first
//     request with a fresh Agent's run, minus the same for a Worker without tenantry
//     (workerd freezes timers during execution, so it is timed from outside).
//   - Size: raw and gzipped .wasm and JS glue. Targets: under 5 ms; under 250 KB gzipped.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { gzipSync } from "node:zlib";
import { join } from "node:path";
import os from "node:os";
import { Miniflare } from "miniflare";
import { build } from "esbuild";
import { localModulesDir, root } from "../scripts/worker.mjs";

const SAMPLES = Number(process.env.BENCH_COLD_SAMPLES ?? 15);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pkg = join(root, "pkg");

// Node: each sample in a new process, so nothing is cached.
const child = `
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
const t0 = performance.now();
const { initSync, Agent, demoModel } = await import(${JSON.stringify(join(pkg, "tenantry.js"))});
const t1 = performance.now();
const bytes = readFileSync(${JSON.stringify(join(pkg, "tenantry_bg.wasm"))});
const tr = performance.now();
const module = new WebAssembly.Module(bytes);
const tc = performance.now();
initSync({ module });
const t2 = performance.now();
const agent = new Agent({ model: demoModel() });
const t3 = performance.now();
await agent.run("hi", "u");
const t4 = performance.now();
console.log(JSON.stringify({ importMs: t1 - t0, readMs: tr - t1, compileMs: tc - tr, instantiateMs: t2 - t1, agentMs: t3 - t2, firstRunMs: t4 - t3, totalMs: t3 - t0 }));
`;
const node = [];
for (let i = 0; i < SAMPLES; i++) {
  process.stdout.write(`\r  node cold start ${i + 1}/${SAMPLES}`);
  node.push(JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", child], { encoding: "utf8" })));
}
process.stdout.write("\r" + " ".repeat(40) + "\r");
const nodeMs = Object.fromEntries(["importMs", "readMs", "compileMs", "instantiateMs", "agentMs", "firstRunMs", "totalMs"].map((k) => [k, median(node.map((s) => s[k]))]));

// workerd: the same Worker with and without tenantry; the difference is tenantry's cost.
// Three Workers with tenantry split it: one that only loads the module (the glue imported
// and the .wasm instantiated, as the bundle does at startup), one that also builds an
// Agent on the first request, and one that also runs it.
const WORKERS = {
  none: `export default { async fetch() { return new Response("hi"); } };`,
  load: `import { Agent } from "tenantry"; export default { async fetch() { return new Response(typeof Agent); } };`,
  construct: `import { Agent, demoModel } from "tenantry"; export default { async fetch() { const a = new Agent({ model: demoModel() }); return new Response(typeof a); } };`,
  run: `import { Agent, demoModel } from "tenantry"; export default { async fetch() { const a = new Agent({ model: demoModel() }); return new Response((await a.run("hi", "u")).text); } };`,
};
async function workerStart(kind, outdir) {
  writeFileSync(join(outdir, "entry.js"), WORKERS[kind]);
  await build({ entryPoints: [join(outdir, "entry.js")], outfile: join(outdir, "index.js"), bundle: true, format: "esm", platform: "neutral", conditions: ["workerd", "worker", "browser"], mainFields: ["module", "main"], nodePaths: [localModulesDir()], loader: { ".wasm": "copy" }, logLevel: "warning", allowOverwrite: true });
  const t0 = performance.now();
  const mf = new Miniflare({ scriptPath: join(outdir, "index.js"), modules: true, modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }], compatibilityDate: "2026-04-01", host: "127.0.0.1", port: 0 });
  const url = await mf.ready;
  const ready = performance.now();
  await (await fetch(url)).text();
  const done = performance.now();
  await mf.dispose();
  return { startMs: ready - t0, firstMs: done - ready, totalMs: done - t0 };
}
const outdir = join(root, "target", "bench-coldstart");
mkdirSync(outdir, { recursive: true });
const starts = Object.fromEntries(Object.keys(WORKERS).map((k) => [k, []]));
const ROUNDS = Number(process.env.BENCH_COLD_WORKERD ?? 5);
for (let i = 0; i < ROUNDS; i++) {
  process.stdout.write(`\r  workerd cold start ${i + 1}/${ROUNDS}`);
  // Alternated, so that machine noise falls on every variant alike.
  for (const kind of Object.keys(WORKERS)) starts[kind].push(await workerStart(kind, outdir));
}
process.stdout.write("\r" + " ".repeat(40) + "\r");
const med = (kind, k) => median(starts[kind].map((s) => s[k]));
const withT = starts.run.map((s) => s.totalMs);
const without = starts.none.map((s) => s.totalMs);
const workerdMs = median(withT) - median(without);
const workerd = Object.fromEntries(Object.keys(WORKERS).map((kind) => [kind, { startMs: med(kind, "startMs"), firstMs: med(kind, "firstMs"), totalMs: med(kind, "totalMs") }]));

const kb = (n) => n / 1024;
const wasm = readFileSync(join(pkg, "tenantry_bg.wasm"));
const glue = readFileSync(join(pkg, "tenantry.js"));
const size = { wasmKb: kb(wasm.length), wasmGzKb: kb(gzipSync(wasm, { level: 9 }).length), glueKb: kb(glue.length), glueGzKb: kb(gzipSync(glue, { level: 9 }).length) };

const f = (n) => n.toFixed(1);
console.log("cold start and size");
console.log(`  node: import glue ${f(nodeMs.importMs)} ms + compile/instantiate wasm ${f(nodeMs.instantiateMs)} ms (read ${f(nodeMs.readMs)}, compile ${f(nodeMs.compileMs)}) + new Agent ${f(nodeMs.agentMs)} ms = ${f(nodeMs.totalMs)} ms; first run ${f(nodeMs.firstRunMs)} ms (median of ${SAMPLES} processes; target < 5 ms for instantiate + Agent: ${f(nodeMs.instantiateMs + nodeMs.agentMs)} ms)`);
console.log(`  workerd: +${f(workerdMs)} ms to first answer vs the same Worker without tenantry (median of ${ROUNDS} starts: ${f(median(withT))} vs ${f(median(without))} ms)`);
for (const [kind, w] of Object.entries(workerd)) console.log(`    ${kind.padEnd(9)} start ${f(w.startMs)} ms, first answer ${f(w.firstMs)} ms later, ${f(w.totalMs)} ms in all`);
console.log(`  size: .wasm ${f(size.wasmKb)} KB (${f(size.wasmGzKb)} KB gzipped, target < 250), glue ${f(size.glueKb)} KB (${f(size.glueGzKb)} KB gzipped)`);
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./results/coldstart.json", import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), machine: `${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}`, node: nodeMs, workerd: { deltaMs: workerdMs, withMs: median(withT), withoutMs: median(without), variants: workerd }, size }, null, 2),
);
