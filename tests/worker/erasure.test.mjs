// Erasure against limits under workerd: `DELETE /v1/tenants/{own}` erases the tenant's
// data, but what it spent inside still-open windows keeps counting, so deleting oneself is
// no way to a fresh rate limit or a refilled daily budget, and neither is a restart of the
// runtime (Miniflare disposed, a new one started on the same persisted storage).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { SECRET, call, jwt, now, start, stateDir } from "./support.mjs";

const token = (tenant) => jwt({ sub: tenant, exp: now() + 3600 });
const chat = (origin, tenant, message) => call(origin, "POST", "/v1/chat", { token: token(tenant), body: { message } });
const interact = (origin, tenant, message) =>
  call(origin, "POST", "/agent/interact", { token: token(tenant), body: { tenant_id: tenant, message } });
const forget = (origin, tenant) => call(origin, "DELETE", `/v1/tenants/${encodeURIComponent(tenant)}`, { token: token(tenant) });
const usage = (origin, tenant) => call(origin, "GET", `/v1/tenants/${encodeURIComponent(tenant)}/usage`, { token: token(tenant) });

function assertRefused(r, code, what) {
  assert.equal(r.status, 429, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.body.error.code, code, `${what}: ${r.text}`);
  if (code === "rate_limited") assert.match(r.headers.get("retry-after"), /^[1-9][0-9]*$/, what);
}

/** Chats until the daily budget refuses; the number of turns it took. */
async function spendBudget(origin, tenant) {
  for (let i = 0; i < 30; i++) {
    const r = await interact(origin, tenant, `My favorite number is ${i}`);
    if (r.status === 429) {
      assertRefused(r, "budget_exceeded", "spending");
      assert.equal(r.body.error.details.window, "day");
      return i;
    }
    assert.equal(r.status, 200, r.text);
  }
  assert.fail("the daily budget never ran out");
}

// A day's budget that the first turn nearly uses up: what is left is less than any turn
// costs, even a first one with no history, so the refusal cannot come from a shorter prompt.
const BUDGET = "40";

const dayUsed = (report) => report.limits.find((l) => l.window === "day")?.used;

test("attack: draining the rate limit and then DELETE-ing oneself does not refill it: the next request is still 429", async () => {
  const worker = await start("erasure", { bindings: { AUTH_SECRET: SECRET, RATE_LIMIT_REQUESTS: "3", RATE_LIMIT_WINDOW_MS: "3600000" } });
  try {
    const o = worker.origin;
    assert.equal((await interact(o, "greedy", "My name is Greta")).status, 200);
    assert.equal((await interact(o, "greedy", "What's my name?")).status, 200);
    // The third and last request of the hour is the erasure itself.
    assert.equal((await forget(o, "greedy")).status, 204);
    for (const r of [
      await interact(o, "greedy", "fresh start?"),
      await chat(o, "greedy", "fresh start?"),
      await usage(o, "greedy"),
      await forget(o, "greedy"),
    ]) {
      assertRefused(r, "rate_limited", "after self-DELETE");
      assert.ok(Number(r.headers.get("retry-after")) > 600, `Retry-After ${r.headers.get("retry-after")}: the limit was reset`);
    }
  } finally {
    await worker.dispose();
  }
});

test("attack: spending the daily token budget and then DELETE-ing oneself does not refund it: the next chat is still 429 budget_exceeded", async () => {
  const worker = await start("erasure", {
    // Without the memory tools, whose definitions alone would outweigh this budget.
    bindings: { AUTH_SECRET: SECRET, TENANT_DAILY_TOKENS: BUDGET, RATE_LIMIT_REQUESTS: "1000", MEMORY_TOOLS: "none" },
  });
  try {
    const o = worker.origin;
    await spendBudget(o, "spender");
    const before = (await usage(o, "spender")).body;
    assert.ok(dayUsed(before) > 0);
    assert.equal((await forget(o, "spender")).status, 204);
    // The content is gone...
    const history = await call(o, "GET", "/agent/history/spender", { token: token("spender") });
    assert.equal(history.status, 404, history.text);
    // ...the spend is not.
    assertRefused(await chat(o, "spender", "What's my favorite number?"), "budget_exceeded", "/v1/chat after self-DELETE");
    assertRefused(await interact(o, "spender", "What's my favorite number?"), "budget_exceeded", "/agent/interact after self-DELETE");
    const after = (await usage(o, "spender")).body;
    assert.equal(dayUsed(after), dayUsed(before), "the day's spend was refunded by the erasure");
    // Another tenant's budget is its own.
    assert.equal((await interact(o, "saver", "hello")).status, 200);
  } finally {
    await worker.dispose();
  }
});

test("restart: a spent daily budget and a drained rate bucket survive a restart of the runtime", async () => {
  const state = stateDir();
  const bindings = { AUTH_SECRET: SECRET, TENANT_DAILY_TOKENS: BUDGET, RATE_LIMIT_REQUESTS: "40", RATE_LIMIT_WINDOW_MS: "3600000" };
  let worker = await start("erasure", { persist: state.dir, bindings });
  let spent;
  try {
    await spendBudget(worker.origin, "spender");
    spent = dayUsed((await usage(worker.origin, "spender")).body);
    for (let i = 0; i < 40; i++) {
      const r = await usage(worker.origin, "hasty");
      if (r.status === 429) break;
      assert.equal(r.status, 200, r.text);
    }
    assertRefused(await usage(worker.origin, "hasty"), "rate_limited", "before the restart");
  } finally {
    await worker.dispose();
  }
  worker = await start("erasure", { persist: state.dir, bindings });
  try {
    assertRefused(await interact(worker.origin, "hasty", "new runtime, new bucket?"), "rate_limited", "hasty after the restart");
    assertRefused(await chat(worker.origin, "spender", "new runtime, new budget?"), "budget_exceeded", "spender after the restart");
    assert.equal(dayUsed((await usage(worker.origin, "spender")).body), spent);
  } finally {
    await worker.dispose();
    state.cleanup();
  }
});

test("restart: neither a self-DELETE before a restart nor the restart itself refills the budget or the rate bucket", async () => {
  const state = stateDir();
  const bindings = { AUTH_SECRET: SECRET, TENANT_DAILY_TOKENS: BUDGET, RATE_LIMIT_REQUESTS: "40", RATE_LIMIT_WINDOW_MS: "3600000" };
  let worker = await start("erasure", { persist: state.dir, bindings });
  try {
    await spendBudget(worker.origin, "spender");
    assert.equal((await forget(worker.origin, "spender")).status, 204);
    // Drained down to the last request, which is the erasure.
    for (let left = Infinity; left > 1; ) {
      const r = await usage(worker.origin, "hasty");
      assert.equal(r.status, 200, r.text);
      left = r.body.rate.available;
    }
    assert.equal((await forget(worker.origin, "hasty")).status, 204);
  } finally {
    await worker.dispose();
  }
  worker = await start("erasure", { persist: state.dir, bindings });
  try {
    assertRefused(await usage(worker.origin, "hasty"), "rate_limited", "hasty after DELETE and restart");
    assertRefused(await chat(worker.origin, "spender", "new runtime, new budget?"), "budget_exceeded", "spender after DELETE and restart");
    assert.equal((await call(worker.origin, "GET", "/agent/history/spender", { token: token("spender") })).status, 404);
  } finally {
    await worker.dispose();
    state.cleanup();
  }
});

// The object's keys, read with the sqlite3 command-line shell (the test is skipped without it).
const sqlite3 = (() => {
  try {
    execFileSync("sqlite3", ["-version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

test("after self-DELETE no stored key names the tenant; its rate counter stays until its window has passed, then is dropped", { skip: !sqlite3 && "no sqlite3 shell" }, async () => {
  const state = stateDir();
  const worker = await start("erasure", { persist: state.dir, bindings: { RATE_LIMIT_REQUESTS: "2", RATE_LIMIT_WINDOW_MS: "1000" } });
  try {
    const ns = await worker.mf.getDurableObjectNamespace("TENANTS");
    const db = join(state.dir, "-TenantAgent", `${ns.idFromName("leaver-7f3a").toString()}.sqlite`);
    const keys = () => execFileSync("sqlite3", [db, "SELECT key FROM _cf_KV"], { encoding: "utf8" }).split("\n").filter(Boolean);
    const r = await call(worker.origin, "POST", "/agent/interact", { body: { tenant_id: "leaver-7f3a", message: "My name is Lee" } });
    assert.equal(r.status, 200);
    assert.equal((await call(worker.origin, "DELETE", "/v1/tenants/leaver-7f3a")).status, 204);
    const kept = keys();
    assert.ok(kept.includes("meter/requests"), `the rate counter went with the erasure: ${kept}`);
    assert.ok(!kept.some((k) => k.includes("leaver-7f3a")), `a key still names the tenant: ${kept}`);
    // Two requests a second: full again one second after the erasure, then dropped.
    let left = kept;
    for (let i = 0; i < 50 && left.includes("meter/requests"); i++) {
      await new Promise((done) => setTimeout(done, 100));
      left = keys();
    }
    assert.ok(!left.includes("meter/requests"), "the rate counter outlived its window");
  } finally {
    await worker.dispose();
    state.cleanup();
  }
});
