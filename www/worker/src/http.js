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

/** The Response for anything a handler threw: TenantryError, HttpError or a bug. */
export function errorResponse(err) {
  if (err instanceof HttpError) return errorJson(err.status, err.code, err.message, err.details);
  if (err instanceof TenantryError) {
    const headers = {};
    if (err.code === "rate_limited") {
      // Whole seconds, rounded up and at least 1: a client that waits this long is let in.
      const ms = Number(err.details?.retryAfterMs);
      headers["retry-after"] = String(Math.max(1, Math.ceil((Number.isFinite(ms) ? ms : 1000) / 1000)));
    }
    return errorJson(STATUS[err.code] ?? 500, err.code, err.message, err.details ?? {}, headers);
  }
  return errorJson(500, "internal", String(err?.message ?? err));
}

/**
 * The request's JSON object body, read no further than `limit` bytes: a declared or actual
 * size over it is a 413 before anything is parsed, so a huge upload costs nothing.
 */
export async function readJsonObject(request, limit = MAX_BODY_BYTES) {
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
  let body;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new HttpError(400, "invalid_json", "the body is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new HttpError(400, "invalid_json", "the body must be a JSON object");
  }
  return body;
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
