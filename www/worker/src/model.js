// Which model the demo Worker talks to: an OpenAI-compatible server when OPENAI_API_KEY is
// set (OPENAI_BASE_URL and OPENAI_MODEL optional), Anthropic when ANTHROPIC_API_KEY is,
// else the built-in offline demo model (no network, no key).
import { anthropic, demoModel, openai } from "tenantry";

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
  return demoModel();
}

export function modelName(env) {
  if (env?.OPENAI_API_KEY) return "openai";
  if (env?.ANTHROPIC_API_KEY) return "anthropic";
  return "demo";
}
