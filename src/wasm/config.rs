//! `new Agent(config)`: the JS config object read into core config and host adapters, with
//! every unknown or bad field refused by name.

use super::convert::{config_error, type_name, Options};
use super::js_clock::JsClock;
use super::js_storage::JsStorage;
use super::js_tools::{parse_tools, JsTools};
use crate::budget::{BudgetConfig, RateLimitConfig};
use crate::config::{integer_field, AgentConfig, MemoryConfig};
use crate::error::{Error, Result};
use crate::observe::Observer;
use crate::tools::cache::ToolCache;
use crate::tools::permissions::Permissions;
use crate::tools::ToolSet;
use js_sys::{Function, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};

pub struct Parsed {
    pub config: AgentConfig,
    pub model: Function,
    pub storage: Option<JsStorage>,
    pub clock: JsClock,
    /// `budget.planOf(userId)`, when given.
    pub plan_of: Option<Function>,
    pub tools: Option<ToolSet>,
    pub observer: Observer,
}

const MEMORY_KEYS: &[&str] = &[
    "maxMessagesPerSession",
    "maxContextTokens",
    "maxSessionsPerUser",
    "maxUsers",
    "idleTtlMs",
    "recall",
    "storage",
    "clock",
];

pub fn parse(config: &JsValue) -> Result<Parsed> {
    if config.is_undefined() || config.is_null() {
        return Err(Error::config(
            "config",
            "pass an object: new Agent({ model, ... })",
        ));
    }
    let opts = Options::new(
        config,
        "",
        &[
            "name",
            "instructions",
            "model",
            "memory",
            "maxOutputTokens",
            "budget",
            "rateLimit",
            "tools",
            "permissions",
            "policy",
            "approve",
            "maxSteps",
            "approvalTimeoutMs",
            "audit",
            "onEvent",
        ],
        config_error,
    )?;
    let defaults = AgentConfig::default();
    let model = match opts.get("model") {
        Some(f) if f.is_function() => f.unchecked_into::<Function>(),
        Some(other) => {
            return Err(Error::config(
                "model",
                format!(
                    "must be an async function (request) => ({{ text }}), got {}",
                    type_name(&other)
                ),
            ))
        }
        None => {
            return Err(Error::config(
                "model",
                "is required: pass an async function (request) => ({ text }), or demoModel()",
            ))
        }
    };
    let mem = Options::new(
        &opts.get("memory").unwrap_or(JsValue::UNDEFINED),
        "memory",
        MEMORY_KEYS,
        config_error,
    )?;
    let (memory, storage, clock) = memory_config(&mem)?;
    // Optional parts are parsed by functions called only when their key is present: V8
    // compiles a wasm function on its first call, so a plain `new Agent` pays for none of
    // them (the cold-start bench measured ~2 ms for compiling the all-in-one version).
    let (budget, plan_of) = match opts.get("budget") {
        None => (BudgetConfig::default(), None),
        Some(v) => budget_config(v)?,
    };
    let rate_limit = match opts.get("rateLimit") {
        None => RateLimitConfig::default(),
        Some(v) => rate_limit_config(v)?,
    };
    // The built-in clients carry their model name, which prices the budget's cost.
    let model_name = Reflect::get(&model, &"modelId".into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default();
    let tools = match TOOL_KEYS.iter().any(|k| opts.get(k).is_some()) {
        true => tool_set(&opts)?,
        false => None,
    };
    let observer = match (opts.get("audit"), opts.get("onEvent")) {
        (None, None) => Observer::default(),
        (audit, on_event) => observer(audit, on_event)?,
    };
    let max_steps = match opts.number("maxSteps")? {
        Some(n) => integer_field("maxSteps", n, 1, 100)? as u32,
        None => crate::tools::DEFAULT_MAX_STEPS,
    };
    let max_output_tokens = match opts.number("maxOutputTokens")? {
        Some(v) => integer_field("maxOutputTokens", v, 1, 10_000_000)? as u32,
        None => defaults.max_output_tokens,
    };
    Ok(Parsed {
        config: AgentConfig {
            name: opts.string("name")?.unwrap_or(defaults.name),
            instructions: opts.string("instructions")?.unwrap_or_default(),
            max_output_tokens,
            memory,
            budget,
            rate_limit,
            model_name,
            max_steps,
        },
        model,
        storage,
        clock,
        plan_of,
        tools,
        observer,
    })
}

fn function(opts: &Options, key: &str, shape: &str) -> Result<Option<Function>> {
    match opts.get(key) {
        None => Ok(None),
        Some(f) if f.is_function() => Ok(Some(f.unchecked_into())),
        Some(v) => Err(Error::config(
            key,
            format!("must be a function {shape}, got {}", type_name(&v)),
        )),
    }
}

const TOOL_KEYS: [&str; 5] = [
    "tools",
    "permissions",
    "policy",
    "approve",
    "approvalTimeoutMs",
];

#[inline(never)]
fn rate_limit_config(v: JsValue) -> Result<RateLimitConfig> {
    let value: serde_json::Value = from_js(v, "rateLimit")?;
    objects_at(&value, "rateLimit", &[])?;
    if let Some(p) = value.get("perUser") {
        objects_at(p, "rateLimit.perUser", &[])?;
    }
    from_value(value, "rateLimit")
}

/// serde reads a struct from an array as readily as from an object, so `rateLimit: [5, 1000]`
/// would configure a limit by position: refused here, where an object is meant.
fn objects_at(v: &serde_json::Value, path: &str, maps: &[&str]) -> Result<()> {
    if !v.is_object() {
        return Err(Error::config(path, "must be an object"));
    }
    for key in maps {
        if let Some(m) = v.get(*key) {
            let sub = format!("{path}.{key}");
            let entries = m
                .as_object()
                .ok_or_else(|| Error::config(&sub, "must be an object"))?;
            for (k, e) in entries {
                objects_at(e, &format!("{sub}.{k}"), &[])?;
            }
        }
    }
    Ok(())
}

#[inline(never)]
fn observer(audit: Option<JsValue>, on_event: Option<JsValue>) -> Result<Observer> {
    super::audit::observer(audit, on_event)
}

/// `tools`, `permissions`, `policy`, `approve`, `approvalTimeoutMs`: `None` when no tools.
#[inline(never)]
fn tool_set(opts: &Options) -> Result<Option<ToolSet>> {
    let policy = function(
        opts,
        "policy",
        "(userId, tool, args) => \"allow\" | \"deny\" | \"approve\"",
    )?;
    let approve = function(
        opts,
        "approve",
        "({ userId, sessionId, tool, args }) => boolean",
    )?;
    let Some(tools) = opts.get("tools") else {
        for k in ["permissions", "policy", "approve", "approvalTimeoutMs"] {
            if opts.get(k).is_some() {
                return Err(Error::config(k, "needs `tools`"));
            }
        }
        return Ok(None);
    };
    let (specs, execute) = parse_tools(&tools)?;
    let permissions: Permissions = match opts.get("permissions") {
        None => Permissions::default(),
        Some(p) => {
            let value: serde_json::Value = from_js(p, "permissions")?;
            objects_at(&value, "permissions", &["users"])?;
            from_value(value, "permissions")?
        }
    };
    let approval_timeout_ms = match opts.number("approvalTimeoutMs")? {
        Some(n) if n > 0.0 => n,
        Some(n) => {
            return Err(Error::config(
                "approvalTimeoutMs",
                format!("must be positive, got {n}"),
            ))
        }
        None => crate::tools::DEFAULT_APPROVAL_TIMEOUT_MS,
    };
    Ok(Some(ToolSet {
        specs,
        permissions,
        host: Rc::new(JsTools {
            execute,
            policy,
            approve,
        }),
        cache: Rc::new(RefCell::new(ToolCache::default())),
        approval_timeout_ms,
        executing: RefCell::new(Vec::new()),
    }))
}

fn from_js<T: serde::de::DeserializeOwned>(v: JsValue, field: &str) -> Result<T> {
    super::error::config_from_js(&v, field, &[])
}

/// `budget` minus its `planOf` function (the rest is plain data for serde).
#[inline(never)]
fn budget_config(v: JsValue) -> Result<(BudgetConfig, Option<Function>)> {
    let opts = Options::new(
        &v,
        "budget",
        &[
            "perUser",
            "global",
            "plans",
            "prices",
            "defaultPrices",
            "planOf",
        ],
        config_error,
    )?;
    let plan_of = match opts.get("planOf") {
        Some(f) if f.is_function() => Some(f.unchecked_into::<Function>()),
        None => None,
        Some(f) => {
            return Err(Error::config(
                "budget.planOf",
                format!(
                    "must be a function (userId) => planName, got {}",
                    type_name(&f)
                ),
            ))
        }
    };
    let value: serde_json::Value = super::error::config_from_js(&v, "budget", &["planOf"])?;
    let config = from_value::<BudgetConfig>(value, "budget")?;
    Ok((config, plan_of))
}

/// `T` from a config value; a refusal names the innermost field that is refused on its own.
fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value, path: &str) -> Result<T> {
    match serde_json::from_value::<T>(value.clone()) {
        Ok(v) => Ok(v),
        Err(e) => Err(Error::config(&locate::<T>(&value, path), e.to_string())),
    }
}

/// serde's errors name no path: narrow the value to one branch at a time (each object key,
/// each array item, the rest left out) and follow the branch that is still refused alone.
/// Every config field is optional, so a branch alone is refused only for its own fault.
/// Only on the error path.
#[inline(never)]
fn locate<T: serde::de::DeserializeOwned>(root: &serde_json::Value, base: &str) -> String {
    use serde_json::Value;
    // The root with only the branch `trail` (a list of keys and indices) kept.
    fn keep(node: &Value, trail: &[Value]) -> Value {
        match (trail.split_first(), node) {
            (None, _) => node.clone(),
            (Some((Value::String(k), rest)), Value::Object(m)) => {
                let mut one = serde_json::Map::new();
                if let Some(child) = m.get(k) {
                    one.insert(k.clone(), keep(child, rest));
                }
                Value::Object(one)
            }
            (Some((Value::Number(i), rest)), Value::Array(a)) => {
                let i = i.as_u64().unwrap_or(0) as usize;
                Value::Array(a.get(i).map(|c| vec![keep(c, rest)]).unwrap_or_default())
            }
            _ => node.clone(),
        }
    }
    let refused = |trail: &[Value]| serde_json::from_value::<T>(keep(root, trail)).is_err();
    let mut trail: Vec<Value> = Vec::new();
    let mut path = base.to_owned();
    let mut node = root;
    'down: for _ in 0..64 {
        let children: Vec<(Value, String, &Value)> = match node {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), format!("{path}.{k}"), v))
                .collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::from(i), format!("{path}[{i}]"), v))
                .collect(),
            _ => break,
        };
        for (step, sub, child) in children {
            trail.push(step);
            if refused(&trail) {
                path = sub;
                node = child;
                continue 'down;
            }
            trail.pop();
        }
        break;
    }
    path
}

fn count(opts: &Options, key: &str, min: u64, max: u64) -> Result<Option<u64>> {
    opts.number(key)?
        .map(|v| integer_field(&opts.field(key), v, min, max))
        .transpose()
}

fn memory_config(mem: &Options) -> Result<(MemoryConfig, Option<JsStorage>, JsClock)> {
    let d = MemoryConfig::default();
    let idle_ttl_ms = match mem.number("idleTtlMs")? {
        None => d.idle_ttl_ms,
        Some(v) if v > 0.0 => v, // Infinity allowed: never expire
        Some(v) => {
            return Err(Error::config(
                "memory.idleTtlMs",
                format!("must be a positive number of milliseconds (or Infinity), got {v}"),
            ))
        }
    };
    let recall = Options::new(
        &mem.get("recall").unwrap_or(JsValue::UNDEFINED),
        "memory.recall",
        &["topK"],
        config_error,
    )?;
    let storage = mem.get("storage").map(JsStorage::new).transpose()?;
    let clock = match mem.get("clock") {
        None => JsClock { func: None },
        Some(f) if f.is_function() => JsClock {
            func: Some(f.unchecked_into()),
        },
        Some(v) => {
            return Err(Error::config(
                "memory.clock",
                format!(
                    "must be a function returning milliseconds, got {}",
                    type_name(&v)
                ),
            ))
        }
    };
    let memory = MemoryConfig {
        max_messages_per_session: count(mem, "maxMessagesPerSession", 0, u32::MAX as u64)?
            .map_or(d.max_messages_per_session, |v| v as usize),
        max_context_tokens: count(mem, "maxContextTokens", 1, 1 << 40)?,
        max_sessions_per_user: count(mem, "maxSessionsPerUser", 1, 1_000_000)?
            .map_or(d.max_sessions_per_user, |v| v as usize),
        max_users: count(mem, "maxUsers", 1, 1 << 32)?.map_or(d.max_users, |v| v as usize),
        idle_ttl_ms,
        recall_top_k: count(&recall, "topK", 0, crate::recall::MAX_RECALL_LIMIT as u64)?
            .map_or(d.recall_top_k, |v| v as usize),
    };
    Ok((memory, storage, clock))
}
