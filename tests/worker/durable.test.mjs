// One Durable Object per tenant under workerd: each tenant's data lives in its own object's
// storage and nowhere else, an object refuses to serve another tenant, and what was
// committed survives a restart of the whole runtime (Miniflare disposed, a new one started
// on the same persisted storage).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { call, objectBytes, start, stateDir } from "./support.mjs";

const interact = (origin, tenant_id, message) => call(origin, "POST", "/agent/interact", { body: { tenant_id, message } });

test("each tenant is its own Durable Object: its data is in that object's storage only", async () => {
  const state = stateDir();
  const worker = await start("durable", { persist: state.dir });
  try {
    const tenants = { "t-red": "marker-red-31f4", "t-green": "marker-green-8c2a", "t-blue": "marker-blue-55d0" };
    const answers = await Promise.all(
      Object.entries(tenants).map(([t, marker]) => interact(worker.origin, t, `My favorite color is ${marker}`)),
    );
    assert.ok(answers.every((r) => r.status === 200));
    const ns = await worker.mf.getDurableObjectNamespace("TENANTS");
    for (const [tenant, marker] of Object.entries(tenants)) {
      const id = ns.idFromName(tenant).toString();
      assert.ok(existsSync(join(state.dir, "-TenantAgent", `${id}.sqlite`)), `no object for ${tenant}`);
      const bytes = await objectBytes(worker, state.dir, tenant);
      assert.ok(bytes.includes(marker), `${tenant}'s object lacks its own data`);
      for (const [other, otherMarker] of Object.entries(tenants)) {
        if (other !== tenant) assert.ok(!bytes.includes(otherMarker), `${tenant}'s object holds ${other}'s data`);
      }
    }
    // Asked for another tenant's data, an object refuses: it serves the tenant it is named for.
    const stub = ns.get(ns.idFromName("t-red"));
    const res = await stub.fetch("https://tenant.internal/export", { headers: { "x-tenantry-tenant": "t-green" } });
    assert.equal(res.status, 500);
    assert.doesNotMatch(await res.text(), /marker-green/);
    // And the public API shows each tenant only its own.
    for (const [tenant, marker] of Object.entries(tenants)) {
      const doc = (await call(worker.origin, "GET", `/v1/tenants/${tenant}/export`)).body;
      assert.equal(doc.userId, tenant);
      const text = JSON.stringify(doc);
      assert.ok(text.includes(marker));
      for (const m of Object.values(tenants)) if (m !== marker) assert.ok(!text.includes(m));
    }
  } finally {
    await worker.dispose();
    state.cleanup();
  }
});

test("history, memory and budget survive a restart on the same persisted storage", async () => {
  const state = stateDir();
  const bindings = { TENANT_DAILY_TOKENS: "400" };
  let worker = await start("durable", { persist: state.dir, bindings });
  let history;
  let usage;
  try {
    assert.equal((await interact(worker.origin, "ada", "My name is Ada")).status, 200);
    assert.equal((await interact(worker.origin, "ada", "My favorite color is teal")).status, 200);
    assert.equal((await interact(worker.origin, "grace", "My name is Grace")).status, 200);
    history = (await call(worker.origin, "GET", "/agent/history/ada")).body;
    assert.equal(history.history.length, 2);
    usage = (await call(worker.origin, "GET", "/v1/tenants/ada/usage")).body;
    assert.ok(usage.totals.totalTokens > 0);
  } finally {
    await worker.dispose();
  }
  worker = await start("durable", { persist: state.dir, bindings });
  try {
    assert.deepEqual((await call(worker.origin, "GET", "/agent/history/ada")).body, history);
    const after = (await call(worker.origin, "GET", "/v1/tenants/ada/usage")).body;
    assert.deepEqual(after.totals, usage.totals);
    assert.equal(after.limits[0].used, usage.limits[0].used);
    // The restarted object still knows Ada, and spends on from what she had used.
    const r = await interact(worker.origin, "ada", "What's my name?");
    assert.deepEqual(r.body, { tenant_id: "ada", response: "Your name is Ada." });
    // Until the budget kept across the restart runs out: refused, nothing committed.
    let refused;
    for (let i = 0; i < 20 && !refused; i++) {
      const res = await interact(worker.origin, "ada", "What's my favorite color?");
      if (res.status !== 200) refused = res;
    }
    assert.ok(refused, "the persisted budget never ran out");
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.code, "budget_exceeded");
    assert.equal(refused.body.error.details.window, "day");
    const total = (await call(worker.origin, "GET", "/v1/tenants/ada/usage")).body.totals.totalTokens;
    assert.ok(total <= 400, `spent ${total} of a 400-token budget`);
    // Grace, another object, was not charged for any of it.
    assert.equal((await call(worker.origin, "GET", "/agent/history/grace")).body.history.length, 1);
  } finally {
    await worker.dispose();
    state.cleanup();
  }
});

test("a session larger than one storage entry allows (2 MB) is kept in pieces and read back whole", async () => {
  const state = stateDir();
  const bindings = { RATE_LIMIT_REQUESTS: "1000", TENANT_DAILY_TOKENS: "none" };
  let worker = await start("durable", { persist: state.dir, bindings });
  // ~57 KiB each, under the 64 KiB body cap; non-ASCII (and astral) characters so that the
  // pieces are cut inside multi-unit text. 40 of them are ~2.8 MB of one session record (UTF-16).
  const filler = "ab\u00e9\u{1F980}".repeat(7 * 1024);
  const messages = Array.from({ length: 40 }, (_, i) => `${i} ${filler}`);
  try {
    for (const m of messages) assert.equal((await interact(worker.origin, "big", m)).status, 200);
  } finally {
    await worker.dispose();
  }
  worker = await start("durable", { persist: state.dir, bindings });
  try {
    const r = await call(worker.origin, "GET", "/agent/history/big");
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.history.map((h) => h.message), messages);
    // Rewritten smaller (forget, then one turn), no stale piece is read back.
    await call(worker.origin, "DELETE", "/v1/tenants/big");
    assert.equal((await interact(worker.origin, "big", "small again")).status, 200);
    assert.deepEqual((await call(worker.origin, "GET", "/agent/history/big")).body.history.map((h) => h.message), ["small again"]);
  } finally {
    await worker.dispose();
    state.cleanup();
  }
});
