// A TenantryError thrown by a Durable Object's method and caught by the Worker that called
// it over Workers RPC: workerd keeps an error's own properties (name, code, details) only
// under its enhanced error serialization (the default from compatibility date 2026-04-21,
// or the `enhanced_error_serialization` flag), and never its class; TenantryError.from
// makes it a TenantryError again. Under legacy serialization only the text arrives.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { installedPackage, root } from "../node_support/package.mjs";
import { bundleWorker } from "../../scripts/worker.mjs";

let scriptPath;

before(async () => {
  const { modulesDir } = installedPackage();
  scriptPath = await bundleWorker({
    modulesDir,
    outdir: join(root, "target", "worker-test-rpc"),
    entry: join(root, "tests", "worker", "rpc-worker.js"),
  });
});

async function withWorker(compat, fn) {
  const mf = new Miniflare({
    scriptPath,
    modules: true,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    durableObjects: { TENANT: { className: "Tenant", useSQLite: true } },
    ...compat,
  });
  try {
    await mf.ready;
    const get = async (query) => {
      const res = await mf.dispatchFetch(`http://worker.test/run?${new URLSearchParams(query)}`);
      return { status: res.status, body: await res.json() };
    };
    return await fn(get);
  } finally {
    await mf.dispose();
  }
}

for (const [label, compat] of [
  ["compatibility date 2026-04-21", { compatibilityDate: "2026-04-21" }],
  ["the enhanced_error_serialization flag", { compatibilityDate: "2026-04-01", compatibilityFlags: ["enhanced_error_serialization"] }],
]) {
  test(`with ${label}, TenantryError.from restores code and details thrown across DO RPC`, async () => {
    await withWorker(compat, async (get) => {
      assert.deepEqual(await get({ input: "My name is Alice", user: "alice" }), { status: 200, body: { text: "Nice to meet you, Alice! I'll remember your name." } });

      const bad = await get({ input: "hi", user: "" });
      assert.equal(bad.status, 500);
      // What workerd delivers: a plain Error that kept the own properties.
      assert.deepEqual(bad.body.received, {
        name: "TenantryError",
        message: "invalid user id: must not be empty",
        code: "invalid_user_id",
        details: { reason: "must not be empty" },
        isTenantryError: false,
        isError: true,
        remote: true,
      });
      assert.deepEqual(bad.body.revived, { ...bad.body.received, isTenantryError: true });

      // A refusal with richer details: the budget, spent by the first run.
      const over = await get({ input: "What's my name?", user: "alice" });
      assert.equal(over.status, 500);
      assert.equal(over.body.revived.code, "budget_exceeded");
      assert.equal(over.body.revived.isTenantryError, true);
      assert.deepEqual(over.body.revived.details, over.body.received.details);
      assert.equal(over.body.revived.details.limit, 40);
    });
  });
}

test("under legacy error serialization only the text crosses, and TenantryError.from says so", async () => {
  await withWorker({ compatibilityDate: "2026-04-01" }, async (get) => {
    const bad = await get({ input: "hi", user: "" });
    assert.equal(bad.status, 500);
    assert.equal(bad.body.received.name, "Error");
    assert.equal(bad.body.received.message, "TenantryError: invalid user id: must not be empty");
    assert.equal(bad.body.received.code, undefined);
    assert.equal(bad.body.revived, null);
  });
});
