// A Worker whose Durable Object keeps an Agent's memory in its own storage through the
// package's durableObjectStorage, for tests/worker/durable-storage.test.mjs. Its default
// handler calls the object's methods over RPC:
//
//   POST /call/<method>  [args...]  -> { value } or, when the method threw, { error }
import { DurableObject } from "cloudflare:workers";
import { Agent, TenantryError, durableObjectStorage } from "tenantry";
import { bigMessage } from "./durable-storage-text.mjs";

const model = async (req) => ({
  text: `got ${req.messages.at(-1).content.length} characters`,
  usage: { inputTokens: 1, outputTokens: 1 },
});

// What an adapter over ctx.storage amounts to without chunking: one entry per value.
const naiveStorage = (storage) => ({
  get: async (key) => (await storage.get(key)) ?? null,
  put: (key, value) => storage.put(key, value),
  delete: async (key) => {
    await storage.delete(key);
  },
  list: async (prefix) => [...(await storage.list({ prefix })).keys()],
});

const errorOf = (e) => ({ name: e?.name, code: e?.code, message: String(e?.message ?? e), details: e?.details ?? null, isTenantryError: e instanceof TenantryError });

export class Store extends DurableObject {
  agent(naive) {
    const storage = naive ? naiveStorage(this.ctx.storage) : durableObjectStorage(this.ctx.storage);
    return new Agent({ model, memory: { storage, maxMessagesPerSession: 1000 } });
  }

  /** Runs bigMessage(i) for each spec in order; stops at the first failure. */
  async runBig(userId, specs, { naive = false } = {}) {
    const agent = this.agent(naive);
    let completed = 0;
    for (const { i, astral } of specs) {
      try {
        await agent.run(bigMessage(i, { astral }), userId);
      } catch (e) {
        return { completed, error: errorOf(e) };
      }
      completed += 1;
    }
    return { completed };
  }

  /** Whether a fresh agent reads back exactly the user turns bigMessage(specs) made. */
  async historyMatches(userId, specs) {
    const agent = this.agent(false);
    await agent.load(userId);
    const users = agent.history(userId).filter((m) => m.role === "user").map((m) => m.content);
    const expected = specs.map(({ i, astral }) => bigMessage(i, { astral }));
    return {
      count: users.length,
      chars: users.reduce((n, m) => n + m.length, 0),
      equal: users.length === expected.length && users.every((m, k) => m === expected[k]),
    };
  }

  async rawKeys() {
    return [...(await this.ctx.storage.list()).keys()];
  }

  async wipe() {
    await this.ctx.storage.deleteAll();
  }

  async invalid(which) {
    const args = {
      map: [new Map()],
      none: [],
      noList: [{ get() {}, put() {}, delete() {} }],
      chunk: [this.ctx.storage, { chunkChars: 1 }],
    }[which];
    durableObjectStorage(...args);
  }

  /** The adapter's own operations on raw storage, each step's observation returned. */
  async adapterChecks() {
    const storage = this.ctx.storage;
    const out = {};
    const raw = async (needle) => [...(await storage.list()).keys()].filter((k) => k.includes(needle)).sort();
    const big = (c, n) => c.repeat(n);
    let a = durableObjectStorage(storage);

    // list by prefix, a chunked value among them
    await a.put("a/1", "one");
    await a.put("a/2", big("2", 100_000));
    await a.put("ab/3", "three");
    await a.put("b/1", "four");
    out.listA = (await a.list("a/")).sort();
    out.listAb = await a.list("ab/");
    out.listAll = (await a.list("")).sort();
    out.a2 = (await a.get("a/2")) === big("2", 100_000);

    // delete takes the pieces along
    await a.put("gone", big("g", 200_000));
    out.goneBefore = (await raw("gone")).length;
    await a.delete("gone");
    out.goneAfter = await raw("gone");
    out.goneGet = await a.get("gone");

    // overwrite chunked -> small, by this adapter and by a fresh one that knows nothing yet
    await a.put("shrink", big("s", 200_000));
    out.shrinkBefore = (await raw("shrink")).length;
    await a.put("shrink", "small");
    out.shrinkAfter = await raw("shrink");
    await a.put("shrink2", big("t", 200_000));
    a = durableObjectStorage(storage);
    await a.put("shrink2", "small too");
    out.shrink2After = await raw("shrink2");
    out.shrink2Get = await a.get("shrink2");

    // concurrent writes of one key, with warm and cold piece counts
    for (const [label, fresh] of [["warm", false], ["cold", true]]) {
      await a.put(`race-${label}`, big("Z", 100_000));
      if (fresh) a = durableObjectStorage(storage);
      const values = [big("A", 300_000), "B", big("C", 70_000), big("D", 150_000), "E", big("F", 40_000)];
      await Promise.all(values.map((v) => a.put(`race-${label}`, v)));
      const got = await a.get(`race-${label}`);
      const reread = await durableObjectStorage(storage).get(`race-${label}`);
      const head = await storage.get(`v/race-${label}`);
      out[label] = {
        index: values.indexOf(got),
        sameFromFresh: reread === got,
        pieces: (await raw(`c/race-${label}#`)).length,
        headPieces: typeof head === "object" ? head.chunks : 0,
      };
    }
    return out;
  }
}

export default {
  async fetch(request, env) {
    const method = new URL(request.url).pathname.replace(/^\/call\//, "");
    const stub = env.STORE.get(env.STORE.idFromName("store"));
    try {
      return Response.json({ value: (await stub[method](...(await request.json()))) ?? null });
    } catch (e) {
      return Response.json({ error: errorOf(TenantryError.from(e) ?? e) });
    }
  },
};
