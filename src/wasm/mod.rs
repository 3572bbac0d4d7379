//! The wasm-bindgen layer: adapters from JS values, functions, promises and AbortSignals
//! to core types, and core errors to `TenantryError`. No policy lives here.

mod abort;
mod agent;
mod convert;
mod demo;
mod error;
mod js_model;

pub use agent::JsAgent;
pub use demo::demo_model;
pub use error::{tenantry_error_class, to_js_error};
