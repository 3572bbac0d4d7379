// What every bundled app does with the package: one agent, two users' worth of runs through
// the wasm, and a failure that must still be a TenantryError after bundling.
import { Agent, demoModel, TenantryError } from "tenantry";

export async function demo() {
  const agent = new Agent({ model: demoModel() });
  await agent.run("My name is Alice", "alice");
  const alice = await agent.run("What's my name?", "alice");
  const bob = await agent.run("What's my name?", "bob");
  const code = await agent.run("hi", "").then(
    () => "no error",
    (e) => (e instanceof TenantryError ? e.code : `not a TenantryError: ${e}`),
  );
  return { alice: alice.text, bobKnowsAlice: bob.text.includes("Alice"), code };
}
