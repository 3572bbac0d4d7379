// The agent in this tab: the package's `browser` entry (wasm fetched next to it), one
// `Agent` shared by every tenant on the page, the user id (and org id) passed on each call.
import { BucketMirror } from "./rate.js";
import { DemoError } from "./errors.js";
import { orgOption, whoKey } from "./identity.js";

/** Modest on purpose, so the demo model visibly moves the meter and hits the limits. */
export const LIMITS = {
  maxOutputTokens: 256,
  // An org's users share its ceiling: two busy users of one org reach it before their own.
  budget: { perUser: { maxTotalTokens: 4000, window: "day" }, perOrg: { maxTotalTokens: 6000, window: "day" } },
  rateLimit: { perUser: { requests: 10, perMs: 60_000 } },
  // The demo model stores "remember that my ... is ..." through these.
  memory: { tools: ["memory_remember", "memory_forget_fact"] },
};

const INSTRUCTIONS = "You are the tenantry demo assistant. Be brief.";
const WORD_GAP_MS = 25;

/**
 * The demo model answers in one piece; this hands its answer to the run word by word, the
 * way a model of your own streams (`request.onTextDelta`), so `text-delta` events can be
 * seen arriving.
 */
function wordByWord(model) {
  return async (request) => {
    if (!request.onTextDelta) return model(request);
    // Should the model stream by itself one day, its own deltas are passed on instead.
    let streamed = false;
    const response = await model({
      ...request,
      onTextDelta: (text) => {
        streamed = true;
        request.onTextDelta(text);
      },
    });
    if (!streamed) {
      for (const piece of response.text.match(/\s*\S+\s*/g) ?? []) {
        if (request.abortSignal?.aborted) break;
        await new Promise((r) => setTimeout(r, WORD_GAP_MS));
        request.onTextDelta(piece);
      }
    }
    return response;
  };
}

// Only for the audit chain's MAC: random per page load, never shown or sent anywhere.
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class BrowserBackend {
  mode = "browser";

  /** Loads the package (fetching and compiling the wasm) and builds the agent. */
  static async create() {
    const tenantry = await import("tenantry");
    return new BrowserBackend(tenantry);
  }

  constructor(tenantry) {
    this.t = tenantry;
    this.auditKey = randomKey();
    this.modelInfo = { kind: "demo" };
    this.buckets = new Map();
    this.agent = this.construct(this.modelFunction());
  }

  modelFunction() {
    const m = this.modelInfo;
    if (m.kind === "demo") return wordByWord(this.t.demoModel());
    return this.t.openai({ baseUrl: m.baseUrl || undefined, apiKey: m.apiKey, model: m.model });
  }

  config(model, withAudit) {
    return {
      name: "demo",
      instructions: INSTRUCTIONS,
      model,
      ...LIMITS,
      // Offline and deterministic, whatever the model: search by meaning works with no key.
      memory: { ...LIMITS.memory, embedder: this.t.demoEmbedder() },
      ...(withAudit ? { audit: { key: this.auditKey } } : {}),
    };
  }

  /**
   * The audit log is feature-detected: a build without it refuses the `audit` option with
   * `invalid_config` naming that field, and then the agent is built without it.
   */
  construct(model) {
    if (this.auditConfigured !== false) {
      try {
        const agent = new this.t.Agent(this.config(model, true));
        this.auditConfigured = true;
        return agent;
      } catch (err) {
        if (err?.code !== "invalid_config" || !String(err.details?.field ?? "").startsWith("audit")) throw err;
        this.auditConfigured = false;
      }
    }
    return new this.t.Agent(this.config(model, false));
  }

  get auditAvailable() {
    return this.auditConfigured && typeof this.agent.auditLog === "function" && typeof this.t.verifyAudit === "function";
  }

  /**
   * A model is fixed when an agent is built (its name prices the tokens), so a new model
   * means a new agent restored from the old one's snapshot: every tenant's memory and
   * spend carry over. The audit chain starts afresh with the new agent.
   */
  async setModel(info) {
    const previous = this.modelInfo;
    this.modelInfo = info;
    let model;
    try {
      model = this.modelFunction();
    } catch (err) {
      this.modelInfo = previous;
      throw DemoError.from(err);
    }
    const old = this.agent;
    this.agent = await this.t.Agent.restore(this.config(model, this.auditConfigured), old.snapshot());
    old.free();
  }

  describeModel() {
    const m = this.modelInfo;
    if (m.kind === "demo") return "demoModel() /* offline; streamed word by word by the page */";
    return `openai({ baseUrl: ${JSON.stringify(m.baseUrl || "https://api.openai.com/v1")}, model: ${JSON.stringify(m.model)}, apiKey: "•••" })`;
  }

  describeConfig() {
    const shown = {
      name: "demo",
      instructions: INSTRUCTIONS,
      model: "@model",
      ...LIMITS,
      memory: { ...LIMITS.memory, embedder: "@embedder" },
      audit: this.auditConfigured ? { key: "@key" } : "(not in this build)",
    };
    // Code, not JSON, for the values that are calls or secrets.
    const code = JSON.stringify(shown, null, 2)
      .replace('"@model"', this.describeModel())
      .replace('"@embedder"', "demoEmbedder() /* offline toy: a synonym table and hashed trigrams */")
      .replace('"@key"', "/* random, 32 hex digits, kept in this page */ key");
    return `new Agent(${code})\n\nOne agent for every tenant on the page; the tenant id is the userId argument of each call.`;
  }

  stats() {
    const s = this.agent.stats();
    return `One Agent in this tab's wasm: ${s.users} tenant(s) in memory (${s.orgs} org(s)), ${s.sessions} session(s), ${s.messages} message(s).`;
  }

  bucket(who) {
    const key = whoKey(who);
    if (!this.buckets.has(key)) this.buckets.set(key, new BucketMirror(LIMITS.rateLimit.perUser));
    return this.buckets.get(key);
  }

  rate(who) {
    const { requests, perMs } = LIMITS.rateLimit.perUser;
    return { known: true, ...this.bucket(who).state(), rule: `${requests} requests per ${perMs / 1000} s` };
  }

  /** Streams one run; `onDelta(text)` per text-delta. Resolves to { text, usage }. */
  async stream(who, message, { sessionId, onDelta, onEvent }) {
    const bucket = this.bucket(who);
    bucket.took();
    const run = this.agent.stream(message, who.user, { sessionId, ...orgOption(who) });
    const result = run.result;
    // Its rejection is awaited below; this keeps it from being reported as unhandled first.
    result.catch(() => {});
    for await (const event of run) {
      onEvent?.(event);
      if (event.type === "text-delta") onDelta(event.text);
    }
    try {
      return await result;
    } catch (err) {
      const e = DemoError.from(err);
      // Refused at the door (rate limit, invalid arguments): no token was spent.
      if (e.code === "rate_limited" || e.code.startsWith("invalid_")) bucket.refund();
      if (e.code === "rate_limited") bucket.refused(e.retryAfterMs ?? 1000);
      throw e;
    }
  }

  async memory(who) {
    const at = orgOption(who);
    const sessions = this.agent.sessions(who.user, at).map((s) => ({ id: s.id, messages: this.agent.history(who.user, s.id, at) }));
    const facts = await this.agent.facts(who.user, { validAt: Date.now(), ...at });
    return { sessions, blocks: this.agent.blocks(who.user, at), properties: this.agent.properties(who.user, at), facts };
  }

  async usage(who) {
    return this.agent.usage(who.user, orgOption(who));
  }

  /** The tenant's messages ranked by `mode`; the query's embedding is made for them alone. */
  async search(who, query, mode) {
    return await this.agent.search(who.user, query, { mode, ...orgOption(who) }).catch((e) => Promise.reject(DemoError.from(e)));
  }

  canEditMemory = true;

  async setBlock(who, label, text) {
    await this.agent.setBlock(who.user, label, text, orgOption(who)).catch((e) => Promise.reject(DemoError.from(e)));
  }

  async setProperty(who, key, value) {
    await this.agent.setProperty(who.user, key, value, orgOption(who)).catch((e) => Promise.reject(DemoError.from(e)));
  }

  async forget(who) {
    await this.agent.forget(who.user, orgOption(who));
    // Forget takes the tenant's spend with it; the page's mirror of their bucket goes too.
    this.buckets.delete(whoKey(who));
  }

  async export(who) {
    return this.agent.export(who.user, orgOption(who));
  }

  async auditLog(who) {
    return await this.agent.auditLog(who.user, orgOption(who));
  }

  /** The agent keeps one chain for all tenants; a tenant's log is a filtered view of it. */
  get wholeChainAvailable() {
    return typeof this.agent.auditEntries === "function";
  }

  async auditEntries() {
    return await this.agent.auditEntries();
  }

  async verifyAudit(entries) {
    return await this.t.verifyAudit(entries, this.auditKey);
  }

  // --- an org as a whole ---

  async orgUsage(org) {
    return this.agent.orgUsage(org);
  }

  async orgBlocks(org) {
    return await this.agent.orgBlocks(org);
  }

  async setOrgBlock(org, label, text) {
    await this.agent.setOrgBlock(org, label, text).catch((e) => Promise.reject(DemoError.from(e)));
  }

  /** Erases every user of the org; resolves to how many there were. */
  async forgetOrg(org) {
    const users = await this.agent.forgetOrg(org);
    for (const key of [...this.buckets.keys()]) if (JSON.parse(key)[0] === org) this.buckets.delete(key);
    return users;
  }

  dispose() {
    this.agent.free();
  }
}
