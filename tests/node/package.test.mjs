// The packed npm package, installed into a scratch project and imported by its name, as a
// user would: exports, the README example as written, isolation under concurrency, errors,
// aborts, and the shipped types under `tsc --strict`.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, posix } from "node:path";
import { pathToFileURL } from "node:url";
import { installedPackage, packedFiles, root } from "../node_support/package.mjs";
import { codeBlock, expectedOutput } from "../node_support/readme.mjs";

let project;
let tenantry;

before(async () => {
  ({ project } = installedPackage());
  // A module inside the project, so `tenantry` resolves from its node_modules by name.
  writeFileSync(join(project, "reexport.mjs"), 'export * from "tenantry";\n');
  tenantry = await import(pathToFileURL(join(project, "reexport.mjs")).href);
});

function runInProject(file, source) {
  // Each example starts from a clean directory state (the audit example appends a log).
  rmSync(join(project, "audit.jsonl"), { force: true });
  writeFileSync(join(project, file), source);
  return execFileSync(process.execPath, [file], { cwd: project, encoding: "utf8" });
}

test("the tarball holds the package face and nothing else", () => {
  const files = packedFiles();
  for (const f of ["package.json", "README.md", "LICENSE", "index.d.ts", "node.js", "browser.js", "workerd.js", "tenantry.js", "tenantry_bg.wasm"]) {
    assert.ok(files.includes(f), `missing ${f}: ${files}`);
  }
  assert.ok(files.some((f) => f.startsWith("snippets/") && f.endsWith("error.js")), "the TenantryError snippet ships");
  assert.deepEqual(files.filter((f) => /\.(rs|toml|lock)$|^src\/|^\.build/.test(f)), []);
  const manifest = JSON.parse(readFileSync(join(root, "pkg", "package.json"), "utf8"));
  // `types` must come first for TypeScript; `default` last as the fallback.
  assert.deepEqual(Object.keys(manifest.exports["."]), ["types", "workerd", "browser", "node", "default"]);
});

test("every file the package points at ships: manifest, entries' imports, types, README links", () => {
  const files = new Set(packedFiles());
  const dir = join(project, "node_modules", "tenantry");
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const pointers = []; // [who points, relative path from the package root]
  const leaves = (value, where) =>
    typeof value === "string" ? pointers.push([where, value]) : Object.entries(value ?? {}).forEach(([k, v]) => leaves(v, `${where}.${k}`));
  for (const field of ["main", "module", "browser", "types", "typings", "bin", "exports"]) leaves(manifest[field], `package.json ${field}`);
  for (const file of files) {
    if (!/\.(m?js|d\.ts|md)$/.test(file)) continue;
    const text = readFileSync(join(dir, file), "utf8");
    const patterns = file.endsWith(".md")
      ? [/\]\((?!https?:|#|mailto:)([^)\s]+)\)/g]
      : [
          /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g,
          /new URL\(\s*["'](\.{0,2}\/?[^"':]+)["']\s*,\s*import\.meta\.url/g,
          /sourceMappingURL=(\S+)/g,
          /@ts-self-types="([^"]+)"/g,
          /<reference path="([^"]+)"/g,
        ];
    for (const re of patterns) for (const [, target] of text.matchAll(re)) pointers.push([file, posix.join(posix.dirname(file), target)]);
  }
  assert.ok(pointers.length > 20, `found only ${pointers.length} references`);
  const missing = pointers.map(([who, target]) => [who, posix.normalize(target)]).filter(([, target]) => !files.has(target));
  assert.deepEqual(missing, []);
  for (const entry of manifest.files) assert.ok([...files].some((f) => f === entry || f.startsWith(entry.replace(/\/?$/, "/"))), `"files" lists ${entry}, which is not there`);
  assert.equal(manifest.license, "MIT");
  assert.equal(readFileSync(join(dir, "LICENSE"), "utf8"), readFileSync(join(root, "LICENSE"), "utf8"));
  assert.match(readFileSync(join(dir, "LICENSE"), "utf8"), /^MIT License\n\nCopyright \(c\) \d{4} tenantry contributors\n/);
  // The export that copy-the-.wasm recipes (README, "Bundlers") resolve.
  assert.equal(createRequire(join(project, "x.js")).resolve("tenantry/tenantry_bg.wasm"), join(dir, "tenantry_bg.wasm"));
});

test("exports Agent, demoModel, demoEmbedder, the storage adapters and TenantryError by package name", () => {
  assert.equal(typeof tenantry.Agent, "function");
  assert.equal(typeof tenantry.demoModel, "function");
  assert.equal(typeof tenantry.demoEmbedder, "function");
  assert.equal(typeof tenantry.demoEmbedder(), "function");
  assert.equal(typeof tenantry.memoryStorage, "function");
  assert.throws(() => tenantry.indexedDbStorage(), { code: "unsupported" }, "Node has no IndexedDB");
  // Exported by every entry; only its argument decides whether it can be built.
  const { durableObjectStorage, TenantryError } = tenantry;
  const isConfig = (field) => (e) => e instanceof TenantryError && e.code === "invalid_config" && e.details.field === field;
  for (const bad of [undefined, "ctx.storage", new Map(), { get() {}, put() {}, delete() {} }]) {
    assert.throws(() => durableObjectStorage(bad), isConfig("storage"));
  }
  const fake = { get: async () => undefined, put: async () => {}, delete: async () => 0, list: async () => new Map() };
  for (const chunkChars of [1, 65_537, 2.5, "100"]) assert.throws(() => durableObjectStorage(fake, { chunkChars }), isConfig("options.chunkChars"));
  assert.equal(typeof durableObjectStorage(fake, { chunkChars: 65_536 }).list, "function");
  assert.ok(tenantry.TenantryError.prototype instanceof Error);
});

// The Workers AI example, over a double of the binding, in both READMEs.
for (const readme of ["README.md", "pkg-template/README.md"]) {
  test(`the example under "### Workers AI" in ${readme} prints what its comments say`, () => {
    const code = codeBlock(readFileSync(join(root, readme), "utf8"), "### Workers AI");
    const expected = expectedOutput(code);
    assert.ok(expected.length >= 3, "the example shows its output");
    assert.deepEqual(runInProject("readme-example.mjs", code).trimEnd().split("\n"), expected);
  });
}

// The audit example goes last: the verify-audit test below reads the log it writes.
for (const [readme, heading] of [["README.md", "### Structured output"], ["README.md", "### Images and files"], ["README.md", "### Facts"], ["README.md", "#### Fact extraction"], ["README.md", "### Memory tools"], ["README.md", "### Compaction"], ["README.md", "### Organisations"], ["README.md", "#### Budgets per organisation"], ["README.md", "#### An org's own limits"]].concat(["README.md", "pkg-template/README.md"].flatMap((r) => [[r, "## Usage"], [r, "### Memory, persistence and GDPR"], [r, "#### Durable Object storage"], [r, "### Search by meaning"], [r, "### The demo embedder"], [r, "### Budgets and rate limits"], [r, "#### Pricing a model function"], [r, "### AI SDK models"], [r, "### Requiring a user id"], [r, "### Tools"], [r, "### MCP tools"], [r, "### Streaming to `useChat` (AI SDK UI)"], [r, "### Audit log and telemetry"]]))) {
  test(`the example under "${heading}" in ${readme} prints what its comments say`, () => {
    const code = codeBlock(readFileSync(join(root, readme), "utf8"), heading);
    const expected = expectedOutput(code);
    assert.ok(expected.length >= 3, "the example shows its output");
    const printed = runInProject("readme-example.mjs", code).trimEnd().split("\n");
    assert.deepEqual(printed, expected);
  });
}

test("10 users x 100 concurrent runs: 200 messages each, none in another's history", async () => {
  const { Agent } = tenantry;
  const model = async (req) => {
    await new Promise((r) => setTimeout(r, Math.random() * 2));
    const last = req.messages.at(-1).content;
    return { text: `${req.userId} heard ${last}`, usage: { inputTokens: 1, outputTokens: 1 } };
  };
  const agent = new Agent({ model, memory: { maxMessagesPerSession: 1000 } });
  const users = Array.from({ length: 10 }, (_, i) => `user-${i}`);
  const runs = [];
  for (let n = 0; n < 100; n++) {
    for (const u of users) runs.push(agent.run(`${u} secret ${n}`, u));
    // Re-entrant calls while runs are pending must not hit wasm-bindgen's borrow check.
    agent.history("user-0");
    agent.size("user-1");
  }
  const results = await Promise.all(runs);
  assert.equal(new Set(results.map((r) => r.runId)).size, 1000);
  for (const u of users) {
    const h = agent.history(u);
    assert.equal(h.length, 200, u);
    for (const m of h) assert.ok(m.content.includes(`${u} `) && !m.content.match(/user-\d+/g).some((x) => x !== u), `${u} saw ${m.content}`);
    // Arrival order is kept within a session.
    const inputs = h.filter((m) => m.role === "user").map((m) => Number(m.content.split(" ").at(-1)));
    assert.deepEqual(inputs, Array.from({ length: 100 }, (_, i) => i));
  }
});

test("bad input rejects with a typed TenantryError and loses nothing", async () => {
  const { Agent, TenantryError, demoModel } = tenantry;
  const agent = new Agent({ model: demoModel() });
  await agent.run("My name is Alice", "alice");
  for (const [userId, code] of [["", "invalid_user_id"], [42, "invalid_user_id"], ["__tenantry_anonymous__", "invalid_user_id"], ["x".repeat(256), "invalid_user_id"]]) {
    const p = agent.run("hi", userId); // must not throw synchronously
    await assert.rejects(p, (e) => e instanceof TenantryError && e instanceof Error && e.code === code && e.name === "TenantryError");
  }
  await assert.rejects(agent.run("   ", "alice"), { code: "invalid_input" });
  await assert.rejects(agent.run("hi", "alice", { sesionId: "typo" }), { code: "invalid_input" });
  assert.throws(() => new Agent({}), (e) => e instanceof TenantryError && e.code === "invalid_config" && e.details.field === "model");
  assert.throws(() => new Agent({ model: demoModel(), memory: { maxMessagesPerSession: -3 } }), { code: "invalid_config" });
  const failing = new Agent({ model: async () => { throw new Error("provider down"); } });
  await assert.rejects(failing.run("hi", "alice"), (e) => e.code === "model_error" && e.details.message === "provider down");
  assert.equal(failing.size("alice"), 0);
  assert.equal(agent.size("alice"), 2);
});

test("requireUser: every per-user method refuses the anonymous bucket with user_required, and ANONYMOUS_USER is the reserved id", async () => {
  const { Agent, TenantryError, demoModel, ANONYMOUS_USER } = tenantry;
  assert.equal(ANONYMOUS_USER, "__tenantry_anonymous__");
  const open = new Agent({ model: demoModel() });
  await open.run("My name is Anon", null);
  const anonDoc = await open.export(undefined);
  const snapshot = open.snapshot();
  const agent = new Agent({ model: demoModel(), requireUser: true, audit: { key: "an-audit-key-of-32-bytes-or-more!" } });
  const required = (e) => e instanceof TenantryError && e.code === "user_required" && e.details.option === "requireUser";
  for (const anon of [null, undefined]) {
    const sync = {
      history: () => agent.history(anon),
      sessions: () => agent.sessions(anon),
      size: () => agent.size(anon),
      blocks: () => agent.blocks(anon),
      properties: () => agent.properties(anon),
      recall: () => agent.recall(anon, "name"),
      usage: () => agent.usage(anon),
      auditLog: () => agent.auditLog(anon),
    };
    for (const [name, call] of Object.entries(sync)) assert.throws(call, required, name);
    const calls = {
      run: () => agent.run("hi", anon),
      stream: () => agent.stream("hi", anon).result,
      search: () => agent.search(anon, "name"),
      load: () => agent.load(anon),
      setBlock: () => agent.setBlock(anon, "l", "t"),
      deleteBlock: () => agent.deleteBlock(anon, "l"),
      setProperty: () => agent.setProperty(anon, "k", 1),
      forget: () => agent.forget(anon),
      clear: () => agent.clear(anon),
      export: () => agent.export(anon),
      remember: () => agent.remember(anon, { subject: "s", predicate: "p", object: "o" }),
      facts: () => agent.facts(anon),
      forgetFact: () => agent.forgetFact(anon, "s", "p"),
      import: () => agent.import(anonDoc),
      restore: () => Agent.restore({ model: demoModel(), requireUser: true }, snapshot),
    };
    for (const [name, call] of Object.entries(calls)) await assert.rejects(call(), required, name);
  }
  const events = [];
  for await (const ev of agent.stream("hi", null)) events.push(ev);
  assert.deepEqual(events.map((e) => [e.type, e.code]), [["error", "user_required"]]);
  assert.equal(agent.stats().users, 0);
  // Named users are served; the sentinel is still refused as an id.
  assert.equal((await agent.run("My name is Alice", "alice")).userId, "alice");
  await assert.rejects(agent.run("hi", ANONYMOUS_USER), { code: "invalid_user_id" });
  assert.throws(() => new Agent({ model: demoModel(), requireUser: "yes" }), (e) => e.code === "invalid_config" && e.details.field === "requireUser");
});

test("modelName: validated like a name, it prices a model function; a missing name under a cost limit says how to fix it", async () => {
  const { Agent, TenantryError } = tenantry;
  const model = async () => ({ text: "ok", usage: { inputTokens: 1_000_000, outputTokens: 0 } });
  const prices = { "my-model": { inputPerMTok: 3, outputPerMTok: 3 }, "its-own-id": { inputPerMTok: 1, outputPerMTok: 1 } };
  const budget = { perUser: { maxCostUsd: 100 }, prices };
  assert.equal((await new Agent({ model, modelName: "my-model", budget }).run("hi", "a")).usage.costUsd, 3);
  // The host's name wins over the one a function declares (kept for compatibility).
  const declared = Object.assign(async () => ({ text: "ok", usage: { inputTokens: 1_000_000, outputTokens: 0 } }), { modelId: "its-own-id" });
  assert.equal((await new Agent({ model: declared, budget }).run("hi", "a")).usage.costUsd, 1);
  assert.equal((await new Agent({ model: declared, modelName: "my-model", budget }).run("hi", "a")).usage.costUsd, 3);
  const err = await new Agent({ model, budget }).run("hi", "a").catch((e) => e);
  assert.ok(err instanceof TenantryError && err.code === "missing_price" && err.details.model === "", err.message);
  assert.match(err.message, /modelName/);
  const unlisted = await new Agent({ model, modelName: "unlisted", budget }).run("hi", "a").catch((e) => e);
  assert.equal(unlisted.details.model, "unlisted");
  for (const bad of ["", "m".repeat(256), "lone \ud800", 42, null]) {
    assert.throws(() => new Agent({ model, modelName: bad }), (e) => e.code === "invalid_config" && e.details.field === "modelName", String(bad).slice(0, 20));
  }
});

test("an aborted run rejects with `aborted`, passes the signal to the model, and commits nothing", async () => {
  const { Agent } = tenantry;
  let sawSignal = false;
  const model = ({ abortSignal }) =>
    new Promise((_, reject) => {
      sawSignal = abortSignal instanceof AbortSignal;
      abortSignal.addEventListener("abort", () => reject(new Error("fetch aborted")));
    });
  const agent = new Agent({ model });
  const controller = new AbortController();
  const run = agent.run("hi", "alice", { signal: controller.signal });
  setTimeout(() => controller.abort(), 5);
  await assert.rejects(run, { code: "aborted" });
  assert.ok(sawSignal);
  assert.equal(agent.size("alice"), 0);
});

test("a host storage adapter sees only prefixed keys, and forget empties exactly one prefix", async () => {
  const { Agent, demoModel, memoryStorage } = tenantry;
  const inner = memoryStorage();
  const seen = [];
  const storage = { ...inner, put: async (k, v) => { seen.push(k); await inner.put(k, v); } };
  const agent = new Agent({ model: demoModel(), memory: { storage } });
  const ids = ["alice", "alice/s", "ali", "alice "];
  await Promise.all(ids.map((u) => agent.run(`My name is ${u}`, u)));
  assert.equal(new Set(seen).size, 4);
  for (const u of ids) assert.equal(seen.filter((k) => k.includes(`/u/${u.replace("/", "%2F")}/`)).length, 1, u);
  await agent.forget("alice");
  const left = await inner.list("");
  assert.equal(left.length, 3);
  assert.ok(left.every((k) => !k.includes("/u/alice/")));
  for (const u of ["alice/s", "ali", "alice "]) assert.match((await agent.run("What's my name?", u)).text, new RegExp(`Your name is ${u.trim()}`));
});

test("npx tenantry verify-audit checks the log the README example's sink wrote", () => {
  // The audit example above ran in the project directory and appended audit.jsonl.
  const bin = join(project, "node_modules", ".bin", "tenantry");
  const env = { ...process.env, TENANTRY_AUDIT_KEY: "replace-me-with-a-long-secret" };
  const ok = execFileSync(bin, ["verify-audit", "audit.jsonl"], { cwd: project, env, encoding: "utf8" });
  assert.match(ok, /^ok: \d+ entries verified/);
  const lines = readFileSync(join(project, "audit.jsonl"), "utf8").trim().split("\n");
  lines.splice(2, 1);
  writeFileSync(join(project, "audit-cut.jsonl"), lines.join("\n") + "\n");
  const r = spawnSync(bin, ["verify-audit", "audit-cut.jsonl"], { cwd: project, env, encoding: "utf8" });
  assert.equal(r.status, 1);
  assert.match(r.stdout + r.stderr, /broken at line 3/);
});

test("the shipped types accept the documented usage and reject misuse (tsc --strict)", () => {
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "dom"], skipLibCheck: false },
      files: ["typed.ts", "ai-sdk-shims.d.ts"],
    }),
  );
  writeFileSync(join(project, "typed.ts"), readFileSync(join(root, "tests", "node", "typed-usage.ts"), "utf8"));
  // The AI SDK's own declarations (typed.ts passes its models) name Node's `Buffer` and the
  // `json-schema` package's types, from @types packages this workspace does not install.
  // Shimmed here rather than with skipLibCheck, which would stop checking index.d.ts too.
  writeFileSync(join(project, "ai-sdk-shims.d.ts"), 'type Buffer = Uint8Array;\ndeclare module "json-schema" {\n  export type JSONSchema7 = { [key: string]: unknown };\n  export type JSONSchema7Definition = JSONSchema7 | boolean;\n}\n');
  const tsc = join(root, "node_modules", ".bin", "tsc");
  try {
    execFileSync(tsc, ["-p", "."], { cwd: project, encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    assert.fail(`tsc --strict failed:\n${e.stdout}${e.stderr}`);
  }
});

test("a tool that awaits agent.run for its own session fails fast with reentrant_run, never hangs", async () => {
  const { Agent, TenantryError } = tenantry;
  let nested;
  const model = async ({ messages }) => {
    const last = messages.at(-1);
    if (last.role === "user" && last.content === "go") return { text: "", toolCalls: [{ name: "again", arguments: {} }] };
    return { text: last.role === "tool" ? `done: ${last.content}` : "inner" };
  };
  const agent = new Agent({
    model,
    tools: [
      {
        name: "again",
        description: "calls the agent back",
        parameters: { type: "object", properties: {} },
        execute: async (_args, ctx) => {
          nested = agent.run("inner", ctx.userId, { sessionId: ctx.sessionId });
          try {
            await nested;
            return "nested ran";
          } catch (e) {
            return e.code;
          }
        },
      },
    ],
  });
  const out = await agent.run("go", "ana", { sessionId: "s" });
  assert.equal(out.text, "done: reentrant_run");
  await assert.rejects(nested, (e) => e instanceof TenantryError && e.code === "reentrant_run");
  // Another session of the same user is not the same lock: a nested run there works.
  const other = await agent.run("inner", "ana", { sessionId: "elsewhere" });
  assert.equal(other.text, "inner");
  assert.equal(agent.history("ana", "s").length, 4);
});
