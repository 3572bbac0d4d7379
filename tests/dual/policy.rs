//! A Rust host gets the refusals a JS host gets: the same codes and the same
//! `details.field` paths, from the core checks both hosts go through (the JS side of these
//! cases is in tests/wasm/ and tests/node/). Plain `#[test]`s: native only.

use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};
use std::rc::Rc;
use tenantry::check_key;
use tenantry::limits;
use tenantry::Permissions;
use tenantry::{Agent, AgentConfig, Error};
use tenantry::{
    ApprovalRequest, PolicyAnswer, PolicyDecision, ToolContext, ToolHost, ToolSet, ToolSpec,
};
use tenantry::{AuditConfig, Observer};
use tenantry::{Provider, ProviderConfig};

fn refused_field(e: Error) -> String {
    assert_eq!(e.code(), "invalid_config", "{e}");
    e.details()["field"].as_str().unwrap().to_owned()
}

fn agent(config: AgentConfig) -> Result<Agent, Error> {
    Agent::new(config, Rc::new(tenantry::DemoModel))
}

#[test]
fn agent_new_refuses_steps_and_output_tokens_out_of_range() {
    for (max_steps, field) in [(0, "maxSteps"), (101, "maxSteps")] {
        let e = agent(AgentConfig {
            max_steps,
            ..AgentConfig::default()
        })
        .err()
        .unwrap();
        assert_eq!(refused_field(e), field, "maxSteps {max_steps}");
    }
    for tokens in [0, 10_000_001] {
        let e = agent(AgentConfig {
            max_output_tokens: tokens,
            ..AgentConfig::default()
        })
        .err()
        .unwrap();
        assert_eq!(
            refused_field(e),
            "maxOutputTokens",
            "maxOutputTokens {tokens}"
        );
    }
    agent(AgentConfig {
        max_steps: limits::MAX_STEPS,
        max_output_tokens: limits::MAX_OUTPUT_TOKENS,
        ..AgentConfig::default()
    })
    .unwrap();
}

#[test]
fn agent_new_refuses_memory_bounds_by_their_js_path() {
    let mut c = AgentConfig::default();
    c.memory.recall_top_k = limits::MAX_RECALL_LIMIT + 1;
    assert_eq!(refused_field(agent(c).err().unwrap()), "memory.recall.topK");
    let mut c = AgentConfig::default();
    c.memory.max_sessions_per_user = limits::MAX_SESSIONS_PER_USER + 1;
    assert_eq!(
        refused_field(agent(c).err().unwrap()),
        "memory.maxSessionsPerUser"
    );
    let mut c = AgentConfig::default();
    c.memory.max_context_tokens = Some(limits::MAX_CONTEXT_TOKENS + 1);
    assert_eq!(
        refused_field(agent(c).err().unwrap()),
        "memory.maxContextTokens"
    );
}

#[test]
fn defaults_come_from_limits() {
    let c = AgentConfig::default();
    assert_eq!(c.max_steps, limits::DEFAULT_MAX_STEPS);
    assert_eq!(c.max_output_tokens, limits::DEFAULT_MAX_OUTPUT_TOKENS);
    let p = ProviderConfig::new(Provider::OpenAi, "m");
    assert_eq!(p.max_retries, limits::DEFAULT_MAX_RETRIES);
    assert_eq!(p.timeout_ms, limits::DEFAULT_TIMEOUT_MS);
    assert_eq!(
        AuditConfig::new(vec![1; 16]).ring,
        limits::DEFAULT_AUDIT_RING
    );
}

struct NoHost;

impl ToolHost for NoHost {
    fn execute(
        &self,
        _: &str,
        _: Value,
        _: ToolContext,
    ) -> LocalBoxFuture<'static, Result<Value, String>> {
        Box::pin(async { Ok(Value::Null) })
    }
    fn policy(
        &self,
        _: Option<&str>,
        _: Option<&str>,
        _: &str,
        _: &Value,
    ) -> Option<LocalBoxFuture<'static, PolicyDecision>> {
        None
    }
    fn approve(&self, _: ApprovalRequest) -> Option<LocalBoxFuture<'static, bool>> {
        None
    }
    fn sleep(&self, _: f64) -> LocalBoxFuture<'static, ()> {
        Box::pin(async {})
    }
}

fn tools(specs: Vec<ToolSpec>, timeout: Option<f64>) -> Result<ToolSet, Error> {
    ToolSet::new(
        specs,
        Permissions::default(),
        Some(Rc::new(NoHost)),
        timeout,
    )
}

fn tool(name: &str) -> ToolSpec {
    ToolSpec::new(name.into(), String::new(), None)
}

#[test]
fn tool_sets_refuse_bad_names_parameters_and_timeouts() {
    let long = "x".repeat(limits::MAX_TOOL_NAME_BYTES + 1);
    for bad in ["", "has space", "dots.no", long.as_str()] {
        let e = tools(vec![tool("ok"), tool(bad)], None).err().unwrap();
        assert_eq!(refused_field(e), "tools[1].name", "{bad:?}");
    }
    let schema = ToolSpec::new("t".into(), String::new(), Some(json!("not a schema")));
    let e = tools(vec![schema], None).err().unwrap();
    assert_eq!(refused_field(e), "tools[0].parameters");
    let e = tools(vec![tool("t"), tool("t")], None).err().unwrap();
    assert_eq!(refused_field(e), "tools");
    for ms in [0.0, -1.0, f64::NAN] {
        let e = tools(vec![tool("t")], Some(ms)).err().unwrap();
        assert_eq!(refused_field(e), "approvalTimeoutMs", "{ms}");
    }
    let ok = tools(vec![tool("a-b_9")], None).unwrap();
    assert_eq!(ok.approval_timeout_ms, limits::DEFAULT_APPROVAL_TIMEOUT_MS);
    assert_eq!(ok.specs[0].parameters, json!({ "type": "object" }));
    tools(vec![tool("t")], Some(f64::INFINITY)).unwrap();
}

#[test]
fn policy_answers_read_the_same_for_every_host() {
    use PolicyAnswer::*;
    let cases = [
        (Bool(true), PolicyDecision::Allow),
        (Text("allow".into()), PolicyDecision::Allow),
        (Text("approve".into()), PolicyDecision::Approve),
        (Text("requireApproval".into()), PolicyDecision::Approve),
        (Bool(false), PolicyDecision::Deny),
        (Text("deny".into()), PolicyDecision::Deny),
        (Text("Allow".into()), PolicyDecision::Deny),
        (Other, PolicyDecision::Deny),
    ];
    for (answer, want) in cases {
        assert_eq!(PolicyDecision::from_answer(&answer), want, "{answer:?}");
    }
}

#[test]
fn a_recall_limit_outside_1_to_100_is_refused() {
    let a = agent(AgentConfig::default()).unwrap();
    let alice = tenantry::UserKey::parse(Some("alice")).unwrap();
    for bad in [0, limits::MAX_RECALL_LIMIT + 1] {
        let e = a.recall(&alice, "x", Some(bad)).unwrap_err();
        assert_eq!(e.code(), "invalid_input");
    }
    assert!(a.recall(&alice, "x", None).unwrap().is_empty());
    assert!(a
        .recall(&alice, "x", Some(limits::MAX_RECALL_LIMIT))
        .unwrap()
        .is_empty());
}

fn observer(config: AuditConfig) -> Result<Observer, Error> {
    Observer::new(Some(config), None, None)
}

#[test]
fn audit_settings_are_checked_in_the_core() {
    let key = b"audit-key-for-tests-0123456789".to_vec();
    let mut c = AuditConfig::new(key.clone());
    c.ring = limits::MAX_AUDIT_RING + 1;
    assert_eq!(refused_field(observer(c).err().unwrap()), "audit.ringSize");
    let mut c = AuditConfig::new(key.clone());
    c.ring = limits::MAX_AUDIT_RING;
    observer(c).unwrap();
    for short in [Vec::new(), b"short".to_vec()] {
        let e = observer(AuditConfig::new(short)).err().unwrap();
        assert_eq!(refused_field(e), "audit.key");
    }
    let e = check_key(b"short", "key").unwrap_err();
    assert_eq!(e.code(), "invalid_config");
    assert_eq!(e.details()["field"], "key");
    let mut c = AuditConfig::new(key);
    c.resume = Some((0, "not a mac".into()));
    assert_eq!(
        refused_field(observer(c).err().unwrap()),
        "audit.resumeFrom"
    );
}

#[test]
fn provider_retries_and_time_outs_are_bounded() {
    let mut c = ProviderConfig::new(Provider::Anthropic, "m");
    c.max_retries = limits::MAX_RETRIES + 1;
    assert_eq!(refused_field(c.validate().unwrap_err()), "maxRetries");
    for ms in [0, limits::MAX_TIMEOUT_MS + 1] {
        let mut c = ProviderConfig::new(Provider::OpenAi, "m");
        c.timeout_ms = ms;
        assert_eq!(refused_field(c.validate().unwrap_err()), "timeoutMs");
    }
    let mut c = ProviderConfig::new(Provider::OpenAi, "m");
    c.max_retries = limits::MAX_RETRIES;
    c.timeout_ms = limits::MAX_TIMEOUT_MS;
    c.validate().unwrap();
}
