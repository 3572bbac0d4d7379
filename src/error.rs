//! The one error type of the core. Each variant maps to a stable, documented `code`
//! that JS users switch on; the message is for humans and may change.

use serde_json::{json, Value};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("invalid user id: {reason}")]
    InvalidUserId { reason: String },
    #[error("invalid org id: {reason}")]
    InvalidOrgId { reason: String },
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
    #[error("user {} is not loaded; `await agent.load(userId)` first (this agent has a storage adapter, so a user's data may be in storage only)", who(.user, .org))]
    NotLoaded {
        user: Option<String>,
        org: Option<String>,
    },
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
    /// A run that asked for structured output got a final answer that is not JSON valid
    /// against its schema; nothing was committed.
    #[error("the model's answer is not the requested output: {reason}")]
    OutputInvalid { reason: String },
    #[error("not supported: {feature}")]
    Unsupported { feature: String },
    #[error("internal error: {message}")]
    Internal { message: String },
}

/// A user as messages name them: the id (or the anonymous bucket) and any org.
fn who(user: &Option<String>, org: &Option<String>) -> String {
    let id = user
        .as_ref()
        .map_or_else(|| "(anonymous)".to_owned(), |u| format!("{u:?}"));
    match org {
        None => id,
        Some(o) => format!("{id} of org {o:?}"),
    }
}

impl Error {
    /// The stable machine-readable code. Never rename one: users' error handling depends on it.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidUserId { .. } => "invalid_user_id",
            Error::InvalidOrgId { .. } => "invalid_org_id",
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
            Error::OutputInvalid { .. } => "output_invalid",
            Error::Unsupported { .. } => "unsupported",
            Error::Internal { .. } => "internal",
        }
    }

    /// Structured details for programmatic handling (the JS `TenantryError.details`).
    pub fn details(&self) -> Value {
        match self {
            Error::InvalidUserId { reason }
            | Error::InvalidOrgId { reason }
            | Error::InvalidSessionId { reason }
            | Error::InvalidInput { reason }
            | Error::ModelMalformed { reason }
            | Error::Embedding { reason }
            | Error::OutputInvalid { reason }
            | Error::InvalidImport { reason } => json!({ "reason": reason }),
            Error::Storage { operation, message } => {
                json!({ "operation": operation, "message": message })
            }
            Error::NotLoaded { user, org: None } => json!({ "userId": user }),
            Error::NotLoaded {
                user,
                org: Some(org),
            } => json!({ "userId": user, "orgId": org }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::{BudgetError, Metric, RateLimited, Refusal, Scope, Window};

    /// One error of every code, so the table below cannot miss a variant: adding one
    /// without listing it here fails to compile.
    fn one_of_each() -> Vec<Error> {
        let s = String::new;
        let all = vec![
            Error::InvalidUserId { reason: s() },
            Error::InvalidOrgId { reason: s() },
            Error::InvalidSessionId { reason: s() },
            Error::InvalidInput { reason: s() },
            Error::InvalidConfig {
                field: s(),
                reason: s(),
            },
            Error::Model { message: s() },
            Error::ModelHttp {
                status: None,
                kind: s(),
                message: s(),
                attempts: 1,
            },
            Error::ModelMalformed { reason: s() },
            Error::Aborted,
            Error::InvalidImport { reason: s() },
            Error::Storage {
                operation: s(),
                message: s(),
            },
            Error::NotLoaded {
                user: None,
                org: None,
            },
            Error::MaxSteps {
                steps: 1,
                text: s(),
            },
            Error::Conflict,
            Error::Reentrant { session: s() },
            Error::Capacity { accounts: 1 },
            Error::Budget(BudgetError::Exceeded(Refusal {
                scope: Scope::User,
                metric: Metric::TotalTokens,
                window: Window::Lifetime,
                limit: 1.0,
                used: 1.0,
                reserved: 0.0,
                remaining: 0.0,
            })),
            Error::Budget(BudgetError::RateLimited(RateLimited {
                retry_after_ms: 1,
                scope: Scope::User,
            })),
            Error::Budget(BudgetError::MissingPrice { model: s() }),
            Error::Embedding { reason: s() },
            Error::OutputInvalid { reason: s() },
            Error::UserRequired,
            Error::Unsupported { feature: s() },
            Error::Internal { message: s() },
        ];
        // Exhaustive on purpose: a new variant must be added above.
        for e in &all {
            match e {
                Error::InvalidUserId { .. }
                | Error::InvalidOrgId { .. }
                | Error::InvalidSessionId { .. }
                | Error::InvalidInput { .. }
                | Error::InvalidConfig { .. }
                | Error::Model { .. }
                | Error::ModelHttp { .. }
                | Error::ModelMalformed { .. }
                | Error::Aborted
                | Error::InvalidImport { .. }
                | Error::Storage { .. }
                | Error::NotLoaded { .. }
                | Error::MaxSteps { .. }
                | Error::Conflict
                | Error::Reentrant { .. }
                | Error::Capacity { .. }
                | Error::Budget(_)
                | Error::Embedding { .. }
                | Error::OutputInvalid { .. }
                | Error::UserRequired
                | Error::Unsupported { .. }
                | Error::Internal { .. } => {}
            }
        }
        all
    }

    /// The code a line of the interface starts an entry for (two spaces in, then `code: `).
    fn top_level(line: &str) -> Option<&str> {
        let rest = line.strip_prefix("  ")?;
        let (name, _) = rest.split_once(": ")?;
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c == '_')
            .then_some(name)
    }

    /// The entry of `code`: its first line and the deeper-indented lines after it.
    fn entry_of(block: &str, code: &str) -> Option<String> {
        let mut lines = block.lines().skip_while(|l| top_level(l) != Some(code));
        let first = lines.next()?;
        let rest = lines.take_while(|l| l.starts_with("    ") || l.starts_with("  }"));
        Some(
            std::iter::once(first)
                .chain(rest)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    /// The package's `ErrorDetails` names every code with every key its details carry, so
    /// a TypeScript user narrowing on `code` is told the truth.
    #[test]
    fn the_typescript_types_name_every_code_and_its_details() {
        let dts = include_str!("../pkg-template/index.d.ts");
        let start = dts
            .find("export interface ErrorDetails {")
            .expect("ErrorDetails in index.d.ts");
        let block = &dts[start..start + dts[start..].find("\n}\n").unwrap()];
        let mut codes = std::collections::BTreeSet::new();
        for e in one_of_each() {
            let code = e.code();
            codes.insert(code);
            let entry = entry_of(block, code).unwrap_or_else(|| panic!("{code} in ErrorDetails"));
            for key in e.details().as_object().unwrap().keys() {
                assert!(
                    entry.contains(&format!("{key}: ")),
                    "{code}: `{key}` missing from {entry}"
                );
            }
        }
        let listed = block.lines().filter(|l| top_level(l).is_some()).count();
        assert_eq!(
            listed,
            codes.len(),
            "ErrorDetails lists a code no error has"
        );
    }
}
