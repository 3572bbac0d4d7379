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

export type Role = "system" | "user" | "assistant";

export interface Message {
  role: Role;
  content: string;
}

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
  /** Tool definitions offered to the model (none yet in this version). */
  tools: JsonValue[];
  maxOutputTokens: number;
  /** `null` for the anonymous bucket. */
  userId: string | null;
  sessionId: string;
  runId: string;
  /** The run's `signal`, when one was given: pass it on to `fetch`. */
  abortSignal?: AbortSignal;
}

/** What a model function returns (or resolves to). */
export interface ModelResponse {
  text: string;
  /** Token counts as reported by the provider; estimated by tenantry when absent. */
  usage?: { inputTokens?: number; outputTokens?: number };
  /** AI SDK names or provider wire names (`end_turn`, `max_tokens`, ...); default `"stop"`. */
  finishReason?: FinishReason | (string & {});
  /** Tool calls are not supported yet: a non-empty list fails the run with `unsupported`. */
  toolCalls?: JsonValue[];
}

/** A model: any function from request to response, sync or async. */
export type ModelFunction = (
  request: ModelRequest,
) => ModelResponse | Promise<ModelResponse>;

export interface MemoryConfig {
  /**
   * Most messages kept per (user, session); the oldest whole turns are dropped first.
   * At least 2 (one turn). Default 100.
   */
  maxMessagesPerSession?: number;
}

export interface AgentConfig {
  /** Default `"agent"`. */
  name?: string;
  /** Sent as the system message of every run. */
  instructions?: string;
  model: ModelFunction;
  memory?: MemoryConfig;
  /** Passed to the model as `maxOutputTokens`. Default 1024. */
  maxOutputTokens?: number;
}

export interface RunOptions {
  /** Conversation within the user's partition. Default `"default"`. */
  sessionId?: string;
  /** Aborting rejects the run with code `aborted` and commits nothing. */
  signal?: AbortSignal;
}

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** True when tenantry estimated a figure because the model reported none (or nonsense). */
  estimated: boolean;
}

export interface RunResult {
  text: string;
  usage: Usage;
  runId: string;
  finishReason: FinishReason;
  userId: string | null;
  sessionId: string;
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
  run(input: string, userId: UserId, options?: RunOptions): Promise<RunResult>;
  /** Messages of one session (default `"default"`), oldest first. */
  history(userId: UserId, sessionId?: string): Message[];
  /** Messages stored for the user across all of their sessions. */
  size(userId: UserId): number;
  /** Forgets one user's conversations; nobody else's. */
  clear(userId: UserId): void;
  /** Forgets every user's conversations. A host operation: nothing a run does can call it. */
  clearAll(): void;
  /**
   * Frees the wasm memory now instead of at garbage collection. (Where the runtime has
   * `Symbol.dispose`, `using agent = new Agent(...)` calls this too; it is left out of these
   * types so that projects whose `lib` predates ES2023's disposables still compile.)
   */
  free(): void;
}

/** Stable error codes: switch on these, not on messages. */
export type ErrorCode =
  | "invalid_user_id"
  | "invalid_session_id"
  | "invalid_input"
  | "invalid_config"
  | "model_error"
  | "model_malformed"
  | "aborted"
  | "unsupported"
  | "internal";

/** Every error tenantry throws or rejects with. */
export declare class TenantryError extends Error {
  readonly name: "TenantryError";
  readonly code: ErrorCode;
  /** Structured context, e.g. `{ field, reason }` for `invalid_config`. */
  readonly details: { [key: string]: JsonValue };
}

/**
 * The built-in offline model: answers from the conversation it is sent ("My name is
 * Alice" ... "What's my name?" -> "Your name is Alice."). No network, no key.
 */
export declare function demoModel(): ModelFunction;
