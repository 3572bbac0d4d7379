// Shared by the Worker suites: the Worker bundled against the packed npm package (as
// `npm start` bundles it against pkg/), started under Miniflare (workerd), HS256 tokens
// signed with node:crypto, and small HTTP helpers.
import { createHmac } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installedPackage, root } from "../node_support/package.mjs";
import { bundleWorker, startWorker } from "../../scripts/worker.mjs";

export { root };

const bundles = new Map();
/** The Worker bundled once per suite (process) into its own folder. */
export function workerScript(name) {
  if (!bundles.has(name)) {
    const { modulesDir } = installedPackage();
    bundles.set(name, bundleWorker({ modulesDir, outdir: join(root, "target", `worker-test-${name}`) }));
  }
  return bundles.get(name);
}

/** Starts the Worker on a free loopback port: { mf, origin, dispose }. */
export async function start(name, options = {}) {
  const scriptPath = await workerScript(name);
  const { mf, url } = await startWorker({ scriptPath, port: 0, ...options });
  return { mf, origin: url.origin, dispose: () => mf.dispose() };
}

/** A scratch folder for persisted Durable Object storage, removed by `cleanup()`. */
export function stateDir() {
  const dir = mkdtempSync(join(tmpdir(), "tenantry-worker-state-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every byte a tenant object's SQLite database holds on disk (main file and write-ahead log). */
export async function objectBytes(worker, dir, tenant) {
  const ns = await worker.mf.getDurableObjectNamespace("TENANTS");
  const id = ns.idFromName(tenant).toString();
  const folder = join(dir, "-TenantAgent");
  return Buffer.concat(
    readdirSync(folder)
      .filter((f) => f.startsWith(`${id}.sqlite`))
      .map((f) => readFileSync(join(folder, f))),
  ).toString("latin1");
}

export const SECRET = "test-secret-0123456789abcdef";

const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** A JWT over `claims`; `alg` picks the HMAC (or "none"), `secret` the key. */
export function jwt(claims, { secret = SECRET, alg = "HS256", header = {} } = {}) {
  const h = b64url({ alg, typ: "JWT", ...header });
  const p = b64url(claims);
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[alg];
  const s = hash ? createHmac(hash, secret).update(`${h}.${p}`).digest("base64url") : "";
  return `${h}.${p}.${s}`;
}

export const now = () => Math.floor(Date.now() / 1000);

/** A request; `body` objects are sent as JSON. Resolves to { status, headers, body, text }. */
export async function call(origin, method, path, { body, token, headers = {} } = {}) {
  const res = await fetch(`${origin}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** The run events of an SSE body. */
export function sseEvents(text) {
  return text
    .trim()
    .split("\n\n")
    .filter(Boolean)
    .map((block) => {
      const lines = block.split("\n");
      const name = lines.find((l) => l.startsWith("event: "))?.slice(7);
      const data = JSON.parse(lines.find((l) => l.startsWith("data: ")).slice(6));
      return { name, ...data };
    });
}

/**
 * An outbound service that plays an OpenAI-compatible provider: it streams `pieces` as SSE
 * deltas, `gapMs` apart, or fails as told by the last user message ("FAIL 401" -> HTTP 401).
 * `pieces` and `gapMs` may be functions of the last user message.
 */
export function fakeOpenAI({ pieces: piecesFor = ["Hello ", "from ", "the ", "fake ", "provider."], gapMs: gapFor = 0, seen = [] } = {}) {
  return async (request) => {
    const body = await request.json();
    seen.push({ url: request.url, auth: request.headers.get("authorization"), body });
    const last = body.messages.filter((m) => m.role === "user").at(-1)?.content ?? "";
    const pieces = typeof piecesFor === "function" ? piecesFor(last) : piecesFor;
    const gapMs = typeof gapFor === "function" ? gapFor(last) : gapFor;
    const fail = /^FAIL (\d{3})/.exec(last);
    if (fail) {
      return new Response(JSON.stringify({ error: { message: "the fake provider refuses", type: "test" } }), {
        status: Number(fail[1]),
        headers: { "content-type": "application/json" },
      });
    }
    const chunks = [
      ...pieces.map((p) => ({ choices: [{ index: 0, delta: { content: p } }] })),
      { choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
      { choices: [], usage: { prompt_tokens: 20, completion_tokens: pieces.length } },
    ].map((c) => `data: ${JSON.stringify(c)}\n\n`);
    chunks.push("data: [DONE]\n\n");
    const encoder = new TextEncoder();
    let i = 0;
    const stream = new ReadableStream({
      async pull(controller) {
        if (i >= chunks.length) return controller.close();
        if (i > 0 && gapMs) await new Promise((r) => setTimeout(r, gapMs));
        controller.enqueue(encoder.encode(chunks[i++]));
      },
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream" } });
  };
}

export const OPENAI_BINDINGS = { OPENAI_API_KEY: "sk-test-secret", OPENAI_BASE_URL: "http://llm.test/v1", OPENAI_MODEL: "tiny" };
