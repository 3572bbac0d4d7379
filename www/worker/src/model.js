// Which model the demo Worker talks to: an OpenAI-compatible server when OPENAI_API_KEY is
// set (OPENAI_BASE_URL and OPENAI_MODEL optional), Anthropic when ANTHROPIC_API_KEY is,
// Workers AI when the Worker has an AI binding (`[ai] binding = "AI"`, WORKERS_AI_MODEL
// optional), else the built-in offline demo model (no network, no key). And whether its
// agent embeds messages for search by meaning (EMBEDDER).
import { anthropic, demoEmbedder, demoModel, openai, workersAI } from "tenantry";
import { HttpError } from "./http.js";

/** A current Workers AI text generation model that does function calling. */
export const DEFAULT_WORKERS_AI_MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

export function modelFromEnv(env) {
  if (env?.OPENAI_API_KEY) {
    return openai({
      apiKey: env.OPENAI_API_KEY,
      baseUrl: env.OPENAI_BASE_URL || undefined,
      model: env.OPENAI_MODEL || "gpt-4o-mini",
    });
  }
  if (env?.ANTHROPIC_API_KEY) {
    return anthropic({
      apiKey: env.ANTHROPIC_API_KEY,
      baseUrl: env.ANTHROPIC_BASE_URL || undefined,
      model: env.ANTHROPIC_MODEL || "claude-3-5-haiku-latest",
    });
  }
  if (env?.AI) return workersAI(env.AI, env.WORKERS_AI_MODEL || DEFAULT_WORKERS_AI_MODEL);
  return demoModel();
}

export function modelName(env) {
  if (env?.OPENAI_API_KEY) return "openai";
  if (env?.ANTHROPIC_API_KEY) return "anthropic";
  if (env?.AI) return "workers-ai";
  return "demo";
}

/**
 * The agent's `memory.embedder`, or undefined for none. EMBEDDER is "demo" (the package's
 * offline toy embedder) or "none"; unset, it is "demo" with the demo model and "none" with
 * a real provider, whose operator chooses to pair it with a toy.
 */
export function embedderFromEnv(env) {
  const choice = env?.EMBEDDER || (modelName(env) === "demo" ? "demo" : "none");
  if (choice === "demo") return demoEmbedder();
  if (choice === "none") return undefined;
  throw new HttpError(500, "invalid_config", `EMBEDDER must be "demo" or "none", got ${JSON.stringify(env.EMBEDDER)}`);
}
