//! Agent configuration with defaults and validation. Bad values are refused at
//! construction with the offending field named, never clamped silently.

use crate::budget::{BudgetConfig, RateLimitConfig};
use crate::error::{within, Error, Result};
use crate::ids::UserKey;
use crate::limits::{
    DEFAULT_IDLE_TTL_MS, DEFAULT_MAX_MESSAGES_PER_SESSION, DEFAULT_MAX_OUTPUT_TOKENS,
    DEFAULT_MAX_SESSIONS_PER_USER, DEFAULT_MAX_STEPS, DEFAULT_MAX_USERS, DEFAULT_RECALL_TOP_K,
    MAX_CONTEXT_TOKENS, MAX_INPUT_BYTES, MAX_MESSAGES_PER_SESSION, MAX_NAME_BYTES,
    MAX_OUTPUT_TOKENS, MAX_RECALL_LIMIT, MAX_SESSIONS_PER_USER, MAX_STEPS, MAX_USERS,
    MIN_MESSAGES_PER_SESSION,
};
use crate::memory::Limits;

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
    /// The built-in memory tools offered to the model (`tools::memory::NAMES`); none by
    /// default.
    pub tools: Vec<String>,
    /// Summarising a session's older turns once it grows past a size; off by default.
    pub compaction: Option<Compaction>,
    /// One model call after each committed turn that records the facts it states; off by
    /// default.
    pub fact_extraction: Option<FactExtraction>,
    /// How those messages are ranked; semantic and hybrid embed each run's input first
    /// (the agent needs an embedder).
    pub recall_mode: crate::search::SearchMode,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_messages_per_session: DEFAULT_MAX_MESSAGES_PER_SESSION,
            max_context_tokens: None,
            max_sessions_per_user: DEFAULT_MAX_SESSIONS_PER_USER,
            max_users: DEFAULT_MAX_USERS,
            idle_ttl_ms: DEFAULT_IDLE_TTL_MS,
            recall_top_k: DEFAULT_RECALL_TOP_K,
            tools: Vec::new(),
            compaction: None,
            fact_extraction: None,
            recall_mode: crate::search::SearchMode::Lexical,
        }
    }
}

/// `memory.compaction`: past `trigger_tokens` (estimated) of stored turns, all but the last
/// `keep_turns` turns are replaced by the model's summary of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Compaction {
    pub trigger_tokens: u64,
    pub keep_turns: usize,
    /// The summary call's system message; a default asks for a concise summary.
    pub instructions: Option<String>,
}

/// `memory.facts: { extract: true }`: after each committed turn, the agent's model is asked
/// for the facts the turn states about its user, which are recorded as `remember` would.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FactExtraction {
    /// The extraction call's system message; a default asks for `{ facts: [...] }` JSON.
    pub instructions: Option<String>,
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
    /// The model's name, for the price table: see `name_model`.
    pub model_name: String,
    /// Most model calls in one run (each round of tool calls costs one).
    pub max_steps: u32,
    /// Every call must name a user: the anonymous bucket is refused with `user_required`
    /// (see `admit_user`). Off by default, when no user id means the anonymous partition.
    pub require_user: bool,
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
            max_steps: DEFAULT_MAX_STEPS,
            require_user: false,
        }
    }
}

impl AgentConfig {
    /// The one check of an agent's configuration, for every host: `Agent::new` calls it,
    /// and the JS bindings only translate values into this struct. A bad value is refused
    /// with `invalid_config` naming the field as the JS config spells it; nothing is
    /// clamped.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.len() > MAX_NAME_BYTES {
            return Err(Error::config(
                "name",
                format!("must be 1 to {MAX_NAME_BYTES} bytes"),
            ));
        }
        within(
            "maxOutputTokens",
            self.max_output_tokens.into(),
            1,
            MAX_OUTPUT_TOKENS.into(),
        )?;
        within("maxSteps", self.max_steps.into(), 1, MAX_STEPS.into())?;
        self.memory.validate()
    }

    /// Names the model for the price table (`model_name`): the host's own name for it
    /// (`modelName`) when given, else the name the model declares (a built-in client's
    /// `model`, an AI SDK model's `modelId`, a function's `modelId` property), else none,
    /// which a cost limit refuses with `missing_price`. The host's name wins so that it can
    /// price a declared id its table spells differently; it is checked like `name`.
    pub fn name_model(&mut self, given: Option<String>, declared: Option<String>) -> Result<()> {
        if let Some(name) = &given {
            if name.is_empty() || name.len() > MAX_NAME_BYTES {
                return Err(Error::config(
                    "modelName",
                    format!("must be 1 to {MAX_NAME_BYTES} bytes"),
                ));
            }
        }
        self.model_name = given.or(declared).unwrap_or_default();
        Ok(())
    }

    /// Whether a call for `user` may go ahead: with `require_user`, not for the anonymous
    /// bucket. Checked wherever the agent takes a user (runs, reads, writes, whole-user
    /// operations), so that a host that forgot to pass an id gets an error instead of
    /// every such caller sharing one partition.
    pub fn admit_user(&self, user: &UserKey) -> Result<()> {
        match self.require_user && user.is_anonymous() {
            true => Err(Error::UserRequired),
            false => Ok(()),
        }
    }
}

impl MemoryConfig {
    /// Semantic and hybrid recall embed every input: without an embedder they are refused
    /// (at `new Agent` in JS, at the first run for a Rust host that adds none).
    pub fn check_embedder(&self, has_embedder: bool) -> Result<()> {
        if self.recall_mode.semantic() && !has_embedder {
            return Err(Error::config(
                "memory.recall.mode",
                "semantic and hybrid recall need memory.embedder",
            ));
        }
        Ok(())
    }

    /// The memory part of `AgentConfig::validate`; fields are named `memory.*`.
    pub fn validate(&self) -> Result<()> {
        within(
            "memory.maxMessagesPerSession",
            self.max_messages_per_session as u64,
            MIN_MESSAGES_PER_SESSION as u64,
            MAX_MESSAGES_PER_SESSION as u64,
        )?;
        if let Some(t) = self.max_context_tokens {
            within("memory.maxContextTokens", t, 1, MAX_CONTEXT_TOKENS)?;
        }
        within(
            "memory.maxSessionsPerUser",
            self.max_sessions_per_user as u64,
            1,
            MAX_SESSIONS_PER_USER as u64,
        )?;
        within("memory.maxUsers", self.max_users as u64, 1, MAX_USERS)?;
        if self.idle_ttl_ms.is_nan() || self.idle_ttl_ms <= 0.0 {
            return Err(Error::config(
                "memory.idleTtlMs",
                format!(
                    "must be a positive number of milliseconds (or Infinity), got {}",
                    self.idle_ttl_ms
                ),
            ));
        }
        crate::tools::memory::specs(&self.tools)?;
        if let Some(c) = &self.compaction {
            within(
                "memory.compaction.triggerTokens",
                c.trigger_tokens,
                1,
                MAX_CONTEXT_TOKENS,
            )?;
            within(
                "memory.compaction.keepTurns",
                c.keep_turns as u64,
                0,
                MAX_MESSAGES_PER_SESSION as u64,
            )?;
            if c.instructions
                .as_ref()
                .is_some_and(|i| i.len() > MAX_INPUT_BYTES)
            {
                return Err(Error::config(
                    "memory.compaction.instructions",
                    format!("must be at most {MAX_INPUT_BYTES} bytes"),
                ));
            }
        }
        let long = |i: &Option<String>| i.as_ref().is_some_and(|i| i.len() > MAX_INPUT_BYTES);
        if self
            .fact_extraction
            .as_ref()
            .is_some_and(|f| long(&f.instructions))
        {
            return Err(Error::config(
                "memory.facts.instructions",
                format!("must be at most {MAX_INPUT_BYTES} bytes"),
            ));
        }
        within(
            "memory.recall.topK",
            self.recall_top_k as u64,
            0,
            MAX_RECALL_LIMIT as u64,
        )?;
        Ok(())
    }
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

    fn refused(c: &AgentConfig) -> String {
        let e = c.validate().unwrap_err();
        assert_eq!(e.code(), "invalid_config");
        e.details()["field"].as_str().unwrap().to_owned()
    }

    #[test]
    fn refuses_out_of_range_steps_and_output_tokens() {
        for (steps, tokens, field) in [
            (0, 100, "maxSteps"),
            (101, 100, "maxSteps"),
            (8, 0, "maxOutputTokens"),
            (8, 10_000_001, "maxOutputTokens"),
        ] {
            let c = AgentConfig {
                max_steps: steps,
                max_output_tokens: tokens,
                ..AgentConfig::default()
            };
            assert_eq!(refused(&c), field, "{steps} {tokens}");
        }
        let c = AgentConfig {
            max_steps: 100,
            max_output_tokens: 10_000_000,
            ..AgentConfig::default()
        };
        c.validate().unwrap();
    }

    #[test]
    fn the_hosts_model_name_wins_and_is_checked_like_a_name() {
        let mut c = AgentConfig::default();
        c.name_model(None, Some("gpt-4o-mini".into())).unwrap();
        assert_eq!(c.model_name, "gpt-4o-mini");
        c.name_model(Some("my-model".into()), Some("gpt-4o-mini".into()))
            .unwrap();
        assert_eq!(c.model_name, "my-model");
        c.name_model(None, None).unwrap();
        assert_eq!(c.model_name, "");
        for bad in [String::new(), "m".repeat(MAX_NAME_BYTES + 1)] {
            let e = c
                .name_model(Some(bad), Some("declared".into()))
                .unwrap_err();
            assert_eq!(e.details()["field"], "modelName");
        }
        assert_eq!(c.model_name, "", "a refused name changes nothing");
        c.name_model(Some("m".repeat(MAX_NAME_BYTES)), None)
            .unwrap();
    }

    #[test]
    fn require_user_refuses_only_the_anonymous_bucket() {
        let mut c = AgentConfig::default();
        let alice = UserKey::parse(Some("alice")).unwrap();
        c.admit_user(&UserKey::Anonymous).unwrap();
        c.require_user = true;
        let e = c.admit_user(&UserKey::Anonymous).unwrap_err();
        assert_eq!(e.code(), "user_required");
        c.admit_user(&alice).unwrap();
    }

    #[test]
    fn refuses_out_of_range_memory_bounds() {
        type Edit = fn(&mut MemoryConfig);
        let cases: [(Edit, &str); 7] = [
            (
                |m| m.max_context_tokens = Some(0),
                "memory.maxContextTokens",
            ),
            (
                |m| m.max_context_tokens = Some((1 << 40) + 1),
                "memory.maxContextTokens",
            ),
            (|m| m.max_sessions_per_user = 0, "memory.maxSessionsPerUser"),
            (
                |m| m.max_sessions_per_user = 1_000_001,
                "memory.maxSessionsPerUser",
            ),
            (|m| m.max_users = 0, "memory.maxUsers"),
            (|m| m.recall_top_k = 101, "memory.recall.topK"),
            (|m| m.idle_ttl_ms = f64::NAN, "memory.idleTtlMs"),
        ];
        for (edit, field) in cases {
            let mut c = AgentConfig::default();
            edit(&mut c.memory);
            assert_eq!(refused(&c), field);
        }
    }
}
