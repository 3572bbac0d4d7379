//! `new Agent(config)`: the JS config object read into core config and host adapters, with
//! every unknown or bad field refused by name.

use super::convert::{config_error, set, type_name, Options};
use super::js_clock::JsClock;
use super::js_model::JsModel;
use super::js_storage::JsStorage;
use super::js_tools::{parse_tools, JsTools};
use crate::budget::{BudgetConfig, RateLimitConfig};
use crate::config::{AgentConfig, MemoryConfig};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::observe::Observer;
use crate::tools::permissions::Permissions;
use crate::tools::ToolSet;
use js_sys::{Function, Reflect};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};

pub struct Parsed {
    pub config: AgentConfig,
    pub model: Rc<dyn Model>,
    pub storage: Option<JsStorage>,
    pub clock: JsClock,
    /// `budget.planOf(userId)`, when given.
    pub plan_of: Option<Function>,
    /// `budget.orgPlanOf(orgId)`, when given.
    pub org_plan_of: Option<Function>,
    pub tools: Option<ToolSet>,
    pub observer: Observer,
    /// `memory.embedder`, when given.
    pub embedder: Option<Function>,
    /// `orgs` and `orgConfig`, when given.
    pub orgs: Option<(
        std::collections::BTreeMap<crate::ids::OrgId, crate::org_config::OrgSettings>,
        Option<Function>,
    )>,
    /// `mcp`, when given.
    pub mcp: Option<crate::mcp::Mcp>,
}

const KEYS: &[&str] = &[
    "name",
    "instructions",
    "model",
    "modelName",
    "requireUser",
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
    "orgs",
    "orgConfig",
    "mcp",
];

const MEMORY_KEYS: &[&str] = &[
    "maxMessagesPerSession",
    "maxContextTokens",
    "maxSessionsPerUser",
    "maxUsers",
    "idleTtlMs",
    "recall",
    "storage",
    "clock",
    "tools",
    "embedder",
    "compaction",
    "facts",
];

/// The JS config read into core inputs. Unset fields keep the core defaults; every bound
/// is checked by `AgentConfig::validate` (in `Agent::new`), `ToolSet::new` and
/// `Observer::new`, the same checks a Rust host goes through.
pub fn parse(config: &JsValue) -> Result<Parsed> {
    if config.is_undefined() || config.is_null() {
        return Err(Error::config(
            "config",
            "pass an object: new Agent({ model, ... })",
        ));
    }
    let opts = Options::new(config, "", KEYS, config_error)?;
    let (model, declared) = host_model(opts.get("model"))?;
    let (memory, storage, clock, embedder) = memory_config(&opts)?;
    let (
        config,
        BudgetHooks {
            plan_of,
            org_plan_of,
        },
    ) = agent_config(&opts, memory, declared)?;
    // Optional parts are parsed by functions called only when their key is present: V8
    // compiles a wasm function on its first call, so a plain `new Agent` pays for none of
    // them (the cold-start bench measured ~2 ms for compiling the all-in-one version).
    // MCP servers (the block below and `mcp` in TOOL_KEYS): their prefixes are tool names
    // that `permissions` may use.
    let mcp = match opts.get("mcp") {
        Some(v) => Some(super::js_mcp::parse(&v, clock.clone())?),
        None => None,
    };
    let prefixes = mcp.as_ref().map(|m| m.prefixes()).unwrap_or_default();
    let tools = match TOOL_KEYS.iter().any(|k| opts.get(k).is_some()) {
        true => tool_set(&opts, prefixes)?,
        false => None,
    };
    let observer = match (opts.get("audit"), opts.get("onEvent")) {
        (None, None) => Observer::default(),
        (audit, on_event) => observer(audit, on_event, clock.clone())?,
    };
    let orgs = match (opts.get("orgs"), opts.get("orgConfig")) {
        (None, None) => None,
        (fixed, lookup) => Some(org_settings(fixed, lookup)?),
    };
    Ok(Parsed {
        config,
        model,
        storage,
        clock,
        plan_of,
        org_plan_of,
        tools,
        observer,
        embedder,
        orgs,
        mcp,
    })
}

#[inline(never)]
fn org_settings(
    fixed: Option<JsValue>,
    lookup: Option<JsValue>,
) -> Result<(
    std::collections::BTreeMap<crate::ids::OrgId, crate::org_config::OrgSettings>,
    Option<Function>,
)> {
    let fixed = match fixed {
        None => Default::default(),
        Some(v) => super::org_config::fixed(&v)?,
    };
    let lookup = match lookup {
        None => None,
        Some(f) if f.is_function() => Some(f.unchecked_into::<Function>()),
        Some(v) => {
            return Err(Error::config(
                "orgConfig",
                format!(
                    "must be a function (orgId) => settings | undefined, got {}",
                    type_name(&v)
                ),
            ))
        }
    };
    Ok((fixed, lookup))
}

/// The functions of `budget`, kept beside its plain data.
#[derive(Default)]
struct BudgetHooks {
    plan_of: Option<Function>,
    org_plan_of: Option<Function>,
}

/// The plain-data part of the config, with `budget.planOf` and `budget.orgPlanOf` beside it.
fn agent_config(
    opts: &Options,
    memory: MemoryConfig,
    declared_model_name: Option<String>,
) -> Result<(AgentConfig, BudgetHooks)> {
    let (budget, hooks) = match opts.get("budget") {
        None => (BudgetConfig::default(), BudgetHooks::default()),
        Some(v) => budget_config(v)?,
    };
    let mut config = AgentConfig {
        memory,
        budget,
        ..AgentConfig::default()
    };
    config.name_model(opts.string("modelName")?, declared_model_name)?;
    set(&mut config.require_user, opts.boolean("requireUser")?);
    if let Some(v) = opts.get("rateLimit") {
        config.rate_limit = rate_limit_config(v)?;
    }
    set(&mut config.name, opts.string("name")?);
    set(&mut config.instructions, opts.string("instructions")?);
    set(&mut config.max_steps, opts.whole("maxSteps")?);
    set(
        &mut config.max_output_tokens,
        opts.whole("maxOutputTokens")?,
    );
    Ok((config, hooks))
}

/// `model`: a function, or an AI SDK language model object; with the name it declares for
/// the price table.
pub(super) fn host_model(model: Option<JsValue>) -> Result<(Rc<dyn Model>, Option<String>)> {
    let expected = "an async function (request) => ({ text }) or an AI SDK language model";
    match model {
        Some(f) if f.is_function() => {
            let func: Function = f.unchecked_into();
            // A `workersAI()` model, called as a core model: it then knows whether the run
            // streams, which a model function cannot tell.
            if let Some(m) = super::workers_ai_model::lookup(&func) {
                let declared = m.model_id();
                return Ok((Rc::new(m), Some(declared)));
            }
            let declared = declared_name(&func);
            Ok((Rc::new(JsModel { func }), declared))
        }
        Some(v) => match super::ai_sdk_model::detect(&v)? {
            Some(m) => {
                let declared = m.model_id.clone();
                Ok((Rc::new(m), declared))
            }
            None => Err(Error::config(
                "model",
                format!("must be {expected}, got {}", type_name(&v)),
            )),
        },
        None => Err(Error::config(
            "model",
            format!("is required: pass {expected}, or demoModel()"),
        )),
    }
}

/// The name a model or embedder function declares for the price table: a built-in
/// client's own model id, else its `modelId` property.
pub(super) fn declared_name(model: &Function) -> Option<String> {
    super::provider::model_id(model).or_else(|| {
        Reflect::get(model, &"modelId".into())
            .ok()
            .and_then(|v| v.as_string())
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

const TOOL_KEYS: [&str; 6] = [
    "tools",
    "mcp",
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
    if let Some(p) = value.get("perOrg") {
        objects_at(p, "rateLimit.perOrg", &[])?;
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
fn observer(audit: Option<JsValue>, on_event: Option<JsValue>, clock: JsClock) -> Result<Observer> {
    super::audit::observer(audit, on_event, clock)
}

/// `tools`, `permissions`, `policy`, `approve`, `approvalTimeoutMs`: `None` when no tools.
#[inline(never)]
fn tool_set(opts: &Options, mcp_prefixes: Vec<String>) -> Result<Option<ToolSet>> {
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
    let (specs, execute) = match opts.get("tools") {
        Some(tools) => parse_tools(&tools)?,
        // An agent with MCP servers has tools to rule on, listed at run time.
        None if !mcp_prefixes.is_empty() => Default::default(),
        None => {
            for k in ["permissions", "policy", "approve", "approvalTimeoutMs"] {
                if opts.get(k).is_some() {
                    return Err(Error::config(k, "needs `tools` or `mcp`"));
                }
            }
            return Ok(None);
        }
    };
    let permissions: Permissions = match opts.get("permissions") {
        None => Permissions::default(),
        Some(p) => permissions_at(p, "permissions")?,
    };
    let host = Rc::new(JsTools {
        execute,
        policy,
        approve,
    });
    let timeout = opts.number("approvalTimeoutMs")?;
    ToolSet::with_run_time_tools(specs, permissions, Some(host), timeout, mcp_prefixes).map(Some)
}

/// A `permissions` object at `path` (the agent's, or an org's).
pub(super) fn permissions_at(p: JsValue, path: &str) -> Result<Permissions> {
    let value: serde_json::Value = from_js(p, path)?;
    objects_at(&value, path, &["users"])?;
    from_value(value, path)
}

fn from_js<T: serde::de::DeserializeOwned>(v: JsValue, field: &str) -> Result<T> {
    super::error::config_from_js(&v, field, &[])
}

/// `budget` minus its `planOf` and `orgPlanOf` functions (the rest is plain data for serde).
#[inline(never)]
fn budget_config(v: JsValue) -> Result<(BudgetConfig, BudgetHooks)> {
    let opts = Options::new(
        &v,
        "budget",
        &[
            "perUser",
            "perOrg",
            "global",
            "plans",
            "orgPlans",
            "prices",
            "defaultPrices",
            "planOf",
            "orgPlanOf",
        ],
        config_error,
    )?;
    let hook = |key: &str, shape: &str| match opts.get(key) {
        Some(f) if f.is_function() => Ok(Some(f.unchecked_into::<Function>())),
        None => Ok(None),
        Some(f) => Err(Error::config(
            &format!("budget.{key}"),
            format!("must be a function {shape}, got {}", type_name(&f)),
        )),
    };
    let hooks = BudgetHooks {
        plan_of: hook("planOf", "(userId) => planName")?,
        org_plan_of: hook("orgPlanOf", "(orgId) => planName")?,
    };
    let value: serde_json::Value =
        super::error::config_from_js(&v, "budget", &["planOf", "orgPlanOf"])?;
    let config = from_value::<BudgetConfig>(value, "budget")?;
    Ok((config, hooks))
}

/// `T` from a config value; a refusal names the innermost field that is refused on its own.
pub(super) fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    path: &str,
) -> Result<T> {
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

type MemoryParts = (MemoryConfig, Option<JsStorage>, JsClock, Option<Function>);

fn memory_config(opts: &Options) -> Result<MemoryParts> {
    let memory = opts.get("memory").unwrap_or(JsValue::UNDEFINED);
    let mem = Options::new(&memory, "memory", MEMORY_KEYS, config_error)?;
    let recall = Options::new(
        &mem.get("recall").unwrap_or(JsValue::UNDEFINED),
        "memory.recall",
        &["topK", "mode"],
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
    let embedder = match mem.get("embedder") {
        None => None,
        Some(f) if f.is_function() => Some(f.unchecked_into()),
        Some(v) => {
            return Err(Error::config(
                "memory.embedder",
                format!(
                    "must be a function (texts, {{ userId, signal }}) => number[][], got {}",
                    type_name(&v)
                ),
            ))
        }
    };
    let mut m = MemoryConfig::default();
    set(
        &mut m.max_messages_per_session,
        mem.whole("maxMessagesPerSession")?,
    );
    if let Some(n) = mem.whole("maxContextTokens")? {
        m.max_context_tokens = Some(n);
    }
    set(
        &mut m.max_sessions_per_user,
        mem.whole("maxSessionsPerUser")?,
    );
    set(&mut m.max_users, mem.whole("maxUsers")?);
    // Infinity, which JSON cannot carry, means never expire.
    set(&mut m.idle_ttl_ms, mem.number("idleTtlMs")?);
    set(&mut m.recall_top_k, recall.whole("topK")?);
    if let Some(v) = mem.get("tools") {
        m.tools = memory_tool_names(&v)?;
    }
    if let Some(v) = mem.get("compaction") {
        let c = Options::new(
            &v,
            "memory.compaction",
            &["triggerTokens", "keepTurns", "instructions"],
            config_error,
        )?;
        let required = |key: &str| Error::config(&c.field(key), "is required".to_owned());
        m.compaction = Some(crate::config::Compaction {
            trigger_tokens: c
                .whole("triggerTokens")?
                .ok_or_else(|| required("triggerTokens"))?,
            keep_turns: c.whole("keepTurns")?.ok_or_else(|| required("keepTurns"))?,
            instructions: c.string("instructions")?,
        });
    }
    let facts = Options::new(
        &mem.get("facts").unwrap_or(JsValue::UNDEFINED),
        "memory.facts",
        &["extract", "instructions"],
        config_error,
    )?;
    if facts.boolean("extract")? == Some(true) {
        m.fact_extraction = Some(crate::config::FactExtraction {
            instructions: facts.string("instructions")?,
        });
    }
    if let Some(mode) = recall.string("mode")? {
        m.recall_mode = crate::search::SearchMode::parse(&mode).map_err(|_| {
            Error::config(
                "memory.recall.mode",
                format!("must be \"lexical\", \"semantic\" or \"hybrid\", got {mode:?}"),
            )
        })?;
        m.check_embedder(embedder.is_some())?;
    }
    Ok((m, storage, clock, embedder))
}

/// `memory.tools`: `true` for every memory tool, `false` for none, or a list of names
/// (which the core checks).
fn memory_tool_names(v: &JsValue) -> Result<Vec<String>> {
    match v.as_bool() {
        Some(true) => return Ok(crate::tools::memory::all()),
        Some(false) => return Ok(Vec::new()),
        None => {}
    }
    if !super::convert::is_array(v) {
        return Err(Error::config(
            "memory.tools",
            format!(
                "must be true, false or an array of names, got {}",
                type_name(v)
            ),
        ));
    }
    let items = super::convert::read_array(v, "memory.tools")
        .map_err(|u| Error::config(&u.path, u.reason))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match super::convert::exact_string(&item) {
            Some(Some(s)) => Ok(s),
            _ => Err(Error::config(
                &format!("memory.tools[{i}]"),
                format!("must be a tool name, got {}", type_name(&item)),
            )),
        })
        .collect()
}
