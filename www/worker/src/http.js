// HTTP plumbing shared by the router and the Durable Object: JSON responses, the one error
// shape `{ error: { code, message, details } }`, bounded body reading, and run events as
// Server-Sent Events.
import { TenantryError } from "tenantry";

export const MAX_BODY_BYTES = 64 * 1024;

export function json(value, status = 200, headers = {}) {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

export function errorJson(status, code, message, details = {}, headers = {}) {
  return json({ error: { code, message, details } }, status, headers);
}

/** Thrown by request validation; the router turns it into its JSON error. */
export class HttpError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** A positive number from the Worker's vars, `fallback` when unset; a bad value is a 500. */
export function positiveVar(env, name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new HttpError(500, "invalid_config", `${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return n;
}

// Caller mistakes are 400s, limits 429, a failing model is the upstream's fault (502).
const STATUS = {
  invalid_user_id: 400,
  invalid_session_id: 400,
  invalid_input: 400,
  invalid_import: 400,
  rate_limited: 429,
  budget_exceeded: 429,
  conflict: 409,
  aborted: 499,
  model_error: 502,
  model_http: 502,
  model_malformed: 502,
  // The model asked for tools this version cannot run: still the upstream's answer.
  unsupported: 502,
};

// Whole seconds, rounded up and at least 1: a client that waits this long is let in.
function retryAfter(details) {
  const ms = Number(details?.retryAfterMs);
  return String(Math.max(1, Math.ceil((Number.isFinite(ms) ? ms : 1000) / 1000)));
}

/** Whether a core error code means the model provider failed (a 502). */
export function isModelFailure(code) {
  return STATUS[code] === 502;
}

/**
 * What a client may learn of a model failure: the code, the provider's HTTP status and a
 * kind that is a plain identifier. The provider's own text stays out: it can carry its
 * server paths and stack lines, and it is not ours to relay.
 */
export function modelFailure(code, details) {
  const out = {};
  if (Number.isInteger(details?.status)) out.status = details.status;
  if (typeof details?.kind === "string" && /^[a-z][a-z0-9_]{0,39}$/.test(details.kind)) out.kind = details.kind;
  return { code, message: "the model provider failed", details: out };
}

/**
 * What a client may learn of anything a handler threw (TenantryError, HttpError or a bug):
 * `{ status, code, message, details, headers }`. A model failure keeps the provider's text
 * out; storage and internal failures and bugs keep theirs out too and go to the log.
 */
export function publicError(err) {
  if (err instanceof HttpError) {
    const headers = err.code === "rate_limited" ? { "retry-after": retryAfter(err.details) } : {};
    return { status: err.status, code: err.code, message: err.message, details: err.details, headers };
  }
  if (err instanceof TenantryError) {
    if (isModelFailure(err.code)) {
      console.error("tenantry: the model provider failed", err.code, err.message, JSON.stringify(err.details ?? {}));
      return { status: 502, ...modelFailure(err.code, err.details), headers: {} };
    }
    const status = STATUS[err.code] ?? 500;
    if (status === 500) {
      // Storage and internal failures: their text is for the operator, not the caller.
      console.error("tenantry: the agent failed", err.code, err.message, JSON.stringify(err.details ?? {}));
      return { status, code: err.code, message: "internal error", details: {}, headers: {} };
    }
    const headers = err.code === "rate_limited" ? { "retry-after": retryAfter(err.details) } : {};
    return { status, code: err.code, message: err.message, details: err.details ?? {}, headers };
  }
  // A bug: its message may name internals, so it goes to the log, not to the client.
  console.error("tenantry worker: unexpected error", err?.stack ?? err);
  return { status: 500, code: "internal", message: "internal error", details: {}, headers: {} };
}

/** The Response for anything a handler threw: TenantryError, HttpError or a bug. */
export function errorResponse(err) {
  const { status, code, message, details, headers } = publicError(err);
  return errorJson(status, code, message, details, headers);
}

/**
 * The request's JSON object body, read no further than `limit` bytes: a declared or actual
 * size over it is a 413 before anything is parsed, so a huge upload costs nothing.
 */
export async function readJsonObject(request, limit = MAX_BODY_BYTES) {
  const body = await readJson(request, limit);
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, "invalid_json", "the body must be a JSON object");
  }
  return body;
}

/** The request's JSON body, whatever value it is, bounded and typed as readJsonObject's. */
export async function readJson(request, limit = MAX_BODY_BYTES) {
  requireJsonContentType(request);
  const tooLarge = () => new HttpError(413, "body_too_large", `the body is over ${limit} bytes`, { limit });
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) throw tooLarge();
  const chunks = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not valid JSON");
  }
}

/**
 * Only `application/json` (with any parameters) is read. A text/plain or form body is a
 * "simple" request that any web page may send cross-origin without a preflight; refusing
 * it keeps other sites from driving the API from a visitor's browser (open mode has no
 * token to stop them).
 */
export function requireJsonContentType(request) {
  const header = request.headers.get("content-type");
  const type = header?.split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    throw new HttpError(415, "unsupported_media_type", "the body must be sent as `content-type: application/json`", { expected: "application/json" });
  }
}

/** One run event as one SSE message, named by its type so `EventSource` listeners can pick. */
export function sseMessage(event) {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-store",
};

// The core's id rules (1 to 255 bytes, no control characters), checked here too so that a
// bad id never names a Durable Object: the object would be created for nothing.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// A lone surrogate has no UTF-8 form: encoders would quietly turn it into U+FFFD (so two
// different ids would name one tenant) and encodeURIComponent throws on it.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function idField(body, field, { code = "invalid_user_id", required = true } = {}) {
  const value = body[field];
  if (value === undefined || value === null) {
    if (required) throw new HttpError(400, code, `\`${field}\` is required`, { field });
    return undefined;
  }
  if (typeof value !== "string") throw new HttpError(400, code, `\`${field}\` must be a string`, { field });
  return checkId(value, field, code);
}

export function checkId(value, field, code = "invalid_user_id") {
  if (LONE_SURROGATE.test(value)) throw new HttpError(400, code, `\`${field}\` is not well-formed Unicode (it holds a lone surrogate)`, { field });
  const bytes = new TextEncoder().encode(value).length;
  if (bytes === 0 || bytes > 255) {
    throw new HttpError(400, code, `\`${field}\` must be 1 to 255 bytes of UTF-8`, { field, bytes });
  }
  if (CONTROL.test(value)) throw new HttpError(400, code, `\`${field}\` must not contain control characters`, { field });
  return value;
}

export function messageField(body, field = "message") {
  const value = body[field];
  if (typeof value !== "string" || value.length === 0) {
    throw new HttpError(400, "invalid_input", `\`${field}\` must be a non-empty string`, { field });
  }
  return value;
}

const QUERY_CODES = { user_id: "invalid_user_id", session_id: "invalid_session_id" };

/**
 * The query string's parameters, decoded strictly. URLSearchParams turns bytes that are
 * not UTF-8 (`%ED%A0%80`, a lone surrogate) into U+FFFD, so a malformed id would quietly
 * become another, valid one: such a parameter is a 400 instead.
 */
export function strictQuery(url) {
  const pairs = [];
  for (const part of url.search.slice(1).split("&")) {
    if (part === "") continue;
    const at = part.indexOf("=");
    const [rawKey, rawValue] = at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
    const decode = (raw, code, field) => {
      try {
        return decodeURIComponent(raw.replace(/\+/g, " "));
      } catch {
        throw new HttpError(400, code, `the query parameter \`${field}\` is not valid percent-encoding`, { field });
      }
    };
    const key = decode(rawKey, "invalid_input", rawKey);
    pairs.push([key, decode(rawValue, QUERY_CODES[key] ?? "invalid_input", key)]);
  }
  // Own data properties even for a key such as `__proto__`; the last of a repeated key wins.
  return Object.fromEntries(pairs);
}
