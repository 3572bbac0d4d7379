//! The wasm-bindgen layer: adapters from JS values, functions, promises, AbortSignals and
//! storage objects to core types, and core errors to `TenantryError`. No policy lives here.

mod abort;
mod agent;
mod ai_sdk_model;
mod audit;
mod callbacks;
mod config;
mod convert;
mod demo;
mod error;
mod js_clock;
mod js_embedder;
mod js_fetch;
mod js_mcp;
mod js_model;
mod js_storage;
mod js_tools;
mod org_config;
mod provider;
pub mod stream;
mod stream_reader;
mod transfer;
mod workers_ai_model;

pub use agent::JsAgent;
pub use audit::verify_audit;
pub use demo::{demo_embedder, demo_model};
pub use error::{tenantry_error_class, to_js_error};
pub use js_storage::{indexed_db_storage, memory_storage};
pub use provider::{anthropic, openai, openai_embeddings};
pub use workers_ai_model::workers_ai;
