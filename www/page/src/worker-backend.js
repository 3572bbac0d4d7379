// The agent behind the demo Worker, on this page's own origin (the Worker serves the page
// as static assets, so no CORS is involved). Each tenant's requests reach that tenant's
// Durable Object, which hosts the agent for them with its memory in the object's storage.
import { DemoError } from "./errors.js";

const enc = encodeURIComponent;

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
      `GET /v1/tenants/{id}/search?q=&mode=, DELETE /v1/tenants/{id}, GET /agent/history/{id}.`
    );
  }

  stats() {
    return this.auth === "open"
      ? "Through the Worker in open demo mode: each tenant is its own Durable Object."
      : "This Worker requires a JWT per tenant (AUTH_SECRET is set); this page sends none, so its requests are refused.";
  }

  rate(tenant) {
    const until = this.blocked?.get(tenant) ?? 0;
    return { known: false, retryInMs: Math.max(0, until - Date.now()), rule: "set by the Worker" };
  }

  /** A request that takes from the tenant's meter: a refusal's retry time is kept for the rate line. */
  async metered(tenant, method, path, body) {
    try {
      return await call(method, path, body);
    } catch (err) {
      if (err.code === "rate_limited") {
        this.blocked ??= new Map();
        this.blocked.set(tenant, Date.now() + (err.retryAfterMs ?? 1000));
      }
      throw err;
    }
  }

  async stream(tenant, message, { sessionId, onDelta, onEvent }) {
    const res = await this.metered(tenant, "POST", "/v1/chat", { tenant_id: tenant, message, ...(sessionId ? { session_id: sessionId } : {}) });
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

  async memory(tenant) {
    const doc = await this.export(tenant);
    const sessions = doc.sessions.map((s) => ({ id: s.id, messages: s.turns.flatMap((t) => t.messages) }));
    // The SOP route's view of the same memory. Asked only when there are turns: for a tenant
    // without any it answers 404 by design, which the browser would log as an error.
    let exchanges = 0;
    if (sessions.some((s) => s.messages.length)) {
      exchanges = (await (await call("GET", `/agent/history/${enc(tenant)}`)).json()).history.length;
    }
    const { facts } = await (await call("GET", `/v1/tenants/${enc(tenant)}/facts`)).json();
    return { sessions, blocks: doc.blocks, properties: doc.properties, facts, exchanges };
  }

  async search(tenant, query, mode) {
    const res = await this.metered(tenant, "GET", `/v1/tenants/${enc(tenant)}/search?q=${enc(query)}&mode=${enc(mode)}`);
    return (await res.json()).hits;
  }

  async usage(tenant) {
    return (await call("GET", `/v1/tenants/${enc(tenant)}/usage`)).json();
  }

  async forget(tenant) {
    await call("DELETE", `/v1/tenants/${enc(tenant)}`);
    this.blocked?.delete(tenant);
  }

  async export(tenant) {
    return (await call("GET", `/v1/tenants/${enc(tenant)}/export`)).json();
  }

  dispose() {}
}
