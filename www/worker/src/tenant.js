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
//   POST   /chat-ui  useChat's request body     -> the AI SDK UI message stream
//   GET    /history?session_id=...           -> { messages }
//   GET    /export                           -> the tenant's export document
//   GET    /usage                            -> the tenant's usage report
//   GET    /facts                            -> { facts } the agent believes now
//   GET    /search?q=&mode=&limit=&session_id= -> { hits }, the tenant's messages ranked
//   POST   /a2a/{send,stream,get,cancel}     A2A calls, checked by the router (a2a/execute.js)
//   DELETE /tenant                           -> 204, the tenant's data gone (A2A tasks too)
//   GET    /ws                               -> 101, the tenant's WebSocket (socket.js)
//
// with the tenant id in the `x-tenantry-tenant` header (URI-encoded: ids may be any Unicode).
// Every operation first spends one request from the tenant's meter (meter.js), and so does
// every `run` and `history` frame on the tenant's sockets.
import { Agent, durableObjectStorage } from "tenantry";
import { embedderFromEnv, modelFromEnv } from "./model.js";
import { HttpError, errorResponse, isModelFailure, json, positiveVar } from "./http.js";
import { Meter, rateConfig } from "./meter.js";
import { A2ATasks } from "./a2a/execute.js";
import { streamResponse } from "./run-stream.js";
import { Sockets, alarmBy } from "./socket.js";

export const TENANT_HEADER = "x-tenantry-tenant";

/** The request to send to tenant `tenant`'s object. */
export function tenantRequest(tenant, op, { method = "GET", body, query, headers = {} } = {}) {
  const url = new URL(`https://tenant.internal/${op}`);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
  return new Request(url, {
    method,
    headers: { ...headers, [TENANT_HEADER]: encodeURIComponent(tenant), ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
}

/**
 * The Agent's options from the Worker's vars: unless TENANT_DAILY_TOKENS is "none", each
 * tenant may spend that many tokens a rolling day (default 200,000); unless MEMORY_TOOLS is
 * "none", the model may remember facts through the memory tools (whose definitions count
 * toward every call's reservation); EMBEDDER picks the embedder that search by meaning
 * needs (model.js). The request rate is
 * not the Agent's to limit: the meter counts every operation, runs included, and a second
 * bucket inside the Agent would charge each run twice.
 */
export function agentConfig(env, storage) {
  const tools = memoryTools(env);
  const config = {
    name: "demo",
    instructions: "You are the tenantry demo assistant. Be brief.",
    model: modelFromEnv(env),
    // The demo model stores what it is told to remember through these.
    memory: { storage, tools: tools.length ? tools : false },
  };
  const embedder = embedderFromEnv(env);
  if (embedder) config.memory.embedder = embedder;
  if (env.TENANT_DAILY_TOKENS !== "none") {
    config.budget = { perUser: { maxTotalTokens: positiveVar(env, "TENANT_DAILY_TOKENS", 200_000), window: "day" } };
  }
  return config;
}

/** The memory tools the demo agent's model may call (the agent card lists them as skills). */
export function memoryTools(env) {
  return env?.MEMORY_TOOLS === "none" ? [] : ["memory_remember", "memory_forget_fact"];
}

export class TenantAgent {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    this.tenant = undefined; // the tenant this object is, once a request has proven it
    this.agent = undefined;
    this.meter = undefined;
    this.a2a = undefined;
    // The tenant's sockets: each knows its tenant from its own attachment, so they work
    // when the object was evicted and is constructed again for a frame.
    this.sockets = new Sockets(ctx, env, { agent: () => this.agentFor(), meter: () => this.meterFor() });
  }

  meterFor() {
    this.meter ??= new Meter(this.ctx.storage, rateConfig(this.env));
    return this.meter;
  }

  a2aFor() {
    this.a2a ??= new A2ATasks(this.ctx.storage, this.env);
    return this.a2a;
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
      const meter = this.meterFor();
      await meter.take();
      switch (op) {
        case "POST /run": {
          const { message, sessionId } = await request.json();
          return json(await agent.run(message, tenant, { sessionId }));
        }
        case "POST /stream": {
          const { message, sessionId } = await request.json();
          return await streamResponse(agent.stream(message, tenant, { sessionId }));
        }
        case "POST /chat-ui":
          return await uiStreamResponse(agent.streamChat(await request.json(), tenant));
        case "GET /history": {
          await agent.load(tenant);
          return json({ messages: agent.history(tenant, url.searchParams.get("session_id") ?? undefined) });
        }
        case "GET /facts":
          return json({ facts: await agent.facts(tenant, { validAt: Date.now() }) });
        case "GET /search":
          return json({ hits: await agent.search(tenant, url.searchParams.get("q") ?? undefined, searchOptions(url.searchParams)) });
        case "GET /export":
          return json(await agent.export(tenant));
        case "GET /usage":
          await agent.load(tenant);
          return json({ ...agent.usage(tenant), rate: meter.report() });
        case "POST /a2a/send":
        case "POST /a2a/stream":
        case "POST /a2a/get":
        case "POST /a2a/cancel":
          return await this.a2aFor().handle(url.pathname.slice("/a2a/".length), agent, tenant, request);
        case "GET /ws":
          return await this.sockets.accept(request, { userId: tenant });
        case "DELETE /tenant":
          // Erasure is agent.forget and the A2A tasks, nothing wider: never
          // ctx.storage.deleteAll(), which would take the meter along and hand the tenant a
          // fresh rate limit.
          await this.a2aFor().clear();
          await agent.forget(tenant);
          await this.scheduleMeterDrop();
          return new Response(null, { status: 204 });
        default:
          return json({ error: { code: "not_found", message: `no operation ${op}`, details: {} } }, 404);
      }
    } catch (err) {
      return errorResponse(err);
    }
  }

  // An erased tenant may never send another request to bring the meter up to date, so an
  // alarm drops the record once it holds nothing back.
  async scheduleMeterDrop() {
    await alarmBy(this.ctx.storage, this.meterFor().fullAt(Date.now()));
  }

  // One alarm for both: the meter's drop and the sockets' idle check, set for whichever is
  // due first.
  async alarm() {
    const next = [await this.meterFor().dropIfFull(), this.sockets.sweep()].filter((t) => t !== undefined);
    if (next.length) await this.ctx.storage.setAlarm(Math.min(...next));
  }

  webSocketMessage(ws, data) {
    return this.sockets.message(ws, data);
  }

  webSocketClose(ws, code) {
    this.sockets.close(ws, code);
  }

  webSocketError(ws) {
    this.sockets.error(ws);
  }

  tenantOf(request) {
    const header = request.headers.get(TENANT_HEADER);
    if (header === null) throw new HttpError(400, "invalid_user_id", `missing ${TENANT_HEADER}`);
    let tenant;
    try {
      tenant = decodeURIComponent(header);
    } catch {
      throw new HttpError(400, "invalid_user_id", `${TENANT_HEADER} is not valid percent-encoding`);
    }
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
 * The search's options as the agent takes them. Whatever is given is passed on for the agent
 * to judge, so its rules and its error codes are the only ones: a `limit` that reads as a
 * decimal number goes as that number, anything else as the text it is.
 */
export function searchOptions(params) {
  const options = {};
  const mode = params.get("mode");
  if (mode !== null) options.mode = mode;
  const limit = params.get("limit");
  if (limit !== null) options.limit = /^-?\d+(\.\d+)?$/.test(limit) ? Number(limit) : limit;
  const sessionId = params.get("session_id");
  if (sessionId !== null) options.sessionId = sessionId;
  return options;
}

/**
 * A `useChat` run as the UI message stream. As with SSE above, the first event is awaited
 * first, so a request refused up front (a malformed body, the budget) gets its HTTP status
 * and JSON error, which `DefaultChatTransport` reports as the chat's error. Past that the
 * stream carries any error itself, with a failing provider's text already left out by the
 * package; the full error goes to the log.
 */
export async function uiStreamResponse(stream) {
  const first = await stream.peek();
  if (first === undefined || first.type === "error") {
    try {
      await stream.result;
    } catch (err) {
      return errorResponse(err);
    }
  }
  stream.result.catch((err) => {
    if (isModelFailure(err.code)) console.error("tenantry: the model provider failed mid-stream", err.code, err.message, JSON.stringify(err.details ?? {}));
  });
  return stream.toUIMessageStreamResponse();
}
