// Node 20's V8 (11.x) can abort the whole process ("Fatal error: unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation, SIGTRAP) when TurboFan code that inlined a
// JS-to-wasm call is lazily deoptimized. bench/memory.mjs's loop of awaited imports with
// full collections in between hit it between 20,000 and 30,000 users when it loaded
// tenantry without the Node entry: every run while the machine was busy, about one run in
// three under a CPU burner, none when idle (it is a race with V8's background compiler).
// The entry turns that inlining off on V8 11 (0 crashes in every run since). This runs the
// same bench through the entry (40,000 users, nothing written) in a child process, where
// a crash cannot take the test runner down. It guards the workaround; being a race, its
// absence would show as a failure only some of the time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { root } from "../node_support/package.mjs";

test("a hot loop of awaited agent calls survives V8 11's JS-to-wasm inlining", { timeout: 120_000 }, () => {
  const r = spawnSync(process.execPath, ["--expose-gc", join(root, "bench", "memory.mjs")], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, BENCH_MEMORY_USERS: "40000", BENCH_NO_WRITE: "1" },
  });
  assert.equal(r.status, 0, `child died (signal ${r.signal}): ${(r.stdout + r.stderr).slice(-600)}`);
  assert.match(r.stdout, /tenantry \(wasm heap\)/);
});
