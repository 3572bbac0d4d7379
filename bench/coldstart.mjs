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
initSync({ module: readFileSync(${JSON.stringify(join(pkg, "tenantry_bg.wasm"))}) });
const t2 = performance.now();
const agent = new Agent({ model: demoModel() });
const t3 = performance.now();
console.log(JSON.stringify({ importMs: t1 - t0, instantiateMs: t2 - t1, agentMs: t3 - t2, totalMs: t3 - t0 }));
`;
const node = [];
for (let i = 0; i < SAMPLES; i++) {
  process.stdout.write(`\r  node cold start ${i + 1}/${SAMPLES}`);
  node.push(JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", child], { encoding: "utf8" })));
}
process.stdout.write("\r" + " ".repeat(40) + "\r");
const nodeMs = Object.fromEntries(["importMs", "instantiateMs", "agentMs", "totalMs"].map((k) => [k, median(node.map((s) => s[k]))]));

// workerd: the same Worker with and without tenantry; the difference is tenantry's cost.
async function workerStart(withTenantry, outdir) {
  const src = withTenantry
    ? `import { Agent, demoModel } from "tenantry"; export default { async fetch() { const a = new Agent({ model: demoModel() }); return new Response((await a.run("hi", "u")).text); } };`
    : `export default { async fetch() { return new Response("hi"); } };`;
  writeFileSync(join(outdir, "entry.js"), src);
  await build({ entryPoints: [join(outdir, "entry.js")], outfile: join(outdir, "index.js"), bundle: true, format: "esm", platform: "neutral", conditions: ["workerd", "worker", "browser"], mainFields: ["module", "main"], nodePaths: [localModulesDir()], loader: { ".wasm": "copy" }, logLevel: "warning", allowOverwrite: true });
  const t0 = performance.now();
  const mf = new Miniflare({ scriptPath: join(outdir, "index.js"), modules: true, modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }], compatibilityDate: "2026-04-01", host: "127.0.0.1", port: 0 });
  const url = await mf.ready;
  await (await fetch(url)).text();
  const ms = performance.now() - t0;
  await mf.dispose();
  return ms;
}
const outdir = join(root, "target", "bench-coldstart");
mkdirSync(outdir, { recursive: true });
const withT = [], without = [];
for (let i = 0; i < 5; i++) {
  process.stdout.write(`\r  workerd cold start ${i + 1}/5`);
  without.push(await workerStart(false, outdir));
  withT.push(await workerStart(true, outdir));
}
process.stdout.write("\r" + " ".repeat(40) + "\r");
const workerdMs = median(withT) - median(without);

const kb = (n) => n / 1024;
const wasm = readFileSync(join(pkg, "tenantry_bg.wasm"));
const glue = readFileSync(join(pkg, "tenantry.js"));
const size = { wasmKb: kb(wasm.length), wasmGzKb: kb(gzipSync(wasm, { level: 9 }).length), glueKb: kb(glue.length), glueGzKb: kb(gzipSync(glue, { level: 9 }).length) };

const f = (n) => n.toFixed(1);
console.log("cold start and size");
console.log(`  node: import glue ${f(nodeMs.importMs)} ms + compile/instantiate wasm ${f(nodeMs.instantiateMs)} ms + new Agent ${f(nodeMs.agentMs)} ms = ${f(nodeMs.totalMs)} ms (median of ${SAMPLES} processes; target < 5 ms for instantiate + Agent: ${f(nodeMs.instantiateMs + nodeMs.agentMs)} ms)`);
console.log(`  workerd: +${f(workerdMs)} ms to first answer vs the same Worker without tenantry (median of 5 starts: ${f(median(withT))} vs ${f(median(without))} ms)`);
console.log(`  size: .wasm ${f(size.wasmKb)} KB (${f(size.wasmGzKb)} KB gzipped, target < 250), glue ${f(size.glueKb)} KB (${f(size.glueGzKb)} KB gzipped)`);
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./results/coldstart.json", import.meta.url),
  JSON.stringify({ date: new Date().toISOString(), machine: `${os.cpus()[0]?.model} x${os.cpus().length}, node ${process.version}`, node: nodeMs, workerd: { deltaMs: workerdMs, withMs: median(withT), withoutMs: median(without) }, size }, null, 2),
);
