// A Worker whose Durable Object hosts an Agent and is called over Workers RPC (a method of
// the stub, not fetch). tests/worker/rpc.test.mjs checks what of a TenantryError survives
// the call; tests/node/bundlers.test.mjs builds this Worker with wrangler.
//
//   GET /run?input=...&user=...  -> { text } or, when the call threw, 500 with
//                                   { received, revived }: the error as the caller got it,
//                                   and TenantryError.from(it)
import { DurableObject } from "cloudflare:workers";
import { Agent, TenantryError, demoModel } from "tenantry";

export class Tenant extends DurableObject {
  agent = new Agent({ model: demoModel(), budget: { perUser: { maxTotalTokens: 40 } } });

  async run(input, userId) {
    const { text } = await this.agent.run(input, userId);
    return text;
  }
}

const described = (e) =>
  e && {
    name: e.name,
    message: e.message,
    code: e.code,
    details: e.details,
    isTenantryError: e instanceof TenantryError,
    isError: e instanceof Error,
    remote: e.remote,
  };

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const stub = env.TENANT.get(env.TENANT.idFromName("tenant"));
    try {
      return Response.json({ text: await stub.run(url.searchParams.get("input"), url.searchParams.get("user")) });
    } catch (e) {
      return Response.json({ received: described(e), revived: described(TenantryError.from(e)) ?? null }, { status: 500 });
    }
  },
};
