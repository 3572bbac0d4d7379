//! tenantry: a multi-tenant LLM agent runtime.
//!
//! The core (everything outside `wasm`) is plain Rust with no JS dependency, so it is
//! unit-tested natively and the same code runs in the wasm build. The `wasm` module is a
//! thin wasm-bindgen layer that adapts JS values, functions and promises to core types.
//!
//! A Rust host uses what is re-exported here; the modules themselves are private, so the
//! crate's layout can change without breaking a host. Two are public as a whole: `limits`
//! (the bounds) and `ui` (the AI SDK UI protocol, for a host serving `useChat`).

// The wasm layer is the core's main caller, so some core items are used only there: dead
// code is judged by the wasm32 build, which compiles every module (both builds are linted).
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod agent;
mod answer_json;
mod audit;
mod boundary;
mod budget;
mod cancel;
mod clock;
mod config;
mod demo;
mod demo_embedder;
mod embed;
mod error;
mod events;
mod http;
mod ids;
mod json_text;
mod keyed;
pub mod limits;
mod lock;
mod mcp;
mod memory;
mod message;
mod model;
mod observe;
mod org_config;
mod output;
mod parts;
mod persist;
mod prompt;
mod provider;
mod recall;
mod run_id;
mod search;
mod tools;
pub mod ui;
mod wire;

#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod wasm;

pub use agent::{Agent, Input, OrgPlanOf, PlanOf, RunOptions, RunOutput, SessionInfo};
pub use audit::{
    check_key, key_from_text, parse_jsonl, verify, verify_jsonl, AuditError, BreakReason, Broken,
    Entry, VerifyReport,
};
pub use budget::{
    AccountDoc, AmountsDoc, BucketDoc, BudgetConfig, BudgetError, LimitSet, LimitUsage, Metric,
    OrgBudget, Price, RateDoc, RateLimitConfig, RateLimited, RateSpec, Refusal, Scope, Totals,
    UsageReport, Window, WindowDoc, BUDGET_DOC_VERSION, BUDGET_FORMAT, DEFAULT_PRICES,
};
pub use cancel::Cancellation;
#[cfg(not(target_arch = "wasm32"))]
pub use clock::SystemClock;
pub use clock::{Clock, ManualClock};
pub use config::{AgentConfig, Compaction, FactExtraction, MemoryConfig};
pub use demo::DemoModel;
pub use demo_embedder::DemoEmbedder;
pub use embed::{EmbedContext, Embedder, RawEmbeddings};
pub use error::{Error, Result};
pub use events::{EventPart, RunEvent};
pub use http::{Body, HttpHost, HttpRequest, HttpResponse, NetworkError};
pub use ids::{OrgId, SessionId, UserId, UserKey, ANONYMOUS_SENTINEL, DEFAULT_SESSION_ID};
pub use mcp::{Mcp, McpHeaders, McpServerConfig, McpTool, Report as McpReport};
pub use memory::{Fact, FactQuery, NewFact, Stats};
pub use message::{Message, Role, ToolCall};
pub use model::{
    CallContext, FinishReason, Model, ModelRequest, RawModelResponse, RawUsage, TextSink, Usage,
    MAX_REPLY_BYTES,
};
pub use observe::{AuditConfig, AuditSink, Kind, Observer, Telemetry, TelemetrySink};
pub use org_config::{OrgLookup, OrgSettings};
pub use output::{OutputSpec, DEFAULT_OUTPUT_NAME};
pub use parts::Part;
pub use persist::org_doc::OrgDoc;
pub use persist::user_doc::{BlockDoc, SessionDoc, SnapshotDoc, UserDoc, WorkingDoc};
pub use persist::{MemoryStorage, Storage};
pub use provider::{EmbeddingClient, Provider, ProviderConfig, ProviderModel};
pub use recall::Hit;
pub use search::{SearchMode, SearchOptions};
pub use tools::permissions::Permissions;
pub use tools::{
    ApprovalRequest, Decision, PolicyAnswer, PolicyDecision, ToolContext, ToolHost, ToolSet,
    ToolSpec,
};

/// Internals this crate's own tests and fuzz targets reach into. Not API: anything here
/// may change in any release.
#[doc(hidden)]
pub mod testing {
    pub use crate::budget::BUCKETS_PER_WINDOW;
    pub use crate::demo::reply;
    pub use crate::memory::{Limits, Turn};
    pub use crate::persist::keys;
    pub use crate::persist::user_doc::{export_user, user_from_doc};
    pub use crate::tools::schema::validate as validate_tool_args;
    pub use crate::wire::{anthropic, openai, SseDecoder};
}
