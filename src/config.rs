//! Agent configuration with defaults and validation. Bad values are refused at
//! construction with the offending field named, never clamped silently.

use crate::budget::{BudgetConfig, RateLimitConfig};
use crate::error::{Error, Result};
use crate::memory::Limits;

pub const DEFAULT_MAX_MESSAGES_PER_SESSION: usize = 100;
pub const DEFAULT_MAX_USERS: usize = 100_000;
pub const DEFAULT_IDLE_TTL_MS: f64 = 86_400_000.0;
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 100;
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 1024;
/// A turn is a user message plus the reply; a bound below that could not keep one turn.
pub const MIN_MESSAGES_PER_SESSION: usize = 2;
const MAX_MESSAGES_PER_SESSION: usize = 1_000_000;
const MAX_NAME_BYTES: usize = 255;

#[derive(Clone, Debug, PartialEq)]
pub struct MemoryConfig {
    pub max_messages_per_session: usize,
    /// Bound on the estimated tokens sent per model call; `None` sends every kept turn.
    pub max_context_tokens: Option<u64>,
    pub max_sessions_per_user: usize,
    pub max_users: usize,
    pub idle_ttl_ms: f64,
    /// Recalled messages injected into each prompt; 0 turns recall injection off.
    pub recall_top_k: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_messages_per_session: DEFAULT_MAX_MESSAGES_PER_SESSION,
            max_context_tokens: None,
            max_sessions_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            max_users: DEFAULT_MAX_USERS,
            idle_ttl_ms: DEFAULT_IDLE_TTL_MS,
            recall_top_k: 0,
        }
    }
}

impl MemoryConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            max_messages_per_session: self.max_messages_per_session,
            max_sessions_per_user: self.max_sessions_per_user,
            max_users: self.max_users,
            idle_ttl_ms: self.idle_ttl_ms,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    pub name: String,
    pub instructions: String,
    pub max_output_tokens: u32,
    pub memory: MemoryConfig,
    pub budget: BudgetConfig,
    pub rate_limit: RateLimitConfig,
    /// The model's name, for the price table (the built-in clients report theirs).
    pub model_name: String,
    /// Most model calls in one run (each round of tool calls costs one).
    pub max_steps: u32,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            name: "agent".into(),
            instructions: String::new(),
            max_output_tokens: DEFAULT_MAX_OUTPUT_TOKENS,
            memory: MemoryConfig::default(),
            budget: BudgetConfig::default(),
            rate_limit: RateLimitConfig::default(),
            model_name: String::new(),
            max_steps: crate::tools::DEFAULT_MAX_STEPS,
        }
    }
}

impl AgentConfig {
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.len() > MAX_NAME_BYTES {
            return Err(Error::config("name", "must be 1 to 255 bytes"));
        }
        if self.max_output_tokens == 0 {
            return Err(Error::config("maxOutputTokens", "must be at least 1"));
        }
        let m = self.memory.max_messages_per_session;
        if !(MIN_MESSAGES_PER_SESSION..=MAX_MESSAGES_PER_SESSION).contains(&m) {
            return Err(Error::config(
                "memory.maxMessagesPerSession",
                format!(
                    "must be an integer from {MIN_MESSAGES_PER_SESSION} to {MAX_MESSAGES_PER_SESSION}, got {m}"
                ),
            ));
        }
        let m = &self.memory;
        if m.max_users == 0 {
            return Err(Error::config("memory.maxUsers", "must be at least 1"));
        }
        if m.max_sessions_per_user == 0 {
            return Err(Error::config(
                "memory.maxSessionsPerUser",
                "must be at least 1",
            ));
        }
        if m.idle_ttl_ms.is_nan() || m.idle_ttl_ms <= 0.0 {
            return Err(Error::config(
                "memory.idleTtlMs",
                format!(
                    "must be a positive number of milliseconds (or Infinity), got {}",
                    m.idle_ttl_ms
                ),
            ));
        }
        if m.max_context_tokens == Some(0) {
            return Err(Error::config(
                "memory.maxContextTokens",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Turns a JS number into a bounded integer, naming the field when it is not one.
/// JS hands us f64s: NaN, fractions, negatives and infinities all arrive here.
pub fn integer_field(field: &str, value: f64, min: u64, max: u64) -> Result<u64> {
    if !value.is_finite() || value.fract() != 0.0 {
        return Err(Error::config(
            field,
            format!("must be a whole number, got {value}"),
        ));
    }
    if value < min as f64 || value > max as f64 {
        return Err(Error::config(
            field,
            format!("must be from {min} to {max}, got {value}"),
        ));
    }
    Ok(value as u64)
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn defaults_are_valid() {
        AgentConfig::default().validate().unwrap();
    }

    #[test]
    fn refuses_a_bound_that_cannot_hold_one_turn() {
        let mut c = AgentConfig::default();
        c.memory.max_messages_per_session = 1;
        let e = c.validate().unwrap_err();
        assert_eq!(e.code(), "invalid_config");
        assert_eq!(e.details()["field"], "memory.maxMessagesPerSession");
    }

    #[test]
    fn integer_field_refuses_nan_fractions_and_out_of_range() {
        for v in [f64::NAN, f64::INFINITY, 2.5, -1.0, 1e12] {
            assert!(integer_field("x", v, 0, 1_000_000).is_err(), "{v}");
        }
        assert_eq!(integer_field("x", 7.0, 0, 10).unwrap(), 7);
    }
}
