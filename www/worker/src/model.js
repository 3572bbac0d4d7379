// Which model the demo Worker talks to: an OpenAI-compatible server when OPENAI_API_KEY is
// set, else the built-in offline demo model (no network, no key).
import { demoModel } from "tenantry";

export function modelFromEnv(env) {
  if (!env?.OPENAI_API_KEY) return demoModel();
  const baseUrl = (env.OPENAI_BASE_URL ?? "https://api.openai.com/v1").replace(/\/$/, "");
  const model = env.OPENAI_MODEL ?? "gpt-4o-mini";
  return async ({ messages, maxOutputTokens, abortSignal }) => {
    const res = await fetch(`${baseUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${env.OPENAI_API_KEY}` },
      body: JSON.stringify({ model, messages, max_tokens: maxOutputTokens }),
      signal: abortSignal,
    });
    if (!res.ok) throw new Error(`${baseUrl} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const body = await res.json();
    return {
      text: body.choices?.[0]?.message?.content ?? "",
      usage: body.usage && { inputTokens: body.usage.prompt_tokens, outputTokens: body.usage.completion_tokens },
      finishReason: body.choices?.[0]?.finish_reason,
    };
  };
}
