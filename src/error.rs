//! The one error type of the core. Each variant maps to a stable, documented `code`
//! that JS users switch on; the message is for humans and may change.

use serde_json::{json, Value};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("invalid user id: {reason}")]
    InvalidUserId { reason: String },
    #[error("invalid session id: {reason}")]
    InvalidSessionId { reason: String },
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    #[error("invalid config `{field}`: {reason}")]
    InvalidConfig { field: String, reason: String },
    /// The host model function threw or its promise rejected.
    #[error("model call failed: {message}")]
    Model { message: String },
    /// The model answered, but not in the documented response shape.
    #[error("model returned a malformed response: {reason}")]
    ModelMalformed { reason: String },
    #[error("the run was aborted")]
    Aborted,
    #[error("not supported: {feature}")]
    Unsupported { feature: String },
    #[error("internal error: {message}")]
    Internal { message: String },
}

impl Error {
    /// The stable machine-readable code. Never rename one: users' error handling depends on it.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidUserId { .. } => "invalid_user_id",
            Error::InvalidSessionId { .. } => "invalid_session_id",
            Error::InvalidInput { .. } => "invalid_input",
            Error::InvalidConfig { .. } => "invalid_config",
            Error::Model { .. } => "model_error",
            Error::ModelMalformed { .. } => "model_malformed",
            Error::Aborted => "aborted",
            Error::Unsupported { .. } => "unsupported",
            Error::Internal { .. } => "internal",
        }
    }

    /// Structured details for programmatic handling (the JS `TenantryError.details`).
    pub fn details(&self) -> Value {
        match self {
            Error::InvalidUserId { reason }
            | Error::InvalidSessionId { reason }
            | Error::InvalidInput { reason }
            | Error::ModelMalformed { reason } => json!({ "reason": reason }),
            Error::InvalidConfig { field, reason } => json!({ "field": field, "reason": reason }),
            Error::Model { message } | Error::Internal { message } => {
                json!({ "message": message })
            }
            Error::Unsupported { feature } => json!({ "feature": feature }),
            Error::Aborted => json!({}),
        }
    }

    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}
