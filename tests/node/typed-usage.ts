// Type-checked against the packed package's index.d.ts with `tsc --strict` (never run).
// Each `@ts-expect-error` line must fail to compile, so misuse is proven to be caught.
import { Agent, TenantryError, anthropic, demoEmbedder, demoModel, indexedDbStorage, memoryStorage, openai, openaiEmbeddings, verifyAudit } from "tenantry";
import type {
  Embedder,
  SearchHit,
  AuditEntry,
  Block,
  TelemetryEvent,
  VerifyReport,
  ErrorCode,
  MemoryStats,
  Message,
  ModelFunction,
  ModelRequest,
  RecallHit,
  RunEvent,
  RunResult,
  RunStream,
  SessionInfo,
  SnapshotDoc,
  StorageAdapter,
  Usage,
  UsageReport,
  UserDoc,
} from "tenantry";

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
  memory: {
    maxMessagesPerSession: 50,
    maxContextTokens: 4000,
    maxUsers: 10_000,
    idleTtlMs: 3_600_000,
    recall: { topK: 3 },
    storage: Math.random() > 2 ? indexedDbStorage("app") : memoryStorage(),
    clock: () => Date.now(),
  },
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
  const sessions: SessionInfo[] = agent.sessions("alice");
  await agent.setBlock("alice", "preferences", "French");
  await agent.setProperty("alice", "plan", { tier: "pro", seats: 3 });
  await agent.deleteBlock("alice", "preferences");
  const blocks: Block[] = agent.blocks("alice");
  const tier = agent.properties("alice")["plan"];
  const hits: RecallHit[] = agent.recall("alice", "invoice", { limit: 5 });
  const embedder: Embedder = async (texts, { userId, signal }) => texts.map(() => [userId ? 1 : 0, signal ? 1 : 0.5]);
  const searcher = new Agent({ model: demoModel(), memory: { embedder } });
  const offline: Embedder = demoEmbedder();
  new Agent({ model: demoModel(), memory: { embedder: offline } });
  // @ts-expect-error: the demo embedder takes no options
  demoEmbedder({ dimensions: 8 });
  const hosted: Embedder = openaiEmbeddings({ model: "text-embedding-3-small", apiKey: "k", baseUrl: "http://127.0.0.1:1/v1" });
  // @ts-expect-error: an embeddings client does not stream
  openaiEmbeddings({ model: "m", stream: true });
  const found: SearchHit[] = await searcher.search("alice", "invoice", { mode: "hybrid", limit: 5, sessionId: "s1" });
  const firstScore: number = found[0].score;
  // @ts-expect-error: no such search mode
  await searcher.search("alice", "invoice", { mode: "fuzzy" });
  const stats: MemoryStats = agent.stats();
  await agent.load("alice");
  const doc: UserDoc = await agent.export("alice");
  const importedId: string | null = await agent.import(doc);
  const snap: SnapshotDoc = agent.snapshot();
  const again: Agent = await Agent.restore({ model: demoModel() }, snap);
  await agent.forget("alice");
  await agent.clear(null);
  await agent.clearAll();
  const gpt = openai({ model: "gpt-4o-mini", apiKey: "sk-...", baseUrl: "http://127.0.0.1:11434/v1", maxRetries: 1, timeoutMs: 30_000, fetch: (url, init) => fetch(url, init) });
  const claude = anthropic({ model: "claude-sonnet-4-5", apiKey: "k", version: "2023-06-01", headers: { "x-trace": "1" } });
  const streaming = new Agent({ model: Math.random() > 0.5 ? gpt : claude });
  const stream: RunStream = streaming.stream("hi", "alice", { sessionId: "s" });
  for await (const ev of stream) {
    const base: { userId: string | null; runId: string } = ev;
    if (ev.type === "text-delta") console.log(ev.text);
    if (ev.type === "finish") void [ev.finishReason, ev.usage.totalTokens];
    if (ev.type === "error") void ev.code;
    void base;
  }
  const final: RunResult = await stream.result;
  const finalText: string = await streaming.stream("hi", null).text;
  const rs: ReadableStream<RunEvent> = streaming.stream("hi", "bob").toReadableStream();
  void [final, finalText, rs];
  // A user model can stream too.
  const streams: ModelFunction = async (req) => {
    req.onTextDelta?.("partial");
    return { text: "partial" };
  };
  void streams;
  // @ts-expect-error the client needs a model name
  openai({ apiKey: "k" });
  const budgeted = new Agent({
    model: demoModel(),
    budget: {
      perUser: [{ maxTotalTokens: 100_000, window: "day" }, { maxCostUsd: 5, window: { ms: 3_600_000 } }],
      global: { maxCostUsd: 1000, window: "day" },
      plans: { free: { maxRequests: 20, window: "day" } },
      planOf: (id) => (id === "vip" ? "pro" : undefined),
      prices: { "my-model": { inputPerMTok: 0.2, outputPerMTok: 0.8 } },
    },
    rateLimit: { perUser: { requests: 20, perMs: 60_000, burst: 5 } },
  });
  const report: UsageReport = budgeted.usage("alice");
  const remaining: number = report.limits[0]?.remaining ?? 0;
  const cost: number = budgeted.globalUsage().totals.costUsd + (await budgeted.run("hi", "a")).usage.costUsd;
  // @ts-expect-error windows are named or { ms }
  new Agent({ model: demoModel(), budget: { perUser: { maxRequests: 1, window: "week" } } });
  void [remaining, cost];
  const audited = new Agent({
    model: demoModel(),
    audit: { key: "a-secret-of-16+-bytes", sink: async (e: AuditEntry) => void e.mac, includeContent: false },
    onEvent: (ev: TelemetryEvent) => void ev.durationMs,
  });
  const entries: AuditEntry[] = audited.auditLog("alice");
  const check: VerifyReport = verifyAudit(audited.auditEntries(), "a-secret-of-16+-bytes");
  void [entries, check.firstBroken?.reason];
  const custom: StorageAdapter = { get: async () => null, put: () => {}, delete: async () => {}, list: () => [] };
  void [sessions, blocks, tier, hits, stats, importedId, again, custom];
  void [total, flag, who, h, n, agent.name];

  try {
    await agent.run("hi", "");
  } catch (e) {
    if (e instanceof TenantryError) {
      const code: ErrorCode = e.code;
      const detail = e.details["field"];
      void [code, detail];
    }
    // An error that crossed Workers RPC: a TenantryError again, or undefined.
    const revived: TenantryError | undefined = TenantryError.from(e);
    if (revived) {
      const code: ErrorCode = revived.code;
      void code;
    }
    // @ts-expect-error it may be undefined
    void TenantryError.from(e).code;
  }

  // @ts-expect-error the user id is required: there is no implicit current user
  await agent.run("hi");
  // @ts-expect-error user ids are strings
  await agent.run("hi", 42);
  // @ts-expect-error unknown run options are refused
  await agent.run("hi", "alice", { sesionId: "typo" });
  // @ts-expect-error a model is required
  new Agent({ name: "x" });
  // @ts-expect-error a storage adapter needs all four methods
  new Agent({ model: demoModel(), memory: { storage: { get: async () => null } } });
  // @ts-expect-error forget is async: its result is not a boolean
  const gone: boolean = await agent.forget("alice");
  void gone;
  // @ts-expect-error finishReason is a known union
  const bad: RunResult["finishReason"] = "done";
  void bad;
}
void main;
