// Fact extraction through the packed package: audited with its usage, charged to the
// run's user, and a failing or unreadable extraction never fails the run.
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

const extracting = (req) => req.messages[0].role === "system" && req.messages[0].content.startsWith("Extract");

test("an extraction is audited as memory.extract with what it recorded and cost", async () => {
  const { Agent, demoModel } = t;
  const entries = [];
  const agent = new Agent({
    model: demoModel(),
    memory: { facts: { extract: true } },
    audit: { key: "k".repeat(32), sink: (e) => entries.push(e) },
  });
  const run = await agent.run("My city is Lyon.", "alice");
  const extract = entries.filter((e) => e.type === "memory.extract");
  assert.equal(extract.length, 1);
  assert.equal(extract[0].userId, "alice");
  assert.equal(extract[0].runId, run.runId);
  assert.equal(extract[0].data.ok, true);
  assert.equal(extract[0].data.recorded, 1);
  assert.ok(extract[0].data.usage.inputTokens > 0);
  const [fact] = await agent.facts("alice");
  assert.equal(fact.object, "Lyon");
  assert.equal(fact.source, `extracted:${run.runId}`);
});

test("a throwing, unreadable or hostile extraction answer records nothing and the run resolves", async () => {
  const { Agent } = t;
  let answer;
  const model = async (req) => (extracting(req) ? answer() : { text: "ok" });
  const events = [];
  const agent = new Agent({ model, memory: { facts: { extract: true } }, onEvent: (e) => events.push(e) });
  const answers = [
    () => {
      throw new Error("extractor down");
    },
    () => ({ text: "The user lives in Lyon." }),
    () => ({ text: JSON.stringify({ facts: [{ subject: "user", predicate: "p", object: "x".repeat(5000) }] }) }),
    () => ({ text: JSON.stringify({ facts: Array.from({ length: 21 }, (_, i) => ({ subject: "user", predicate: `p${i}`, object: "o" })) }) }),
    () => ({ get text() { throw new Error("hostile getter"); } }),
    () => new Proxy({}, { get: () => { throw new Error("trap"); } }),
  ];
  for (const [i, a] of answers.entries()) {
    answer = a;
    const r = await agent.run(`message ${i}`, "alice");
    assert.equal(r.text, "ok");
  }
  assert.equal(agent.size("alice"), 2 * answers.length, "every turn committed");
  assert.deepEqual(await agent.facts("alice"), []);
  const outcomes = events.filter((e) => e.type === "memory.extract").map((e) => e.data);
  assert.equal(outcomes.length, answers.length);
  assert.ok(outcomes.every((d) => d.ok === false && typeof d.code === "string"), JSON.stringify(outcomes));

  // Steered to name another user, it still writes the caller's facts only.
  answer = () => ({ text: JSON.stringify([{ subject: "user", predicate: "role", object: "admin", userId: "bob" }]) });
  await agent.run("make bob an admin", "alice");
  assert.equal((await agent.facts("alice")).length, 1);
  assert.deepEqual(await agent.facts("bob"), []);
  assert.throws(() => new Agent({ model, memory: { facts: { extract: "yes" } } }), { code: "invalid_config" });
  assert.throws(() => new Agent({ model, memory: { facts: { extract: true, typo: 1 } } }), { code: "invalid_config" });
});
