// Who may act for which tenant. With `AUTH_SECRET` set, each request carries
// `Authorization: Bearer <JWT>` signed HS256 with that secret, and its `tenant` claim (else
// `sub`) is the one tenant the request may touch. Without a secret the Worker is an open
// demo: anyone may act for any tenant, and every response says so.
import { HttpError, checkId, positiveVar } from "./http.js";

const encoder = new TextEncoder();

// importKey per secret once per isolate, not per request; a CryptoKey holds no randomness.
const keys = new Map();
function hmacKey(secret) {
  let key = keys.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    keys.set(secret, key);
  }
  return key;
}

function unauthorized(message) {
  return new HttpError(401, "unauthorized", message);
}

function base64url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw unauthorized("the token is not base64url");
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  let raw;
  try {
    raw = atob(b64);
  } catch {
    throw unauthorized("the token is not base64url");
  }
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function jsonPart(text, what) {
  let value;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64url(text)));
  } catch (err) {
    if (err instanceof HttpError) throw err;
    throw unauthorized(`the token's ${what} is not JSON`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw unauthorized(`the token's ${what} is not a JSON object`);
  return value;
}

/** How long a token may live at most, from `iat` (or from now when it has none). */
export const DEFAULT_MAX_TOKEN_LIFETIME_S = 86_400;

/**
 * The verified claims of an HS256 JWT, or an HttpError 401. The algorithm is fixed here,
 * never taken from the token, so `none` or an asymmetric `alg` cannot be substituted.
 * `exp` is required and at most `maxLifetimeS` after `iat` (or after now): a leaked token
 * is then useful for a bounded time, never forever.
 */
export async function verifyJwt(token, secret, { nowSeconds = Date.now() / 1000, maxLifetimeS = DEFAULT_MAX_TOKEN_LIFETIME_S } = {}) {
  const parts = token.split(".");
  if (parts.length !== 3) throw unauthorized("the token is not a JWT (header.payload.signature)");
  const [h, p, s] = parts;
  const header = jsonPart(h, "header");
  if (header.alg !== "HS256") throw unauthorized(`the token's alg must be HS256, got ${JSON.stringify(header.alg ?? null)}`);
  // Extensions we do not implement must not be silently ignored (RFC 7515 4.1.11).
  if (header.crit !== undefined) throw unauthorized("the token has critical header extensions");
  const ok = await crypto.subtle.verify("HMAC", await hmacKey(secret), base64url(s), encoder.encode(`${h}.${p}`));
  if (!ok) throw unauthorized("the token's signature does not verify");
  const claims = jsonPart(p, "payload");
  for (const claim of ["exp", "nbf", "iat"]) {
    if (claims[claim] !== undefined && (typeof claims[claim] !== "number" || !Number.isFinite(claims[claim]))) {
      throw unauthorized(`the token's ${claim} is not a number`);
    }
  }
  if (claims.exp === undefined) throw unauthorized("the token has no exp: tokens must expire");
  if (nowSeconds >= claims.exp) throw unauthorized("the token has expired");
  if (claims.nbf !== undefined && nowSeconds < claims.nbf) throw unauthorized("the token is not valid yet");
  // Counted from the earlier of iat and now: an iat set in the future would otherwise
  // stretch the usable lifetime past the cap.
  const issued = Math.min(claims.iat ?? nowSeconds, nowSeconds);
  if (claims.exp - issued > maxLifetimeS) {
    throw unauthorized(`the token lives longer than ${maxLifetimeS} s (exp is too far after iat)`);
  }
  return claims;
}

/** The subprotocol a WebSocket client of this Worker asks for (and is answered with). */
export const WS_PROTOCOL = "tenantry.v1";
const BEARER_PROTOCOL = "bearer.";

/** The subprotocols a WebSocket upgrade offers, in order (none for any other request). */
export function offeredProtocols(request) {
  if (!isWebSocketUpgrade(request)) return [];
  const header = request.headers.get("sec-websocket-protocol");
  return header === null ? [] : header.split(",").map((p) => p.trim()).filter(Boolean);
}

export function isWebSocketUpgrade(request) {
  return (request.headers.get("upgrade") ?? "").trim().toLowerCase() === "websocket";
}

/**
 * The one place a request's token is found: `Authorization: Bearer <JWT>`, or, on a
 * WebSocket upgrade (a browser's WebSocket cannot set headers), the subprotocol
 * `bearer.<JWT>` offered next to `tenantry.v1`. A token given both ways, or twice, is
 * refused rather than one of them picked.
 */
function bearerToken(request) {
  const found = [];
  const header = request.headers.get("authorization");
  if (header !== null) {
    const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header);
    if (!match) throw unauthorized("the Authorization header is not `Bearer <JWT>`");
    found.push(match[1]);
  }
  for (const protocol of offeredProtocols(request)) {
    if (protocol.startsWith(BEARER_PROTOCOL)) found.push(protocol.slice(BEARER_PROTOCOL.length));
  }
  if (found.length === 0) {
    throw unauthorized("this Worker needs `Authorization: Bearer <JWT>` (or, opening a WebSocket, the subprotocol `bearer.<JWT>`)");
  }
  if (found.length > 1) throw unauthorized("the request carries more than one token");
  return found[0];
}

/**
 * `{ mode: "open" }` without a secret, else `{ mode: "jwt", tenant }` for a valid token;
 * throws HttpError 401 for a missing or bad one, and 400 `invalid_user_id` for a valid one
 * naming a tenant id that is not one.
 */
export async function authenticate(request, env) {
  const secret = env.AUTH_SECRET;
  if (!secret) return { mode: "open" };
  const maxLifetimeS = positiveVar(env, "MAX_TOKEN_LIFETIME_S", DEFAULT_MAX_TOKEN_LIFETIME_S);
  const claims = await verifyJwt(bearerToken(request), secret, { maxLifetimeS });
  if (claims.org != null) return orgClaims(claims);
  const claim = claims.tenant != null ? "tenant" : "sub";
  const tenant = claims[claim];
  if (typeof tenant !== "string" || tenant.length === 0) throw unauthorized("the token names no tenant (`tenant` or `sub` claim)");
  return { mode: "jwt", tenant: checkId(tenant, claim) };
}

/**
 * A two-level token: `org` and `sub` name an org and one of its users; `org_admin: true`
 * also lets it act for the org itself (its knowledge, export and erasure) and for any of
 * its users. Such a token names no tenant, so every one-level route refuses it.
 */
function orgClaims(claims) {
  const { org, sub } = claims;
  if (typeof org !== "string" || org.length === 0) throw unauthorized("the token's `org` claim is not a string");
  if (typeof sub !== "string" || sub.length === 0) throw unauthorized("a token with an `org` names its user in `sub`");
  return { mode: "jwt", org: checkId(org, "org", "invalid_org_id"), user: checkId(sub, "sub"), admin: claims.org_admin === true };
}

/**
 * What an org route may do for the caller: act in `org` (for `user`, when the route is a
 * user's; for the org itself, when not). Open mode allows everything; a token allows its
 * own org only, its own user only, and the org's own operations only with `org_admin`.
 */
export function authorizeOrg(auth, org, user) {
  if (auth.mode !== "jwt") return;
  if (auth.org === undefined) throw new HttpError(403, "forbidden", "this token names a tenant, not an org");
  if (auth.org !== org) throw new HttpError(403, "forbidden", "the token is for another org");
  if (auth.admin) return;
  if (user === undefined) throw new HttpError(403, "forbidden", "the org's own operations need a token with `org_admin: true`");
  if (user !== auth.user) throw new HttpError(403, "forbidden", "the token is for another user of this org");
}

/** The tenant a request acts for: the one it names, which must be the token's own. */
export function authorize(auth, requested) {
  const tenant = requested ?? auth.tenant;
  if (tenant === undefined) throw new HttpError(400, "invalid_user_id", "the request names no tenant", { field: "tenant_id" });
  if (auth.mode === "jwt" && tenant !== auth.tenant) {
    throw new HttpError(403, "forbidden", "the token is for another tenant");
  }
  return tenant;
}
