//! The audit log's own error type, shaped like `crate::error::Error` (stable `code()`,
//! structured `details()`) so the agent layer can map it one-to-one.
//!
//! No variant ever carries key material: key problems are described by length or
//! position only, because errors end up in logs and in JS exceptions.

use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// A bad audit key (missing, too short, undecodable).
    #[error("invalid config `{field}`: {reason}")]
    InvalidConfig { field: String, reason: String },
    /// A malformed entry, entry line or argument to `append`/`resume`.
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    /// The platform failed the audit log (no random source for a content key).
    #[error("internal error: {message}")]
    Internal { message: String },
}

impl AuditError {
    /// The stable machine-readable code. Never rename one: users' error handling depends on it.
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::InvalidConfig { .. } => "invalid_config",
            AuditError::InvalidInput { .. } => "invalid_input",
            AuditError::Internal { .. } => "internal",
        }
    }

    /// Structured details for programmatic handling (the JS `TenantryError.details`).
    pub fn details(&self) -> Value {
        match self {
            AuditError::InvalidConfig { field, reason } => {
                json!({ "field": field, "reason": reason })
            }
            AuditError::InvalidInput { reason } => json!({ "reason": reason }),
            AuditError::Internal { message } => json!({ "message": message }),
        }
    }

    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        AuditError::InvalidConfig {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn input(reason: impl Into<String>) -> Self {
        AuditError::InvalidInput {
            reason: reason.into(),
        }
    }
}

impl From<AuditError> for crate::error::Error {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::InvalidConfig { field, reason } => {
                crate::error::Error::InvalidConfig { field, reason }
            }
            AuditError::InvalidInput { reason } => crate::error::Error::InvalidInput { reason },
            AuditError::Internal { message } => crate::error::Error::Internal { message },
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
        let e = AuditError::config("audit.key", "too short");
        assert_eq!(e.code(), "invalid_config");
        assert_eq!(e.details()["field"], "audit.key");
        assert_eq!(e.to_string(), "invalid config `audit.key`: too short");
        let e = AuditError::input("bad line");
        assert_eq!(e.code(), "invalid_input");
        assert_eq!(e.details()["reason"], "bad line");
    }

    #[test]
    fn maps_onto_the_crate_error_with_the_same_code() {
        let internal = AuditError::Internal {
            message: "z".into(),
        };
        for e in [
            AuditError::config("audit.key", "x"),
            AuditError::input("y"),
            internal,
        ] {
            let code = e.code();
            let details = e.details();
            let mapped = crate::error::Error::from(e);
            assert_eq!(mapped.code(), code);
            assert_eq!(mapped.details(), details);
        }
    }
}
