// Budgets and rate limits per org through the packed package: `budget.perOrg`,
// `budget.orgPlans` with `budget.orgPlanOf`, `rateLimit.perOrg` and `orgUsage`; one ceiling
// for all the users of an org under concurrency, kept across a restart and `forgetOrg`,
// and hostile values for every new key ending in a TenantryError naming the field.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { installedPackage } from "../node_support/package.mjs";

let t;

before(async () => {
  const { project } = installedPackage();
  writeFileSync(join(project, "reexport.mjs"), 'export * from "tenantry";\n');
  t = await import(pathToFileURL(join(project, "reexport.mjs")).href);
});

/** Answers "n=<tokens>" with that many output tokens (never past the grant) and one input
 *  token (never above the estimate: an under-estimated input is charged in full, the one
 *  documented way past a ceiling) after a few turns of the event loop, so runs overlap. */
function sizedModel() {
  const calls = { count: 0 };
  const model = async (request) => {
    calls.count += 1;
    const last = request.messages.at(-1).content;
    const n = Number(/n=(\d+)/.exec(last)?.[1] ?? 1);
    for (let i = 0; i < n % 5; i++) await new Promise((r) => setImmediate(r));
    return { text: "ok", usage: { inputTokens: 1, outputTokens: Math.min(n, request.maxOutputTokens) } };
  };
  return { model, calls };
}

/** splitmix-like deterministic numbers, reproducible from the seed. */
function rng(seed) {
  let s = BigInt(seed);
  return (n) => {
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = s;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return Number((z ^ (z >> 31n)) % BigInt(n));
  };
}

const CAP = 1500;

test("concurrent runs of many users of one org never pass the org ceiling, and reach it", async () => {
  let refusedTotal = 0;
  for (let seed = 0; seed < 6; seed++) {
    const next = rng(seed);
    const { model } = sizedModel();
    const storage = seed % 2 ? t.memoryStorage() : undefined;
    const agent = new t.Agent({
      model,
      modelName: "m",
      maxOutputTokens: 100,
      memory: storage ? { storage } : {},
      budget: { perOrg: { maxTotalTokens: CAP } },
    });
    const users = 2 + next(7);
    const runs = [];
    for (let i = 0; i < users * 4; i++) {
      runs.push(agent.run(`n=${1 + next(100)}`, `u${i % users}`, { orgId: "acme", sessionId: `s${i}` }));
    }
    runs.push(agent.run("n=100", "u0", { orgId: "other" }), agent.run("n=100", "u0"));
    const results = await Promise.allSettled(runs);
    assert.equal(results.at(-1).status, "fulfilled");
    assert.equal(results.at(-2).status, "fulfilled");
    for (const r of results.filter((r) => r.status === "rejected")) {
      assert.ok(r.reason instanceof t.TenantryError);
      assert.equal(r.reason.code, "budget_exceeded");
      assert.equal(r.reason.details.scope, "org");
      refusedTotal++;
    }
    const report = agent.orgUsage("acme");
    const sum = Array.from({ length: users }, (_, u) => agent.usage(`u${u}`, { orgId: "acme" }).totals.totalTokens).reduce((a, b) => a + b, 0);
    assert.ok(report.totals.totalTokens <= CAP, `seed ${seed}: ${report.totals.totalTokens}`);
    assert.equal(report.totals.totalTokens, sum, `seed ${seed}`);
    // Drain: one run at a time until the org refuses, with less left than a run needs.
    let last;
    for (let i = 0; i < 1000 && !last; i++) {
      await agent.run(`n=${1 + next(100)}`, `u${i % users}`, { orgId: "acme", sessionId: `d${i}` }).catch((e) => (last = e));
    }
    assert.equal(last?.code, "budget_exceeded");
    assert.equal(last.details.scope, "org");
    const after = agent.orgUsage("acme");
    assert.equal(after.limits.length, 1);
    assert.equal(after.limits[0].scope, "org");
    assert.ok(after.totals.totalTokens <= CAP && CAP - after.totals.totalTokens < 64, `seed ${seed}: ${after.totals.totalTokens}`);
    assert.equal(agent.orgUsage("other").totals.totalTokens, 101);
  }
  assert.ok(refusedTotal > 0, "the ceiling never refused a concurrent run");
});

test("a restart and forgetOrg never refill an org; org plans and the org rate limit", async () => {
  const storage = t.memoryStorage();
  const { model, calls } = sizedModel();
  const config = {
    model,
    modelName: "m",
    maxOutputTokens: 100,
    memory: { storage },
    budget: {
      perOrg: { maxTotalTokens: 300 },
      orgPlans: { big: [{ maxTotalTokens: 10_000 }, { maxRequests: 1000, window: "day" }] },
      orgPlanOf: (orgId) => (orgId === "bigco" ? "big" : orgId === "bad" ? 42 : undefined),
    },
    rateLimit: { perOrg: { requests: 10, perMs: 60_000 } },
  };
  let agent = new t.Agent(config);
  let refused;
  for (let i = 0; i < 5 && !refused; i++) await agent.run("n=100", `u${i}`, { orgId: "acme" }).catch((e) => (refused = e));
  assert.equal(refused?.details.scope, "org");
  const used = agent.orgUsage("acme").totals.totalTokens;
  agent = new t.Agent(config);
  await assert.rejects(agent.run("n=1", "newcomer", { orgId: "acme" }), (e) => e.code === "budget_exceeded" && e.details.scope === "org");
  assert.equal(agent.orgUsage("acme").totals.totalTokens, used);
  await agent.forget("u0", { orgId: "acme" });
  assert.equal(await agent.forgetOrg("acme"), 3);
  const before = calls.count;
  await assert.rejects(agent.run("n=1", "u0", { orgId: "acme" }), (e) => e.code === "budget_exceeded" && e.details.scope === "org");
  agent = new t.Agent(config);
  await assert.rejects(agent.run("n=1", "u9", { orgId: "acme" }), (e) => e.code === "budget_exceeded" && e.details.scope === "org");
  assert.equal(calls.count, before);
  // The host's plan: bigco has its own, a non-string answer means perOrg.
  await agent.run("n=100", "a", { orgId: "bigco" });
  assert.deepEqual(agent.orgUsage("bigco").limits.map((l) => l.limit), [10_000, 1000]);
  assert.deepEqual(agent.orgUsage("bad").limits.map((l) => l.limit), [300]);
  // Ten requests a minute for all of bigco's users together, whatever each user has.
  for (const u of ["b", "c", "d", "e", "g", "h", "i", "j", "k"]) await agent.run("n=1", u, { orgId: "bigco" });
  await assert.rejects(agent.run("n=1", "f", { orgId: "bigco" }), (e) => {
    assert.equal(e.code, "rate_limited");
    assert.equal(e.details.scope, "org");
    assert.ok(e.details.retryAfterMs > 0);
    return true;
  });
  await agent.run("n=1", "f"); // the default org is not in any org bucket
  const stats = agent.stats();
  assert.ok(stats.orgBudgetAccounts >= 2 && stats.orgBudgetAccounts <= stats.budgetCapacity);
  assert.equal(typeof stats.retainedOrgAccounts, "number");
});

test("orgUsage needs an org id, and a throwing orgPlanOf means perOrg, never a crash", async () => {
  const { model } = sizedModel();
  const agent = new t.Agent({
    model,
    modelName: "m",
    budget: {
      perOrg: { maxTotalTokens: 500 },
      orgPlans: { big: { maxTotalTokens: 5000 } },
      orgPlanOf: () => {
        throw new Error("host bug");
      },
    },
  });
  await agent.run("n=5", "a", { orgId: "acme" });
  assert.equal(agent.orgUsage("acme").limits[0].limit, 500);
  for (const bad of [undefined, null, "", 42, {}, Symbol("x"), "a\u0000b", "\ud800"]) {
    assert.throws(() => agent.orgUsage(bad), (e) => e instanceof t.TenantryError && e.code === "invalid_org_id", String(bad?.toString?.()));
  }
});

/** Each `[config, field]` is refused at construction with invalid_config naming `field` (or a field inside it). */
function refusesEach(model, cases) {
  for (const [config, field] of cases) {
    assert.throws(
      () => new t.Agent({ model, ...config }),
      (e) => {
        assert.ok(e instanceof t.TenantryError, `${field}: ${e}`);
        assert.equal(e.code, "invalid_config", field);
        assert.ok(e.details.field.startsWith(field), `${field} vs ${e.details.field}`);
        return true;
      },
    );
  }
}

test("hostile values for the new budget keys are invalid_config naming the field", () => {
  const { model } = sizedModel();
  const cases = [
    [{ budget: { perOrg: { maxTotalTokens: -1 } } }, "budget.perOrg.maxTotalTokens"],
    [{ budget: { perOrg: { maxTotalTokens: NaN } } }, "budget.perOrg.maxTotalTokens"],
    [{ budget: { perOrg: { maxTotalTokens: null } } }, "budget.perOrg.maxTotalTokens"],
    [{ budget: { perOrg: { maxCostUsd: "5" } } }, "budget.perOrg.maxCostUsd"],
    [{ budget: { perOrg: { maxTotalTokens: 10n } } }, "budget.perOrg.maxTotalTokens"],
    [{ budget: { perOrg: { maxTotalTokens: 1, typo: 1 } } }, "budget.perOrg"],
    [{ budget: { perOrg: [{ maxTotalTokens: 1 }, { maxRequests: 1.5, window: "day" }] } }, "budget.perOrg[1].maxRequests"],
    [{ budget: { perOrg: { window: { ms: 0 } } } }, "budget.perOrg.window.ms"],
    [{ budget: { perOrg: null } }, "budget.perOrg"],
    [{ budget: { orgPlans: { pro: { maxTotalTokens: -5 } } } }, 'budget.orgPlans["pro"].maxTotalTokens'],
    [{ budget: { orgPlans: { "": { maxTotalTokens: 5 } } } }, 'budget.orgPlans[""]'],
    [{ budget: { orgPlans: null } }, "budget.orgPlans"],
    [{ budget: { orgPlanOf: "big" } }, "budget.orgPlanOf"],
    [{ budget: { orgPlanOf: null } }, "budget.orgPlanOf"],
    [{ rateLimit: { perOrg: { requests: 0, perMs: 1000 } } }, "rateLimit.perOrg.requests"],
    [{ rateLimit: { perOrg: { requests: 5, perMs: Infinity } } }, "rateLimit.perOrg.perMs"],
    [{ rateLimit: { perOrg: { requests: 5 } } }, "rateLimit.perOrg.perMs"],
    [{ rateLimit: { perOrg: null } }, "rateLimit.perOrg"],
    [{ rateLimit: { perOrg: [5, 1000] } }, "rateLimit.perOrg"],
    [{ rateLimit: { perOrg: { requests: 5, perMs: 1000, extra: 1 } } }, "rateLimit.perOrg"],
  ];
  refusesEach(model, cases);
  // A throwing getter on the new keys is a config error too, not a host exception.
  const budget = { perUser: { maxTotalTokens: 5 } };
  Object.defineProperty(budget, "perOrg", {
    enumerable: true,
    get() {
      throw new Error("boom");
    },
  });
  assert.throws(() => new t.Agent({ model, budget }), (e) => e instanceof t.TenantryError && e.code === "invalid_config");
});

test("an org's own limits in the orgs map hold for that org and its users only; a lookup may not carry them", async () => {
  const { model } = sizedModel();
  const agent = new t.Agent({
    model,
    maxOutputTokens: 50,
    budget: { perUser: { maxTotalTokens: 10_000 }, perOrg: { maxTotalTokens: 10_000 } },
    orgs: { initech: { budget: { perOrg: { maxTotalTokens: 120 }, perUser: { maxTotalTokens: 70 } } } },
    orgConfig: (orgId) => (orgId === "rogue" ? { budget: { perOrg: { maxTotalTokens: 1e9 } } } : undefined),
  });
  // Concurrent runs of five initech users never pass initech's 120 together, nor any user 70.
  const runs = await Promise.allSettled(
    Array.from({ length: 15 }, (_, i) => agent.run(`n=${20 + (i % 4)}`, `u${i % 5}`, { orgId: "initech" })),
  );
  const refused = runs.filter((r) => r.status === "rejected").map((r) => r.reason);
  assert.ok(refused.length > 0, "nothing was refused");
  for (const e of refused) assert.equal(e.code, "budget_exceeded", String(e));
  assert.ok(agent.orgUsage("initech").totals.totalTokens <= 120, JSON.stringify(agent.orgUsage("initech").totals));
  for (let u = 0; u < 5; u++) assert.ok(agent.usage(`u${u}`, { orgId: "initech" }).totals.totalTokens <= 70);
  // The same ids elsewhere answer to the agent-wide limits.
  for (let u = 0; u < 5; u++) await agent.run("n=40", `u${u}`, { orgId: "acme" });
  await agent.run("n=40", "u0");
  assert.equal(agent.usage("u0", { orgId: "acme" }).limits[0].limit, 10_000);
  assert.equal(agent.orgUsage("acme").limits[0].limit, 10_000);
  // An orgConfig answer with limits of its own fails the run and keeps nothing.
  await assert.rejects(agent.run("n=1", "u0", { orgId: "rogue" }), (e) => {
    assert.equal(e.code, "invalid_config");
    assert.match(e.details.field, /^orgConfig\("rogue"\)\.budget/);
    return true;
  });
  assert.equal(agent.size("u0", { orgId: "rogue" }), 0);
});

test("hostile values in an org's own limits are invalid_config naming the field", () => {
  const { model } = sizedModel();
  const at = (budget) => ({ orgs: { acme: { budget } } });
  const cases = [
    [at(null), 'orgs["acme"].budget'],
    [at(5), 'orgs["acme"].budget'],
    [at({ perOrg: { maxTotalTokens: -1 } }), 'orgs["acme"].budget.perOrg.maxTotalTokens'],
    [at({ perOrg: { maxTotalTokens: NaN } }), 'orgs["acme"].budget.perOrg.maxTotalTokens'],
    [at({ perUser: { maxTotalTokens: 10n } }), 'orgs["acme"].budget.perUser.maxTotalTokens'],
    [at({ perUser: { maxCostUsd: "1" } }), 'orgs["acme"].budget.perUser.maxCostUsd'],
    [at({ perOrg: { maxTotalTokens: 1 }, extra: 1 }), 'orgs["acme"].budget'],
    [at({ perOrg: { window: { ms: -1 } } }), 'orgs["acme"].budget.perOrg.window'],
    [{ budget: { orgPlans: { pro: { maxTotalTokens: 5 } } }, orgs: { acme: { plan: "pro", budget: { perOrg: { maxTotalTokens: 5 } } } } }, 'orgs["acme"].budget.perOrg'],
    [at({ perOrg: Array.from({ length: 17 }, (_, i) => ({ maxTotalTokens: 5, window: { ms: 1000 * (i + 1) } })) }), "budget.perOrg"],
  ];
  refusesEach(model, cases);
  const budget = {};
  Object.defineProperty(budget, "perOrg", { enumerable: true, get: () => { throw new Error("boom"); } });
  assert.throws(() => new t.Agent({ model, orgs: { acme: { budget } } }), (e) => e instanceof t.TenantryError && e.code === "invalid_config");
  const proxy = new Proxy({}, { ownKeys: () => { throw new Error("trap"); } });
  assert.throws(() => new t.Agent({ model, orgs: { acme: { budget: proxy } } }), (e) => e instanceof t.TenantryError && e.code === "invalid_config");
});
