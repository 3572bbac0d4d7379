//! The budget's own error type, shaped like `crate::error::Error` (stable `code()`,
//! structured `details()`) so the agent layer can map it one-to-one.

use super::limit::{Metric, Window};
use serde::Serialize;
use serde_json::{json, Value};
use std::fmt;

/// Whose limit refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    User,
    Global,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
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

/// The per-user request rate was exceeded; retrying after `retry_after_ms` will pass
/// (unless other calls take the token first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("rate limited: retry after {retry_after_ms} ms")]
pub struct RateLimited {
    pub retry_after_ms: u64,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BudgetError {
    #[error("budget exceeded: {0}")]
    Exceeded(Refusal),
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// A cost limit applies to this call but the price table has no entry for the model,
    /// so the call's cost could not be bounded.
    #[error("a cost limit is configured but there is no price for model {model:?}; add it to `budget.prices`")]
    MissingPrice { model: String },
    #[error("invalid config `{field}`: {reason}")]
    InvalidConfig { field: String, reason: String },
    #[error("invalid budget import document: {reason}")]
    InvalidImport { reason: String },
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
            BudgetError::RateLimited(r) => json!({ "retryAfterMs": r.retry_after_ms }),
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
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn codes_and_details_are_stable() {
        let e = BudgetError::Exceeded(Refusal {
            scope: Scope::Global,
            metric: Metric::CostUsd,
            window: Window::Custom { ms: 5000.0 },
            limit: 2.0,
            used: 1.5,
            reserved: 0.5,
            remaining: 0.0,
        });
        assert_eq!(e.code(), "budget_exceeded");
        let d = e.details();
        assert_eq!(d["scope"], "global");
        assert_eq!(d["metric"], "costUsd");
        assert_eq!(d["window"]["ms"], 5000.0);
        assert_eq!(d["remaining"], 0.0);
        assert!(e.to_string().contains("global limit on costUsd"), "{e}");

        let e = BudgetError::from(RateLimited {
            retry_after_ms: 250,
        });
        assert_eq!(e.code(), "rate_limited");
        assert_eq!(e.details()["retryAfterMs"], 250);
        let e = BudgetError::MissingPrice { model: "x".into() };
        assert_eq!(
            (e.code(), e.details()["model"].as_str()),
            ("missing_price", Some("x"))
        );
        assert_eq!(BudgetError::config("a.b", "no").details()["field"], "a.b");
        assert_eq!(BudgetError::import("bad").code(), "invalid_import");
    }
}
