// The Durable Object that is one tenant: every request for tenant T is routed (by
// `idFromName(T)`) to the one object named T, wherever it runs, and that object hosts an
// Agent whose memory and budget live in the object's own storage. Inside it the tenant id is
// the tenantry user id.
//
// It speaks a small internal protocol, reachable only through the binding (the router has
// already authenticated, validated and authorized the request):
//
//   POST   /run      { message, sessionId? }  -> the RunResult
//   POST   /stream   { message, sessionId? }  -> the run's events as SSE
//   GET    /history?session_id=...           -> { messages }
//   GET    /export                           -> the tenant's export document
//   GET    /usage                            -> the tenant's usage report
//   DELETE /tenant                           -> 204, everything of the tenant gone
//
// with the tenant id in the `x-tenantry-tenant` header (URI-encoded: ids may be any Unicode).
import { Agent } from "tenantry";
import { modelFromEnv } from "./model.js";
import { durableObjectStorage } from "./storage.js";
import { HttpError, SSE_HEADERS, errorResponse, json, sseMessage } from "./http.js";

export const TENANT_HEADER = "x-tenantry-tenant";

/** The request to send to tenant `tenant`'s object. */
export function tenantRequest(tenant, op, { method = "GET", body, query } = {}) {
  const url = new URL(`https://tenant.internal/${op}`);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
  return new Request(url, {
    method,
    headers: { [TENANT_HEADER]: encodeURIComponent(tenant), ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

function positive(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new HttpError(500, "invalid_config", `${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * The Agent's options from the Worker's vars. Each tenant gets a token bucket of
 * RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW_MS (default 30 a minute) and, unless
 * TENANT_DAILY_TOKENS is "none", that many tokens a rolling day (default 200,000).
 */
export function agentConfig(env, storage) {
  const requests = positive(env, "RATE_LIMIT_REQUESTS", 30);
  const perMs = positive(env, "RATE_LIMIT_WINDOW_MS", 60_000);
  const burst = positive(env, "RATE_LIMIT_BURST", requests);
  const config = {
    name: "demo",
    instructions: "You are the tenantry demo assistant. Be brief.",
    model: modelFromEnv(env),
    memory: { storage },
    rateLimit: { perUser: { requests, perMs, burst } },
  };
  if (env.TENANT_DAILY_TOKENS !== "none") {
    config.budget = { perUser: { maxTotalTokens: positive(env, "TENANT_DAILY_TOKENS", 200_000), window: "day" } };
  }
  return config;
}

export class TenantAgent {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    this.tenant = undefined; // the tenant this object is, once a request has proven it
    this.agent = undefined;
  }

  // Built on the first request rather than in the constructor so that a bad config answers
  // that request with its error instead of failing the object's construction.
  agentFor() {
    this.agent ??= new Agent(agentConfig(this.env, durableObjectStorage(this.ctx.storage)));
    return this.agent;
  }

  async fetch(request) {
    try {
      const tenant = this.tenantOf(request);
      const url = new URL(request.url);
      const op = `${request.method} ${url.pathname}`;
      const agent = this.agentFor();
      switch (op) {
        case "POST /run": {
          const { message, sessionId } = await request.json();
          return json(await agent.run(message, tenant, { sessionId }));
        }
        case "POST /stream": {
          const { message, sessionId } = await request.json();
          return await streamResponse(agent.stream(message, tenant, { sessionId }));
        }
        case "GET /history": {
          await agent.load(tenant);
          return json({ messages: agent.history(tenant, url.searchParams.get("session_id") ?? undefined) });
        }
        case "GET /export":
          return json(await agent.export(tenant));
        case "GET /usage":
          await agent.load(tenant);
          return json(agent.usage(tenant));
        case "DELETE /tenant":
          await agent.forget(tenant);
          return new Response(null, { status: 204 });
        default:
          return json({ error: { code: "not_found", message: `no operation ${op}`, details: {} } }, 404);
      }
    } catch (err) {
      return errorResponse(err);
    }
  }

  tenantOf(request) {
    const header = request.headers.get(TENANT_HEADER);
    if (header === null) throw new HttpError(400, "invalid_user_id", `missing ${TENANT_HEADER}`);
    const tenant = decodeURIComponent(header);
    // An object is named by its tenant, so it serves that tenant only: a request naming any
    // other is a routing bug, and serving it would mix two tenants' data in one storage.
    // idFromName is deterministic, so this needs no state and holds across restarts.
    if (this.tenant !== tenant) {
      if (!this.env.TENANTS?.idFromName(tenant).equals(this.ctx.id)) {
        throw new HttpError(500, "internal", "this object belongs to another tenant");
      }
      this.tenant = tenant;
    }
    return tenant;
  }
}

/**
 * The run as SSE. The first event is awaited before answering, so a run refused up front
 * (rate limit, budget, a model that fails before any text) gets its real HTTP status and
 * JSON error rather than a 200 stream holding one `error` event.
 */
async function streamResponse(stream) {
  const first = await stream.next();
  // A run refused before any work (rate limit) ends the stream with no event at all, its
  // error only in `result`: look there whenever the first thing seen is not a success.
  if (first.done || first.value.type === "error") {
    try {
      await stream.result;
    } catch (err) {
      return errorResponse(err);
    }
  }
  const encoder = new TextEncoder();
  let pending = first.done ? undefined : first.value;
  let ended = first.done;
  const body = new ReadableStream({
    async pull(controller) {
      if (pending === undefined && !ended) {
        const next = await stream.next();
        ended = next.done;
        pending = next.value;
      }
      if (pending !== undefined) {
        controller.enqueue(encoder.encode(sseMessage(pending)));
        pending = undefined;
      } else {
        controller.close();
      }
    },
    // The client went away: aborting the run commits nothing of it.
    cancel() {
      stream.return();
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
}
