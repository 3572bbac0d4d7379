// The A2A JSON-RPC 2.0 endpoint, router side: authentication, the envelope, the method,
// the params, all checked before the tenant's object is reached; the object (execute.js)
// runs the call and answers with its JSON-RPC result, and any error on the way is made a
// JSON-RPC error here. The tenant is the verified token's only (in open mode, the
// `tenant_id` query parameter's): nothing in the body can name another one.
//
// v1.0 methods (SendMessage, SendStreamingMessage, GetTask, CancelTask) and their v0.3
// names (message/send, message/stream, tasks/get, tasks/cancel) are one set of operations;
// the method's name picks the dialect of params and answers.
import { authenticate, authorize } from "../auth.js";
import { HttpError, checkId, errorResponse, idField, json, readJson, strictQuery } from "../http.js";
import { V03, V1, namedTenant, readSendParams, readTaskParams } from "./wire.js";

const METHODS = {
  SendMessage: { dialect: V1, op: "send" },
  SendStreamingMessage: { dialect: V1, op: "stream" },
  GetTask: { dialect: V1, op: "get" },
  CancelTask: { dialect: V1, op: "cancel" },
  "message/send": { dialect: V03, op: "send" },
  "message/stream": { dialect: V03, op: "stream" },
  "tasks/get": { dialect: V03, op: "get" },
  "tasks/cancel": { dialect: V03, op: "cancel" },
};

// Methods of the protocol this agent does not offer, answered with the protocol's error
// for them rather than "method not found".
const PUSH_METHODS = [
  "CreateTaskPushNotificationConfig",
  "GetTaskPushNotificationConfig",
  "ListTaskPushNotificationConfigs",
  "DeleteTaskPushNotificationConfig",
  "tasks/pushNotificationConfig/set",
  "tasks/pushNotificationConfig/get",
  "tasks/pushNotificationConfig/list",
  "tasks/pushNotificationConfig/delete",
];
const UNSUPPORTED_METHODS = ["ListTasks", "SubscribeToTask", "GetExtendedAgentCard", "tasks/resubscribe", "agent/getAuthenticatedExtendedCard"];

const SUPPORTED_VERSIONS = [V1, V03];

// The Worker's error codes as JSON-RPC's (-326xx) and A2A's (-320xx). Anything else the
// Worker says (auth, limits, the model provider) is -32000, a server error, with the
// Worker's code in `data`.
const RPC_CODES = {
  invalid_json: -32700,
  invalid_request: -32600,
  body_too_large: -32600,
  unsupported_media_type: -32600,
  method_not_found: -32601,
  invalid_params: -32602,
  invalid_input: -32602,
  invalid_session_id: -32602,
  invalid_user_id: -32602,
  internal: -32603,
  task_not_found: -32001,
  task_not_cancelable: -32002,
  push_notification_not_supported: -32003,
  unsupported_operation: -32004,
  content_type_not_supported: -32005,
  version_not_supported: -32009,
};
const SERVER_ERROR = -32000;

// Protocol-level errors of a well-formed call travel in a 200 like any JSON-RPC answer; the
// rest keep the HTTP status that says what happened to the request (400, 401, 403, 413,
// 415, 429, 5xx).
const IN_BAND = new Set([-32601, -32602, -32001, -32002, -32003, -32004, -32005, -32009]);

/**
 * The JSON-RPC error response for a Worker error body `{ error: { code, message, details } }`.
 * `inBand`: the request was a JSON-RPC call, so a protocol error is its answer, in a 200.
 */
function rpcError(id, status, { code, message, details }, headers, inBand) {
  const rpcCode = RPC_CODES[code] ?? (status >= 500 && !/^model_/.test(code) && code !== "unsupported" ? -32603 : SERVER_ERROR);
  const metadata = { code };
  for (const [k, v] of Object.entries(details ?? {})) if (["string", "number", "boolean"].includes(typeof v)) metadata[k] = String(v);
  // A2A's own errors carry its ErrorInfo (reason and domain as the spec names them); the
  // Worker's others are its own domain's, reason its code.
  const a2a = rpcCode === -32602 || (rpcCode <= -32001 && rpcCode >= -32099);
  const reason = rpcCode === -32602 ? "INVALID_PARAMS" : code.toUpperCase();
  const data = [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason, domain: a2a ? "a2a-protocol.org" : "tenantry", metadata }];
  return json({ jsonrpc: "2.0", id, error: { code: rpcCode, message, data } }, inBand && IN_BAND.has(rpcCode) ? 200 : status, headers);
}

/** Any Response carrying the Worker's JSON error, as a JSON-RPC error response. */
async function asRpcError(id, response, inBand) {
  const headers = {};
  const retry = response.headers.get("retry-after");
  if (retry !== null) headers["retry-after"] = retry;
  if (response.status === 401) headers["www-authenticate"] = 'Bearer realm="a2a"';
  let error;
  try {
    ({ error } = await response.json());
  } catch {
    error = undefined;
  }
  if (error === null || typeof error !== "object" || typeof error.code !== "string") {
    error = { code: "internal", message: "internal error", details: {} };
  }
  return rpcError(id, response.status, error, headers, inBand);
}

const fail = (status, code, message, details = {}) => new HttpError(status, code, message, details);

/** The request's id, if it has a usable one: answers echo it, so it is bounded. */
function idOf(body) {
  if (body === null || typeof body !== "object" || Array.isArray(body) || !Object.hasOwn(body, "id")) return null;
  const { id } = body;
  if (id === null || (typeof id === "number" && Number.isFinite(id))) return id;
  if (typeof id === "string" && id.length <= 255 && id.isWellFormed()) return id;
  return null;
}

/** `{ id, method, params }` of a JSON-RPC 2.0 request, or invalid request (-32600). */
function readEnvelope(body) {
  const invalid = (message) => fail(400, "invalid_request", message);
  if (Array.isArray(body)) throw invalid("batch requests are not supported: send one request per call");
  if (body === null || typeof body !== "object") throw invalid("the body must be a JSON-RPC request object");
  if (body.jsonrpc !== "2.0") throw invalid('`jsonrpc` must be "2.0"');
  // A notification gets no answer under JSON-RPC, and every A2A call needs one.
  if (!Object.hasOwn(body, "id")) throw invalid("`id` is required: A2A calls are requests, not notifications");
  const { id } = body;
  if (!(id === null || (typeof id === "number" && Number.isFinite(id)) || (typeof id === "string" && id.length <= 255 && id.isWellFormed()))) {
    throw invalid("`id` must be a string of at most 255 characters, a number or null");
  }
  if (typeof body.method !== "string") throw invalid("`method` must be a string");
  const params = Object.hasOwn(body, "params") ? body.params : {};
  if (params === null || typeof params !== "object" || Array.isArray(params)) {
    throw fail(400, "invalid_params", "`params` must be an object (by-name parameters)", { field: "params" });
  }
  return { id, method: body.method, params };
}

function methodOf(name) {
  if (Object.hasOwn(METHODS, name)) return METHODS[name];
  if (PUSH_METHODS.includes(name)) throw fail(400, "push_notification_not_supported", "this agent sends no push notifications");
  if (UNSUPPORTED_METHODS.includes(name)) throw fail(400, "unsupported_operation", `${name} is not offered by this agent`);
  throw fail(404, "method_not_found", `no method ${JSON.stringify(name.slice(0, 100))}`);
}

/** A2A-Version: absent is fine (the method name tells the dialect), else a version offered. */
function checkVersion(request) {
  const version = request.headers.get("a2a-version")?.trim();
  if (version === undefined || version === "") return;
  const majorMinor = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(version);
  if (!majorMinor || !SUPPORTED_VERSIONS.includes(`${Number(majorMinor[1])}.${Number(majorMinor[2])}`)) {
    throw fail(400, "version_not_supported", `A2A-Version ${JSON.stringify(version.slice(0, 32))} is not supported: use 1.0 or 0.3`, { supported: SUPPORTED_VERSIONS.join(",") });
  }
}

/** The tenant the call acts for: the token's; the URL's `tenant_id`, if given, must be it. */
function tenantOf(url, auth) {
  const requested = idField(strictQuery(url), "tenant_id", { required: false });
  return checkId(authorize(auth, requested), "tenant_id");
}

/**
 * POST /a2a/v1. Refusals come in order of cost: a bad token (401) or a tenant that is not
 * the token's (403) before the body is read; then the body, the envelope, the method, the
 * version and the params; only a call that passed all of them reaches the tenant's object.
 */
export async function a2aEndpoint({ request, env, url }, callTenant) {
  let id = null;
  let call = false;
  try {
    const auth = await authenticate(request, env);
    const tenant = tenantOf(url, auth);
    const body = await readJson(request);
    id = idOf(body);
    const envelope = readEnvelope(body);
    call = true;
    const { dialect, op } = methodOf(envelope.method);
    checkVersion(request);
    const { params } = envelope;
    // v1.0 lets a request name a tenant; here it may only name the caller's own.
    const named = dialect === V1 ? namedTenant(params) : undefined;
    if (named !== undefined && named !== tenant) throw fail(403, "forbidden", "the token is for another tenant");
    const args = op === "send" || op === "stream" ? readSendParams(params, dialect) : readTaskParams(params, { history: op === "get" });
    const res = await callTenant(env, tenant, `a2a/${op}`, { method: "POST", body: { rpcId: envelope.id, dialect, ...args } });
    return res.ok ? res : await asRpcError(id, res, true);
  } catch (err) {
    return asRpcError(id, errorResponse(err), call);
  }
}
