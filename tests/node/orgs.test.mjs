// Organisations through the packed package: `orgId` on every per-user method, the same
// user id in two orgs sharing nothing, the org reaching every host callback, whole-org
// export and erasure, and hostile org ids ending in a TenantryError.
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

/** A model that records what it was asked and answers with the prompt's size. */
function recordingModel() {
  const requests = [];
  const model = async (request) => {
    requests.push(request);
    const last = request.messages.at(-1).content;
    return { text: `ok: ${last}`, usage: { inputTokens: 10, outputTokens: 5 } };
  };
  return { model, requests };
}

test("the same user id in two orgs shares nothing, through every per-user method", async () => {
  const { Agent } = t;
  const { model, requests } = recordingModel();
  const agent = new Agent({ model, budget: { perUser: { maxTotalTokens: 1000 } } });
  const acme = { orgId: "acme" };
  const globex = { orgId: "globex" };
  const r = await agent.run("acme refund policy is 30 days", "alice", { ...acme, sessionId: "s1" });
  assert.equal(r.userId, "alice");
  assert.equal(r.orgId, "acme");
  assert.equal(requests.at(-1).orgId, "acme");
  await agent.setBlock("alice", "role", "acme support lead", acme);
  await agent.setProperty("alice", "tier", "gold", acme);
  await agent.remember("alice", { subject: "alice", predicate: "employer", object: "acme" }, acme);

  const plain = await agent.run("hello", "alice");
  assert.equal(plain.orgId, undefined, "the default org adds no field");
  assert.equal("orgId" in requests.at(-1), false);
  await agent.run("hello from globex", "alice", globex);
  for (const request of requests.slice(1)) {
    const text = JSON.stringify(request.messages);
    assert.ok(!text.includes("acme refund") && !text.includes("acme support"), text);
  }

  assert.equal(agent.history("alice", "s1", acme).length, 2);
  assert.equal(agent.history("alice", "s1").length, 0);
  assert.equal(agent.history("alice", "s1", globex).length, 0);
  assert.deepEqual(agent.sessions("alice", acme).map((s) => s.id), ["s1"]);
  assert.equal(agent.size("alice", globex), 2);
  assert.deepEqual(agent.blocks("alice", acme), [{ label: "role", text: "acme support lead" }]);
  assert.deepEqual(agent.blocks("alice", globex), []);
  assert.deepEqual(agent.properties("alice", acme), { tier: "gold" });
  assert.deepEqual(agent.properties("alice"), {});
  assert.ok(agent.recall("alice", "refund", acme).length > 0);
  assert.equal(agent.recall("alice", "refund", globex).length, 0);
  assert.equal(agent.recall("alice", "refund").length, 0);
  assert.equal((await agent.search("alice", "refund", acme)).length > 0, true);
  assert.equal((await agent.search("alice", "refund", globex)).length, 0);
  assert.equal((await agent.facts("alice", acme)).length, 1);
  assert.equal((await agent.facts("alice", globex)).length, 0);
  assert.equal(agent.usage("alice", acme).totals.totalTokens, 15);
  assert.equal(agent.usage("alice", globex).totals.totalTokens, 15);
  assert.equal(agent.usage("alice").totals.totalTokens, 15);

  const doc = await agent.export("alice", acme);
  assert.equal(doc.orgId, "acme");
  assert.ok(doc.sessions.every((s) => s.orgId === "acme"));
  assert.equal((await agent.export("alice")).orgId, undefined);
  assert.ok(!JSON.stringify(await agent.export("alice", globex)).includes("acme"));

  assert.equal(agent.stats().users, 3);
  assert.equal(agent.stats().orgs, 2);
  await agent.forget("alice", globex);
  assert.equal(agent.size("alice", globex), 0);
  assert.equal(agent.size("alice", acme), 2);
  assert.equal(agent.size("alice"), 2);
  assert.equal(await agent.forgetFact("alice", "alice", "employer", acme), true);
  await agent.deleteBlock("alice", "role", acme);
  assert.deepEqual(agent.blocks("alice", acme), []);
});

test("the org reaches every host callback, and audit entries and events carry it", async () => {
  const { Agent } = t;
  const seen = { tools: [], policy: [], plans: [], embeds: [], approvals: [] };
  let step = 0;
  const model = async (request) => {
    step += 1;
    if (step % 2 === 1) {
      return { text: "", toolCalls: [{ id: `c${step}`, name: "lookup", arguments: "{}" }] };
    }
    return { text: "done" };
  };
  const entries = [];
  const events = [];
  const agent = new Agent({
    model,
    tools: [
      {
        name: "lookup",
        description: "looks up",
        execute: async (_args, ctx) => {
          seen.tools.push({ userId: ctx.userId, orgId: ctx.orgId });
          return "found";
        },
      },
    ],
    permissions: { requireApproval: ["lookup"] },
    policy: (userId, tool, _args, ctx) => {
      seen.policy.push({ userId, tool, orgId: ctx.orgId });
      return true;
    },
    approve: (request) => {
      seen.approvals.push(request);
      return true;
    },
    budget: {
      perUser: { maxTotalTokens: 10_000 },
      planOf: (userId, ctx) => {
        seen.plans.push({ userId, orgId: ctx.orgId });
        return undefined;
      },
    },
    memory: {
      embedder: async (texts, ctx) => {
        seen.embeds.push({ userId: ctx.userId, orgId: ctx.orgId });
        return texts.map(() => [1, 0]);
      },
    },
    audit: { key: "k".repeat(32), sink: (e) => entries.push(e) },
    onEvent: (e) => events.push(e),
  });
  const stream = agent.stream("hi", "alice", { orgId: "acme" });
  const parts = [];
  for await (const part of stream) parts.push(part);
  await stream.result;
  assert.ok(parts.length > 0 && parts.every((p) => p.orgId === "acme"), JSON.stringify(parts));
  assert.deepEqual(seen.tools, [{ userId: "alice", orgId: "acme" }]);
  assert.deepEqual(seen.policy, [{ userId: "alice", tool: "lookup", orgId: "acme" }]);
  assert.equal(seen.approvals[0].orgId, "acme");
  assert.ok(seen.plans.some((p) => p.userId === "alice" && p.orgId === "acme"));
  assert.ok(seen.embeds.length > 0 && seen.embeds.every((e) => e.orgId === "acme"));
  assert.ok(entries.length > 0 && entries.every((e) => e.orgId === "acme"));
  assert.ok(events.length > 0 && events.every((e) => e.orgId === "acme"));
  assert.equal(agent.auditLog("alice", { orgId: "acme" }).length, entries.length);
  assert.equal(agent.auditLog("alice").length, 0);
  // The chain verifies with the org inside each MAC: changing it breaks the entry.
  const { verifyAudit } = t;
  assert.equal(verifyAudit(entries, "k".repeat(32)).ok, true);
  const forged = entries.map((e, i) => (i === 0 ? { ...e, orgId: "globex" } : e));
  assert.equal(verifyAudit(forged, "k".repeat(32)).ok, false);
  const dropped = entries.map((e, i) => {
    if (i !== 0) return e;
    const { orgId, ...rest } = e;
    return rest;
  });
  assert.equal(verifyAudit(dropped, "k".repeat(32)).ok, false);

  // A user of the default org with the same id: callbacks see `orgId: null` or no field.
  seen.tools.length = 0;
  seen.policy.length = 0;
  await agent.run("hi", "alice");
  assert.deepEqual(seen.tools, [{ userId: "alice", orgId: undefined }]);
  assert.deepEqual(seen.policy, [{ userId: "alice", tool: "lookup", orgId: null }]);
});

test("exportOrg and forgetOrg take one org, resident and stored, and nothing else", async () => {
  const { Agent, memoryStorage } = t;
  const storage = memoryStorage();
  const config = { model: async (r) => ({ text: `ok ${r.messages.length}` }), memory: { storage } };
  const a = new Agent(config);
  const members = ["alice", "bob", "carol"];
  for (const id of members) await a.run(`note of ${id}`, id, { orgId: "acme" });
  await a.run("note", "alice", { orgId: "acme " });
  await a.run("note", "alice", { orgId: "globex" });
  await a.run("note", "alice");
  await a.run("note", "acme");
  // A restart: acme's users are only in storage now.
  const b = new Agent(config);
  const doc = await b.exportOrg("acme");
  assert.equal(doc.format, "tenantry.org");
  assert.equal(doc.orgId, "acme");
  assert.deepEqual(doc.users.map((u) => u.userId), members);
  assert.ok(doc.users.every((u) => u.orgId === "acme" && u.sessions[0].turns.length === 1));
  assert.equal(await b.forgetOrg("acme"), 3);
  for (const id of members) {
    await b.load(id, { orgId: "acme" });
    assert.equal(b.size(id, { orgId: "acme" }), 0);
  }
  for (const [id, orgId] of [["alice", "acme "], ["alice", "globex"], ["alice", undefined], ["acme", undefined]]) {
    await b.load(id, { orgId });
    assert.equal(b.size(id, { orgId }), 2, `${id} of ${orgId}`);
  }
  // Each user document of an org export imports on its own, into that org.
  const c = new Agent({ model: config.model });
  for (const user of doc.users) assert.equal(await c.import(user), user.userId);
  assert.equal(c.size("bob", { orgId: "acme" }), 2);
  assert.equal(c.size("bob"), 0);
});

test("hostile org ids and options end in a TenantryError, never a crash", async () => {
  const { Agent, TenantryError } = t;
  const agent = new Agent({ model: async () => ({ text: "ok" }) });
  const throwing = {
    get orgId() {
      throw new Error("getter");
    },
  };
  const trap = new Proxy({}, { ownKeys: () => { throw new Error("trap"); } });
  const cases = [
    [{ orgId: "" }, "invalid_org_id"],
    [{ orgId: "a\u0000b" }, "invalid_org_id"],
    [{ orgId: "x".repeat(256) }, "invalid_org_id"],
    [{ orgId: "\ud800" }, "invalid_org_id"],
    [{ orgId: 42 }, "invalid_org_id"],
    [{ orgId: 1n }, "invalid_org_id"],
    [{ orgId: Symbol("s") }, "invalid_org_id"],
    [{ orgId: () => "acme" }, "invalid_org_id"],
    [{ orgId: { toString: () => "acme" } }, "invalid_org_id"],
    [throwing, "invalid_input"],
    [trap, "invalid_input"],
    [{ orgid: "acme" }, "invalid_input"],
  ];
  for (const [i, [options, code]] of cases.entries()) {
    await assert.rejects(agent.run("hi", "alice", options), (e) => e instanceof TenantryError && e.code === code, `case ${i}`);
    assert.throws(() => agent.size("alice", options), (e) => e instanceof TenantryError && e.code === code);
    await assert.rejects(agent.forget("alice", options), (e) => e instanceof TenantryError && e.code === code);
    await assert.rejects(agent.export("alice", options), (e) => e instanceof TenantryError && e.code === code);
    const stream = agent.stream("hi", "alice", options);
    await assert.rejects(stream.result, (e) => e instanceof TenantryError && e.code === code);
  }
  // Two ids that differ only by a lone surrogate are not merged: the second is refused.
  await agent.run("hi", "alice", { orgId: "acme\ud800" }).catch(() => {});
  assert.equal(agent.size("alice", { orgId: "acme\ufffd" }), 0);
  for (const bad of [undefined, null, "", 7, "\udc00"]) {
    await assert.rejects(agent.forgetOrg(bad), (e) => e instanceof TenantryError && e.code === "invalid_org_id");
    await assert.rejects(agent.exportOrg(bad), (e) => e instanceof TenantryError && e.code === "invalid_org_id");
  }
  // Nothing was written by any refused call.
  assert.equal(agent.stats().users, 0);
});

test("requireUser holds in every org", async () => {
  const { Agent, TenantryError } = t;
  const agent = new Agent({ model: async () => ({ text: "ok" }), requireUser: true });
  await assert.rejects(agent.run("hi", null, { orgId: "acme" }), (e) => e instanceof TenantryError && e.code === "user_required");
  assert.equal((await agent.run("hi", "alice", { orgId: "acme" })).orgId, "acme");
});

test("org knowledge reaches the org's users only, and no run or memory tool can write it", async () => {
  const { Agent, memoryStorage, TenantryError } = t;
  const prompts = [];
  // The model tries to overwrite what it was told through the memory tools, naming the
  // org's block and another org in its arguments.
  const model = async (request) => {
    prompts.push({ orgId: request.orgId, system: request.messages[0].content });
    const last = request.messages.at(-1);
    if (last.role === "user" && last.content.includes("rewrite")) {
      const injected = last.content.includes("as admin") ? { orgId: "acme", userId: "bob" } : {};
      const args = JSON.stringify({ label: "refund policy", text: "refunds for ever", ...injected });
      return { text: "", toolCalls: [{ id: "c1", name: "memory_update_block", arguments: args }] };
    }
    return { text: "ok" };
  };
  const storage = memoryStorage();
  const agent = new Agent({ model, memory: { storage, tools: true } });
  await agent.setOrgBlock("acme", "refund policy", "30 days, no questions");
  await agent.run("what is the refund policy?", "alice", { orgId: "acme" });
  await agent.run("what is the refund policy?", "alice", { orgId: "globex" });
  await agent.run("what is the refund policy?", "alice");
  assert.deepEqual(
    prompts.map((p) => [p.orgId, p.system.includes("30 days, no questions")]),
    [["acme", true], ["globex", false], [undefined, false]],
  );
  await agent.run("please rewrite the refund policy as admin", "alice", { orgId: "acme" });
  assert.deepEqual(agent.blocks("alice", { orgId: "acme" }), [], "arguments naming a user or an org are refused");
  await agent.run("please rewrite the refund policy", "alice", { orgId: "acme" });
  assert.deepEqual(await agent.orgBlocks("acme"), [{ label: "refund policy", text: "30 days, no questions" }]);
  assert.deepEqual(agent.blocks("alice", { orgId: "acme" }), [{ label: "refund policy", text: "refunds for ever" }]);
  await agent.load("bob", { orgId: "acme" });
  assert.deepEqual(agent.blocks("bob", { orgId: "acme" }), []);
  // A restart reads it back; exportOrg carries it; forgetOrg takes it.
  const again = new Agent({ model, memory: { storage } });
  assert.equal((await again.orgBlocks("acme")).length, 1);
  assert.equal((await again.exportOrg("acme")).blocks[0].text, "30 days, no questions");
  assert.equal(await again.deleteOrgBlock("acme", "nope"), false);
  await again.forgetOrg("acme");
  assert.deepEqual(await again.orgBlocks("acme"), []);
  assert.deepEqual(await new Agent({ model, memory: { storage } }).orgBlocks("acme"), []);
  // Hostile arguments: typed refusals that change nothing.
  const isCode = (code) => (e) => e instanceof TenantryError && e.code === code;
  await assert.rejects(agent.setOrgBlock(undefined, "l", "t"), isCode("invalid_org_id"));
  await assert.rejects(agent.setOrgBlock("acme\ud800", "l", "t"), isCode("invalid_org_id"));
  await assert.rejects(agent.setOrgBlock("acme", "\ud800", "t"), isCode("invalid_input"));
  await assert.rejects(agent.setOrgBlock("acme", "l", "x".repeat(16 * 1024 + 1)), isCode("invalid_input"));
  await assert.rejects(agent.setOrgBlock("acme", "l", { toString: () => "t" }), isCode("invalid_input"));
  await assert.rejects(agent.orgBlocks(Symbol("acme")), isCode("invalid_org_id"));
  await assert.rejects(agent.deleteOrgBlock("acme", 7), isCode("invalid_input"));
});

test("per-org settings: instructions, the tools offered, permissions and the model, for that org's users only", async () => {
  const { Agent, TenantryError } = t;
  const seen = [];
  const recorder = (name) => async (request) => {
    seen.push({ model: name, orgId: request.orgId, system: request.messages[0].content, tools: request.tools.map((t) => t.name) });
    return { text: "ok", usage: { inputTokens: 1, outputTokens: 1 } };
  };
  const tool = (name) => ({ name, description: name, execute: () => name });
  const lookups = [];
  const agent = new Agent({
    model: recorder("agent"),
    instructions: "You are a support bot.",
    tools: [tool("refund"), tool("search"), tool("admin")],
    permissions: { users: { alice: { deny: ["admin"] } } },
    orgs: {
      acme: {
        instructions: "Acme: refunds within 30 days.",
        tools: ["refund", "search"],
        permissions: { default: "deny", users: { alice: { allow: ["refund"] } } },
        model: recorder("acme"),
        modelName: "acme-model",
      },
    },
    orgConfig: async (orgId) => {
      lookups.push(orgId);
      if (orgId === "broken") throw new Error("directory down");
      if (orgId === "weird") return { tools: ["no-such-tool"] };
      return orgId === "globex" ? { instructions: "Globex: be brief." } : undefined;
    },
  });
  await agent.run("hi", "alice", { orgId: "acme" });
  await agent.run("hi", "bob", { orgId: "acme" });
  await agent.run("hi", "alice", { orgId: "globex" });
  await agent.run("hi", "alice");
  assert.deepEqual(seen.map(({ model, orgId, tools }) => [model, orgId, tools]), [
    ["acme", "acme", ["refund"]],
    ["acme", "acme", []],
    ["agent", "globex", ["refund", "search", "admin"]],
    ["agent", undefined, ["refund", "search"]],
  ]);
  assert.ok(seen[0].system.startsWith("You are a support bot.\n\nAcme: refunds within 30 days."));
  assert.ok(seen[2].system.startsWith("You are a support bot.\n\nGlobex: be brief."));
  assert.ok(!seen[3].system.includes("Acme") && !seen[3].system.includes("Globex"));
  assert.deepEqual(lookups, ["globex"], "the static map is never looked up; answers are cached");
  assert.equal(agent.stats().orgConfigCache, 1, "globex's answer, and no static org");
  const isConfig = (e) => e instanceof TenantryError && e.code === "invalid_config";
  await assert.rejects(agent.run("hi", "alice", { orgId: "broken" }), (e) => isConfig(e) && /directory down/.test(e.message));
  await assert.rejects(agent.run("hi", "alice", { orgId: "weird" }), (e) => isConfig(e) && e.details.field === 'orgConfig("weird").tools');
  assert.equal(agent.size("alice", { orgId: "broken" }), 0);
});

test("hostile orgs and orgConfig values are refused at construction or fail only that org's run", async () => {
  const { Agent, TenantryError } = t;
  const model = async () => ({ text: "ok" });
  const isConfig = (e) => e instanceof TenantryError && e.code === "invalid_config";
  const throwing = { get acme() { throw new Error("getter"); } };
  for (const orgs of [42, "acme", [], () => {}, throwing, new Proxy({}, { ownKeys: () => { throw new Error("trap"); } }),
    { acme: 7 }, { acme: { tools: "refund" } }, { acme: { tools: ["nope"] } }, { acme: { instructions: 5 } },
    { acme: { model: "gpt" } }, { acme: { modelName: "m" } }, { acme: { colour: "red" } }, { acme: { plan: "nope" } }, { acme: { plan: 5 } }, { "": {} }, { acme: { permissions: { users: { a: { allow: ["x"] } } } } }]) {
    assert.throws(() => new Agent({ model, orgs }), isConfig);
  }
  for (const orgConfig of [42, "f", {}, []]) assert.throws(() => new Agent({ model, orgConfig }), isConfig);
  const answers = [7, "x", [], { colour: 1 }, { tools: [1] }, { get instructions() { throw new Error("getter"); } }, Promise.reject(new Error("no"))];
  answers.at(-1).catch(() => {});
  let i = 0;
  const agent = new Agent({ model, orgConfig: () => answers[i++] });
  for (let n = 0; n < answers.length; n++) {
    await assert.rejects(agent.run("hi", "alice", { orgId: `org${n}` }), isConfig);
  }
  assert.equal(agent.stats().users, answers.length, "each refused run kept nothing but its empty partition");
  assert.equal((await agent.run("hi", "alice")).text, "ok", "the default org is untouched");
});

test("an org whose tool list names no tool of an MCP server never reaches it, not even for headers", async () => {
  const { Agent } = t;
  const asked = [];
  const agent = new Agent({
    model: async (request) => ({ text: `tools: ${request.tools.map((t) => t.name).join(",")}` }),
    tools: [{ name: "lookup", description: "d", execute: () => "x" }],
    // A port nobody listens on: a listing that happens fails, and the run goes on.
    mcp: [{ name: "crm", url: "http://127.0.0.1:9/mcp", timeoutMs: 2000, headers: (userId, ctx) => (asked.push([userId, ctx.orgId]), { authorization: `Bearer ${userId}` }) }],
    orgs: { acme: { tools: ["lookup"] }, globex: { tools: ["lookup", "crm_search"] } },
  });
  assert.equal((await agent.run("hi", "alice", { orgId: "acme" })).text, "tools: lookup");
  assert.deepEqual(asked, []);
  await agent.run("hi", "alice", { orgId: "globex" });
  await agent.run("hi", "alice");
  assert.deepEqual(asked, [["alice", "globex"], ["alice", null]]);
});
