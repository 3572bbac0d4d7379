// Type-checked against the packed package's index.d.ts with `tsc --strict` (never run).
// Each `@ts-expect-error` line must fail to compile, so misuse is proven to be caught.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { MockLanguageModelV3 } from "ai/test";
import { ANONYMOUS_USER, Agent, TenantryError, anthropic, demoEmbedder, demoModel, tool, indexedDbStorage, memoryStorage, durableObjectStorage, openai, openaiEmbeddings, verifyAudit } from "tenantry";
import { workersAI } from "tenantry";
import type {
  McpServerConfig,
  McpHeaders,
  McpListData,
  ChatRequestBody,
  UIMessageChunk,
  Embedder,
  LanguageModelV2Like,
  LanguageModelV3Like,
  SearchHit,
  AuditEntry,
  Block,
  TelemetryEvent,
  VerifyReport,
  ErrorCode,
  MemoryStats,
  Message,
  InputPart,
  ModelFunction,
  ModelRequest,
  RecallHit,
  RunEvent,
  RunResult,
  OrgDoc,
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

// The shape of a Durable Object's `ctx.storage`, as a Worker's types declare it.
declare const ctxStorage: {
  get<T = unknown>(key: string): Promise<T | undefined>;
  get<T = unknown>(keys: string[]): Promise<Map<string, T>>;
  put<T>(key: string, value: T): Promise<void>;
  put<T>(entries: Record<string, T>): Promise<void>;
  delete(key: string): Promise<boolean>;
  delete(keys: string[]): Promise<number>;
  list<T = unknown>(options?: { prefix?: string; limit?: number }): Promise<Map<string, T>>;
  deleteAll(): Promise<void>;
};
const durable: StorageAdapter = durableObjectStorage(ctxStorage, { chunkChars: 16_384 });
new Agent({ model: demoModel(), memory: { storage: durableObjectStorage(ctxStorage) } });
// @ts-expect-error a Map is not Durable Object storage
durableObjectStorage(new Map<string, string>());
// @ts-expect-error the adapter takes ctx.storage, not another adapter
durableObjectStorage(durable);

// workersAI over a binding typed as Cloudflare's `Ai` declares its generic `run`.
declare const env: {
  AI: { run<M extends string>(model: M, inputs: { [key: string]: unknown }, options?: { gateway?: { id: string }; signal?: AbortSignal }): Promise<unknown> };
};
const workers: ModelFunction = workersAI(env.AI, "@cf/meta/llama-3.3-70b-instruct-fp8-fast", { inputs: { temperature: 0.2 }, gateway: { id: "gw" } });
new Agent({ model: workersAI(env.AI, "@cf/meta/llama-3.3-70b-instruct-fp8-fast") });
void workers;
// @ts-expect-error the model id is required
workersAI(env.AI);
// @ts-expect-error a binding has a run method
workersAI({}, "@cf/meta/llama-3.3-70b-instruct-fp8-fast");
// @ts-expect-error inputs are JSON data
workersAI(env.AI, "m", { inputs: { temperature: () => 0.2 } });

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
  const picture: InputPart[] = [
    { type: "text", text: "What is this?" },
    { type: "image", data: "aGk=", mediaType: "image/png" },
    { type: "image", url: "https://example.com/cat.png" },
    { type: "file", data: "JVBERg==", mediaType: "application/pdf", filename: "a.pdf" },
  ];
  await agent.run(picture, "alice");
  agent.stream(picture, "alice");
  const seen: InputPart[] | undefined = h[0]?.parts;
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
  // A `useChat` request, answered with the UI message stream (and the other responses).
  const body: ChatRequestBody = {
    id: "chat-1",
    trigger: "submit-message",
    messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "hi" }] }],
  };
  const chat: RunStream = streaming.streamChat(body, "alice", { signal: new AbortController().signal });
  const first: RunEvent | undefined = await chat.peek();
  if (first?.type === "error") void first.code;
  const ui: Response = chat.toUIMessageStreamResponse({ status: 200, headers: { "x-app": "1" } });
  const chunks: ReadableStream<UIMessageChunk> = streaming.streamChat(await new Response("{}").json(), "bob").toUIMessageStream();
  for await (const chunk of chunks as unknown as AsyncIterable<UIMessageChunk>) {
    if (chunk.type === "text-delta") void chunk.delta;
    if (chunk.type === "finish") void [chunk.finishReason, chunk.messageMetadata.usage.totalTokens];
    if (chunk.type === "error") void chunk.errorText;
  }
  const text: Response = streaming.stream("hi", "bob").toTextStreamResponse();
  const sse: Response = streaming.stream("hi", "bob").toSSEResponse({ headers: new Headers() });
  void [ui, text, sse];
  // @ts-expect-error the chat id is the session: there is no sessionId option
  streaming.streamChat(body, "alice", { sessionId: "other" });
  // @ts-expect-error the user is the host's argument, never the body's
  streaming.streamChat(body);
  // @ts-expect-error useChat's triggers only
  streaming.streamChat({ ...body, trigger: "resume-stream" }, "alice");
  // A user model can stream too.
  const streams: ModelFunction = async (req) => {
    req.onTextDelta?.("partial");
    return { text: "partial" };
  };
  void streams;
  // @ts-expect-error the client needs a model name
  openai({ apiKey: "k" });
  // AI SDK language models as they come from their packages, and one written by hand.
  const compatible = createOpenAICompatible({ baseURL: "http://127.0.0.1:1/v1", name: "local", apiKey: "k" }).chatModel("m");
  const viaAiSdk = new Agent({ model: compatible, modelName: "m", requireUser: true });
  const asV3: LanguageModelV3Like = compatible;
  new Agent({ model: new MockLanguageModelV3({ modelId: "mock" }) });
  const handV2: LanguageModelV2Like = {
    specificationVersion: "v2",
    provider: "hand",
    modelId: "v2-model",
    async doGenerate(options) {
      const last = options.prompt[options.prompt.length - 1];
      const said = last.role === "system" ? last.content : last.content.map((p) => p.type).join(",");
      options.abortSignal?.throwIfAborted();
      return { content: [{ type: "text", text: said }], finishReason: "stop", usage: { inputTokens: 1, outputTokens: 1 } };
    },
    async doStream(options) {
      const bound: number | undefined = options.maxOutputTokens;
      void bound;
      return { stream: new ReadableStream({ start: (c) => (c.enqueue({ type: "text-delta", delta: "hi" }), c.close()) }) };
    },
  };
  new Agent({ model: handV2 });
  // A host function priced by the name the host gives it.
  new Agent({ model: own, modelName: "my-model", budget: { perUser: { maxCostUsd: 1 }, prices: { "my-model": { inputPerMTok: 1, outputPerMTok: 2 } } } });
  const sentinel: "__tenantry_anonymous__" = ANONYMOUS_USER;
  const required: ErrorCode = "user_required";
  void [viaAiSdk, asV3, sentinel, required];
  // @ts-expect-error a model object must declare its specificationVersion
  new Agent({ model: { provider: "x", modelId: "m", doGenerate: async () => ({ content: [] }), doStream: async () => ({ stream: new ReadableStream() }) } });
  // @ts-expect-error only interface versions 2 and 3
  new Agent({ model: { ...handV2, specificationVersion: "v1" } });
  // @ts-expect-error modelName is a string
  new Agent({ model: demoModel(), modelName: 42 });
  // @ts-expect-error requireUser is a boolean
  new Agent({ model: demoModel(), requireUser: "yes" });
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
  // Budgets per org: perOrg, org plans picked by the host, one rate bucket per org.
  const perOrg = new Agent({
    model: demoModel(),
    budget: {
      perOrg: [{ maxTotalTokens: 1_000_000, window: "day" }, { maxCostUsd: 50, window: "lifetime" }],
      orgPlans: { enterprise: { maxCostUsd: 5000, window: "day" } },
      orgPlanOf: (orgId) => (orgId === "bigco" ? "enterprise" : undefined),
    },
    rateLimit: { perOrg: { requests: 600, perMs: 60_000 } },
  });
  const orgReport: UsageReport = perOrg.orgUsage("acme");
  const orgScope: "user" | "org" | "global" = orgReport.limits[0]?.scope ?? "org";
  const orgAccounts: number = perOrg.stats().orgBudgetAccounts + perOrg.stats().retainedOrgAccounts;
  // @ts-expect-error orgPlanOf takes the org id and answers a plan name
  new Agent({ model: demoModel(), budget: { orgPlanOf: (orgId: string) => 42 } });
  // @ts-expect-error orgUsage needs an org id
  perOrg.orgUsage();
  void [orgScope, orgAccounts];
  const audited = new Agent({
    model: demoModel(),
    audit: { key: "a-secret-of-16+-bytes", sink: async (e: AuditEntry) => void e.mac, includeContent: false },
    onEvent: (ev: TelemetryEvent) => void ev.durationMs,
  });
  // As the README writes them: callbacks whose results are ignored may return anything.
  const events: TelemetryEvent[] = [];
  const lines: AuditEntry[] = [];
  new Agent({ model: demoModel(), audit: { key: "a-secret-of-16+-bytes", sink: (e) => lines.push(e) }, onEvent: (e) => events.push(e) });
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
      // Checking the code narrows the details.
      if (e.code === "invalid_config") {
        const field: string = e.details.field;
        void field;
      }
      if (e.code === "budget_exceeded") {
        const left: number = e.details.remaining;
        const scope: "user" | "org" | "global" = e.details.scope;
        void [left, scope];
      }
      if (e.code === "rate_limited") {
        const wait: number = e.details.retryAfterMs;
        const bucket: "user" | "org" = e.details.scope;
        void bucket;
        // @ts-expect-error a rate_limited error has no field
        void e.details.field;
        void wait;
      }
      void code;
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

  // A tool's arguments are typed from its schema.
  const weather = tool({
    name: "weather",
    parameters: {
      type: "object",
      properties: { city: { type: "string" }, days: { type: "integer" }, unit: { enum: ["c", "f"] } },
      required: ["city"],
    },
    execute: (args) => {
      const city: string = args.city;
      const days: number | undefined = args.days;
      const unit: "c" | "f" | undefined = args.unit;
      // @ts-expect-error no such argument in the schema
      void args.country;
      return { city, days, unit };
    },
  });
  new Agent({ model: demoModel(), tools: [weather] });

  // @ts-expect-error the user id is required: there is no implicit current user
  await agent.run("hi");
  // @ts-expect-error user ids are strings
  await agent.run("hi", 42);
  // @ts-expect-error inline image data needs its media type
  await agent.run([{ type: "image", data: "aGk=" }], "alice");
  // @ts-expect-error a file needs its media type
  await agent.run([{ type: "file", url: "https://example.com/a.pdf" }], "alice");
  // @ts-expect-error an image is a link or data, not both
  await agent.run([{ type: "image", url: "https://example.com/a.png", data: "aGk=", mediaType: "image/png" }], "alice");
  // @ts-expect-error unknown run options are refused
  await agent.run("hi", "alice", { sesionId: "typo" });
  // @ts-expect-error a model is required
  new Agent({ name: "x" });
  // @ts-expect-error a storage adapter needs all four methods
  new Agent({ model: demoModel(), memory: { storage: { get: async () => null } } });
  // @ts-expect-error forget is async: its result is not a boolean
  const gone: boolean = await agent.forget("alice");
  void gone;
  // Organisations: `orgId` beside each per-user call, the whole-org operations by id.
  const inOrg: RunResult = await agent.run("hi", "alice", { orgId: "acme", sessionId: "s" });
  const orgOfRun: string | undefined = inOrg.orgId;
  void orgOfRun;
  const orgHistory: Message[] = agent.history("alice", "s", { orgId: "acme" });
  void orgHistory;
  agent.size("alice", { orgId: "acme" });
  await agent.forget("alice", { orgId: null });
  const orgDoc: OrgDoc = await agent.exportOrg("acme");
  const erased: number = await agent.forgetOrg(orgDoc.orgId);
  void erased;
  const orgAgent = new Agent({
    model: demoModel(),
    orgs: { acme: { instructions: "Acme.", model: demoModel(), modelName: "demo" } },
    orgConfig: async (orgId: string) => (orgId === "globex" ? { instructions: "Globex." } : undefined),
  });
  await orgAgent.setOrgBlock("acme", "policy", "30 days");
  const orgBlocks: Block[] = await orgAgent.orgBlocks("acme");
  void orgBlocks;
  // @ts-expect-error a whole-org call needs an org id
  await agent.forgetOrg(undefined);
  // @ts-expect-error orgId is a string
  await agent.run("hi", "alice", { orgId: 42 });
  // @ts-expect-error finishReason is a known union
  const bad: RunResult["finishReason"] = "done";
  void bad;
  // MCP tools: per-user headers, sync or async.
  const crm: McpServerConfig = {
    name: "crm",
    url: "https://mcp.example.com/mcp",
    headers: async (userId, { server }): Promise<McpHeaders> => ({ authorization: `Bearer ${userId}-${server}` }),
    timeoutMs: 10_000,
    cacheTtlMs: 60_000,
  };
  const withMcp = new Agent({ model: demoModel(), mcp: [crm, { name: "docs", url: "https://docs.example.com/mcp" }], permissions: { requireApproval: ["crm_refund"] } });
  const listed = withMcp.auditLog("alice").find((e) => e.type === "mcp.list");
  if (listed) {
    const data = listed.data as unknown as McpListData;
    const skipped: string[] = data.skipped.map((s) => s.tool);
    void skipped;
  }
  // @ts-expect-error headers values are strings
  new Agent({ model: demoModel(), mcp: [{ name: "crm", url: "https://x.example", headers: () => ({ authorization: 1 }) }] });
  // @ts-expect-error a server needs a url
  new Agent({ model: demoModel(), mcp: [{ name: "crm" }] });
}
void main;
