// `npm start`: serves the demo Worker under Miniflare (workerd) on 127.0.0.1, on the
// offline demo model unless OPENAI_API_KEY is set. PORT overrides 8787.
import { join } from "node:path";
import { bundleWorker, localModulesDir, root, startWorker } from "./worker.mjs";

const scriptPath = await bundleWorker({ modulesDir: localModulesDir(), outdir: join(root, "target", "worker-dist") });
const bindings = {};
const VARS = ["OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL"];
for (const k of VARS) if (process.env[k]) bindings[k] = process.env[k];
const { mf, url } = await startWorker({ scriptPath, port: Number(process.env.PORT ?? 8787), bindings });
const origin = url.origin;

console.log(`
tenantry demo Worker on ${origin}  (model: ${bindings.OPENAI_API_KEY ? "OpenAI-compatible" : bindings.ANTHROPIC_API_KEY ? "Anthropic" : "offline demo model"})

  curl -s ${origin}/chat -H 'content-type: application/json' -d '{"user_id":"alice","message":"My name is Alice"}'
  curl -s ${origin}/chat -H 'content-type: application/json' -d '{"user_id":"alice","message":"What'\\''s my name?"}'
  curl -s ${origin}/chat -H 'content-type: application/json' -d '{"user_id":"bob","message":"What'\\''s my name?"}'
  curl -sN ${origin}/chat/stream -H 'content-type: application/json' -d '{"user_id":"alice","message":"Hello"}'
  curl -s '${origin}/history?user_id=alice'

Ctrl-C to stop.`);

for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, async () => {
    await mf.dispose();
    process.exit(0);
  });
}
