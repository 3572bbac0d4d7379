// Hostile values at the package's JS boundary (the case list is tests/node/hostile-cases.mjs,
// shared with the Chromium run in browser.test.mjs). Every group runs in child Node
// processes: a case that kills the process, leaves an uncaught exception or an unhandled
// rejection, or hangs, is a failure of that case, and the next case starts in a fresh
// process so that no case fails because of an earlier one's damage. Results of the last
// run are written to target/test-output/hostile-node.json.
//
// This file is also the child: with TENANTRY_HOSTILE_CHILD set it runs cases instead of
// registering tests.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { hostileCases, runHostile, causeOf, HANG_MS } from "./hostile-cases.mjs";

const CHILD = process.env.TENANTRY_HOSTILE_CHILD === "1";

if (CHILD) {
  await child();
} else {
  parent();
}

/** Runs the selected cases from an index, one JSON line per event on stdout. */
async function child() {
  const tenantry = await import(process.env.TENANTRY_HOSTILE_ENTRY);
  const { group, name } = JSON.parse(process.env.TENANTRY_HOSTILE_SELECT);
  const start = Number(process.env.TENANTRY_HOSTILE_START ?? 0);
  const cases = hostileCases(tenantry).filter((c) => (name ? c.name === name : c.group === group));
  const emit = (o) => process.stdout.write(`HOSTILE ${JSON.stringify(o)}\n`);
  const trap = (report) => {
    const onException = (e) => report("uncaught exception", e);
    const onRejection = (e) => report("unhandled rejection", e);
    process.on("uncaughtException", onException);
    process.on("unhandledRejection", onRejection);
    return () => {
      process.off("uncaughtException", onException);
      process.off("unhandledRejection", onRejection);
    };
  };
  // Stays installed after the runner returns: a late exception must not turn a reported
  // result into a crash report.
  process.on("uncaughtException", () => {});
  process.on("unhandledRejection", () => {});
  const { next } = await runHostile(cases, {
    start,
    hangMs: HANG_MS,
    trap,
    onStart: (i, c) => emit({ type: "start", i, name: c.name }),
    onResult: (i, c, r) => emit({ type: "result", i, name: c.name, group: c.group, ...r }),
  });
  emit({ type: next >= cases.length ? "done" : "stopped", next, total: cases.length });
  // Pending timers of a poisoned case must not keep the child alive.
  process.exit(0);
}

function parent() {
  const here = fileURLToPath(import.meta.url);
  let entry;
  const results = [];

  before(async () => {
    const { installedPackage } = await import("../node_support/package.mjs");
    const { project } = installedPackage();
    // A module inside the scratch project, so `tenantry` resolves by name as for a user.
    const file = join(project, "hostile-reexport.mjs");
    writeFileSync(file, 'export * from "tenantry";\n');
    entry = pathToFileURL(file).href;
  });

  after(() => {
    const dir = join(here, "..", "..", "..", "target", "test-output");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "hostile-node.json"), JSON.stringify(results, null, 1));
  });

  /**
   * One child from `start`: its event lines, how it ended, and its stderr. A child that
   * prints nothing for SILENT_MS is killed: a case that starves the event loop (a microtask
   * loop, a synchronous spin) defeats the hang timers inside the process.
   */
  function child(select, start) {
    const SILENT_MS = 90_000;
    const env = { ...process.env, TENANTRY_HOSTILE_CHILD: "1", TENANTRY_HOSTILE_ENTRY: entry, TENANTRY_HOSTILE_SELECT: JSON.stringify(select), TENANTRY_HOSTILE_START: String(start) };
    // The child is a plain script, not a test file of this run.
    delete env.NODE_TEST_CONTEXT;
    return new Promise((resolve) => {
      const proc = spawn(process.execPath, [here], { env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      let silent = false;
      let timer;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          silent = true;
          proc.kill("SIGKILL");
        }, SILENT_MS);
      };
      arm();
      proc.stdout.setEncoding("utf8").on("data", (d) => {
        stdout += d;
        arm();
      });
      proc.stderr.setEncoding("utf8").on("data", (d) => {
        stderr = (stderr + d).slice(-4000);
      });
      proc.on("close", (status, signal) => {
        clearTimeout(timer);
        const events = stdout
          .split("\n")
          .filter((l) => l.startsWith("HOSTILE "))
          .map((l) => JSON.parse(l.slice(8)));
        resolve({ events, status, signal, silent, stderr });
      });
    });
  }

  /** Runs a selection to the end, restarting the child after a crash or a poisoned case. */
  async function runSelection(select) {
    const out = [];
    let start = 0;
    for (let round = 0; round < 5000; round++) {
      const r = await child(select, start);
      const events = r.events;
      let started = null;
      let end = null;
      for (const e of events) {
        if (e.type === "start") started = e;
        else if (e.type === "result") {
          out.push(e);
          started = null;
        } else end = e;
      }
      if (end?.type === "done") return out;
      if (end?.type === "stopped") {
        start = end.next;
        continue;
      }
      // The process died (or was killed) inside a case: that case crashed it.
      const why = r.silent ? "no progress for 90 s: the event loop was starved, killed" : `exit code ${r.status}, signal ${r.signal}`;
      const tail = (r.stderr ?? "").trim().split("\n").slice(-6).join(" | ");
      if (!started) {
        out.push({ type: "result", i: start, name: `(child process before case ${start})`, group: select.group, ok: false, detail: `[crash] ${why}: ${tail}` });
        return out;
      }
      out.push({ type: "result", i: started.i, name: started.name, group: select.group, ok: false, detail: `[crash] the process died in this case (${why}): ${tail}` });
      start = started.i + 1;
    }
    return out;
  }

  /** Failures grouped by cause, each with its case names and first details. */
  function report(list) {
    const failed = list.filter((r) => !r.ok);
    const byCause = new Map();
    for (const r of failed) {
      const c = causeOf(r.detail);
      if (!byCause.has(c)) byCause.set(c, []);
      byCause.get(c).push(r);
    }
    const lines = [`${failed.length} of ${list.length} cases failed`];
    for (const [cause, rs] of [...byCause].sort((a, b) => b[1].length - a[1].length)) {
      lines.push(`  [${cause}] ${rs.length}:`);
      for (const r of rs.slice(0, 25)) lines.push(`    - ${r.name}: ${r.detail.slice(cause.length + 3, cause.length + 3 + 300)}`);
      if (rs.length > 25) lines.push(`    ... and ${rs.length - 25} more (target/test-output/hostile-node.json)`);
    }
    return lines.join("\n");
  }

  // The named regressions, each on its own.
  const REGRESSIONS = [
    "lone surrogate ids are refused, never merged with U+FFFD",
    "a throwing getter in a model answer (text / usage.inputTokens / toolCalls) rejects that run only and the session is not left locked",
    "run() with a Proxy options object whose traps throw rejects (never throws synchronously)",
    "a throwing sessionId getter rejects the run",
    "NaN and other non-numbers as limits are invalid_config, not no cap (50 runs of 2000 tokens vs maxTotalTokens: Number(undefined))",
  ];
  for (const name of REGRESSIONS) {
    test(name, async () => {
      const rs = await runSelection({ name });
      results.push(...rs);
      assert.equal(rs.length, 1, `the case ran once: ${JSON.stringify(rs)}`);
      assert.ok(rs[0].ok, rs[0].detail);
    });
  }

  const GROUPS = [
    ["config", "new Agent(config): every option and nested option, every hostile value"],
    ["restore", "Agent.restore(config, snapshot) rejects bad configs and snapshots, never throws"],
    ["run-args", "run(input, userId, options): hostile arguments reject with a TenantryError"],
    ["stream-args", "stream(input, userId, options): hostile arguments end in one error event and a rejected result"],
    ["chat-args", "streamChat(body, userId, options): every part of a hostile useChat body ends in invalid_input and keeps nothing"],
    ["user-ids", "every method taking a user id refuses hostile ids with invalid_user_id"],
    ["method-args", "history, recall, setBlock, deleteBlock, setProperty: hostile arguments"],
    ["import", "import(doc): hostile documents reject with invalid_import and change nothing"],
    ["verify-audit", "verifyAudit(entries, key): hostile entries and keys"],
    ["model-answers", "hostile model answers settle the run, leave the session usable, and never touch another tenant"],
    ["model-throws", "a model throwing or rejecting with anything rejects with a TenantryError"],
    ["tools", "hostile tool results, cache values, policy and approval answers"],
    ["storage", "hostile storage adapter answers reject with `storage` and never crash"],
    ["sinks", "hostile onEvent, audit sink, planOf and clock answers"],
    ["providers", "openai() / anthropic() options"],
    ["provider-fetch", "openai() / anthropic() with a fetch answering hostile values"],
    ["model-functions", "demoModel() / openai() / anthropic() / workersAI() called with hostile requests; memoryStorage / indexedDbStorage"],
    ["ai-sdk-models", "AI SDK model objects: hostile objects, doGenerate and doStream answers, throws and broken streams"],
    ["workers-ai", "workersAI(): hostile arguments, and bindings answering, throwing and streaming hostile values"],
  ];
  for (const [group, title] of GROUPS) {
    test(`hostile values: ${title}`, async () => {
      const rs = await runSelection({ group });
      results.push(...rs);
      assert.ok(rs.length > 0, "the group has cases");
      const failed = rs.filter((r) => !r.ok);
      assert.equal(failed.length, 0, report(rs));
    });
  }
}
