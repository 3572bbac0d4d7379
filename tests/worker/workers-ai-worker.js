// A Worker whose agent's model is workersAI(env.AI, ...), for tests/worker/workers-ai.test.mjs.
// env.AI is the runtime's own Workers AI binding; the test points its inference service at a
// double on 127.0.0.1. The agent lives in a Durable Object, as a tenant's agent does in the
// demo Worker; the default handler calls the object's methods over RPC:
//
//   POST /call/<method>  [args...]  -> { value } or, when the method threw, { error }
import { DurableObject } from "cloudflare:workers";
import { Agent, TenantryError, workersAI } from "tenantry";

// Built at global scope, where workerd refuses random numbers: building one must draw none.
const atGlobalScope = workersAI({ run: async (model, inputs) => ({ response: `global ${inputs.messages.at(-1).content}` }) }, "@cf/test/global");

const errorOf = (e) => ({ code: e?.code, message: String(e?.message ?? e), isTenantryError: e instanceof TenantryError });

export class Host extends DurableObject {
  #agent;
  #controllers = new Map();

  agent() {
    const model = this.env.MODEL;
    this.#agent ??= new Agent({
      model: workersAI(this.env.AI, model),
      instructions: "Be brief.",
      maxOutputTokens: 64,
      tools: [
        {
          name: "get_weather",
          description: "Current weather in a city",
          parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          execute: async ({ city }) => ({ city, temperature: 21 }),
        },
      ],
      budget: { perUser: { maxCostUsd: 1 }, prices: { [model]: { inputPerMTok: 0.29, outputPerMTok: 2.25 } } },
    });
    return this.#agent;
  }

  /** One run (`stream: true` through agent.stream), abortable by `abort(id)`. */
  async run(input, userId, { id = "run", stream = false } = {}) {
    const agent = this.agent();
    const controller = new AbortController();
    this.#controllers.set(id, controller);
    try {
      const options = { signal: controller.signal };
      if (!stream) {
        const out = await agent.run(input, userId, options);
        return { text: out.text, usage: out.usage, finishReason: out.finishReason, size: agent.size(userId) };
      }
      const run = agent.stream(input, userId, options);
      const deltas = [];
      for await (const ev of run) if (ev.type === "text-delta") deltas.push(ev.text);
      const out = await run.result;
      return { deltas, text: out.text, usage: out.usage, size: agent.size(userId) };
    } catch (e) {
      return { error: errorOf(e), size: agent.size(userId) };
    } finally {
      this.#controllers.delete(id);
    }
  }

  abort(id) {
    this.#controllers.get(id)?.abort();
  }

  async global(input) {
    return (await new Agent({ model: atGlobalScope }).run(input, "anyone")).text;
  }

  totals(userId) {
    return this.agent().usage(userId).totals;
  }
}

export default {
  async fetch(request, env) {
    const method = new URL(request.url).pathname.replace("/call/", "");
    const args = await request.json();
    const host = env.HOST.get(env.HOST.idFromName("one"));
    try {
      return Response.json({ value: await host[method](...args) });
    } catch (e) {
      return Response.json({ error: errorOf(e) });
    }
  },
};
