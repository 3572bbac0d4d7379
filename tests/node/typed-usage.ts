// Type-checked against the packed package's index.d.ts with `tsc --strict` (never run).
// Each `@ts-expect-error` line must fail to compile, so misuse is proven to be caught.
import { Agent, TenantryError, demoModel } from "tenantry";
import type { ErrorCode, Message, ModelFunction, ModelRequest, RunResult, Usage } from "tenantry";

const own: ModelFunction = async (req: ModelRequest) => {
  const last: Message | undefined = req.messages.at(-1);
  const user: string | null = req.userId;
  req.abortSignal?.throwIfAborted();
  return { text: `${user ?? "anon"}: ${last?.content ?? ""}`, usage: { inputTokens: 1, outputTokens: 1 }, finishReason: "stop" };
};

const agent = new Agent({
  name: "support",
  instructions: "Be brief.",
  model: Math.random() > 2 ? own : demoModel(),
  memory: { maxMessagesPerSession: 50 },
  maxOutputTokens: 256,
});

async function main(): Promise<void> {
  const controller = new AbortController();
  const out: RunResult = await agent.run("hi", "alice", { sessionId: "s1", signal: controller.signal });
  const usage: Usage = out.usage;
  const total: number = usage.totalTokens + usage.inputTokens + usage.outputTokens;
  const flag: boolean = usage.estimated;
  const who: string | null = out.userId;
  await agent.run("hi", null);
  await agent.run("hi", undefined);
  const h: Message[] = agent.history("alice", "s1");
  const n: number = agent.size("alice");
  agent.clear("alice");
  agent.clearAll();
  void [total, flag, who, h, n, agent.name];

  try {
    await agent.run("hi", "");
  } catch (e) {
    if (e instanceof TenantryError) {
      const code: ErrorCode = e.code;
      const detail = e.details["field"];
      void [code, detail];
    }
  }

  // @ts-expect-error the user id is required: there is no implicit current user
  await agent.run("hi");
  // @ts-expect-error user ids are strings
  await agent.run("hi", 42);
  // @ts-expect-error unknown run options are refused
  await agent.run("hi", "alice", { sesionId: "typo" });
  // @ts-expect-error a model is required
  new Agent({ name: "x" });
  // @ts-expect-error finishReason is a known union
  const bad: RunResult["finishReason"] = "done";
  void bad;
}
void main;
