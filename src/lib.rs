//! tenantry: a multi-tenant LLM agent runtime.
//!
//! The core (everything outside `wasm`) is plain Rust with no JS dependency, so it is
//! unit-tested natively and the same code runs in the wasm build. The `wasm` module is a
//! thin wasm-bindgen layer that adapts JS values, functions and promises to core types.

pub mod agent;
pub mod audit;
pub mod boundary;
pub mod budget;
pub mod cancel;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod events;
pub mod http;
pub mod ids;
mod json_text;
pub mod limits;
pub mod lock;
pub mod memory;
pub mod message;
pub mod model;
pub mod observe;
pub mod persist;
pub mod prompt;
pub mod provider;
pub mod recall;
pub mod run_id;

pub mod tools;

pub mod wire;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use agent::{Agent, RunOptions, RunOutput, SessionInfo};
pub use cancel::Cancellation;
pub use clock::{Clock, ManualClock};
pub use config::{AgentConfig, MemoryConfig};
pub use error::{Error, Result};
pub use ids::{SessionId, UserId, UserKey, ANONYMOUS_SENTINEL, DEFAULT_SESSION_ID};
pub use memory::Stats;
pub use message::{Message, Role};
pub use model::{FinishReason, Model, ModelRequest, ModelResponse, RawModelResponse, Usage};
pub use persist::user_doc::{SnapshotDoc, UserDoc};
pub use persist::{MemoryStorage, Storage};
