//! Tools: host functions the model may call for one user at a time. Each call is checked
//! in order — known and visible to this user, arguments within size and valid JSON, valid
//! against the tool's JSON Schema, permitted (static rules, then the host's `policy`),
//! approved when required — and only then executed, with a context bound to the calling
//! user. Every failure goes back to the model as a tool error it can react to, never to the
//! host as a crash.

pub mod cache;
pub mod memory;
pub mod permissions;
pub mod schema;

use crate::cancel::Cancellation;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::limits::{DEFAULT_APPROVAL_TIMEOUT_MS, MAX_TOOL_NAME_BYTES};
use crate::message::ToolCall;
use cache::{CacheHandle, ToolCache};
use futures_util::future::{self, Either, LocalBoxFuture};
use permissions::{Access, Permissions, ToolScope};
use serde::Serialize;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

pub const MAX_ARGS_BYTES: usize = 64 * 1024;
pub const MAX_RESULT_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

impl ToolSpec {
    /// A tool whose `parameters` default to any object.
    pub fn new(name: String, description: String, parameters: Option<Value>) -> ToolSpec {
        ToolSpec {
            name,
            description,
            parameters: parameters.unwrap_or_else(|| json!({ "type": "object" })),
        }
    }

    /// Refuses a name the model providers would not accept and parameters that are not a
    /// JSON Schema object; `path` is where the tool sits (`tools[0]`).
    pub fn validate(&self, path: &str) -> Result<()> {
        let n = &self.name;
        let valid = !n.is_empty()
            && n.len() <= MAX_TOOL_NAME_BYTES
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(Error::config(
                &format!("{path}.name"),
                format!(
                    "must be 1 to {MAX_TOOL_NAME_BYTES} letters, digits, `_` or `-` (what model providers accept)"
                ),
            ));
        }
        if !self.parameters.is_object() {
            return Err(Error::config(
                &format!("{path}.parameters"),
                "must be a JSON Schema object",
            ));
        }
        Ok(())
    }
}

/// What a tool receives besides its arguments: who it acts for, and nobody else.
pub struct ToolContext {
    pub user_id: Option<String>,
    /// `None` for the default org.
    pub org_id: Option<String>,
    pub session_id: String,
    pub run_id: String,
    pub step: u32,
    pub cancellation: Option<Rc<dyn Cancellation>>,
    pub cache: CacheHandle,
    /// The user's org's tool rules, if it has any.
    pub scope: ToolScope,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub session_id: String,
    pub run_id: String,
    pub tool: String,
    pub args: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyDecision {
    Allow,
    Deny,
    /// Allowed once a human approves.
    Approve,
}

/// What a host's `policy` answered, before it is read as a decision.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyAnswer {
    Bool(bool),
    Text(String),
    /// Any other value, or no value at all (the policy threw or rejected).
    Other,
}

impl PolicyDecision {
    /// The policy vocabulary: `true` or `"allow"` allows, `"approve"` or `"requireApproval"`
    /// asks for approval, and anything else (`false`, another word, a throw) denies, so a
    /// policy that fails fails closed.
    pub fn from_answer(answer: &PolicyAnswer) -> PolicyDecision {
        match answer {
            PolicyAnswer::Bool(true) => PolicyDecision::Allow,
            PolicyAnswer::Text(t) => match t.as_str() {
                "allow" => PolicyDecision::Allow,
                "approve" | "requireApproval" => PolicyDecision::Approve,
                _ => PolicyDecision::Deny,
            },
            PolicyAnswer::Bool(false) | PolicyAnswer::Other => PolicyDecision::Deny,
        }
    }
}

pub trait ToolHost {
    /// Runs the tool; `Err` is the message of what it threw.
    fn execute(
        &self,
        tool: &str,
        args: Value,
        ctx: ToolContext,
    ) -> LocalBoxFuture<'static, Result<Value, String>>;
    /// The host's `policy(userId, tool, args, { orgId })`, if it has one.
    fn policy(
        &self,
        user: Option<&str>,
        org: Option<&str>,
        tool: &str,
        args: &Value,
    ) -> Option<LocalBoxFuture<'static, PolicyDecision>>;
    /// The host's `approve(...)`, if it has one; a rejection or throw is `false`.
    fn approve(&self, request: ApprovalRequest) -> Option<LocalBoxFuture<'static, bool>>;
    fn sleep(&self, ms: f64) -> LocalBoxFuture<'static, ()>;
}

/// How a call was decided, as events and audit entries name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    Allowed,
    Approved,
    Denied,
    ApprovalRefused,
    Invalid,
    Failed,
}

/// The result of one call, as the model will see it (`content`) and the host (`result`
/// or `error`).
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub decision: Decision,
    pub content: String,
    pub result: Option<Value>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn ok(decision: Decision, result: Value) -> Outcome {
        Outcome {
            decision,
            content: result.to_string(),
            result: Some(result),
            error: None,
        }
    }

    pub fn error(decision: Decision, message: String) -> Outcome {
        Outcome {
            decision,
            content: json!({ "error": message }).to_string(),
            result: None,
            error: Some(message),
        }
    }
}

pub struct ToolSet {
    pub specs: Vec<ToolSpec>,
    pub permissions: Permissions,
    /// Runs the host's tools; `None` when only built-in (memory) tools are offered.
    pub host: Option<Rc<dyn ToolHost>>,
    pub cache: Rc<RefCell<ToolCache>>,
    pub approval_timeout_ms: f64,
    /// The (user, session) whose tool the host is executing right now, on this call
    /// stack: a run asked for by that very tool for its own session is refused
    /// (`Agent::reentrant`) instead of waiting for itself.
    pub executing: RefCell<Vec<(UserKey, String)>>,
    /// Prefixes of tools offered at run time (an MCP server's `${name}_`): rules may name
    /// such a tool though no spec here has its name.
    pub run_time_prefixes: Vec<String>,
}

impl ToolSet {
    /// A checked tool set; `approval_timeout_ms` defaults to `DEFAULT_APPROVAL_TIMEOUT_MS`.
    pub fn new(
        specs: Vec<ToolSpec>,
        permissions: Permissions,
        host: Option<Rc<dyn ToolHost>>,
        approval_timeout_ms: Option<f64>,
    ) -> Result<ToolSet> {
        ToolSet::with_run_time_tools(specs, permissions, host, approval_timeout_ms, Vec::new())
    }

    /// `new`, for a set that also offers tools listed at run time under `prefixes` (MCP
    /// servers'), which `permissions` may name.
    pub fn with_run_time_tools(
        specs: Vec<ToolSpec>,
        permissions: Permissions,
        host: Option<Rc<dyn ToolHost>>,
        approval_timeout_ms: Option<f64>,
        prefixes: Vec<String>,
    ) -> Result<ToolSet> {
        let tools = ToolSet {
            specs,
            permissions,
            host,
            cache: Rc::new(RefCell::new(ToolCache::default())),
            approval_timeout_ms: approval_timeout_ms.unwrap_or(DEFAULT_APPROVAL_TIMEOUT_MS),
            executing: RefCell::new(Vec::new()),
            run_time_prefixes: prefixes,
        };
        tools.validate()?;
        Ok(tools)
    }

    /// The one check of a tool set, for every host: each tool's name and parameters, no
    /// two tools sharing a name, permissions naming only these tools, and a positive
    /// approval time-out (`Infinity` waits for ever).
    pub fn validate(&self) -> Result<()> {
        for (i, t) in self.specs.iter().enumerate() {
            t.validate(&format!("tools[{i}]"))?;
        }
        let names: std::collections::BTreeSet<&str> =
            self.specs.iter().map(|t| t.name.as_str()).collect();
        if names.len() != self.specs.len() {
            return Err(Error::config("tools", "two tools share a name"));
        }
        self.permissions.validate_names(&|n| self.knows(n))?;
        let ms = self.approval_timeout_ms;
        if ms.is_nan() || ms <= 0.0 {
            return Err(Error::config(
                "approvalTimeoutMs",
                format!("must be positive, got {ms}"),
            ));
        }
        Ok(())
    }

    /// Whether rules may name `name`: one of these tools, a built-in memory tool (whether
    /// or not this agent offers it), or a tool a run-time source may list under one of
    /// `run_time_prefixes`.
    pub fn knows(&self, name: &str) -> bool {
        memory::NAMES.contains(&name)
            || self.specs.iter().any(|s| s.name == name)
            || self
                .run_time_prefixes
                .iter()
                .any(|p| name.len() > p.len() && name.starts_with(p.as_str()))
    }

    /// The tool definitions this user may see: the model is not even told about the rest.
    pub fn visible(&self, user: &UserKey, scope: &ToolScope) -> Vec<Value> {
        self.specs
            .iter()
            .filter(|t| self.permissions.access(user, &t.name, scope) != Access::Denied)
            .map(|t| json!({ "name": t.name, "description": t.description, "parameters": t.parameters }))
            .collect()
    }

    /// Whether a tool of this (user, session) is being called on the current stack.
    pub fn executing(&self, user: &UserKey, session: &crate::ids::SessionId) -> bool {
        self.executing
            .borrow()
            .iter()
            .any(|(u, s)| u == user && s == session.as_str())
    }

    /// Runs one call of a host tool, after every check (`admit`).
    pub async fn call(&self, call: &ToolCall, user: &UserKey, ctx: ToolContext) -> Outcome {
        let (args, decision) = match self.admit(call, user, &ctx).await {
            Ok(admitted) => admitted,
            Err(refused) => return refused,
        };
        let Some(host) = &self.host else {
            return Outcome::error(Decision::Invalid, format!("unknown tool `{}`", call.name));
        };
        // The host function runs synchronously inside `execute`; its first segment (up to
        // its first await) is where a tool calls back into the agent.
        self.executing
            .borrow_mut()
            .push((user.clone(), ctx.session_id.clone()));
        let pending = host.execute(&call.name, args, ctx);
        self.executing.borrow_mut().pop();
        match pending.await {
            Ok(result) => {
                let content = match &result {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if content.len() > MAX_RESULT_BYTES {
                    return Outcome::error(
                        Decision::Failed,
                        format!(
                            "the tool returned {} bytes; the limit is {MAX_RESULT_BYTES}",
                            content.len()
                        ),
                    );
                }
                Outcome {
                    decision,
                    content,
                    result: Some(result),
                    error: None,
                }
            }
            Err(message) => Outcome::error(Decision::Failed, format!("the tool failed: {message}")),
        }
    }

    /// Every check of a call, in order: a known tool this user may see, arguments within
    /// size, JSON, valid against the schema, then the policy and approval. Resolves to the
    /// parsed arguments and how the call was decided, or to the refusal the model sees.
    pub async fn admit(
        &self,
        call: &ToolCall,
        user: &UserKey,
        ctx: &ToolContext,
    ) -> std::result::Result<(Value, Decision), Outcome> {
        let Some(spec) = self.specs.iter().find(|t| t.name == call.name) else {
            return Err(Outcome::error(
                Decision::Invalid,
                format!("unknown tool `{}`", call.name),
            ));
        };
        self.admit_as(spec, call, user, ctx).await
    }

    /// `admit` of a call to the tool `spec` describes (one listed at run time).
    pub async fn admit_as(
        &self,
        spec: &ToolSpec,
        call: &ToolCall,
        user: &UserKey,
        ctx: &ToolContext,
    ) -> std::result::Result<(Value, Decision), Outcome> {
        let access = self.permissions.access(user, &spec.name, &ctx.scope);
        if access == Access::Denied {
            return Err(Outcome::error(
                Decision::Denied,
                format!("not permitted: this user may not call `{}`", spec.name),
            ));
        }
        if call.arguments.len() > MAX_ARGS_BYTES {
            return Err(Outcome::error(
                Decision::Invalid,
                format!(
                    "arguments are {} bytes; the limit is {MAX_ARGS_BYTES}",
                    call.arguments.len()
                ),
            ));
        }
        let text = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            call.arguments.as_str()
        };
        let args: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return Err(Outcome::error(
                    Decision::Invalid,
                    format!("arguments are not valid JSON: {e}"),
                ))
            }
        };
        let problems = schema::validate(&spec.parameters, &args);
        if !problems.is_empty() {
            return Err(Outcome::error(
                Decision::Invalid,
                format!(
                    "arguments do not match the `{}` schema: {}",
                    spec.name,
                    problems.join("; ")
                ),
            ));
        }
        let mut needs_approval = access == Access::NeedsApproval;
        let policy = self
            .host
            .as_ref()
            .and_then(|h| h.policy(user.as_option(), user.org(), &spec.name, &args));
        if let Some(policy) = policy {
            match policy.await {
                PolicyDecision::Deny => {
                    return Err(Outcome::error(
                        Decision::Denied,
                        format!("not permitted: the policy denied `{}`", spec.name),
                    ))
                }
                PolicyDecision::Approve => needs_approval = true,
                PolicyDecision::Allow => {}
            }
        }
        let mut decision = Decision::Allowed;
        if needs_approval {
            let request = ApprovalRequest {
                user_id: user.as_option().map(str::to_owned),
                org_id: user.org().map(str::to_owned),
                session_id: ctx.session_id.clone(),
                run_id: ctx.run_id.clone(),
                tool: spec.name.clone(),
                args: args.clone(),
            };
            let approved = match self
                .host
                .as_ref()
                .and_then(|h| h.approve(request).map(|a| (h, a)))
            {
                None => false,
                Some((host, answer)) => {
                    match future::select(answer, host.sleep(self.approval_timeout_ms)).await {
                        Either::Left((yes, _)) => yes,
                        Either::Right(_) => false,
                    }
                }
            };
            if !approved {
                return Err(Outcome::error(
                    Decision::ApprovalRefused,
                    format!(
                        "not permitted: approval for `{}` was refused or timed out",
                        spec.name
                    ),
                ));
            }
            decision = Decision::Approved;
        }
        Ok((args, decision))
    }
}
