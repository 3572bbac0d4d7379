// One Durable Object per org (`ORGS.idFromName(orgId)`): it hosts the agent of that org's
// users, so every user's memory and budget and the org's knowledge live in one object's
// storage, and runs of all the org's users are admitted in one place (where an org-wide
// ceiling can hold exactly). The router has checked the caller before anything reaches it.
//
//   POST   /run, /stream      { message, sessionId? } for the user in x-tenantry-user
//   POST   /chat-ui           useChat's body, answered with the UI message stream
//   GET    /history?session_id=, /usage, /export, /facts, /search?q=&mode=&limit=&session_id=   that user's
//   DELETE /user              forget that user
//   GET    /org/blocks        the org's knowledge;  PUT /org/blocks { label, text }
//   DELETE /org/blocks?label= one block;  GET /org/usage, /org/export;  DELETE /org (forgetOrg)
//   GET    /ws                -> 101, a WebSocket of the user in x-tenantry-user (socket.js)
import { Agent, durableObjectStorage } from "tenantry";
import { HttpError, errorResponse, json, positiveVar } from "./http.js";
import { rateConfig } from "./meter.js";
import { streamResponse } from "./run-stream.js";
import { Sockets } from "./socket.js";
import { agentConfig, searchOptions, uiStreamResponse } from "./tenant.js";

export const ORG_HEADER = "x-tenantry-org";
export const USER_HEADER = "x-tenantry-user";

/** The request to send to org `org`'s object, for `user` when the operation is a user's. */
export function orgRequest(org, user, op, { method = "GET", body, query, headers: extra = {} } = {}) {
  const url = new URL(`https://org.internal/${op}`);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
  const headers = { ...extra, [ORG_HEADER]: encodeURIComponent(org) };
  if (user !== undefined) headers[USER_HEADER] = encodeURIComponent(user);
  if (body) headers["content-type"] = "application/json";
  return new Request(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
}

/**
 * The org agent's config: the tenant agent's, with the request rate limited per user by the
 * agent, and (unless ORG_DAILY_TOKENS is "none") a rolling day's token budget for all the
 * org's users together (default 1,000,000) over each user's own.
 */
export function orgAgentConfig(env, storage) {
  const config = agentConfig(env, storage);
  const { requests, perMs, burst } = rateConfig(env);
  config.rateLimit = { perUser: { requests, perMs, burst } };
  if (env.ORG_DAILY_TOKENS !== "none") {
    config.budget = { ...config.budget, perOrg: { maxTotalTokens: positiveVar(env, "ORG_DAILY_TOKENS", 1_000_000), window: "day" } };
  }
  return config;
}

export class OrgAgent {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    this.org = undefined; // the org this object is, once a request has proven it
    this.agent = undefined;
    // The users' sockets, each bound to its org and user by its own attachment. No meter:
    // the agent's rateLimit.perUser counts their runs as it counts HTTP ones.
    this.sockets = new Sockets(ctx, env, { agent: () => this.agentFor() });
  }

  agentFor() {
    this.agent ??= new Agent(orgAgentConfig(this.env, durableObjectStorage(this.ctx.storage)));
    return this.agent;
  }

  async fetch(request) {
    try {
      const org = this.orgOf(request);
      const url = new URL(request.url);
      const op = `${request.method} ${url.pathname}`;
      const agent = this.agentFor();
      const scope = { orgId: org };
      const user = () => userOf(request);
      switch (op) {
        case "POST /run": {
          const { message, sessionId } = await request.json();
          return json(await agent.run(message, user(), { ...scope, sessionId }));
        }
        case "POST /stream": {
          const { message, sessionId } = await request.json();
          return await streamResponse(agent.stream(message, user(), { ...scope, sessionId }));
        }
        case "POST /chat-ui":
          return await uiStreamResponse(agent.streamChat(await request.json(), user(), scope));
        case "GET /history": {
          const id = user();
          await agent.load(id, scope);
          return json({ messages: agent.history(id, url.searchParams.get("session_id") ?? undefined, scope) });
        }
        case "GET /usage": {
          const id = user();
          await agent.load(id, scope);
          return json(agent.usage(id, scope));
        }
        case "GET /export":
          return json(await agent.export(user(), scope));
        case "GET /facts":
          return json({ facts: await agent.facts(user(), { validAt: Date.now(), ...scope }) });
        case "GET /search":
          return json({ hits: await agent.search(user(), url.searchParams.get("q") ?? undefined, { ...searchOptions(url.searchParams), ...scope }) });
        case "GET /ws":
          return await this.sockets.accept(request, { userId: user(), orgId: org });
        case "DELETE /user":
          await agent.forget(user(), scope);
          return new Response(null, { status: 204 });
        case "GET /org/blocks":
          return json({ blocks: await agent.orgBlocks(org) });
        case "PUT /org/blocks": {
          const { label, text } = await request.json();
          await agent.setOrgBlock(org, label, text);
          return new Response(null, { status: 204 });
        }
        case "DELETE /org/blocks":
          await agent.deleteOrgBlock(org, url.searchParams.get("label") ?? undefined);
          return new Response(null, { status: 204 });
        case "GET /org/usage":
          return json(agent.orgUsage(org));
        case "GET /org/export":
          return json(await agent.exportOrg(org));
        case "DELETE /org":
          return json({ users: await agent.forgetOrg(org) });
        default:
          return json({ error: { code: "not_found", message: `no operation ${op}`, details: {} } }, 404);
      }
    } catch (err) {
      return errorResponse(err);
    }
  }

  // The sockets' idle check: the only use of this object's alarm.
  async alarm() {
    const next = this.sockets.sweep();
    if (next !== undefined) await this.ctx.storage.setAlarm(next);
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

  orgOf(request) {
    const org = decodedHeader(request, ORG_HEADER, "invalid_org_id");
    // An object is named by its org and serves that org only: a request naming another is a
    // routing bug, and serving it would mix two orgs' data in one storage.
    if (this.org !== org) {
      if (!this.env.ORGS?.idFromName(org).equals(this.ctx.id)) {
        throw new HttpError(500, "internal", "this object belongs to another org");
      }
      this.org = org;
    }
    return org;
  }
}

function userOf(request) {
  return decodedHeader(request, USER_HEADER, "invalid_user_id");
}

function decodedHeader(request, name, code) {
  const header = request.headers.get(name);
  if (header === null) throw new HttpError(400, code, `missing ${name}`);
  try {
    return decodeURIComponent(header);
  } catch {
    throw new HttpError(400, code, `${name} is not valid percent-encoding`);
  }
}
