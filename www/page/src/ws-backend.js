// The agent behind the demo Worker, as WorkerBackend reaches it, except that replies stream
// over one WebSocket per tenant (GET /v1/ws in the tenant's Durable Object, or
// /v1/orgs/{org}/users/{user}/ws in the org's) instead of one SSE request per message. Reads (memory, usage, export, search, forget) stay the Worker's
// HTTP routes. A socket that drops is opened again with backoff, and each reopening is
// counted (`reconnects`, `onReconnect`); a reply in flight when it drops fails, and the
// Worker keeps nothing of it.
import { DemoError } from "./errors.js";
import { WorkerBackend } from "./worker-backend.js";
import { whoKey } from "./identity.js";

export const SOCKET_PROTOCOL = "tenantry.v1";
const OPEN = 1;
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 10_000;
// Past this many failed attempts in a row the socket waits for the next message to try again.
const MAX_ATTEMPTS = 8;

/** One tenant's socket: its runs in flight by request id, and its reconnection. */
class TenantSocket {
  constructor(backend, who) {
    this.backend = backend;
    this.who = who;
    this.ws = undefined;
    this.opening = undefined; // a promise while connecting
    this.runs = new Map(); // request id -> { onDelta, onEvent, resolve, reject }
    this.nextId = 1;
    this.everOpened = false;
    this.failures = 0;
    this.timer = undefined;
    this.disposed = false;
  }

  url() {
    const { user, org } = this.who;
    const enc = encodeURIComponent;
    const base = new URL(org === undefined ? "/v1/ws" : `/v1/orgs/${enc(org)}/users/${enc(user)}/ws`, this.backend.origin);
    base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
    if (org === undefined) base.searchParams.set("tenant_id", user);
    return base.href;
  }

  /** Resolves once the socket is open, opening it if it is not. */
  ready() {
    if (this.ws?.readyState === OPEN) return Promise.resolve();
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  open() {
    clearTimeout(this.timer);
    this.timer = undefined;
    const token = this.backend.token?.(this.who);
    const protocols = token ? [SOCKET_PROTOCOL, `bearer.${token}`] : [SOCKET_PROTOCOL];
    return new Promise((resolve, reject) => {
      let opened = false;
      const ws = new this.backend.WebSocket(this.url(), protocols);
      this.ws = ws;
      ws.onopen = () => {
        opened = true;
        this.failures = 0;
        if (this.everOpened) this.backend.reconnected(this.who);
        this.everOpened = true;
        resolve();
      };
      ws.onmessage = (event) => this.receive(event.data);
      // Every failure also closes: `onclose` does the work.
      ws.onerror = () => {};
      ws.onclose = (event) => {
        if (this.ws === ws) this.ws = undefined;
        const dropped = new DemoError("disconnected", opened ? "the connection to the Worker dropped mid-reply; nothing of it was kept" : "could not connect to the Worker", { code: event.code });
        for (const run of this.runs.values()) run.reject(dropped);
        this.runs.clear();
        if (!opened) {
          this.failures += 1;
          reject(dropped);
        }
        // A clean close (the Worker's idle timeout, or ours) reopens at the next message;
        // anything else reopens now, after a pause that doubles with each failure.
        if (!this.disposed && event.code !== 1000 && this.failures < MAX_ATTEMPTS) this.retry();
      };
    });
  }

  retry() {
    if (this.timer !== undefined) return;
    const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.failures) * (0.5 + Math.random() / 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.disposed) this.ready().catch(() => {});
    }, delay);
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    const run = frame?.id === undefined ? undefined : this.runs.get(frame.id);
    if (!run) return; // a pong, or the end of a run this page gave up on
    if (frame.type === "error") {
      this.runs.delete(frame.id);
      run.reject(new DemoError(frame.code, frame.message, frame.details));
      return;
    }
    run.onEvent?.(frame);
    if (frame.type === "text-delta") run.onDelta?.(frame.text);
    else if (frame.type === "finish") {
      this.runs.delete(frame.id);
      run.resolve(frame);
    }
  }

  async run(message, { sessionId, onDelta, onEvent }) {
    await this.ready();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.runs.set(id, { onDelta, onEvent, resolve, reject });
      try {
        this.ws.send(JSON.stringify({ type: "run", id, message, ...(sessionId ? { sessionId } : {}) }));
      } catch (err) {
        this.runs.delete(id);
        reject(new DemoError("disconnected", String(err?.message ?? err)));
      }
    });
  }

  close() {
    this.disposed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, "done");
  }
}

export class SocketBackend extends WorkerBackend {
  mode = "socket";
  /** How many times a tenant's socket was opened again after it had been open. */
  reconnects = 0;
  /** Called with ({ user, org }, reconnects) each time a socket is opened again. */
  onReconnect = undefined;

  /**
   * `origin` is the Worker's (this page's own by default), `WebSocket` the client class (the
   * browser's by default), `token({ user, org })` an optional JWT, sent as the `bearer.`
   * subprotocol.
   */
  constructor({ origin = globalThis.location?.origin, WebSocket = globalThis.WebSocket, token } = {}) {
    super();
    this.origin = origin;
    this.WebSocket = WebSocket;
    this.token = token;
    this.sockets = new Map();
  }

  static async create(options) {
    const backend = new SocketBackend(options);
    const res = await fetch(new URL("/", backend.origin), { method: "GET" });
    backend.auth = res.headers.get("x-tenantry-auth") ?? "unknown";
    backend.home = await res.text();
    return backend;
  }

  describeConfig() {
    return super
      .describeConfig()
      .replace("POST /v1/chat (SSE)", "GET /v1/ws (one WebSocket per tenant, replies streamed over it)")
      .concat(`\nSockets reopened after a drop: ${this.reconnects}.`);
  }

  stats() {
    const open = [...this.sockets.values()].filter((s) => s.ws?.readyState === OPEN).length;
    const base =
      this.auth === "open"
        ? "Through the Worker over WebSockets in open demo mode: each tenant is its own Durable Object."
        : "This Worker requires a JWT per tenant (AUTH_SECRET is set); without one the sockets are refused.";
    return `${base} Sockets open: ${open}; reconnects: ${this.reconnects}.`;
  }

  socketFor(who) {
    const key = whoKey(who);
    let socket = this.sockets.get(key);
    if (!socket) {
      socket = new TenantSocket(this, who);
      this.sockets.set(key, socket);
    }
    return socket;
  }

  reconnected(who) {
    this.reconnects += 1;
    this.onReconnect?.(who, this.reconnects);
  }

  async stream(who, message, { sessionId, onDelta, onEvent } = {}) {
    try {
      return await this.socketFor(who).run(message, { sessionId, onDelta, onEvent });
    } catch (err) {
      const e = DemoError.from(err);
      if (e.code === "rate_limited") {
        this.blocked ??= new Map();
        this.blocked.set(whoKey(who), Date.now() + (e.retryAfterMs ?? 1000));
      }
      throw e;
    }
  }

  dispose() {
    for (const socket of this.sockets.values()) socket.close();
    this.sockets.clear();
    super.dispose();
  }
}
