// WebSockets in a Durable Object, shared by TenantAgent (a tenant's socket) and OrgAgent (a
// socket of one user of the org). The router has authenticated and authorized the upgrade;
// the object accepts the socket with the hibernation API, so an idle socket costs nothing
// and outlives the object's eviction from memory: whose socket it is (the user, and the org
// for an org's user) is kept in the socket's attachment and read back in every handler,
// never from the object's memory. A socket is bound to that identity for life.
//
// The protocol, JSON text frames (README, "WebSockets"):
//
//   {type:"run", id, message, sessionId?}  -> the run's events, each with `id`, ending in
//                                             `finish` or `error`
//   {type:"cancel", id}                     the run `id` aborts: nothing committed, it ends
//                                             with error `aborted`
//   {type:"history", id?, sessionId?}       -> {type:"history", id, messages}
//   {type:"ping"}                           -> {type:"pong"} (answered by the runtime, even
//                                             while the object hibernates)
//
// and any refusal is {type:"error", id?, code, message, details}.
import { isWebSocketUpgrade } from "./auth.js";
import { HttpError, idField, messageField, positiveVar, publicError } from "./http.js";
import { publicEvent } from "./run-stream.js";

/** The limits of one socket, from the Worker's vars; a bad value is a 500 `invalid_config`. */
export function socketLimits(env) {
  return {
    maxFrameBytes: positiveVar(env, "WS_MAX_FRAME_BYTES", 65_536),
    maxRuns: positiveVar(env, "WS_MAX_RUNS", 4),
    idleTimeoutMs: positiveVar(env, "WS_IDLE_TIMEOUT_MS", 300_000),
  };
}

const PING = '{"type":"ping"}';
const PONG = '{"type":"pong"}';
const MAX_ID_LENGTH = 128;
// Fields by which a frame could name whose data it is about. On a socket each must be absent
// or name the socket's own identity.
const TENANT_FIELDS = ["tenant_id", "user_id", "userId"];
const ORG_FIELDS = ["org_id", "orgId"];

/** Sets the object's alarm for `at`, unless one is already due by then. */
export async function alarmBy(storage, at) {
  const pending = await storage.getAlarm();
  if (pending === null || pending > at) await storage.setAlarm(at);
}

const frameError = (status, code, message, details = {}) => new HttpError(status, code, message, details);

export class Sockets {
  /**
   * `agent()` is the object's Agent; `meter()`, when given, the tenant's request meter that
   * every `run` and `history` frame spends from, as every HTTP request does (without it the
   * agent's own `rateLimit` counts the runs).
   */
  constructor(ctx, env, { agent, meter }) {
    this.ctx = ctx;
    this.env = env;
    this.agent = agent;
    this.meter = meter;
    // Runs in flight: socket id -> Map(request id -> RunStream). Memory only: a run lives no
    // longer than the object does (an object with a run in flight is not evicted).
    this.runs = new Map();
    // Answered by the runtime without waking the object, so pings keep a socket open at no cost.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  /**
   * Accepts the upgrade for `identity` ({ userId, orgId? }, checked by the router): the
   * socket is bound to it for life. Schedules the idle check.
   */
  async accept(request, identity) {
    if (!isWebSocketUpgrade(request)) throw new HttpError(426, "upgrade_required", "this route is a WebSocket: send `Upgrade: websocket`");
    const { idleTimeoutMs } = socketLimits(this.env);
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server);
    const now = Date.now();
    const socket = { sid: crypto.randomUUID(), userId: identity.userId, at: now };
    if (identity.orgId !== undefined) socket.orgId = identity.orgId;
    server.serializeAttachment(socket);
    await alarmBy(this.ctx.storage, now + idleTimeoutMs);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** One frame from the client: answered, or refused with an error frame; never a crash. */
  async message(ws, data) {
    const socket = ws.deserializeAttachment();
    if (!socket) return closeQuietly(ws, 1011, "unknown socket");
    this.touch(ws, socket);
    let id;
    try {
      const limits = socketLimits(this.env);
      const frame = parseFrame(data, limits.maxFrameBytes);
      id = frameId(frame);
      checkType(frame);
      checkIdentity(frame, socket);
      switch (frame.type) {
        case "run":
          return await this.run(ws, socket, frame, id, limits);
        case "cancel":
          // Ignored when the run has just ended: the client then has its last event.
          this.runs.get(socket.sid)?.get(id)?.return();
          return;
        case "history":
          return await this.history(ws, socket, frame, id);
        case "ping":
          return send(ws, withId({ type: "pong" }, id));
      }
    } catch (err) {
      sendError(ws, id, err);
    }
  }

  async run(ws, socket, frame, id, { maxRuns }) {
    const message = messageField(frame);
    const sessionId = idField(frame, "sessionId", { code: "invalid_session_id", required: false });
    admit(this.runs.get(socket.sid), id, maxRuns);
    await this.meter?.().take();
    // Again: another frame may have started a run while the meter wrote to storage.
    const runs = this.runs.get(socket.sid) ?? new Map();
    admit(runs, id, maxRuns);
    const stream = this.agent().stream(message, socket.userId, { ...scopeOf(socket), sessionId });
    runs.set(id, stream);
    this.runs.set(socket.sid, runs);
    try {
      await pump(ws, stream, id);
    } finally {
      runs.delete(id);
      if (runs.size === 0 && this.runs.get(socket.sid) === runs) this.runs.delete(socket.sid);
      this.touch(ws, socket);
    }
  }

  async history(ws, socket, frame, id) {
    const sessionId = idField(frame, "sessionId", { code: "invalid_session_id", required: false });
    await this.meter?.().take();
    const agent = this.agent();
    const scope = scopeOf(socket);
    await agent.load(socket.userId, scope);
    send(ws, withId({ type: "history", messages: agent.history(socket.userId, sessionId, scope) }, id));
  }

  /** The socket closed (or failed): its runs abort, committing nothing. */
  close(ws, code) {
    this.abortRuns(ws);
    // Complete the closing handshake (the runtime does not, at this compatibility date).
    closeQuietly(ws, code === 1005 || code === 1006 || code === 1015 ? 1000 : code, "closed");
  }

  error(ws) {
    this.abortRuns(ws);
  }

  abortRuns(ws) {
    const socket = ws.deserializeAttachment();
    const runs = socket && this.runs.get(socket.sid);
    if (!runs) return;
    this.runs.delete(socket.sid);
    for (const stream of runs.values()) stream.return();
  }

  /** The last frame seen on the socket is now. */
  touch(ws, socket) {
    socket.at = Date.now();
    try {
      ws.serializeAttachment(socket);
    } catch {
      // Closed meanwhile: nothing to keep.
    }
  }

  /**
   * Closes the sockets idle for the idle timeout (no frame, ping included, and no run in
   * flight); the time of the next check, or undefined when no socket is open.
   */
  sweep(now = Date.now()) {
    const { idleTimeoutMs } = socketLimits(this.env);
    let next;
    const due = (at) => {
      next = next === undefined ? at : Math.min(next, at);
    };
    for (const ws of this.ctx.getWebSockets()) {
      const socket = ws.deserializeAttachment();
      if (!socket || ws.readyState !== WebSocket.READY_STATE_OPEN) continue;
      if (this.runs.get(socket.sid)?.size) {
        due(now + idleTimeoutMs);
        continue;
      }
      const pinged = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      const idleUntil = Math.max(socket.at, pinged) + idleTimeoutMs;
      if (idleUntil <= now) closeQuietly(ws, 1000, "idle timeout");
      else due(idleUntil);
    }
    return next;
  }
}

/** Whether one more run may start on a socket with these runs in flight. */
function admit(runs, id, maxRuns) {
  if (runs?.has(id)) throw frameError(409, "duplicate_id", `a run with id ${JSON.stringify(id)} is already in flight on this socket`, { id });
  if ((runs?.size ?? 0) >= maxRuns) throw frameError(429, "too_many_runs", `at most ${maxRuns} runs may be in flight on one socket`, { limit: maxRuns });
}

function scopeOf(socket) {
  return socket.orgId === undefined ? {} : { orgId: socket.orgId };
}

/** Sends the run's events, each with the request's id, and always one final `finish` or `error`. */
async function pump(ws, stream, id) {
  let ended = false;
  try {
    for (;;) {
      const next = await stream.next();
      if (next.done) break;
      const event = publicEvent(next.value);
      if (event.type === "finish" || event.type === "error") ended = true;
      if (!send(ws, { ...event, id })) {
        // The client is gone: the run aborts (if it has not committed yet).
        await stream.return();
        return;
      }
    }
    if (!ended) await stream.result;
  } catch (err) {
    // A run refused before any event (its error only in `result`), or cancelled.
    if (!ended) sendError(ws, id, err);
  }
}

/** The frame as a JSON object, or a typed refusal. */
function parseFrame(data, maxBytes) {
  if (typeof data !== "string") {
    if (data.byteLength > maxBytes) throw frameError(413, "too_large", `a frame may hold at most ${maxBytes} bytes`, { limit: maxBytes });
    throw frameError(400, "invalid_frame", "frames are JSON text; binary frames are not accepted");
  }
  // UTF-8 takes at least one byte per UTF-16 unit: count the bytes only when it could fit.
  if (data.length > maxBytes || new TextEncoder().encode(data).length > maxBytes) {
    throw frameError(413, "too_large", `a frame may hold at most ${maxBytes} bytes`, { limit: maxBytes });
  }
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    throw frameError(400, "invalid_frame", "the frame is not JSON");
  }
  if (frame === null || typeof frame !== "object" || Array.isArray(frame)) throw frameError(400, "invalid_frame", "the frame must be a JSON object");
  return frame;
}

function checkType(frame) {
  if (!["run", "cancel", "history", "ping"].includes(frame.type)) {
    throw frameError(400, "invalid_frame", "`type` must be one of run, cancel, history, ping", { field: "type" });
  }
}

/** The frame's `id`: required for run and cancel; a string of 1 to 128 characters or an integer. */
function frameId(frame) {
  const id = frame.id;
  if (id === undefined) {
    if (frame.type === "run" || frame.type === "cancel") throw frameError(400, "invalid_frame", `a ${frame.type} frame needs an \`id\``, { field: "id" });
    return undefined;
  }
  const ok = typeof id === "string" ? id.length >= 1 && id.length <= MAX_ID_LENGTH : Number.isSafeInteger(id);
  if (!ok) throw frameError(400, "invalid_frame", `\`id\` must be a string of 1 to ${MAX_ID_LENGTH} characters or an integer`, { field: "id" });
  return id;
}

/** A frame naming anyone but the socket's own identity is refused before anything is touched. */
function checkIdentity(frame, socket) {
  const expected = {};
  for (const f of TENANT_FIELDS) expected[f] = socket.userId;
  // On an org's socket the user is the org's, never a one-level tenant.
  if (socket.orgId !== undefined) expected.tenant_id = undefined;
  for (const f of ORG_FIELDS) expected[f] = socket.orgId;
  for (const [field, value] of Object.entries(expected)) {
    if (Object.hasOwn(frame, field) && frame[field] !== value) {
      throw frameError(403, "forbidden", "this socket acts for its own identity only", { field });
    }
  }
}

function withId(frame, id) {
  return id === undefined ? frame : { ...frame, id };
}

/** Sends a frame; false when the socket is closed. */
function send(ws, frame) {
  try {
    ws.send(JSON.stringify(frame));
    return true;
  } catch {
    return false;
  }
}

function sendError(ws, id, err) {
  const { code, message, details } = publicError(err);
  send(ws, withId({ type: "error", code, message, details }, id));
}

function closeQuietly(ws, code, reason) {
  try {
    ws.close(code, reason);
  } catch {
    // Already closed.
  }
}
