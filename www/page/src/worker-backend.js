// The agent behind the demo Worker, on this page's own origin (the Worker serves the page
// as static assets, so no CORS is involved). Each tenant's requests reach that tenant's
// Durable Object, which hosts the agent for them with its memory in the object's storage.
import { DemoError } from "./errors.js";
import { whoKey } from "./identity.js";

const enc = encodeURIComponent;

/** The routes of one user: a one-level tenant's, or a user's of an org (its org's object). */
const base = (who) => (who.org === undefined ? `/v1/tenants/${enc(who.user)}` : `/v1/orgs/${enc(who.org)}/users/${enc(who.user)}`);

async function failure(res) {
  let body;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const err = body?.error ?? { code: `http_${res.status}`, message: res.statusText || `HTTP ${res.status}` };
  const details = { ...(err.details ?? {}) };
  // The Worker puts retryAfterMs in details; Retry-After (whole seconds) is the fallback.
  const header = Number(res.headers.get("retry-after"));
  if (details.retryAfterMs === undefined && Number.isFinite(header) && header > 0) details.retryAfterMs = header * 1000;
  return new DemoError(err.code, err.message, details);
}

async function call(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw await failure(res);
  return res;
}

/** Yields the run events of an SSE response body as they arrive. */
async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, ""))
          .join("\n");
        if (data) yield JSON.parse(data);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

export class WorkerBackend {
  mode = "worker";
  canEditMemory = false;
  auditAvailable = false;

  static async create() {
    const res = await fetch("/", { method: "GET" });
    const backend = new WorkerBackend();
    backend.auth = res.headers.get("x-tenantry-auth") ?? "unknown";
    backend.home = await res.text();
    return backend;
  }

  describeModel() {
    return /model: (\w+)/.exec(this.home ?? "")?.[1] ?? "the Worker's";
  }

  describeConfig() {
    return (
      `The Worker on ${location.origin}: one Durable Object per tenant, each hosting an Agent\n` +
      `whose memory and budget live in that object's storage.\n` +
      `Model: ${this.describeModel()} (set on the server). Auth: ${this.auth}.\n` +
      `Limits come from the Worker's vars (RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW_MS,\n` +
      `TENANT_DAILY_TOKENS); each tenant's meter shows them as the Worker reports them.\n\n` +
      `Routes used: POST /v1/chat (SSE), GET /v1/tenants/{id}/usage, GET /v1/tenants/{id}/export, GET /v1/tenants/{id}/facts,\n` +
      `GET /v1/tenants/{id}/search?q=&mode=, DELETE /v1/tenants/{id}, GET /agent/history/{id};\n` +
      `for an org's users (one Durable Object per org, its ceiling ORG_DAILY_TOKENS): POST /v1/orgs/{org}/users/{user}/chat,\n` +
      `GET .../usage, .../export, .../facts and .../search, DELETE /v1/orgs/{org}/users/{user}, GET /v1/orgs/{org}/usage, GET|PUT /v1/orgs/{org}/blocks,\n` +
      `DELETE /v1/orgs/{org}.`
    );
  }

  stats() {
    return this.auth === "open"
      ? "Through the Worker in open demo mode: each tenant is its own Durable Object."
      : "This Worker requires a JWT per tenant (AUTH_SECRET is set); this page sends none, so its requests are refused.";
  }

  rate(who) {
    const until = this.blocked?.get(whoKey(who)) ?? 0;
    return { known: false, retryInMs: Math.max(0, until - Date.now()), rule: "set by the Worker" };
  }

  /** A request that takes from the tenant's meter: a refusal's retry time is kept for the rate line. */
  async metered(who, method, path, body) {
    try {
      return await call(method, path, body);
    } catch (err) {
      if (err.code === "rate_limited") {
        this.blocked ??= new Map();
        this.blocked.set(whoKey(who), Date.now() + (err.retryAfterMs ?? 1000));
      }
      throw err;
    }
  }

  async stream(who, message, { sessionId, onDelta, onEvent }) {
    const session = sessionId ? { session_id: sessionId } : {};
    const res =
      who.org === undefined
        ? await this.metered(who, "POST", "/v1/chat", { tenant_id: who.user, message, ...session })
        : await this.metered(who, "POST", `${base(who)}/chat`, { message, ...session });
    let finish;
    for await (const event of sseEvents(res.body)) {
      onEvent?.(event);
      if (event.type === "text-delta") onDelta(event.text);
      else if (event.type === "finish") finish = event;
      else if (event.type === "error") throw new DemoError(event.code, event.message, event.details);
    }
    if (!finish) throw new DemoError("internal", "the stream ended without a finish event");
    return finish;
  }

  async memory(who) {
    const doc = await this.export(who);
    const sessions = doc.sessions.map((s) => ({ id: s.id, messages: s.turns.flatMap((t) => t.messages) }));
    const { facts } = await (await call("GET", `${base(who)}/facts`)).json();
    if (who.org !== undefined) return { sessions, blocks: doc.blocks, properties: doc.properties, facts };
    // The SOP route's view of the same memory. Asked only when there are turns: for a tenant
    // without any it answers 404 by design, which the browser would log as an error.
    let exchanges = 0;
    if (sessions.some((s) => s.messages.length)) {
      exchanges = (await (await call("GET", `/agent/history/${enc(who.user)}`)).json()).history.length;
    }
    return { sessions, blocks: doc.blocks, properties: doc.properties, facts, exchanges };
  }

  async search(who, query, mode) {
    const res = await this.metered(who, "GET", `${base(who)}/search?q=${enc(query)}&mode=${enc(mode)}`);
    return (await res.json()).hits;
  }

  async usage(who) {
    return (await call("GET", `${base(who)}/usage`)).json();
  }

  async forget(who) {
    await call("DELETE", base(who));
    this.blocked?.delete(whoKey(who));
  }

  async export(who) {
    return (await call("GET", `${base(who)}/export`)).json();
  }

  // --- an org as a whole (its own object) ---

  async orgUsage(org) {
    return (await call("GET", `/v1/orgs/${enc(org)}/usage`)).json();
  }

  async orgBlocks(org) {
    return (await (await call("GET", `/v1/orgs/${enc(org)}/blocks`)).json()).blocks;
  }

  async setOrgBlock(org, label, text) {
    await call("PUT", `/v1/orgs/${enc(org)}/blocks`, { label, text });
  }

  async forgetOrg(org) {
    const { users } = await (await call("DELETE", `/v1/orgs/${enc(org)}`)).json();
    for (const key of [...(this.blocked?.keys() ?? [])]) if (JSON.parse(key)[0] === org) this.blocked.delete(key);
    return users;
  }

  dispose() {}
}
