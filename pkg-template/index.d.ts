// Types of the `tenantry` package. Hand-written so that every shape is precise; the tests
// type-check a usage example against this file with `tsc --strict --noEmit`.

/** Any JSON value. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };

/**
 * Whose state a call touches. A string id (1 to 255 bytes of UTF-8, no control
 * characters), or `null` / `undefined` for the anonymous bucket, which is a partition like
 * any other.
 */
export type UserId = string | null | undefined;

/**
 * The organisation a user belongs to: the scope above users. The same user id in two orgs
 * is two users who share nothing. Absent (`undefined` or `null`): the default org, where
 * every user is who never names one. Checked like a user id (`invalid_org_id`).
 */
export type OrgId = string | null | undefined;

/** The option every per-user method takes: which org `userId` belongs to. */
export interface OrgOption {
  orgId?: OrgId;
}

export type Role = "system" | "user" | "assistant" | "tool";

/** A tool call the model made; `arguments` is the JSON text as the model wrote it. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface Message {
  role: Role;
  content: string;
  /** On assistant messages: the tools the model asked to call. */
  toolCalls?: ToolCall[];
  /** On tool messages: the call this is the result of. */
  toolCallId?: string;
  /** On user messages given as parts; `content` is then the text of the text parts. */
  parts?: InputPart[];
}

/** Text of a message given as parts. */
export interface TextPart {
  type: "text";
  text: string;
}

/**
 * An image, by link (`url`: http or https; a `data:image/...;base64,` URL is read as
 * `data`) or inline (`data`: standard base64, with `mediaType` such as `"image/png"`).
 */
export type ImagePart =
  | { type: "image"; url: string; data?: undefined; mediaType?: string }
  | { type: "image"; data: string; url?: undefined; mediaType: string };

/**
 * A document such as a PDF, by link or inline base64, with its media type. OpenAI reads
 * files only inline; Anthropic reads PDFs only.
 */
export type FilePart =
  | { type: "file"; url: string; data?: undefined; mediaType: string; filename?: string }
  | { type: "file"; data: string; url?: undefined; mediaType: string; filename?: string };

/**
 * One part of a run's input. A run's parts hold at most 4 MiB (text, links and base64 as
 * given) in at most 100 parts, and some text.
 */
export type InputPart = TextPart | ImagePart | FilePart;

/** Why generation stopped (the Vercel AI SDK's names). */
export type FinishReason =
  | "stop"
  | "length"
  | "content-filter"
  | "tool-calls"
  | "error"
  | "other";

/** What a model function receives for each call. */
export interface ModelRequest {
  /** Instructions (as a system message), this user's session history, then the input. */
  messages: Message[];
  /** The tools this user may call (the model is told about no others). */
  tools: { name: string; description: string; parameters: JsonValue }[];
  maxOutputTokens: number;
  /** `null` for the anonymous bucket. */
  userId: string | null;
  /** The user's org; absent for the default org. */
  orgId?: string;
  sessionId: string;
  runId: string;
  /**
   * Present when the run asked for structured output (`run(..., { output })`): answer with
   * JSON valid against `schema` as the text (tenantry parses and checks it).
   */
  output?: OutputRequest;
  /** The run's `signal`, when one was given: pass it on to `fetch`. */
  abortSignal?: AbortSignal;
  /**
   * Present when the run is streaming (`agent.stream`): call it with each piece of text as
   * the model produces it, and it reaches the stream's consumer as a `text-delta` event.
   */
  onTextDelta?: (text: string) => void;
}

/** What a model function returns (or resolves to). */
export interface ModelResponse {
  text: string;
  /** Token counts as reported by the provider; estimated by tenantry when absent. */
  usage?: { inputTokens?: number; outputTokens?: number };
  /** AI SDK names or provider wire names (`end_turn`, `max_tokens`, ...); default `"stop"`. */
  finishReason?: FinishReason | (string & {});
  /**
   * Tools to call; `arguments` may be JSON text or an object. The agent runs them and calls
   * the model again with their results. Without `tools` configured, a run that gets tool
   * calls fails with `unsupported`.
   */
  toolCalls?: { id?: string; name: string; arguments?: string | { [key: string]: JsonValue } }[];
}

/** Options shared by the built-in provider clients. */
export interface ProviderOptions {
  /** The provider's model name, e.g. `"gpt-4o-mini"` or `"claude-sonnet-4-5"`. */
  model: string;
  /** Sent as `Authorization: Bearer` (OpenAI) or `x-api-key` (Anthropic). Never appears in errors or events. */
  apiKey?: string;
  /** Default `https://api.openai.com/v1` / `https://api.anthropic.com/v1`; any compatible server or gateway works. */
  baseUrl?: string;
  /** Extra request headers. */
  headers?: { [name: string]: string };
  /** Replaces the global `fetch`: a service binding, a proxy, a test double. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Retries on 408/409/429/5xx and network errors, with exponential backoff and jitter, honouring `Retry-After`. Default 2. */
  maxRetries?: number;
  /** Time limit for one attempt, including reading the whole stream. Default 120,000. */
  timeoutMs?: number;
  /** Stream the answer (SSE). Default `true`. */
  stream?: boolean;
}

/** A chat-completions client for any OpenAI-compatible server, as a model function. */
export declare function openai(options: ProviderOptions): ModelFunction;

/** A Messages API client for Anthropic, as a model function. */
export declare function anthropic(options: ProviderOptions & { /** `anthropic-version`, default `"2023-06-01"`. */ version?: string }): ModelFunction;

/**
 * An embeddings client for any OpenAI-compatible server (`POST {baseUrl}/embeddings` with
 * `{ model, input }`), as an `Embedder` for `memory.embedder`: resolves to
 * `{ embeddings, usage: { tokens } }`, with `openai()`'s retries, time limit and redaction.
 */
export declare function openaiEmbeddings(options: Omit<ProviderOptions, "stream">): Embedder;

/** A model: any function from request to response, sync or async. */
export type ModelFunction = (
  request: ModelRequest,
) => ModelResponse | Promise<ModelResponse>;

/**
 * What tenantry passes an AI SDK language model's `doGenerate` / `doStream`: the
 * conversation as prompt messages (system text; user, assistant and tool messages as
 * content parts: `text`, `tool-call` with `toolCallId`, `toolName`, `input`, `tool-result`
 * with `output: { type: "json" | "text", value }`), the tools the user may call (function
 * tools with `inputSchema`), the output bound and the run's signal. Nothing names the user.
 */
export interface LanguageModelCallOptions {
  prompt: ReadonlyArray<
    | { role: "system"; content: string }
    | { role: "user" | "assistant" | "tool"; content: ReadonlyArray<{ type: string }> }
  >;
  maxOutputTokens?: number;
  tools?: ReadonlyArray<{ type: string; name: string; description?: string; inputSchema?: unknown }>;
  abortSignal?: AbortSignal;
}

/** Token counts as V3 (`{ total, ... }` objects) or V2 (numbers) report them; the totals are charged. */
export interface LanguageModelUsage {
  inputTokens?: number | { total?: number };
  outputTokens?: number | { total?: number };
}

/** A content part of a `doGenerate` result: `text` parts are the answer, `tool-call` parts (`input` as JSON text) go to the tools; other parts (reasoning, files, sources) are not read. */
export type LanguageModelContentPart =
  | { type: "text"; text: string }
  | { type: "tool-call"; toolCallId: string; toolName: string; input: string }
  | { type: string };

/** What `doGenerate` resolves to. */
export interface LanguageModelGenerateResult {
  content: ReadonlyArray<LanguageModelContentPart>;
  /** V3: `{ unified, raw }`; V2: the name. */
  finishReason?: string | { unified: string; raw?: string };
  /** Estimated by tenantry when absent. */
  usage?: LanguageModelUsage;
}

/** A `doStream` part: `text-delta`, `tool-call`, `finish` and `error` are read; the rest are skipped. */
export type LanguageModelStreamPart =
  | { type: "text-delta"; id?: string; delta: string }
  | { type: "tool-call"; toolCallId: string; toolName: string; input: string }
  | { type: "finish"; finishReason?: LanguageModelGenerateResult["finishReason"]; usage?: LanguageModelUsage }
  | { type: "error"; error: unknown }
  | { type: string };

/**
 * An AI SDK language model of interface version 3: what `openai("gpt-4o-mini")` from
 * `@ai-sdk/openai`, `anthropic(...)`, `createOpenAICompatible(...).chatModel(...)` or
 * `MockLanguageModelV3` from `ai/test` return (declared by shape: the package does not
 * depend on the AI SDK). A run calls `doGenerate`, a stream `doStream`; `modelId` is the
 * name the price table knows it by (unless `modelName` says otherwise).
 */
export interface LanguageModelV3Like {
  readonly specificationVersion: "v3";
  readonly provider: string;
  readonly modelId: string;
  doGenerate(options: LanguageModelCallOptions): PromiseLike<LanguageModelGenerateResult>;
  doStream(options: LanguageModelCallOptions): PromiseLike<{ stream: ReadableStream<LanguageModelStreamPart> }>;
}

/** The same for interface version 2 (AI SDK 5 providers). */
export interface LanguageModelV2Like {
  readonly specificationVersion: "v2";
  readonly provider: string;
  readonly modelId: string;
  doGenerate(options: LanguageModelCallOptions): PromiseLike<LanguageModelGenerateResult>;
  doStream(options: LanguageModelCallOptions): PromiseLike<{ stream: ReadableStream<LanguageModelStreamPart> }>;
}

/**
 * Where an agent persists users' data: any async key-value store (Durable Object storage,
 * KV, IndexedDB, a file). Values are JSON text. Every key a user's data lives under starts
 * with that user's own prefix. `memoryStorage()`, `indexedDbStorage()` and
 * `durableObjectStorage(ctx.storage)` are built in.
 */
export interface StorageAdapter {
  get(key: string): Promise<string | null | undefined> | string | null | undefined;
  put(key: string, value: string): Promise<void> | void;
  delete(key: string): Promise<void> | void;
  /** Every key that starts with `prefix`, in any order. */
  list(prefix: string): Promise<string[]> | string[];
}

/**
 * Turns texts into vectors, one per text, in order (1 to 4096 finite numbers each, the
 * same size on every call). Called with one user's texts and that user's id only.
 */
export type Embedder = (
  texts: string[],
  context: { userId: string | null; orgId?: string; signal?: AbortSignal },
) =>
  | number[][]
  | { embeddings: number[][]; usage?: { tokens?: number } }
  | Promise<number[][] | { embeddings: number[][]; usage?: { tokens?: number } }>;

export interface SearchOptions {
  /** 1 to 100; default 10. */
  limit?: number;
  /**
   * `"lexical"` (default): BM25, as `recall`. `"semantic"`: cosine between the query's
   * embedding and the user's stored vectors. `"hybrid"`: reciprocal rank fusion (k = 60) of
   * both. The last two need `memory.embedder`.
   */
  mode?: "lexical" | "semantic" | "hybrid";
  /** Only this session's messages. */
  sessionId?: string;
  orgId?: OrgId;
}

/** A search result; `score` is BM25, a cosine, or a fused rank score, by mode. */
export type SearchHit = RecallHit;

export interface MemoryConfig {
  /**
   * Most messages kept per (user, session); the oldest whole turns are dropped first.
   * At least 2 (one turn). Default 100.
   */
  maxMessagesPerSession?: number;
  /**
   * Bound on the (estimated) tokens sent per model call: the newest whole turns that fit
   * are sent, oldest dropped first. Default: no bound beyond `maxMessagesPerSession`.
   */
  maxContextTokens?: number;
  /** Sessions kept per user; beyond it the least recently active goes. Default 100. */
  maxSessionsPerUser?: number;
  /** Users resident in RAM; the least recently used are evicted beyond it. Default 100,000. */
  maxUsers?: number;
  /** Users idle longer than this are evicted from RAM. Default 86,400,000 (24 h); `Infinity` never. */
  idleTtlMs?: number;
  /**
   * Inject the user's `topK` most relevant past messages (any session) into each prompt,
   * ranked as `search` ranks in `mode` (default `"lexical"`; `"semantic"` and `"hybrid"`
   * need `embedder` and embed each run's input once, before the model call).
   */
  recall?: { topK?: number; mode?: "lexical" | "semantic" | "hybrid" };
  /**
   * Embeds every committed message (the input and the final answer, one call per run,
   * before the turn is written) and `search` queries, enabling `mode: "semantic" | "hybrid"`.
   * A failed or malformed answer fails the run with `embedding_failed`; nothing commits.
   * Each call is charged to the user's budget as input tokens (those the embedder reports
   * in `usage.tokens`, else an estimate of 1 token per 4 bytes), priced by the embedder's
   * model (`openaiEmbeddings`' `model`, or a function's `modelId` property); it counts
   * against input, total and cost limits, not output or request limits, and is audited as
   * `memory.embed`. A query's embedding is refused when the user has no room; a committed
   * turn's is charged even past a limit (its model already answered), and the next run is
   * refused.
   */
  embedder?: Embedder;
  /**
   * Built-in tools the model may call to edit and search the calling user's own memory:
   * `true` for all, or their names. They act for the run's user only (their schemas have
   * no user field and refuse unknown arguments), follow `permissions`/`policy`/approvals by
   * name, and appear in tool events and the audit log like any tool.
   */
  tools?: boolean | MemoryToolName[];
  /**
   * When a session's stored turns pass `triggerTokens` (estimated), all but the last
   * `keepTurns` turns are summarised by the agent's model in one call (charged to that
   * user, audited as `memory.compact`) and replaced by one summary turn: a `system`
   * message in `history()` starting "Summary of the earlier conversation: ". A refused or
   * failed summary changes nothing and is tried again after a later turn.
   */
  compaction?: { triggerTokens: number; keepTurns: number; instructions?: string };
  /**
   * `extract: true`: after each committed turn, one model call (charged to that user,
   * audited as `memory.extract`) reads the turn's input and final answer, with the user's
   * current facts, and records the facts it names for that user, as `remember` would
   * (source `"extracted:<runId>"`). The model answers
   * `{ "facts": [{ "subject", "predicate", "object" }] }` JSON (at most 20; other fields are
   * ignored). An unreadable, refused or failed extraction records nothing and never fails
   * the run. `instructions` replaces the default system message of that call.
   */
  facts?: { extract?: boolean; instructions?: string };
  /**
   * Persist through this adapter: each turn is written before `run` resolves, and eviction
   * only frees RAM. Without one, an evicted user's data is gone.
   */
  storage?: StorageAdapter;
  /** Milliseconds since the epoch; default `Date.now`. Inject one to test idle eviction. */
  clock?: () => number;
}

/** How far back a limit looks: all time, a rolling minute/hour/day, or a custom length. */
export type BudgetWindow = "lifetime" | "minute" | "hour" | "day" | { ms: number };

/**
 * Ceilings for one window. Leave a field out for no cap (`Infinity` also means none);
 * negative, NaN or non-numeric values are refused at construction.
 */
export interface LimitSet {
  maxInputTokens?: number;
  maxOutputTokens?: number;
  maxTotalTokens?: number;
  /** USD, priced from `prices` (and editable built-in defaults for common models). */
  maxCostUsd?: number;
  maxRequests?: number;
  /** Default `"lifetime"`. */
  window?: BudgetWindow;
}

export interface BudgetConfig {
  /** Every user's limits (one object per window, or a list for several windows). */
  perUser?: LimitSet | LimitSet[];
  /** Limits on all users together. */
  global?: LimitSet | LimitSet[];
  /** Named plans whose limits replace `perUser` for their users. */
  plans?: { [plan: string]: LimitSet | LimitSet[] };
  /** A user's plan (a key of `plans`); otherwise, or for an unknown name, `perUser`. Only the
   *  host decides: nothing a user can write (properties, imported documents) picks a plan. */
  planOf?: (userId: string | null, context: { orgId: string | null }) => string | undefined | null;
  // Budgets per org: one ceiling for all the users of an org together.
  /** Every org's limits (each org but the default one), all its users counted together;
   *  same shape as `perUser`. A run must fit its user's, its org's and the global limits. */
  perOrg?: LimitSet | LimitSet[];
  /** Named org plans whose limits replace `perOrg` for their orgs. */
  orgPlans?: { [plan: string]: LimitSet | LimitSet[] };
  /** An org's plan (a key of `orgPlans`); otherwise, or for an unknown name, `perOrg`. */
  orgPlanOf?: (orgId: string) => string | undefined | null;
  /** USD per million tokens, by model name; merged over the built-in defaults. */
  prices?: { [model: string]: { inputPerMTok: number; outputPerMTok: number } };
  /** `false`: only `prices` are known (a cost-limited call on an unlisted model is refused). Default `true`. */
  defaultPrices?: boolean;
}

export interface RateLimitConfig {
  /** A token bucket per user: `requests` per `perMs`, up to `burst` at once (default `requests`). */
  perUser?: { requests: number; perMs: number; burst?: number };
  /** One token bucket per org (each org but the default one), shared by all its users. */
  perOrg?: { requests: number; perMs: number; burst?: number };
}

export type BudgetMetric = "inputTokens" | "outputTokens" | "totalTokens" | "costUsd" | "requests";

export interface LimitUsage {
  scope: "user" | "org" | "global";
  metric: BudgetMetric;
  window: BudgetWindow;
  /** Settled charges still inside the window. */
  used: number;
  /** Held by runs in flight. */
  reserved: number;
  limit: number;
  remaining: number;
}

export interface UsageTotals {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  costUsd: number;
  /** The exact integer behind `costUsd`. */
  costNanoUsd: number;
  requests: number;
}

/** `usage(userId)` / `globalUsage()`: every limit that applies, and lifetime totals. */
export interface UsageReport {
  limits: LimitUsage[];
  /** Everything ever charged (for a user: what they were charged, summed exactly). */
  totals: UsageTotals;
  /** Held by runs in flight. */
  reserved: UsageTotals;
}

/** What a tool's `execute` receives besides its arguments: who it acts for, and nobody else. */
export interface ToolContext {
  userId: string | null;
  /** The user's org; absent for the default org. */
  orgId?: string;
  sessionId: string;
  runId: string;
  /** Which model call of the run asked for this tool (1-based). */
  step: number;
  /** Aborted when the run is; pass it on to fetch. */
  signal: AbortSignal;
  /**
   * A cache scoped to this user by construction: the same key is a different entry for
   * every user. Values are JSON; `ttlMs` optional.
   */
  cache: {
    get(key: string): JsonValue | undefined;
    set(key: string, value: JsonValue, ttlMs?: number): boolean;
    delete(key: string): void;
  };
}

export interface Tool<Args = any> {
  /** 1 to 64 letters, digits, `_` or `-`. */
  name: string;
  description?: string;
  /** JSON Schema for the arguments; invalid arguments go back to the model as a tool error. */
  parameters?: { [key: string]: JsonValue };
  /** Sync or async; a throw becomes a tool error the model sees. The result must be JSON. */
  execute(args: Args, ctx: ToolContext): unknown;
}

/**
 * The TypeScript type of a value valid against JSON Schema `S`, for the keywords tools use
 * (`type`, `properties`, `required`, `items`, `enum`, `const`, `anyOf`, `oneOf`). Write the
 * schema inline in `tool({ ... })` (or `as const`) so its literal types are kept.
 */
export type FromSchema<S> = S extends { const: infer C }
  ? C
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { anyOf: readonly (infer U)[] }
      ? FromSchema<U>
      : S extends { oneOf: readonly (infer U)[] }
        ? FromSchema<U>
        : S extends { type: readonly (infer T)[] }
          ? T extends unknown
            ? FromSchema<Omit<S, "type"> & { type: T }>
            : never
          : S extends { type: "string" }
            ? string
            : S extends { type: "number" | "integer" }
              ? number
              : S extends { type: "boolean" }
                ? boolean
                : S extends { type: "null" }
                  ? null
                  : S extends { type: "array"; items: infer I }
                    ? FromSchema<I>[]
                    : S extends { type: "array" }
                      ? JsonValue[]
                      : S extends { type: "object"; properties: infer P }
                        ? ObjectFromSchema<P, S extends { required: readonly (infer R)[] } ? R : never>
                        : S extends { type: "object" }
                          ? { [key: string]: JsonValue }
                          : JsonValue;

type ObjectFromSchema<P, R> = {
  -readonly [K in keyof P as K extends R ? K : never]: FromSchema<P[K]>;
} & {
  -readonly [K in keyof P as K extends R ? never : K]?: FromSchema<P[K]>;
};

/**
 * Checks one tool definition now (as `new Agent` would: `invalid_config` naming the field)
 * and returns it unchanged, with `execute`'s arguments typed from `parameters`.
 */
export declare function tool<const S extends { readonly [key: string]: unknown }>(definition: {
  name: string;
  description?: string;
  parameters: S;
  execute(args: FromSchema<S>, ctx: ToolContext): unknown;
}): Tool<FromSchema<S>>;

export interface Permissions {
  /** Default `"allow"`. */
  default?: "allow" | "deny";
  users?: { [userId: string]: { allow?: string[]; deny?: string[]; requireApproval?: string[] } };
  /** Tools every user needs approval for. */
  requireApproval?: string[];
}

export interface ApprovalRequest {
  userId: string | null;
  /** The user's org; absent for the default org. */
  orgId?: string;
  sessionId: string;
  runId: string;
  tool: string;
  args: JsonValue;
}

/**
 * One audit entry. `mac` is HMAC-SHA256 (hex) over the entry's canonical JSON (RFC 8785,
 * every field but `mac`), which includes `prev`, the previous entry's `mac`: a chain.
 */
export interface AuditEntry {
  seq: number;
  /** Milliseconds since the epoch. */
  ts: number;
  type: "run.start" | "run.finish" | "model.call" | "tool.call" | "budget.refused" | "budget.overrun" | "forget" | "export" | "import" | "memory.compact" | "memory.embed" | "memory.extract" | "mcp.list" | (string & {});
  userId: string | null;
  /** The user's org; absent for the default org. */
  orgId?: string;
  sessionId: string | null;
  runId: string | null;
  /**
   * Details; message texts appear as `{ hmacSha256, bytes }` (HMAC-SHA256 under a per-user
   * key that `forget` destroys) unless `includeContent`.
   */
  data: { [key: string]: JsonValue };
  prev: string;
  mac: string;
}

export interface AuditConfig {
  /** The HMAC key: no default. Text (UTF-8, or `hex:...`/`base64:...`) or bytes, at least 16 bytes. */
  key: string | Uint8Array;
  /** Receives every entry as it is written (persist it: a file, KV, R2, a log service). */
  sink?: (entry: AuditEntry) => unknown;
  /** Entries kept in memory for `auditLog`/`auditEntries`. Default 10,000. */
  ringSize?: number;
  /**
   * Keep message text in entries (and events) instead of keyed hashes; `forget` cannot take
   * text back out of a log already written. Default false.
   */
  includeContent?: boolean;
  /** The last entry of a log persisted before a restart: the chain continues from it. */
  resumeFrom?: AuditEntry;
}

export interface VerifyReport {
  ok: boolean;
  /**
   * Entries that verified from the first (all of them when `ok`). Entries cut from the end,
   * or a whole log replaced by another valid chain under the same key, still verify: compare
   * this and the last entry's `mac` with values recorded elsewhere.
   */
  checked: number;
  firstBroken: null | {
    index: number;
    seq: number | null;
    reason: "modified" | "deleted" | "reordered" | "wrong_key" | "malformed";
    message: string;
  };
}

/**
 * A telemetry event, for OpenTelemetry or logs: `run.start`/`run.finish` bracket a run
 * (a span: `durationMs`, `usage`), `model.call` is a child span with latency and usage,
 * `tool.call`, `budget.refused`, `budget.overrun`, `forget`/`export`/`import`, `eviction`,
 * `audit.sink-error`, `memory.compact`, `memory.embed` (an embedder call, with the `usage`
 * charged to the user), `memory.extract` (a fact extraction call: `recorded` facts, `usage`),
 * `mcp.list` (an MCP server's tools listed for the run's user, see `McpListData`).
 */
export interface TelemetryEvent {
  type: string;
  userId: string | null;
  /** The user's org; absent for the default org. */
  orgId?: string;
  sessionId: string | null;
  runId: string | null;
  ts: number;
  durationMs?: number;
  usage?: Usage;
  data: { [key: string]: JsonValue };
}

/** What an org changes for its own users. */
export interface OrgSettings {
  /** Follows the agent's `instructions` in the system message of the org's users' runs. */
  instructions?: string;
  /** The only tools (of the agent's) the org's users are offered. */
  tools?: string[];
  /** Rules in place of the agent's `permissions`; `users` names users of this org. */
  permissions?: Permissions;
  /** The model that answers the org's users (say, on the org's own provider key). */
  model?: ModelFunction | LanguageModelV2Like | LanguageModelV3Like;
  /** The name the org's model is priced under (default: the name it declares). */
  modelName?: string;
  /** The org's budget plan, a name in `budget.orgPlans` (before `budget.orgPlanOf`). */
  plan?: string;
  /**
   * The org's own limits, only in the `orgs` map (an `orgConfig` answer names a `plan`):
   * `perOrg` in place of `budget.perOrg` for this org (not together with `plan`), `perUser`
   * in place of `budget.perUser` for its users (a `planOf` answer still comes first).
   */
  budget?: { perOrg?: LimitSet | LimitSet[]; perUser?: LimitSet | LimitSet[] };
}

export interface AgentConfig {
  /** Default `"agent"`. */
  name?: string;
  /** Sent as the system message of every run. */
  instructions?: string;
  /** A function of your own, a built-in client (`openai()`, `anthropic()`), or an AI SDK language model. */
  model: ModelFunction | LanguageModelV2Like | LanguageModelV3Like;
  /**
   * The model's name in the price table (`budget.prices`), 1 to 255 bytes: how a cost limit
   * prices a model function of your own. Without it, a built-in client is priced by its
   * `model` and an AI SDK model by its `modelId`; given, it wins over both.
   */
  modelName?: string;
  /**
   * Refuse every call without a user id (`null` / `undefined`, the anonymous bucket) with
   * `user_required`: runs, streams, reads, writes, `forget`, `export`, and imports or
   * restores of the anonymous bucket's data. Default false.
   */
  requireUser?: boolean;
  memory?: MemoryConfig;
  /** Passed to the model as `maxOutputTokens` (capped to what the budget still allows). Default 1024. */
  maxOutputTokens?: number;
  /**
   * Token, cost and request ceilings per user and global. A run reserves what it may use
   * before calling the model, so concurrent runs can never overshoot a limit together.
   */
  budget?: BudgetConfig;
  /** Per-user rate limit, checked before any work: a refused run rejects with `rate_limited`. */
  rateLimit?: RateLimitConfig;
  /** Host functions the model may call; each call runs for the calling user only. */
  tools?: Tool[];
  /** Who may call which tool; a user is only told about the tools they may call. */
  permissions?: Permissions;
  /** Per call, after `permissions`: `"approve"` asks `approve`; anything but allow/approve (or a throw) denies. */
  policy?: (userId: string | null, tool: string, args: JsonValue, context: { orgId: string | null }) => "allow" | "deny" | "approve" | boolean | Promise<"allow" | "deny" | "approve" | boolean>;
  /** Decides calls that need approval; false, a throw or `approvalTimeoutMs` (default 300,000) means denied. */
  approve?: (request: ApprovalRequest) => boolean | Promise<boolean>;
  /** Most model calls in one run; beyond it the run fails with `max_steps`. Default 8. */
  maxSteps?: number;
  approvalTimeoutMs?: number;
  /** A tamper-evident audit log; refuses to start without a key. */
  audit?: AuditConfig;
  /** Every telemetry event, tagged with userId, sessionId and runId. */
  onEvent?: (event: TelemetryEvent) => unknown;
  /**
   * Settings of named orgs, applied to their users' runs only. Checked at construction:
   * tools and permission rules must name the agent's tools.
   */
  orgs?: { [orgId: string]: OrgSettings };
  /**
   * Settings of any other org, looked up by the org's users' runs (after `orgs`):
   * `undefined` or `null` for none. Answers are cached per org for 60 s (at most 1,000
   * orgs). A throw, a rejection or an invalid answer fails that run with `invalid_config`
   * (never a run without the org's rules).
   */
  orgConfig?: (orgId: string) => OrgSettings | undefined | null | Promise<OrgSettings | undefined | null>;
  /**
   * MCP servers whose tools the model may call, as `${name}_${tool}`, each call with the
   * calling user's own headers. `permissions`, `policy` and `approve` apply by that full name.
   */
  mcp?: McpServerConfig[];
}

// MCP tools (the `mcp` option).

/** What a server's `headers` function returns: header names to string values. */
export type McpHeaders = { [name: string]: string };

/** One MCP server reached over the Streamable HTTP transport through the runtime's `fetch`. */
export interface McpServerConfig {
  /** Prefixes its tools' names (`${name}_${tool}`): 1 to 32 letters, digits, `_` or `-`, unique. */
  name: string;
  /** Its endpoint, `http://` or `https://`, with no credentials in it (they go in `headers`). */
  url: string;
  /**
   * The calling user's headers for this server (their OAuth token, their API key), asked for
   * each listing and call of that user. A throw, a rejection or anything but an object of
   * strings fails that user's listing or call only. It may not set `Content-Type`, `Accept`,
   * `Mcp-Session-Id` or `MCP-Protocol-Version`.
   */
  headers?: (userId: string | null, context: { server: string; orgId: string | null }) => McpHeaders | Promise<McpHeaders>;
  /** Time limit of one listing or call (headers and initialization included). Default 30,000 ms. */
  timeoutMs?: number;
  /** How long a user's tool list is reused. Default 300,000 ms; 0 lists on every run; `Infinity` never expires. */
  cacheTtlMs?: number;
}

/** `data` of an `mcp.list` audit entry or telemetry event: one server's listing for the run's user. */
export interface McpListData {
  server: string;
  ok: boolean;
  /** Why the server offered no tools to this run (no credentials are quoted). */
  error: string | null;
  /** Tools offered from this server. */
  tools: number;
  /** Tools left out: invalid names or schemas, or a name another tool has. */
  skipped: Array<{ tool: string; reason: string }>;
  truncated: boolean;
  /** The list came from the cache (reported again only when a tool was skipped). */
  cached: boolean;
}

export interface RunOptions {
  /** Conversation within the user's partition. Default `"default"`. */
  sessionId?: string;
  /** The org the user belongs to (default: the default org). */
  orgId?: OrgId;
  /** Aborting rejects the run with code `aborted` and commits nothing. */
  signal?: AbortSignal;
  /**
   * Structured output: the final answer must be JSON valid against `schema` (checked with
   * the validator tools use) and is returned parsed as `result.object`; anything else
   * rejects with `output_invalid` and commits nothing. `name` (default `"output"`, letters,
   * digits, `_`, `-`) is what providers call it: OpenAI gets `response_format: json_schema`,
   * Anthropic a tool of that name it must end by calling, a host model `request.output`.
   */
  output?: { schema: JsonValue; name?: string };
}

/** What a host model receives as `request.output`. */
export interface OutputRequest {
  type: "json";
  schema: JsonValue;
  name: string;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** True when tenantry estimated a figure because the model reported none (or nonsense). */
  estimated: boolean;
  /** Priced from the budget's price table; 0 when the model has no price. */
  costUsd: number;
  /**
   * The model reported more than was reserved for it (it ignored `maxOutputTokens`): it was
   * charged in full, a `budget.overrun` event and audit entry were recorded, and while the
   * user is over a limit their next runs are refused.
   */
  overrun: boolean;
}

/** Fields every stream event carries: whose run it is. */
export interface EventIds {
  userId: string | null;
  /** Absent for the default org. */
  orgId?: string;
  sessionId: string;
  runId: string;
}

/** What `agent.stream()` yields, tagged by `type` (the Vercel AI SDK's part names). */
export type RunEvent = EventIds &
  (
    | { type: "text-delta"; text: string }
    | { type: "tool-call"; toolCallId: string; toolName: string; args: string; step: number }
    | {
        type: "tool-result";
        toolCallId: string;
        toolName: string;
        decision: "allowed" | "approved" | "denied" | "approval-refused" | "invalid" | "failed";
        result?: JsonValue;
        error?: string;
        step: number;
      }
    | { type: "usage"; usage: Usage }
    | { type: "finish"; text: string; finishReason: FinishReason; usage: Usage }
    | { type: "error"; code: ErrorCode; message: string; details: { [key: string]: JsonValue } }
  );

/**
 * A streaming run: iterate it with `for await`, or convert it to a stream or a `Response`
 * for a client. It is read once: iterate it or convert it, not both (`peek` takes nothing).
 * Leaving the loop early, or cancelling a stream or a `Response` body (a client that hangs
 * up), aborts the run, which then commits nothing.
 */
export interface RunStream extends AsyncIterableIterator<RunEvent> {
  /** The run's result once it finishes; rejects with its {@link TenantryError}. */
  readonly result: Promise<RunResult>;
  /** The final text; rejects like `result`. */
  readonly text: Promise<string>;
  /**
   * The next event without taking it; `undefined` when the run ended with nothing left.
   * For a server that picks its HTTP status from how the run starts: a first event of type
   * `error` means it was refused (`await stream.result` rejects with the error), and the
   * stream is still whole for the conversion that follows.
   */
  peek(): Promise<RunEvent | undefined>;
  /**
   * The events as a ReadableStream of event objects, exactly as iteration yields them
   * (errors in full). Objects, not bytes: a `Response` cannot send it as it is; use
   * {@link RunStream.toSSEResponse} for that.
   */
  toReadableStream(): ReadableStream<RunEvent>;
  /**
   * The run as AI SDK UI message chunks (protocol `v1`, `ai` 6): what `readUIMessageStream`
   * and `useChat` build the assistant message from. The message id is the run id; an error
   * is one `error` chunk, `"<code>: <message>"`, and nothing after it.
   */
  toUIMessageStream(): ReadableStream<UIMessageChunk>;
  /**
   * The UI message stream as the `Response` `useChat`'s `DefaultChatTransport` reads:
   * SSE (`data: <chunk JSON>` per chunk, then `data: [DONE]`), with `content-type:
   * text/event-stream`, `cache-control: no-cache`, `connection: keep-alive`,
   * `x-vercel-ai-ui-message-stream: v1` and `x-accel-buffering: no` unless `init.headers`
   * sets them. Status 200 unless `init.status` says otherwise, also for a run that fails:
   * the error is in the stream (see {@link RunStream.peek} to answer otherwise).
   */
  toUIMessageStreamResponse(init?: ResponseInit): Response;
  /**
   * The text as the model produces it (every step's), `text/plain; charset=utf-8`. A run
   * that fails errors the body (the client sees a cut response), since text cannot say so.
   */
  toTextStreamResponse(init?: ResponseInit): Response;
  /**
   * The events as Server-Sent Events, one message per event named by its type
   * (`event: text-delta`, ...), `content-type: text/event-stream; charset=utf-8`.
   */
  toSSEResponse(init?: ResponseInit): Response;
}

/**
 * The chunks of the UI message stream tenantry sends: a subset of the AI SDK's
 * `UIMessageChunk` (so it type-checks wherever that is expected).
 */
export type UIMessageChunk =
  | { type: "start"; messageId: string }
  | { type: "start-step" }
  | { type: "text-start"; id: string }
  | { type: "text-delta"; id: string; delta: string }
  | { type: "text-end"; id: string }
  | { type: "tool-input-available"; toolCallId: string; toolName: string; input: unknown }
  | { type: "tool-output-available"; toolCallId: string; output: unknown }
  | { type: "tool-output-error"; toolCallId: string; errorText: string }
  | { type: "tool-output-denied"; toolCallId: string }
  | { type: "finish-step" }
  | {
      type: "finish";
      finishReason: FinishReason;
      /** Token usage of the whole run (cost stays with the host). */
      messageMetadata: { usage: { inputTokens: number; outputTokens: number; totalTokens: number } };
    }
  | { type: "error"; errorText: string };

/** A message of a `useChat` conversation as its transport posts it (the AI SDK's `UIMessage`). */
export interface ChatMessage {
  id: string;
  role: "system" | "user" | "assistant";
  parts: { type: string; text?: string; [key: string]: unknown }[];
  metadata?: unknown;
}

/**
 * The body `useChat`'s `DefaultChatTransport` posts. Other keys (the transport's `body`
 * option) are allowed and ignored.
 */
export interface ChatRequestBody {
  /** The chat id: becomes the session id, within the user the host names. */
  id: string;
  /** The client's copy of the conversation; only the last message is read. */
  messages: ChatMessage[];
  trigger: "submit-message" | "regenerate-message";
  messageId?: string | null;
  [key: string]: unknown;
}

export interface RunResult {
  text: string;
  /** Summed over every model call of the run. */
  usage: Usage;
  /** Model calls made (1, plus one per round of tool calls). */
  steps: number;
  runId: string;
  finishReason: FinishReason;
  userId: string | null;
  /** Absent for the default org. */
  orgId?: string;
  sessionId: string;
  /** The final answer parsed and checked, when the run asked for `output`. */
  object?: JsonValue;
}

export interface SessionInfo {
  id: string;
  messageCount: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  lastActivity: number;
}

export interface Block {
  label: string;
  text: string;
}

export interface RecallHit {
  sessionId: string;
  role: "user" | "assistant";
  content: string;
  /** BM25 relevance over this user's own messages; higher is better. */
  score: number;
  /** When the turn holding the message was committed (ms since the epoch). */
  at: number;
}

export interface MemoryStats {
  users: number;
  /** Orgs other than the default with a resident user. */
  orgs: number;
  sessions: number;
  messages: number;
  /** Approximate heap bytes held for the resident users' data. */
  approxBytes: number;
  /** Budget and rate-limit accounts in RAM (bounded by `budgetCapacity`). */
  budgetAccounts: number;
  /** Of those, erased users' counters kept (under a pseudonym) until their windows close. */
  retainedAccounts: number;
  /** The most accounts held; past it a new user is refused with `over_capacity`. */
  budgetCapacity: number;
  /** Org-level accounts (`perOrg`, `rateLimit.perOrg`) in RAM, at most `budgetCapacity`:
   *  past it, idle orgs go to storage, or without storage a new org is refused with
   *  `over_capacity`. */
  orgBudgetAccounts: number;
  /** Of those, erased orgs' counters kept (under a pseudonym) until their windows close. */
  retainedOrgAccounts: number;
  /** `ctx.cache` entries (at most 10,000, and 100 per user). */
  toolCacheEntries: number;
  toolCacheUsers: number;
  /** Users with an audit content key (at most 100,000; `forget` destroys one). */
  auditContentKeys: number;
  /** Orgs whose knowledge is held in RAM (at most 10,000). */
  orgKnowledge: number;
  /** (user, MCP server) tool lists and sessions cached (at most the MCP cache size, 10,000 by default). */
  mcpCacheEntries: number;
  /** Orgs whose `orgConfig` answer is cached (at most 1,000, for 60 s). */
  orgConfigCache: number;
}

/** One committed exchange: the user's message and the agent's reply. */
export interface TurnDoc {
  at: number;
  messages: Message[];
}

/** `export(userId)`'s document: exactly one user's data, versioned. */
export interface UserDoc {
  format: "tenantry.user";
  version: 1;
  userId: string | null;
  /** Absent for the default org. */
  orgId?: string;
  exportedAt: number;
  sessions: {
    userId: string | null;
    orgId?: string;
    id: string;
    createdAt: number;
    lastActivity: number;
    turns: TurnDoc[];
  }[];
  blocks: Block[];
  properties: { [key: string]: JsonValue };
  /** Every fact record, superseded ones too. */
  facts?: Fact[];
}

export type MemoryToolName =
  | "memory_update_block"
  | "memory_append_block"
  | "memory_remember"
  | "memory_forget_fact"
  | "memory_search";

/**
 * One fact record, bi-temporal: true in the world from `validFrom` until `validUntil`
 * (`null`: still), believed by the agent from `recordedAt` until `supersededAt` (`null`:
 * still). Times are ms since the epoch.
 */
export interface Fact {
  subject: string;
  predicate: string;
  object: string;
  validFrom: number;
  validUntil: number | null;
  recordedAt: number;
  supersededAt: number | null;
  source?: string;
}

/** What `remember` records. `validFrom` defaults to now. */
export interface NewFact {
  subject: string;
  predicate: string;
  object: string;
  validFrom?: number;
  source?: string;
}

/**
 * Which fact records `facts` returns. `knownAt`: as the agent believed them at that time
 * (default now, so superseded records are left out); `validAt`: only those true at that
 * time (default: any time).
 */
export interface FactQuery {
  orgId?: OrgId;
  validAt?: number;
  knownAt?: number;
  subject?: string;
  predicate?: string;
}

/** `exportOrg(orgId)`'s document: every user of one org, each as `export` gives it. */
export interface OrgDoc {
  format: "tenantry.org";
  version: 1;
  orgId: string;
  exportedAt: number;
  users: UserDoc[];
  /** The org's knowledge. */
  blocks: Block[];
}

/** `snapshot()`'s document: every resident user. */
export interface SnapshotDoc {
  format: "tenantry.snapshot";
  version: 1;
  takenAt: number;
  users: UserDoc[];
  /** The counters of each org under org limits (`budget.perOrg`) held in RAM, by org id;
   *  `restore` merges them in (a snapshot can add spend, never remove it). */
  orgBudgets?: { [orgId: string]: { format: "tenantry.budget"; version: 1; [field: string]: unknown } };
}

/**
 * One agent serving many users. Every method takes the user id as an argument; runs of one
 * (user, session) execute one at a time in call order, everything else concurrently.
 */
export declare class Agent {
  /** @throws {TenantryError} `invalid_config` naming the bad field. */
  constructor(config: AgentConfig);
  readonly name: string;
  /**
   * Runs one turn: instructions + this user's session history + `input` go to the model;
   * the input and the reply are committed together, or (on any failure) not at all.
   * Rejects with a {@link TenantryError}; never throws synchronously.
   */
  run(input: string | InputPart[], userId: UserId, options?: RunOptions): Promise<RunResult>;
  /**
   * Like `run`, streaming: events arrive as the model produces text, then `usage` and
   * `finish` (or one `error`). The turn commits when the stream finishes.
   */
  stream(input: string | InputPart[], userId: UserId, options?: RunOptions): RunStream;
  /**
   * Runs what a `useChat` request asks, for `userId` (whom the host authenticated: nothing
   * in the body names the user): the chat `id` is the session, and the text parts of the
   * last message, which must be the user's, are the input (joined by newlines). The rest of
   * the posted conversation is not read: the history is the agent's own memory of that
   * session, so a client cannot put words in the assistant's mouth. Refused with
   * `invalid_input` naming the field: a malformed body (anything not JSON data, a lone
   * surrogate, a throwing getter, more than 10,000 messages or 8 MiB of JSON), trigger
   * `regenerate-message` (memory already holds the answer; send a new message), a last
   * message that is not the user's (client-side tool results and approvals), or one with
   * a `file` part. Like `stream`, it never throws: a refusal is an `error` event. Then
   * `.toUIMessageStreamResponse()` is the answer to send.
   */
  streamChat(body: ChatRequestBody, userId: UserId, options?: { signal?: AbortSignal; orgId?: OrgId }): RunStream;
  /**
   * Messages of one session (default `"default"`), oldest first.
   * Synchronous reads see resident users; with a `storage` adapter, a user who is only in
   * storage throws `not_loaded`: `await agent.load(userId)` first.
   */
  history(userId: UserId, sessionId?: string, options?: OrgOption): Message[];
  /** The user's sessions in creation order. */
  sessions(userId: UserId, options?: OrgOption): SessionInfo[];
  /** Messages stored for the user across all of their sessions. */
  size(userId: UserId, options?: OrgOption): number;
  /** The user's working-memory blocks, injected into their runs' system prompt. */
  blocks(userId: UserId, options?: OrgOption): Block[];
  /** The user's profile properties, injected into their runs' system prompt. */
  properties(userId: UserId, options?: OrgOption): { [key: string]: JsonValue };
  /** That user's past messages that best match `query` (BM25); never anyone else's. */
  recall(userId: UserId, query: string, options?: { limit?: number; orgId?: OrgId }): RecallHit[];
  /**
   * That user's past messages that best match `query`, by words, meaning or both; never
   * anyone else's. Loads the user from storage when needed.
   */
  search(userId: UserId, query: string, options?: SearchOptions): Promise<SearchHit[]>;
  /** Counts over the users resident in RAM. */
  stats(): MemoryStats;
  /** The retained audit entries of exactly this user, in chain order. */
  auditLog(userId: UserId, options?: OrgOption): AuditEntry[];
  /** Every retained audit entry, in chain order (verify with `verifyAudit`). */
  auditEntries(): AuditEntry[];
  /** One user's spend against every limit that applies to them, per window. */
  usage(userId: UserId, options?: OrgOption): UsageReport;
  /** Spend of all users together against the `global` limits. */
  globalUsage(): UsageReport;
  /** Spend of all the users of one org together against its `perOrg` (or org plan) limits.
   *  With storage, an org's counters are in RAM once any of its users has run. */
  orgUsage(orgId: string): UsageReport;
  /** Makes a user resident (reading storage when configured) so synchronous reads work. */
  load(userId: UserId, options?: OrgOption): Promise<void>;
  /** Sets a working-memory block (at most 32 per user, 16 KiB each). */
  setBlock(userId: UserId, label: string, text: string, options?: OrgOption): Promise<void>;
  /**
   * Records a fact about one user. A new object for the same subject and predicate closes
   * the old value's `validUntil` and supersedes its record; the same object again changes
   * nothing. The user's current facts go into their prompt only. Resolves to the record
   * now current. Bad fields reject with `invalid_input`.
   */
  remember(userId: UserId, fact: NewFact, options?: OrgOption): Promise<Fact>;
  /** The user's fact records a query selects, in the order they were recorded. */
  facts(userId: UserId, query?: FactQuery): Promise<Fact[]>;
  /** Withdraws the current value of (subject, predicate), keeping it as superseded. */
  forgetFact(userId: UserId, subject: string, predicate: string, options?: OrgOption): Promise<boolean>;
  deleteBlock(userId: UserId, label: string, options?: OrgOption): Promise<void>;
  /** Sets a profile property to any JSON value; `null` deletes it. */
  setProperty(userId: UserId, key: string, value: JsonValue, options?: OrgOption): Promise<void>;
  /**
   * Deletes everything of one user, in RAM and in storage, and nothing of anyone else.
   * A run of that user still in flight rejects with `conflict` and keeps nothing.
   */
  forget(userId: UserId, options?: OrgOption): Promise<void>;
  /**
   * Same as {@link Agent.forget}: one user, not everyone (that is {@link Agent.clearAll}).
   * @deprecated Use {@link Agent.forget}, whose name says what it does.
   */
  clear(userId: UserId, options?: OrgOption): Promise<void>;
  /** The versioned JSON document of exactly this user's data (GDPR access/portability). */
  export(userId: UserId, options?: OrgOption): Promise<UserDoc>;
  /**
   * Erases every user of one org, in RAM and in storage, and nothing of any other org or
   * of the default org; resolves to the number of users erased. Like `forget`, spend in
   * windows still open keeps counting. `orgId` is required (`invalid_org_id` otherwise):
   * the default org is every user who never named one, and `clearAll` erases everyone.
   */
  forgetOrg(orgId: string): Promise<number>;
  /** Every user of one org who holds anything (resident or in storage), each as `export` gives it, and its knowledge. */
  exportOrg(orgId: string): Promise<OrgDoc>;
  /**
   * Sets a block of an org's knowledge (at most 32 blocks of 16 KiB, like a user's): shared
   * by the org's users, in their prompts and nobody else's. Only the host writes it: no run
   * or memory tool can. With storage it is stored under the org and read back after a
   * restart; without, knowledge of at most 10,000 orgs is held.
   */
  setOrgBlock(orgId: string, label: string, text: string): Promise<void>;
  /** Removes a block of the org's knowledge; resolves to whether it existed. */
  deleteOrgBlock(orgId: string, label: string): Promise<boolean>;
  /** The org's knowledge blocks, in the order they were first set. */
  orgBlocks(orgId: string): Promise<Block[]>;
  /**
   * Replaces one user's data with an `export` document; resolves to that user's id. A
   * foreign, mixed, malformed or oversized document rejects with `invalid_import` and
   * changes nothing.
   */
  import(doc: UserDoc): Promise<string | null>;
  /** Every resident user's data in one document (with storage, the rest is in storage). */
  snapshot(): SnapshotDoc;
  /** A new agent holding a snapshot's users; every document is checked before any is applied. */
  static restore(config: AgentConfig, snapshot: SnapshotDoc): Promise<Agent>;
  /**
   * Forgets every user's data and counters, in storage too, and the key of the
   * pseudonyms. A host operation: nothing a run does can call it.
   */
  clearAll(): Promise<void>;
  /**
   * Frees the wasm memory now instead of at garbage collection. (Where the runtime has
   * `Symbol.dispose`, `using agent = new Agent(...)` calls this too; it is left out of these
   * types so that projects whose `lib` predates ES2023's disposables still compile.)
   */
  free(): void;
}

/**
 * The reserved id of the anonymous bucket, `"__tenantry_anonymous__"`: refused as a user id
 * (`invalid_user_id`), and the name the bucket's data is stored under in a storage adapter
 * (`tenantry/v1/u/__tenantry_anonymous__/...`). Results, events, audit entries and exports
 * name the anonymous bucket `null`.
 */
export declare const ANONYMOUS_USER: "__tenantry_anonymous__";

/** What `TenantryError.details` holds, by `code`. */
export interface ErrorDetails {
  invalid_user_id: { reason: string };
  invalid_org_id: { reason: string };
  invalid_session_id: { reason: string };
  invalid_input: { reason: string };
  invalid_config: { field: string; reason: string };
  model_error: { message: string };
  model_malformed: { reason: string };
  model_http: { status: number | null; kind: string; message: string; attempts: number };
  /** `text`: the model's last answer before the run stopped. */
  max_steps: { steps: number; text: string };
  budget_exceeded: {
    scope: "user" | "org" | "global";
    metric: BudgetMetric;
    window: BudgetWindow;
    limit: number;
    used: number;
    reserved: number;
    remaining: number;
  };
  /** `scope`: whose bucket was empty, the user's or their org's (`rateLimit.perOrg`). */
  rate_limited: { scope: "user" | "org"; retryAfterMs: number };
  missing_price: { model: string };
  aborted: { [key: string]: never };
  invalid_import: { reason: string };
  storage: { operation: string; message: string };
  not_loaded: { userId: string | null; orgId?: string };
  conflict: { [key: string]: never };
  reentrant_run: { sessionId: string };
  over_capacity: { accounts: number };
  embedding_failed: { reason: string };
  output_invalid: { reason: string };
  unsupported: { feature: string };
  /** `requireUser` is set and the call named no user. */
  user_required: { option: string };
  internal: { message: string };
}

/** Stable error codes: switch on these, not on messages. */
export type ErrorCode = keyof ErrorDetails;

interface TenantryErrorOf<C extends ErrorCode> extends Error {
  readonly name: "TenantryError";
  readonly code: C;
  /** Structured context, by code (`ErrorDetails`). */
  readonly details: ErrorDetails[C];
}

/**
 * Every error tenantry throws or rejects with. A union over the codes, so checking
 * `e.code` narrows `e.details`:
 * `if (e instanceof TenantryError && e.code === "budget_exceeded") e.details.remaining`.
 */
export type TenantryError = { [C in ErrorCode]: TenantryErrorOf<C> }[ErrorCode];
export declare const TenantryError: {
  new (code: ErrorCode, message: string, details?: { [key: string]: JsonValue }): TenantryError;
  readonly prototype: TenantryError;
  /**
   * `error` as a TenantryError again after a trip that keeps an error's own properties but
   * not its class, such as a throw across Workers RPC (a Durable Object method) under
   * workerd's enhanced error serialization; `error` itself when it is one; otherwise
   * `undefined` (including an RPC error under legacy serialization, which keeps only text).
   */
  from(error: unknown): TenantryError | undefined;
};

/**
 * The built-in offline model: answers from the conversation it is sent ("My name is
 * Alice" ... "What's my name?" -> "Your name is Alice."). No network, no key.
 */
export declare function demoModel(): ModelFunction;

/**
 * The built-in offline embedder, for `memory.embedder` in demos and tests: a toy, not a
 * language model. It lowercases, drops a few function words, maps a small table of
 * synonyms to shared concepts (colour/hue/shade, favourite/preferred, car/vehicle, ...) and
 * hashes concepts, words and character trigrams into 256 dimensions, so "what hue do I
 * prefer" finds "my favourite colour is green" by meaning. Deterministic, no network;
 * `usage.tokens` is estimated from the texts' length. A text with nothing but function
 * words gets a vector of zeros, which search never ranks by meaning.
 */
export declare function demoEmbedder(): Embedder;

/** A storage adapter over a JS `Map`: for tests, or to share one store between agents. */
export declare function memoryStorage(): StorageAdapter;

/**
 * A storage adapter over the browser's IndexedDB (database `name`, default `"tenantry"`).
 * @throws {TenantryError} `unsupported` where there is no IndexedDB (Node, workerd).
 */
export declare function indexedDbStorage(name?: string): StorageAdapter;

/**
 * The part of Durable Object storage (`ctx.storage`) that {@link durableObjectStorage} uses.
 */
export interface DurableObjectStorageLike {
  get(key: string): Promise<unknown>;
  get(keys: string[]): Promise<Map<string, unknown>>;
  put(entries: Record<string, unknown>): Promise<void>;
  delete(keys: string[]): Promise<number>;
  list(options: { prefix: string }): Promise<Map<string, unknown>>;
}

export interface DurableObjectStorageOptions {
  /**
   * UTF-16 code units per stored piece of a value too large for one entry: 2 to 65,536,
   * default 32,768 (at most 64 KiB serialized).
   */
  chunkChars?: number;
}

/**
 * A storage adapter over a Durable Object's storage, for a Worker's Durable Object:
 * `memory: { storage: durableObjectStorage(this.ctx.storage) }`. `ctx.storage` itself is
 * not an adapter (its `list` takes options and returns a Map), and one Durable Object value
 * is limited (2 MB on SQLite-backed objects, 128 KiB on key-value-backed ones) while a
 * user's session record grows with its messages. A value longer than `chunkChars` is kept
 * as a head plus pieces of at most `chunkChars` code units (never splitting a surrogate
 * pair), all written in one coalesced, atomic write, so a reader sees the old value or the
 * new one; overwriting or deleting a value removes its pieces. Its keys all start with `v/`
 * (values, listed) or `c/` (pieces), so the object may keep other records of its own under
 * other keys. One adapter per object: it remembers how many pieces each key has, which is
 * right only while the adapter is the only writer of its keys. Plain JS, so every entry
 * exports it.
 * @throws {TenantryError} `invalid_config` when `storage` lacks get, put, delete or list,
 * or `chunkChars` is out of range.
 */
export declare function durableObjectStorage(storage: DurableObjectStorageLike, options?: DurableObjectStorageOptions): StorageAdapter;

/** What `workersAI()` calls of a Workers AI binding (`env.AI` with `[ai] binding = "AI"`). */
export interface WorkersAIBindingLike {
  run(model: string, inputs: { [key: string]: unknown }, options?: { [key: string]: unknown }): Promise<unknown>;
}

export interface WorkersAIOptions {
  /**
   * Extra model inputs sent with every call (`temperature`, `top_p`, `seed`, ...), as JSON
   * data. `messages`, `prompt`, `tools`, `functions`, `stream`, `max_tokens` and
   * `response_format` are written by tenantry from the run and refused here.
   */
  inputs?: { [key: string]: JsonValue };
  /** `run`'s `gateway` option, to go through AI Gateway: e.g. `{ id: "my-gateway" }`. */
  gateway?: { [key: string]: JsonValue };
}

/**
 * A Cloudflare Workers AI text generation model over the Worker's AI binding, as a model
 * function: `new Agent({ model: workersAI(env.AI, "@cf/meta/llama-3.3-70b-instruct-fp8-fast") })`.
 * Sends the conversation as role-scoped messages, the tools as function tools,
 * `max_tokens` from `maxOutputTokens`, `response_format: { type: "json_schema" }` for
 * structured output, `stream: true` when the run streams, and the run's `signal` in `run`'s
 * options. Reads both the binding's `{ response, tool_calls, usage }` answers and the
 * OpenAI-compatible `choices` ones, whole or streamed as SSE. `model` is the name the price
 * table knows it by.
 * @throws {TenantryError} `invalid_config` when `binding` has no `run` method, `model` is
 * not a non-empty string, or an option is wrong.
 */
export declare function workersAI(binding: WorkersAIBindingLike, model: string, options?: WorkersAIOptions): ModelFunction;

/**
 * Checks an audit log (the whole chain, in order) with its key: every MAC, and that no
 * entry was modified, deleted, reordered or inserted. Also `npx tenantry verify-audit
 * file.jsonl [--expect-count N] [--expect-last <mac>]` for a JSON-lines file, which also
 * refuses lines naming a key twice and checks the count and last MAC you recorded.
 * Pass the lines of a log as strings (not `JSON.parse`d) to have a line that names a key
 * twice refused too: a parsed object has already lost the duplicate.
 */
export declare function verifyAudit(entries: (AuditEntry | string)[], key: string | Uint8Array): VerifyReport;
