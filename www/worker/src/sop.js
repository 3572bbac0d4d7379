// The shapes of the multi-tenant-agent-SOP FastAPI service, so that its clients work
// unchanged against this Worker:
//
//   POST /agent/interact { tenant_id, message }  -> { tenant_id, response }
//   GET  /agent/history/{tenant_id}              -> { tenant_id, history: [{ message, response }] }
//                                                   404 { "detail": "Tenant not found" }
//
// Errors keep this Worker's `{ error: { code, message, details } }` and add FastAPI's
// `detail`, which is what such clients read.
import { json } from "./http.js";

export function interactBody(tenantId, result) {
  return { tenant_id: tenantId, response: result.text };
}

/**
 * The tenant's exchanges, oldest first, from its export document: every session's turns
 * (the SOP service has one conversation per tenant; `/agent/interact` uses the default
 * session), each as the user's message and the reply. Null when the tenant has none.
 */
export function historyBody(tenantId, doc) {
  const turns = doc.sessions.flatMap((s) => s.turns);
  if (turns.length === 0) return null;
  // Stable: turns committed in the same millisecond keep their session's order.
  turns.sort((a, b) => a.at - b.at);
  const history = turns.map((t) => ({
    message: t.messages.find((m) => m.role === "user")?.content ?? "",
    response: t.messages.findLast((m) => m.role === "assistant")?.content ?? "",
  }));
  return { tenant_id: tenantId, history };
}

export function tenantNotFound() {
  return json({ detail: "Tenant not found" }, 404);
}

/** An error response with FastAPI's `detail` added beside `error`. */
export async function withDetail(response) {
  if (response.ok || !(response.headers.get("content-type") ?? "").startsWith("application/json")) return response;
  const body = await response.json();
  if (body?.error && body.detail === undefined) body.detail = body.error.message;
  const headers = new Headers(response.headers);
  headers.delete("content-length"); // the body grew
  return new Response(JSON.stringify(body), { status: response.status, headers });
}
