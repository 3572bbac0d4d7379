//! Bounds and defaults shared by both hosts. A leaf: it imports nothing from the crate, so
//! any layer may read a limit without depending on the layer that enforces it. The checks
//! that use them live with the types they bound (`AgentConfig::validate`,
//! `ToolSet::validate`, `Observer::new`, `ProviderConfig::validate`, `recall::check_limit`),
//! and both the Rust API and the JS bindings go through those checks.

/// Longest accepted input, in bytes. Larger inputs are refused rather than sent to a model
/// that would bill for them and likely reject them anyway.
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// Most bytes of one message's parts (text, links and base64 data as given): 4 MiB of
/// base64 is a 3 MiB image or document, under what either provider takes inline (5 MB per
/// image at Anthropic), and a message this size is kept with its turn in memory and
/// storage, so the bound is also what one turn can cost a tenant's memory.
pub const MAX_PARTS_BYTES: usize = 4 << 20;
/// Most parts in one message: a few images and documents with their text. Both providers
/// cap images per request near a hundred.
pub const MAX_INPUT_PARTS: usize = 100;
/// Estimated input tokens of one image: providers bill roughly this for a typical image
/// (about 1,100 at Anthropic for 1000x1000 pixels; OpenAI's tiles come to a few hundred to
/// a thousand). Its base64 length would say ten times that. It is what the budget reserves
/// and the context bound counts; the charge is what the provider reports.
pub const IMAGE_TOKENS: u64 = 1_000;

/// Bytes of text counted as one token where no tokenizer is at hand (about four of English
/// per token): estimates of what a model did not report, and a cap in tokens read as bytes.
pub const BYTES_PER_TOKEN: u64 = 4;

/// Largest per-call token figure taken at face value; beyond it a report is treated as bogus.
pub const MAX_REPORTED_TOKENS: f64 = 1e9;

/// Longest agent name, in bytes: a label for logs and events, not a document.
pub const MAX_NAME_BYTES: usize = 255;

/// Model calls per run when the host names no bound: room for a few rounds of tool calls.
pub const DEFAULT_MAX_STEPS: u32 = 8;
/// Most model calls one run may make: each is billed, and a model still calling tools
/// after this many is looping, not working.
pub const MAX_STEPS: u32 = 100;

/// Output tokens asked of the model per call when the host names no bound: a few paragraphs.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 1024;
/// Largest per-call output bound: far above any model's output window, so a larger figure
/// is a mistake (a total budget put in the per-call field), not a wish.
pub const MAX_OUTPUT_TOKENS: u32 = 10_000_000;

/// Messages kept per (user, session) by default: a long conversation, a small footprint.
pub const DEFAULT_MAX_MESSAGES_PER_SESSION: usize = 100;
/// A turn is a user message plus the reply; a bound below that could not keep one turn.
pub const MIN_MESSAGES_PER_SESSION: usize = 2;
/// Most messages kept per (user, session): beyond it one session could hold the heap.
pub const MAX_MESSAGES_PER_SESSION: usize = 1_000_000;

/// Sessions kept per user by default before the least recently used one is dropped.
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 100;
/// Most sessions per user: a session list is scanned per call, so it must stay small.
pub const MAX_SESSIONS_PER_USER: usize = 1_000_000;

/// Resident users by default before the least recently used one is evicted.
pub const DEFAULT_MAX_USERS: usize = 100_000;
/// Most resident users: 2^32, beyond any heap a wasm32 instance can address.
pub const MAX_USERS: u64 = 1 << 32;

/// Idle time after which a resident user is evicted by default: one day, in milliseconds.
pub const DEFAULT_IDLE_TTL_MS: f64 = 86_400_000.0;

/// Largest context bound, in estimated tokens: 2^40, far above any model's window, so
/// a larger figure is a unit mistake.
pub const MAX_CONTEXT_TOKENS: u64 = 1 << 40;

/// Recalled messages injected into each prompt by default: none (recall is opt-in).
pub const DEFAULT_RECALL_TOP_K: usize = 0;
/// Results one `recall` may return, and the most `memory.recall.topK` may inject: more
/// would crowd the prompt and cost a sort over the user's whole history for little.
pub const MAX_RECALL_LIMIT: usize = 100;
/// Results of a `recall` call that names no `limit`: a page of results.
pub const DEFAULT_RECALL_LIMIT: usize = 10;

/// Longest tool name, in bytes: the most the model providers accept.
pub const MAX_TOOL_NAME_BYTES: usize = 64;
/// Largest structured-output schema, as JSON: it is sent with every model call of the run.
pub const MAX_OUTPUT_SCHEMA_BYTES: usize = 64 * 1024;
/// How long a tool call waits for the host's `approve` by default: five minutes, enough for
/// a person to answer, short enough that a forgotten prompt does not hold the run forever.
pub const DEFAULT_APPROVAL_TIMEOUT_MS: f64 = 300_000.0;

/// Shortest accepted audit key, in bytes: shorter secrets are guessable offline from one
/// entry.
pub const MIN_AUDIT_KEY_BYTES: usize = 16;
/// Audit entries kept in memory by default (`auditLog`, `auditEntries`).
pub const DEFAULT_AUDIT_RING: usize = 10_000;
/// Most audit entries kept in memory: a ring this full already holds gigabytes of entries,
/// and the sink, not the ring, is where a log is meant to be kept.
pub const MAX_AUDIT_RING: usize = 10_000_000;

/// Retries of a failed provider call by default: rides out a blip without tripling cost.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// Most retries of one provider call: each waits with backoff, so more would hold a run
/// for minutes against a provider that is down.
pub const MAX_RETRIES: u32 = 10;
/// Time limit of one provider attempt by default, in milliseconds, whole stream included.
pub const DEFAULT_TIMEOUT_MS: u64 = 120_000;
/// Longest time limit of one provider attempt: one hour, past which a call is hung.
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// Records of facts kept per user (values and their history): past it the oldest
/// superseded records go, and a new fact is refused once what is believed fills it.
pub const MAX_FACT_RECORDS: usize = 1000;
/// Longest fact subject, predicate or source, in bytes: names, not documents.
pub const MAX_FACT_TERM_BYTES: usize = 256;
/// Longest fact object, in bytes.
pub const MAX_FACT_OBJECT_BYTES: usize = 4096;
/// Most facts one extraction may record: a turn states a few; a longer list is a model
/// gone astray (or steered), and records nothing.
pub const MAX_EXTRACTED_FACTS: usize = 20;
/// Most estimated tokens of a user's current facts put in their prompt; the newest first.
pub const MAX_FACT_PROMPT_TOKENS: u64 = 1024;

/// Longest embedding a host embedder may return: larger than any common model's (3072),
/// and a bound on what one stored message costs (4 bytes per dimension).
pub const MAX_EMBEDDING_DIMENSIONS: usize = 4096;
/// The `k` of reciprocal rank fusion in hybrid search: the value of the original paper
/// (Cormack et al., 2009), which damps the weight of the very top ranks.
pub const RRF_K: f64 = 60.0;

/// Largest chat request body (`useChat`'s `{ id, messages, trigger }`), as JSON text in
/// bytes. The client sends the whole conversation every time although the agent reads only
/// its last message, so the bound is generous: eight inputs' worth.
pub const MAX_CHAT_REQUEST_BYTES: usize = 8 << 20;
/// Most messages in one chat request: a long conversation. A client that keeps more can
/// send only the last one (the agent reads nothing else).
pub const MAX_CHAT_MESSAGES: usize = 10_000;

/// Orgs whose knowledge is held in RAM at once (each at most 32 blocks of 16 KiB). With
/// storage the least recently used leave RAM and are read again when needed; without it,
/// knowledge for one more org is refused.
pub const MAX_RESIDENT_ORGS: usize = 10_000;

/// Orgs whose `orgConfig` answer is cached at once; past it the oldest answer goes.
pub const MAX_ORG_CONFIG_CACHE: usize = 1000;

/// How long an `orgConfig` answer is used before the org's next run asks again.
pub const ORG_CONFIG_TTL_MS: f64 = 60_000.0;

// MCP tools (`mcp` servers).
/// Time limit of one MCP listing or call by default (headers, initialization and every
/// page included), in milliseconds.
pub const DEFAULT_MCP_TIMEOUT_MS: u64 = 30_000;
/// How long a user's tool list from a server is reused by default: five minutes, so a
/// server's new tools (or a user's changed rights there) show within minutes while a busy
/// user does not list on every run.
pub const DEFAULT_MCP_CACHE_TTL_MS: f64 = 300_000.0;
/// (user, server) entries of tool lists and sessions kept by default, least recently used
/// evicted first.
pub const DEFAULT_MCP_CACHE_ENTRIES: usize = 10_000;
/// Most MCP servers per agent: each is listed at the start of a run.
pub const MAX_MCP_SERVERS: usize = 32;
/// Longest server name: half a tool name, leaving the server's own tool name the rest.
pub const MAX_MCP_SERVER_NAME_BYTES: usize = 32;
/// Most `tools/list` pages followed per listing: a server paging further is looping.
pub const MAX_MCP_LIST_PAGES: usize = 16;
/// Most tools taken from one server: more would crowd every prompt of the run.
pub const MAX_MCP_TOOLS_PER_SERVER: usize = 256;
/// Largest MCP response body read, in bytes (a page of tools, a call's answer).
pub const MAX_MCP_BODY_BYTES: usize = 4 << 20;
/// Largest input schema of one MCP tool, as JSON: it is sent with every model call.
pub const MAX_MCP_SCHEMA_BYTES: usize = 64 * 1024;
/// Longest description of one MCP tool, in bytes.
pub const MAX_MCP_DESCRIPTION_BYTES: usize = 8 * 1024;
/// Most headers a server's `headers` function may return, and their total size in bytes.
pub const MAX_MCP_HEADERS: usize = 64;
pub const MAX_MCP_HEADER_BYTES: usize = 16 * 1024;
