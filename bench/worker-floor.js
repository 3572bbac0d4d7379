// The floor for bench/worker.mjs: a Worker that does what the demo Worker does for
// `POST /agent/interact` except the agent. The router matches the route, reads the body
// bounded and as JSON, checks the ids and the message as the demo does, then sends an
// internal request to the tenant's Durable Object (`idFromName`). The object checks that
// the request is its tenant's, spends one request from a meter kept in its storage, and
// keeps the tenant's conversation as the package's durableObjectStorage adapter does with
// the demo agent's memory:
//
//   - on the object's first request: a list of the user's keys and a read of the session
//     record, which then stays in memory (the agent keeps a loaded user resident);
//   - on every turn: the turn's two messages appended (each with a 256-number vector, the
//     size the demo embedder stores), at most 100 messages kept, and the whole record
//     serialized and written back in one put, split into 32 Ki-character pieces under a
//     head once it outgrows one, as the adapter does; plus the meter's one small put.
//
// The answer is the demo model's for the bench's two messages ("My name is X" and "What's
// my name?"), read from the stored turns, in the SOP shape `{ tenant_id, response }`.

const MAX_BODY_BYTES = 64 * 1024;
const TENANT_HEADER = "x-tenantry-tenant";
const METER_KEY = "meter/requests";
const VALUE = "v/";
const CHUNK = "c/";
const CHUNK_CHARS = 32 * 1024;
const MAX_TURNS = 50; // 100 messages, the agent's default per session
// Serialized at the size of a demo embedder vector (about 1,080 characters).
const VECTOR = Array.from({ length: 256 }, (_, i) => (i % 40 === 7 ? -0.12126782 : 0.1));

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

class HttpError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function json(value, status = 200) {
  return new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json; charset=utf-8" } });
}

function errorResponse(err) {
  if (err instanceof HttpError) return json({ error: { code: err.code, message: err.message, details: {} } }, err.status);
  return json({ error: { code: "internal", message: String(err?.stack ?? err), details: {} } }, 500);
}

async function readJsonObject(request) {
  const type = request.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
  if (type !== "application/json") throw new HttpError(415, "unsupported_media_type", "the body must be JSON");
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw new HttpError(413, "body_too_large", "too large");
  const chunks = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => {});
        throw new HttpError(413, "body_too_large", "too large");
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
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "invalid_json", "the body must be a JSON object");
  return body;
}

function checkId(value, field) {
  if (typeof value !== "string") throw new HttpError(400, "invalid_user_id", `\`${field}\` must be a string`);
  if (LONE_SURROGATE.test(value)) throw new HttpError(400, "invalid_user_id", `\`${field}\` is not well-formed Unicode`);
  const bytes = new TextEncoder().encode(value).length;
  if (bytes === 0 || bytes > 255) throw new HttpError(400, "invalid_user_id", `\`${field}\` must be 1 to 255 bytes of UTF-8`);
  if (CONTROL.test(value)) throw new HttpError(400, "invalid_user_id", `\`${field}\` must not contain control characters`);
  return value;
}

function messageField(body) {
  const value = body.message;
  if (typeof value !== "string" || value.length === 0) throw new HttpError(400, "invalid_input", "`message` must be a non-empty string");
  return value;
}

const ROUTES = [{ method: "POST", path: /^\/agent\/interact$/, handler: interact }];

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const route = ROUTES.filter((r) => r.path.test(url.pathname)).find((r) => r.method === request.method);
    let response;
    try {
      response = route ? await route.handler(request, env) : json({ error: { code: "not_found" } }, 404);
    } catch (err) {
      response = errorResponse(err);
    }
    response = new Response(response.body, response);
    response.headers.set("x-tenantry-auth", "open");
    return response;
  },
};

async function interact(request, env) {
  const body = await readJsonObject(request);
  const tenant = checkId(body.tenant_id, "tenant_id");
  const message = messageField(body);
  const sessionId = body.session_id === undefined ? undefined : checkId(body.session_id, "session_id");
  const stub = env.TENANTS.get(env.TENANTS.idFromName(tenant));
  const res = await stub.fetch(
    new Request("https://tenant.internal/run", {
      method: "POST",
      headers: { [TENANT_HEADER]: encodeURIComponent(tenant), "content-type": "application/json" },
      body: JSON.stringify({ message, sessionId }),
    }),
  );
  if (!res.ok) return res;
  const result = await res.json();
  return json({ tenant_id: tenant, response: result.text });
}

export class FloorTenant {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    this.tenant = undefined;
    this.meter = undefined; // loaded once, as the demo's meter
    this.session = undefined; // loaded once, then resident
    this.pieces = 0;
  }

  async fetch(request) {
    try {
      const tenant = this.tenantOf(request);
      const url = new URL(request.url);
      if (`${request.method} ${url.pathname}` !== "POST /run") return json({ error: { code: "not_found" } }, 404);
      await this.takeMeter();
      const { message, sessionId = "default" } = await request.json();
      return json(await this.turn(tenant, sessionId, message));
    } catch (err) {
      return errorResponse(err);
    }
  }

  tenantOf(request) {
    const tenant = decodeURIComponent(request.headers.get(TENANT_HEADER) ?? "");
    if (this.tenant !== tenant) {
      if (!this.env.TENANTS.idFromName(tenant).equals(this.ctx.id)) throw new HttpError(500, "internal", "this object belongs to another tenant");
      this.tenant = tenant;
    }
    return tenant;
  }

  async takeMeter() {
    this.meter ??= this.ctx.storage.get(METER_KEY);
    await this.meter;
    await this.ctx.storage.put(METER_KEY, { tokens: 1e6, at: Date.now() });
  }

  async load(tenant, sessionId) {
    const key = `tenantry/v1/u/${tenant}/s/${sessionId}`;
    await this.ctx.storage.list({ prefix: `${VALUE}tenantry/v1/u/${tenant}/` });
    const head = await this.ctx.storage.get(VALUE + key);
    let text = null;
    if (typeof head === "string") text = head;
    else if (head && Number.isInteger(head.chunks)) {
      this.pieces = head.chunks;
      const keys = Array.from({ length: head.chunks }, (_, i) => `${CHUNK}${key}#${i}`);
      const found = await this.ctx.storage.get(keys);
      text = keys.map((k) => found.get(k)).join("");
    }
    const now = Date.now();
    return { key, record: text ? JSON.parse(text) : { userId: tenant, id: sessionId, createdAt: now, lastActivity: now, turns: [] } };
  }

  async turn(tenant, sessionId, message) {
    this.session ??= this.load(tenant, sessionId);
    const session = await this.session;
    const { record } = session;
    const name = /^My name is (.+)$/.exec(message)?.[1];
    let text;
    if (name) {
      record.name = name; // what the demo agent keeps as a fact
      text = `Nice to meet you, ${name}! I'll remember your name.`;
    } else text = record.name ? `Your name is ${record.name}.` : "I don't know your name yet.";
    const now = Date.now();
    record.turns.push({ at: now, messages: [{ role: "user", content: message }, { role: "assistant", content: text }], vectors: [VECTOR, VECTOR] });
    if (record.turns.length > MAX_TURNS) record.turns.shift();
    record.lastActivity = now;
    await this.write(session.key, JSON.stringify(record));
    return {
      text,
      usage: { inputTokens: 21, outputTokens: 4, totalTokens: 25, estimated: false, costUsd: 0, overrun: false },
      steps: 1,
      runId: `run_${crypto.randomUUID().replace(/-/g, "").slice(0, 24)}`,
      finishReason: "stop",
      userId: tenant,
      sessionId,
    };
  }

  // One put of the record (a head and its pieces when it outgrows one piece), stale pieces deleted.
  async write(key, value) {
    const entries = {};
    let pieces = 0;
    if (value.length <= CHUNK_CHARS) entries[VALUE + key] = value;
    else {
      for (let at = 0; at < value.length; at += CHUNK_CHARS) entries[`${CHUNK}${key}#${pieces++}`] = value.slice(at, at + CHUNK_CHARS);
      entries[VALUE + key] = { chunks: pieces };
    }
    const writes = [this.ctx.storage.put(entries)];
    const gone = [];
    for (let i = pieces; i < this.pieces; i++) gone.push(`${CHUNK}${key}#${i}`);
    if (gone.length) writes.push(this.ctx.storage.delete(gone));
    this.pieces = pieces;
    await Promise.all(writes);
  }
}
