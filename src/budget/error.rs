//! The budget's own error type, shaped like `crate::error::Error` (stable `code()`,
//! structured `details()`) so the agent layer can map it one-to-one.

use super::units::{Metric, Window};
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt;

/// Whose limit refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    User,
    /// All the users of one org together (`budget.perOrg`, `rateLimit.perOrg`).
    Org,
    Global,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Org => "org",
            Scope::Global => "global",
        }
    }
}

/// Which limit refused a call and how much of it is left. Cost figures are in USD,
/// token and request figures are counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    pub scope: Scope,
    pub metric: Metric,
    pub window: Window,
    pub limit: f64,
    pub used: f64,
    pub reserved: f64,
    pub remaining: f64,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} limit on {} ({}) is {}; {} used, {} reserved by calls in flight, {} remaining",
            self.scope.as_str(),
            self.metric.as_str(),
            self.window.describe(),
            self.limit,
            self.used,
            self.reserved,
            self.remaining
        )
    }
}

/// A request rate (the user's, or their org's) was exceeded; retrying after
/// `retry_after_ms` will pass (unless other calls take the token first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("rate limited ({}): retry after {retry_after_ms} ms", scope.as_str())]
pub struct RateLimited {
    pub retry_after_ms: u64,
    /// Whose bucket was empty: `User` or `Org`.
    pub scope: Scope,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BudgetError {
    #[error("budget exceeded: {0}")]
    Exceeded(Refusal),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// A cost limit applies to this call but the price table has no entry for the model,
    /// so the call's cost could not be bounded. An empty `model`: the agent has no name for
    /// its model at all (a host function without `modelName`).
    #[error("{}", missing_price(model))]
    MissingPrice { model: String },
    #[error("invalid config `{field}`: {reason}")]
    InvalidConfig { field: String, reason: String },
    #[error("invalid budget import document: {reason}")]
    InvalidImport { reason: String },
}

/// How to fix a missing price: name the model, or price the name it has.
fn missing_price(model: &str) -> String {
    if model.is_empty() {
        "a cost limit is configured but the model has no name to price it by: set `modelName` \
         in the agent config and give that name a price in `budget.prices`"
            .to_owned()
    } else {
        format!(
            "a cost limit is configured but there is no price for model {model:?}: add it to \
             `budget.prices`, or set `modelName` to a name that has one"
        )
    }
}

impl BudgetError {
    /// The stable machine-readable code. Never rename one: users' error handling depends on it.
    pub fn code(&self) -> &'static str {
        match self {
            BudgetError::Exceeded(_) => "budget_exceeded",
            BudgetError::RateLimited(_) => "rate_limited",
            BudgetError::MissingPrice { .. } => "missing_price",
            BudgetError::InvalidConfig { .. } => "invalid_config",
            BudgetError::InvalidImport { .. } => "invalid_import",
        }
    }

    /// Structured details for programmatic handling (the JS `TenantryError.details`).
    pub fn details(&self) -> Value {
        match self {
            BudgetError::Exceeded(r) => json!({
                "scope": r.scope.as_str(),
                "metric": r.metric.as_str(),
                "window": serde_json::to_value(r.window).unwrap_or(Value::Null),
                "limit": r.limit,
                "used": r.used,
                "reserved": r.reserved,
                "remaining": r.remaining,
            }),
            BudgetError::RateLimited(r) => json!({
                "scope": r.scope.as_str(),
                "retryAfterMs": r.retry_after_ms,
            }),
            BudgetError::MissingPrice { model } => json!({ "model": model }),
            BudgetError::InvalidConfig { field, reason } => {
                json!({ "field": field, "reason": reason })
            }
            BudgetError::InvalidImport { reason } => json!({ "reason": reason }),
        }
    }

    pub(crate) fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        BudgetError::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn import(reason: impl Into<String>) -> Self {
        BudgetError::InvalidImport {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests;
