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
    /// A provider answered with an HTTP error, sent an error mid-stream, or could not be
    /// reached (`status` is `None` for network failures and time-outs).
    #[error("model request failed{}: {message}", status.map(|s| format!(" with HTTP {s}")).unwrap_or_default())]
    ModelHttp {
        status: Option<u16>,
        kind: String,
        message: String,
        attempts: u32,
    },
    /// The model answered, but not in the documented response shape.
    #[error("model returned a malformed response: {reason}")]
    ModelMalformed { reason: String },
    #[error("the run was aborted")]
    Aborted,
    /// An `import` document (or a stored record) that is foreign, malformed or too big.
    #[error("invalid import document: {reason}")]
    InvalidImport { reason: String },
    /// The host's storage adapter failed (or returned something unreadable).
    #[error("storage failed during {operation}: {message}")]
    Storage { operation: String, message: String },
    /// A synchronous read of a user who is only in storage: call `load(userId)` first.
    #[error("user {user:?} is not loaded; `await agent.load(userId)` first (this agent has a storage adapter, so a user's data may be in storage only)")]
    NotLoaded { user: Option<String> },
    /// The model was still calling tools after `maxSteps` model calls; nothing committed.
    #[error("the run stopped after {steps} steps with tool calls still pending")]
    MaxSteps { steps: u32, text: String },
    /// The user was forgotten or replaced (import) while a run for them was in flight.
    #[error(
        "the user's data was forgotten or replaced while this run was in flight; nothing was kept"
    )]
    Conflict,
    /// A run for a (user, session) asked for while one of that session's own tools is
    /// executing: it would wait for the tool, which waits for it.
    #[error("a tool of session {session:?} called the agent for its own session, which would wait for itself forever; use another sessionId for nested runs")]
    Reentrant { session: String },
    /// A call without a user id (the anonymous bucket) on an agent configured with
    /// `requireUser`.
    #[error("this agent requires a user id (requireUser: true); null and undefined, the anonymous bucket, are refused")]
    UserRequired,
    /// The budget ledger is full of accounts that cannot be dropped without loosening a
    /// limit (spend inside open windows, and no storage to keep it in).
    #[error("the agent holds {accounts} budget accounts with spend in open windows and cannot take a new user until some close; configure storage or raise memory.maxUsers")]
    Capacity { accounts: usize },
    /// A budget or rate limit refused the run (`budget_exceeded`, `rate_limited`,
    /// `missing_price`); the details name the limit, window and remaining amount.
    #[error(transparent)]
    Budget(crate::budget::BudgetError),
    /// The host embedder threw, or answered with the wrong number of vectors, a vector of
    /// the wrong size, or a value that is not a finite number.
    #[error("embedding failed: {reason}")]
    Embedding { reason: String },
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
            Error::ModelHttp { .. } => "model_http",
            Error::ModelMalformed { .. } => "model_malformed",
            Error::Aborted => "aborted",
            Error::InvalidImport { .. } => "invalid_import",
            Error::Storage { .. } => "storage",
            Error::NotLoaded { .. } => "not_loaded",
            Error::Conflict => "conflict",
            Error::Reentrant { .. } => "reentrant_run",
            Error::Capacity { .. } => "over_capacity",
            Error::UserRequired => "user_required",
            Error::MaxSteps { .. } => "max_steps",
            Error::Budget(e) => e.code(),
            Error::Embedding { .. } => "embedding_failed",
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
            | Error::ModelMalformed { reason }
            | Error::Embedding { reason }
            | Error::InvalidImport { reason } => json!({ "reason": reason }),
            Error::Storage { operation, message } => {
                json!({ "operation": operation, "message": message })
            }
            Error::NotLoaded { user } => json!({ "userId": user }),
            Error::ModelHttp {
                status,
                kind,
                message,
                attempts,
            } => {
                json!({ "status": status, "kind": kind, "message": message, "attempts": attempts })
            }
            Error::InvalidConfig { field, reason } => json!({ "field": field, "reason": reason }),
            Error::Model { message } | Error::Internal { message } => {
                json!({ "message": message })
            }
            Error::Unsupported { feature } => json!({ "feature": feature }),
            Error::Budget(e) => e.details(),
            Error::Aborted | Error::Conflict => json!({}),
            Error::UserRequired => json!({ "option": "requireUser" }),
            Error::Reentrant { session } => json!({ "sessionId": session }),
            Error::Capacity { accounts } => json!({ "accounts": accounts }),
            Error::MaxSteps { steps, text } => json!({ "steps": steps, "text": text }),
        }
    }

    pub(crate) fn storage(operation: &str, message: impl Into<String>) -> Self {
        Error::Storage {
            operation: operation.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Refuses `value` outside `min..=max` with `invalid_config` naming `field`: the range check
/// of every bounded config field.
pub(crate) fn within(field: &str, value: u64, min: u64, max: u64) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::config(
            field,
            format!("must be from {min} to {max}, got {value}"),
        ))
    }
}

impl From<crate::budget::BudgetError> for Error {
    fn from(e: crate::budget::BudgetError) -> Self {
        use crate::budget::BudgetError as B;
        match e {
            B::InvalidConfig { field, reason } => Error::InvalidConfig { field, reason },
            B::InvalidImport { reason } => Error::InvalidImport { reason },
            other => Error::Budget(other),
        }
    }
}
