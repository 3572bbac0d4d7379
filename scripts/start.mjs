// `npm start`: serves the demo Worker under Miniflare (workerd) on 127.0.0.1, one Durable
// Object per tenant, their storage kept in target/worker-state so a restart loses nothing.
// The offline demo model unless OPENAI_API_KEY / ANTHROPIC_API_KEY is set; open demo mode
// unless AUTH_SECRET is set. PORT overrides 8787. The demo page (www/page/) is served by the
// same Worker as static assets at /page/, so it reaches the API on its own origin.
import { join } from "node:path";
import { buildPage } from "../www/page/build.mjs";
import { bundleWorker, localModulesDir, root, startWorker } from "./worker.mjs";

const scriptPath = await bundleWorker({ modulesDir: localModulesDir(), outdir: join(root, "target", "worker-dist") });
const assets = await buildPage({ outdir: join(root, "target", "page-dist"), pkgDir: join(root, "pkg") });
const bindings = {};
const VARS = [
  "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL",
  "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL",
  "AUTH_SECRET", "RATE_LIMIT_REQUESTS", "RATE_LIMIT_WINDOW_MS", "RATE_LIMIT_BURST", "TENANT_DAILY_TOKENS",
  "ORG_DAILY_TOKENS", "EMBEDDER", "MEMORY_TOOLS", "A2A_MAX_TASKS", "MAX_TOKEN_LIFETIME_S",
  "WS_MAX_FRAME_BYTES", "WS_MAX_RUNS", "WS_IDLE_TIMEOUT_MS",
];
for (const k of VARS) if (process.env[k]) bindings[k] = process.env[k];
const persist = join(root, "target", "worker-state");
const { mf, url } = await startWorker({ scriptPath, port: Number(process.env.PORT ?? 8787), bindings, persist, assets });
const origin = url.origin;
const model = bindings.OPENAI_API_KEY ? "OpenAI-compatible" : bindings.ANTHROPIC_API_KEY ? "Anthropic" : "offline demo model";
const auth = bindings.AUTH_SECRET
  ? "JWT: send `Authorization: Bearer <HS256 JWT>` whose `tenant` (or `sub`) claim is the tenant"
  : "OPEN DEMO MODE (no AUTH_SECRET): anyone may act for any tenant";
const bearer = bindings.AUTH_SECRET ? " -H 'authorization: Bearer <JWT>'" : "";
const j = "-H 'content-type: application/json'";

console.log(`
tenantry demo Worker on ${origin}
  page:  ${origin}/page/  (tenants side by side; the agent in this browser's wasm or through this Worker)
  model: ${model}
  auth:  ${auth}
  state: ${persist} (one Durable Object per tenant; delete the folder to start afresh)

  SOP-compatible API
  curl -s ${origin}/agent/interact${bearer} ${j} -d '{"tenant_id":"alice","message":"My name is Alice"}'
  curl -s ${origin}/agent/interact${bearer} ${j} -d '{"tenant_id":"alice","message":"What'\\''s my name?"}'
  curl -s ${origin}/agent/history/alice${bearer}

  v1: streaming (SSE), GDPR export and erasure, usage, search
  curl -sN ${origin}/v1/chat${bearer} ${j} -d '{"tenant_id":"alice","message":"Hello"}'
  curl -s ${origin}/v1/tenants/alice/export${bearer}
  curl -s ${origin}/v1/tenants/alice/usage${bearer}
  curl -s '${origin}/v1/tenants/alice/search?q=what+is+my+name&mode=hybrid'${bearer}
  curl -s -X DELETE ${origin}/v1/tenants/alice${bearer}

  first demo's routes (user_id is the tenant)
  curl -s ${origin}/chat${bearer} ${j} -d '{"user_id":"bob","message":"What'\\''s my name?"}'
  curl -sN ${origin}/chat/stream${bearer} ${j} -d '{"user_id":"bob","message":"Hello"}'
  curl -s '${origin}/history?user_id=bob'${bearer}

Ctrl-C to stop.`);

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    await mf.dispose();
    process.exit(0);
  });
}
