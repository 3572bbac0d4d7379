// The demo Worker: one shared Agent for every user of this isolate, reached over HTTP.
//
//   POST /chat         { "user_id": "alice", "message": "My name is Alice", "session_id"?: "..." }
//   POST /chat/stream  the same, answered as Server-Sent Events (one run event per message)
//   GET  /history?user_id=alice[&session_id=...]
//
// The user id travels with each request into `agent.run`; nothing about the caller is ever
// stored on the agent. (A Durable Object per tenant, auth and persistence come with issue 8.)
import { Agent, TenantryError } from "tenantry";
import { modelFromEnv } from "./model.js";

const MAX_BODY_BYTES = 64 * 1024;

// Built on the first request, not at module scope: `env` only exists per request, and Workers
// forbid some work (random values) at global scope.
let agent;
function agentFor(env) {
  agent ??= new Agent({
    name: "demo",
    instructions: "You are the tenantry demo assistant. Be brief.",
    model: modelFromEnv(env),
  });
  return agent;
}

export default {
  async fetch(request, env) {
    try {
      const url = new URL(request.url);
      if (url.pathname === "/chat" && request.method === "POST") return await chat(request, env);
      if (url.pathname === "/chat/stream" && request.method === "POST") return await chatStream(request, env);
      if (url.pathname === "/history" && request.method === "GET") return history(url, env);
      if (url.pathname === "/" && request.method === "GET") return usage(url);
      return json({ error: { code: "not_found", message: `no route for ${request.method} ${url.pathname}` } }, 404);
    } catch (err) {
      return errorResponse(err);
    }
  },
};

/** The JSON body, or the error Response to send instead. */
async function readBody(request) {
  const text = await request.text();
  if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) {
    return { error: json({ error: { code: "body_too_large", message: `the body is over ${MAX_BODY_BYTES} bytes` } }, 413) };
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return { error: json({ error: { code: "invalid_json", message: "the body is not JSON" } }, 400) };
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return { error: json({ error: { code: "invalid_json", message: 'expected { "user_id", "message" }' } }, 400) };
  }
  return { body };
}

async function chatStream(request, env) {
  const { body, error } = await readBody(request);
  if (error) return error;
  const stream = agentFor(env).stream(body.message, body.user_id, { sessionId: body.session_id ?? undefined, signal: request.signal });
  const encoder = new TextEncoder();
  const sse = stream.toReadableStream().pipeThrough(
    new TransformStream({
      transform(event, controller) {
        controller.enqueue(encoder.encode(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`));
      },
    }),
  );
  return new Response(sse, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" } });
}

async function chat(request, env) {
  const { body, error } = await readBody(request);
  if (error) return error;
  const out = await agentFor(env).run(body.message, body.user_id, { sessionId: body.session_id ?? undefined });
  return json({
    user_id: out.userId,
    session_id: out.sessionId,
    response: out.text,
    run_id: out.runId,
    finish_reason: out.finishReason,
    usage: out.usage,
  });
}

function history(url, env) {
  const userId = url.searchParams.get("user_id");
  const sessionId = url.searchParams.get("session_id") ?? undefined;
  return json({ user_id: userId, session_id: sessionId ?? "default", history: agentFor(env).history(userId, sessionId) });
}

function usage(url) {
  return new Response(
    `tenantry demo Worker\n\n` +
      `curl -s ${url.origin}/chat -H 'content-type: application/json' -d '{"user_id":"alice","message":"My name is Alice"}'\n` +
      `curl -s ${url.origin}/chat -H 'content-type: application/json' -d '{"user_id":"alice","message":"What is my name?"}'\n` +
      `curl -s '${url.origin}/history?user_id=alice'\n`,
    { headers: { "content-type": "text/plain; charset=utf-8" } },
  );
}

// Bad ids and inputs are the caller's fault (400); a failing model is the upstream's (502).
const STATUS = { invalid_user_id: 400, invalid_session_id: 400, invalid_input: 400, aborted: 499 };

function errorResponse(err) {
  if (err instanceof TenantryError) {
    const status = STATUS[err.code] ?? (err.code.startsWith("model") ? 502 : 500);
    return json({ error: { code: err.code, message: err.message, details: err.details } }, status);
  }
  return json({ error: { code: "internal", message: String(err?.message ?? err) } }, 500);
}

function json(value, status = 200) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8" },
  });
}
