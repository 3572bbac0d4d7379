// The demo Worker: a router in front of one Durable Object per tenant (`TenantAgent`, in
// tenant.js), and one per organisation for two-level tenancy (`OrgAgent`, in org.js). It authenticates, bounds and validates each request, checks that the caller
// may act for the tenant it names, and only then forwards it to that tenant's object, so a
// refused request touches no tenant at all.
//
//   GET    /                                  what this is, the auth mode, the routes
//   POST   /agent/interact                    { tenant_id, message }           (SOP-compatible)
//   GET    /agent/history/{tenant_id}                                          (SOP-compatible)
//   POST   /v1/chat                           { tenant_id?, user_id?, message, session_id? } -> SSE
//   POST   /v1/chat/ui?tenant_id=             useChat's { id, messages, trigger } -> UI message stream
//   GET    /v1/ws[?tenant_id=]                a WebSocket of the tenant (token's, or named in open mode):
//                                             JSON frames run, cancel, history, ping (socket.js)
//   DELETE /v1/tenants/{id}                   forget the tenant (GDPR erasure) -> 204
//   GET    /v1/tenants/{id}/export            the tenant's data (GDPR access)
//   GET    /v1/tenants/{id}/usage             the tenant's spend against its limits
//   GET    /v1/tenants/{id}/facts             what the agent believes about the tenant now
//   GET    /v1/tenants/{id}/search?q=&mode=&limit=&session_id=   the tenant's messages ranked
//   POST   /chat, POST /chat/stream, GET /history   the first demo's routes, `user_id` as the tenant
//   GET    /.well-known/agent-card.json       the A2A agent card (public)
//   POST   /a2a/v1[?tenant_id=]               A2A JSON-RPC: SendMessage, SendStreamingMessage, GetTask,
//                                             CancelTask (and v0.3's message/send, message/stream,
//                                             tasks/get, tasks/cancel); the tenant is the token's
//   POST   /v1/orgs/{org}/users/{user}/chat   { message, session_id? } -> SSE, in the org's object
//   POST   /v1/orgs/{org}/users/{user}/chat/ui  useChat's body -> UI message stream, likewise
//   GET    /v1/orgs/{org}/users/{user}/history|usage|export|facts|search, DELETE /v1/orgs/{org}/users/{user}
//   GET    /v1/orgs/{org}/users/{user}/ws     a WebSocket of that user, in the org's object
//   GET|PUT /v1/orgs/{org}/blocks, GET /v1/orgs/{org}/usage|export, DELETE /v1/orgs/{org}   (org_admin)
import { WS_PROTOCOL, authenticate, authorize, authorizeOrg, isWebSocketUpgrade, offeredProtocols } from "./auth.js";
import { HttpError, checkId, errorJson, errorResponse, idField, json, messageField, readJsonObject, strictQuery } from "./http.js";
import { modelName } from "./model.js";
import { historyBody, interactBody, tenantNotFound, withDetail } from "./sop.js";
import { tenantRequest } from "./tenant.js";
import { orgRequest } from "./org.js";
import { A2A_PATH, CARD_PATH, agentCardResponse } from "./a2a/card.js";
import { a2aEndpoint } from "./a2a/rpc.js";

export { TenantAgent } from "./tenant.js";
export { OrgAgent } from "./org.js";

const ORG = ["org_id"];
const ORG_USER = ["org_id", "user_id"];

const ROUTES = [
  { method: "GET", path: /^\/$/, handler: home, open: true },
  { method: "POST", path: /^\/agent\/interact$/, handler: sopInteract, sop: true },
  { method: "GET", path: /^\/agent\/history\/([^/]+)$/, handler: sopHistory, sop: true },
  { method: "POST", path: /^\/v1\/chat$/, handler: v1Chat },
  { method: "POST", path: /^\/v1\/chat\/ui$/, handler: v1ChatUi },
  { method: "GET", path: /^\/v1\/ws$/, handler: tenantSocket },
  { method: "DELETE", path: /^\/v1\/tenants\/([^/]+)$/, handler: forgetTenant },
  { method: "GET", path: /^\/v1\/tenants\/([^/]+)\/export$/, handler: exportTenant },
  { method: "GET", path: /^\/v1\/tenants\/([^/]+)\/usage$/, handler: tenantUsage },
  { method: "GET", path: /^\/v1\/tenants\/([^/]+)\/facts$/, handler: tenantFacts },
  { method: "GET", path: /^\/v1\/tenants\/([^/]+)\/search$/, handler: tenantSearch },
  { method: "POST", path: /^\/v1\/orgs\/([^/]+)\/users\/([^/]+)\/chat$/, handler: orgChat, params: ORG_USER },
  { method: "POST", path: /^\/v1\/orgs\/([^/]+)\/users\/([^/]+)\/chat\/ui$/, handler: orgChatUi, params: ORG_USER },
  { method: "GET", path: /^\/v1\/orgs\/([^/]+)\/users\/([^/]+)\/history$/, handler: orgUserHistory, params: ORG_USER },
  { method: "GET", path: /^\/v1\/orgs\/([^/]+)\/users\/([^/]+)\/usage$/, handler: orgUserOp("usage"), params: ORG_USER },
  { method: "GET", path: /^\/v1\/orgs\/([^/]+)\/users\/([^/]+)\/export$/, handler: orgUserOp("export"), params: ORG_USER },
  { method: "GET", path: /^\/v1\/orgs\/([^/]+)\/users\/([^/]+)\/facts$/, handler: orgUserOp("facts"), params: ORG_USER },
  { method: "GET", path: /^\/v1\/orgs\/([^/]+)\/users\/([^/]+)\/search$/, handler: orgUserSearch, params: ORG_USER },
  { method: "GET", path: /^\/v1\/orgs\/([^/]+)\/users\/([^/]+)\/ws$/, handler: orgSocket, params: ORG_USER },
  { method: "DELETE", path: /^\/v1\/orgs\/([^/]+)\/users\/([^/]+)$/, handler: orgUserOp("user", "DELETE"), params: ORG_USER },
  { method: "GET", path: /^\/v1\/orgs\/([^/]+)\/blocks$/, handler: orgOp("org/blocks"), params: ORG },
  { method: "PUT", path: /^\/v1\/orgs\/([^/]+)\/blocks$/, handler: setOrgBlock, params: ORG },
  { method: "GET", path: /^\/v1\/orgs\/([^/]+)\/export$/, handler: orgOp("org/export"), params: ORG },
  { method: "GET", path: /^\/v1\/orgs\/([^/]+)\/usage$/, handler: orgOp("org/usage"), params: ORG },
  { method: "DELETE", path: /^\/v1\/orgs\/([^/]+)$/, handler: orgOp("org", "DELETE"), params: ORG },
  { method: "POST", path: /^\/chat$/, handler: chat },
  { method: "POST", path: /^\/chat\/stream$/, handler: chatStream },
  { method: "GET", path: /^\/history$/, handler: history },
  { method: "GET", path: /^\/\.well-known\/agent-card\.json$/, handler: ({ request, url, env }) => agentCardResponse(request, url, env), open: true },
  // Authenticated by the endpoint itself, which answers every refusal as a JSON-RPC error.
  { method: "POST", path: /^\/a2a\/v1$/, handler: (ctx) => a2aEndpoint(ctx, callTenant), open: true },
];

export default {
  async fetch(request, env) {
    const mode = env.AUTH_SECRET ? "jwt" : "open";
    const url = new URL(request.url);
    const matching = ROUTES.filter((r) => r.path.test(url.pathname));
    const route = matching.find((r) => r.method === request.method);
    let response;
    try {
      if (!route) {
        response = matching.length
          ? errorJson(405, "method_not_allowed", `${request.method} is not allowed on ${url.pathname}`, {}, { allow: matching.map((r) => r.method).join(", ") })
          : errorJson(404, "not_found", `no route for ${request.method} ${url.pathname}`);
      } else {
        const auth = route.open ? { mode } : await authenticate(request, env);
        const names = route.params ?? [];
        const params = route.path.exec(url.pathname).slice(1).map((raw, i) => pathParam(raw, names[i]));
        response = await route.handler({ request, env, url, auth, params });
      }
    } catch (err) {
      response = errorResponse(err);
    }
    if (route?.sop) response = await withDetail(response);
    // Responses from the object have immutable headers: copy to add ours.
    response = response.webSocket ? socketResponse(request, response) : new Response(response.body, response);
    response.headers.set("x-tenantry-auth", mode);
    return response;
  },
};

// Which id each path segment is: its field name in errors, and its error code.
const ID_CODES = { tenant_id: "invalid_user_id", org_id: "invalid_org_id", user_id: "invalid_user_id" };

function pathParam(raw, name = "tenant_id") {
  let value;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, ID_CODES[name], `the ${name} in the path is not valid percent-encoding`);
  }
  return checkId(value, name, ID_CODES[name]);
}

/**
 * The object's 101 with the subprotocol answered: `tenantry.v1` when the client offered it
 * (a browser's WebSocket fails without it), never the `bearer.` one, which holds the token.
 */
function socketResponse(request, response) {
  const headers = new Headers(response.headers);
  if (offeredProtocols(request).includes(WS_PROTOCOL)) headers.set("sec-websocket-protocol", WS_PROTOCOL);
  return new Response(null, { status: 101, webSocket: response.webSocket, headers });
}

/**
 * What the router checks of a WebSocket route once the caller is authorized, before any
 * object is reached: that it is an upgrade (426 otherwise) and, when the client offers
 * subprotocols, that `tenantry.v1` is one of them.
 */
function requireUpgrade(request) {
  if (!isWebSocketUpgrade(request)) throw new HttpError(426, "upgrade_required", "this route is a WebSocket: send `Upgrade: websocket`");
  const offered = offeredProtocols(request);
  if (offered.length && !offered.includes(WS_PROTOCOL)) {
    throw new HttpError(400, "unsupported_protocol", `a WebSocket client of this Worker offers the subprotocol ${WS_PROTOCOL}`, { expected: WS_PROTOCOL });
  }
}

const UPGRADE = { upgrade: "websocket" };

/** Sends an operation to the tenant's own object; refuses before that if the caller may not. */
function callTenant(env, tenant, op, init) {
  if (!env.TENANTS) throw new HttpError(500, "internal", "the TENANTS Durable Object binding is missing (see wrangler.toml)");
  const stub = env.TENANTS.get(env.TENANTS.idFromName(tenant));
  return stub.fetch(tenantRequest(tenant, op, init));
}

/** The tenant the caller acts for: named by the request (or the token), and theirs to act for. */
function tenantFor(auth, requested) {
  const tenant = authorize(auth, requested);
  return checkId(tenant, "tenant_id");
}

function sessionOf(body) {
  return idField(body, "session_id", { code: "invalid_session_id", required: false });
}

// --- the SOP-compatible API -------------------------------------------------------------

/** A body `{ [idKey], message, session_id? }` sent to that tenant's object as `op`. */
async function runFromBody({ request, env, auth }, idKey, op) {
  const body = await readJsonObject(request);
  const requested = idField(body, idKey);
  const message = messageField(body);
  const sessionId = sessionOf(body);
  const tenant = tenantFor(auth, requested);
  return { tenant, res: await callTenant(env, tenant, op, { method: "POST", body: { message, sessionId } }) };
}

async function sopInteract(ctx) {
  const { tenant, res } = await runFromBody(ctx, "tenant_id", "run");
  if (!res.ok) return res;
  return json(interactBody(tenant, await res.json()));
}

async function sopHistory({ env, auth, params: [tenantId] }) {
  const tenant = tenantFor(auth, tenantId);
  const res = await callTenant(env, tenant, "export");
  if (!res.ok) return res;
  const body = historyBody(tenant, await res.json());
  return body ? json(body) : tenantNotFound();
}

// --- the v1 API ---------------------------------------------------------------------------

async function v1Chat({ request, env, auth }) {
  const body = await readJsonObject(request);
  const tenantId = idField(body, "tenant_id", { required: false });
  const userId = idField(body, "user_id", { required: false });
  const message = messageField(body);
  const sessionId = sessionOf(body);
  // Both name the tenant (inside its object the tenant is the tenantry user); two
  // different names are a contradiction, not a choice.
  if (tenantId !== undefined && userId !== undefined && tenantId !== userId) {
    throw new HttpError(400, "invalid_user_id", "`tenant_id` and `user_id` name different tenants", { field: "user_id" });
  }
  const tenant = tenantFor(auth, tenantId ?? userId);
  return callTenant(env, tenant, "stream", { method: "POST", body: { message, sessionId } });
}

/**
 * What `useChat` posts, answered with the AI SDK UI message stream. The tenant is the
 * token's (or, in open mode, the `tenant_id` query parameter's), never the body's: the
 * body is the client's, and the agent reads nothing in it but the chat id (a session of
 * that tenant) and the new message.
 */
async function v1ChatUi({ request, env, url, auth }) {
  const requested = idField(strictQuery(url), "tenant_id", { required: false });
  const body = await readJsonObject(request);
  const tenant = tenantFor(auth, requested);
  return callTenant(env, tenant, "chat-ui", { method: "POST", body });
}

/**
 * A WebSocket of the tenant, in its object (socket.js). The tenant is the token's, or in open
 * mode the one `tenant_id` names, as for `/v1/chat/ui`; authorized before the upgrade.
 */
async function tenantSocket({ request, env, url, auth }) {
  const requested = idField(strictQuery(url), "tenant_id", { required: false });
  const tenant = tenantFor(auth, requested);
  requireUpgrade(request);
  return callTenant(env, tenant, "ws", { headers: UPGRADE });
}

async function forgetTenant({ env, auth, params: [tenantId] }) {
  return callTenant(env, tenantFor(auth, tenantId), "tenant", { method: "DELETE" });
}

async function exportTenant({ env, auth, params: [tenantId] }) {
  return callTenant(env, tenantFor(auth, tenantId), "export");
}

async function tenantFacts({ env, auth, params: [tenantId] }) {
  return callTenant(env, tenantFor(auth, tenantId), "facts");
}

/**
 * `q`, `mode`, `limit` and `session_id` go to the tenant's agent as given (after strict
 * decoding): it alone decides what is a valid query, mode and limit, and its `invalid_input`
 * comes back as a 400.
 */
async function tenantSearch({ env, url, auth, params: [tenantId] }) {
  const query = strictQuery(url);
  const tenant = tenantFor(auth, tenantId);
  const sessionId = sessionOf(query);
  const { q, mode, limit } = query;
  return callTenant(env, tenant, "search", { query: { q, mode, limit, session_id: sessionId } });
}

async function tenantUsage({ env, auth, params: [tenantId] }) {
  return callTenant(env, tenantFor(auth, tenantId), "usage");
}

// --- organisations: one object per org, its users inside ------------------------------------

/** Sends an operation to the org's own object, for `user` when it is a user's. */
function callOrg(env, org, user, op, init) {
  if (!env.ORGS) throw new HttpError(500, "internal", "the ORGS Durable Object binding is missing (see wrangler.toml)");
  const stub = env.ORGS.get(env.ORGS.idFromName(org));
  return stub.fetch(orgRequest(org, user, op, init));
}

async function orgChat({ request, env, auth, params: [org, user] }) {
  authorizeOrg(auth, org, user);
  const body = await readJsonObject(request);
  const message = messageField(body);
  const sessionId = sessionOf(body);
  return callOrg(env, org, user, "stream", { method: "POST", body: { message, sessionId } });
}

/** `useChat` for a user of an org: as `/v1/chat/ui`, the identity from the path (checked), never the body. */
async function orgChatUi({ request, env, auth, params: [org, user] }) {
  authorizeOrg(auth, org, user);
  const body = await readJsonObject(request);
  return callOrg(env, org, user, "chat-ui", { method: "POST", body });
}

async function orgUserHistory({ env, url, auth, params: [org, user] }) {
  authorizeOrg(auth, org, user);
  const sessionId = sessionOf(strictQuery(url));
  return callOrg(env, org, user, "history", { query: { session_id: sessionId } });
}

/** A WebSocket of one user of the org, in the org's object (socket.js). */
async function orgSocket({ request, env, auth, params: [org, user] }) {
  authorizeOrg(auth, org, user);
  requireUpgrade(request);
  return callOrg(env, org, user, "ws", { headers: UPGRADE });
}

/** As `tenantSearch`, for a user of an org: the agent judges `q`, `mode` and `limit`. */
async function orgUserSearch({ env, url, auth, params: [org, user] }) {
  authorizeOrg(auth, org, user);
  const query = strictQuery(url);
  const sessionId = sessionOf(query);
  const { q, mode, limit } = query;
  return callOrg(env, org, user, "search", { query: { q, mode, limit, session_id: sessionId } });
}

/** A user's operation without a body: usage, export, facts, erasure. */
function orgUserOp(op, method = "GET") {
  return ({ env, auth, params: [org, user] }) => {
    authorizeOrg(auth, org, user);
    return callOrg(env, org, user, op, { method });
  };
}

/** The org's own operation: its knowledge, its export, its erasure (`org_admin` tokens). */
function orgOp(op, method = "GET") {
  return ({ env, auth, params: [org] }) => {
    authorizeOrg(auth, org, undefined);
    return callOrg(env, org, undefined, op, { method });
  };
}

async function setOrgBlock({ request, env, auth, params: [org] }) {
  authorizeOrg(auth, org, undefined);
  const body = await readJsonObject(request);
  const label = messageField(body, "label");
  const text = typeof body.text === "string" ? body.text : messageField(body, "text");
  return callOrg(env, org, undefined, "org/blocks", { method: "PUT", body: { label, text } });
}

// --- the first demo's routes, kept for their clients: `user_id` is the tenant ---------------

async function chat(ctx) {
  const { res } = await runFromBody(ctx, "user_id", "run");
  if (!res.ok) return res;
  const out = await res.json();
  return json({
    user_id: out.userId,
    session_id: out.sessionId,
    response: out.text,
    run_id: out.runId,
    finish_reason: out.finishReason,
    usage: out.usage,
  });
}

async function chatStream(ctx) {
  return (await runFromBody(ctx, "user_id", "stream")).res;
}

async function history({ env, url, auth }) {
  const query = strictQuery(url);
  const userId = idField(query, "user_id");
  const sessionId = sessionOf(query);
  const tenant = tenantFor(auth, userId);
  const res = await callTenant(env, tenant, "history", { query: { session_id: sessionId } });
  if (!res.ok) return res;
  const { messages } = await res.json();
  return json({ user_id: tenant, session_id: sessionId ?? "default", history: messages });
}

function home({ url, auth, env }) {
  const o = url.origin;
  const open = auth.mode === "open";
  const bearer = open ? "" : " -H 'authorization: Bearer <JWT>'";
  const j = "-H 'content-type: application/json'";
  return new Response(
    `tenantry demo Worker: one Durable Object per tenant (model: ${modelName(env)})\n\n` +
      (open
        ? "auth: OPEN DEMO MODE. No AUTH_SECRET is set, so anyone may act for any tenant.\n" +
          "      Set AUTH_SECRET to require `Authorization: Bearer <JWT>` (HS256, `tenant` or `sub` claim).\n\n"
        : "auth: every request except this page and the agent card needs `Authorization: Bearer <JWT>`\n" +
          "      (HS256, with an `exp`), whose `tenant` claim (else `sub`) is the only tenant it may read,\n" +
          "      write or forget.\n\n") +
      `curl -s ${o}/agent/interact${bearer} ${j} -d '{"tenant_id":"alice","message":"My name is Alice"}'\n` +
      `curl -s ${o}/agent/history/alice${bearer}\n` +
      `curl -sN ${o}/v1/chat${bearer} ${j} -d '{"tenant_id":"alice","message":"What is my name?"}'\n` +
      `curl -sN '${o}/v1/chat/ui${open ? "?tenant_id=alice" : ""}'${bearer} ${j} -d '{"id":"chat-1","trigger":"submit-message","messages":[{"id":"m1","role":"user","parts":[{"type":"text","text":"What is my name?"}]}]}'\n` +
      `curl -s ${o}/v1/tenants/alice/export${bearer}\n` +
      `curl -s ${o}/v1/tenants/alice/usage${bearer}\n` +
      `curl -s '${o}/v1/tenants/alice/search?q=what+is+my+name&mode=hybrid'${bearer}\n` +
      `curl -s -X DELETE ${o}/v1/tenants/alice${bearer}\n` +
      `curl -s ${o}${CARD_PATH}\n` +
      `curl -sN '${o}${A2A_PATH}${open ? "?tenant_id=alice" : ""}'${bearer} ${j} -d '{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"text":"What is my name?"}]}}}'\n` +
      `\nA2A (JSON-RPC at ${A2A_PATH}): SendMessage, SendStreamingMessage, GetTask, CancelTask, and v0.3's message/send,\n` +
      `message/stream, tasks/get, tasks/cancel. A contextId is a session of the ${open ? "named" : "token's"} tenant.\n` +
      `\nWebSocket: GET ${o.replace(/^http/, "ws")}/v1/ws${open ? "?tenant_id=alice" : ""} (subprotocol tenantry.v1${open ? "" : ", the token in the header or as the subprotocol bearer.<JWT>"}),\n` +
      `JSON frames {type:"run",id,message,sessionId?}, {type:"cancel",id}, {type:"history",sessionId?}, {type:"ping"}.\n` +
      `\nAlso: POST /chat, POST /chat/stream, GET /history?user_id=... (user_id is the tenant).\n`,
    { headers: { "content-type": "text/plain; charset=utf-8" } },
  );
}
