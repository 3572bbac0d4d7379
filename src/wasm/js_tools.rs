//! Host JS tools as the core `ToolHost`: `tools: [{ name, description, parameters,
//! execute(args, ctx) }]`, `policy(userId, tool, args)` and `approve(request)`.
//! `ctx.cache` is bound to the calling user in Rust, so a tool cannot reach another
//! user's entries whatever key it picks.

use super::abort::signal_of;
use super::convert::{config_error, type_name, Options};
use super::error::to_plain_js;
use super::js_fetch::{linked_controller, sleep_ms};
use super::js_model::thrown_message;
use crate::error::{Error, Result};
use crate::tools::cache::CacheHandle;
use crate::tools::{
    ApprovalRequest, PolicyAnswer, PolicyDecision, ToolContext, ToolHost, ToolSpec,
};
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Object, Reflect};
use serde_json::Value;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;

pub struct JsTools {
    pub execute: HashMap<String, Function>,
    pub policy: Option<Function>,
    pub approve: Option<Function>,
}

/// Reads `tools: [...]` into specs and their `execute` functions.
pub fn parse_tools(v: &JsValue) -> Result<(Vec<ToolSpec>, HashMap<String, Function>)> {
    if !super::convert::is_array(v) {
        return Err(Error::config(
            "tools",
            format!("must be an array, got {}", type_name(v)),
        ));
    }
    let items =
        super::convert::read_array(v, "tools").map_err(|u| Error::config(&u.path, u.reason))?;
    let mut specs = Vec::new();
    let mut execute = HashMap::new();
    for (i, t) in items.iter().enumerate() {
        let (spec, f) = parse_tool(&t, &format!("tools[{i}]"))?;
        execute.insert(spec.name.clone(), f);
        specs.push(spec);
    }
    Ok((specs, execute))
}

/// One tool definition `{ name, description?, parameters?, execute }` at `path`.
fn parse_tool(t: &JsValue, path: &str) -> Result<(ToolSpec, Function)> {
    let o = Options::new(
        t,
        path,
        &["name", "description", "parameters", "execute"],
        config_error,
    )?;
    let name = o.string("name")?.unwrap_or_default();
    let f = o
        .get("execute")
        .filter(JsValue::is_function)
        .map(JsCast::unchecked_into::<Function>)
        .ok_or_else(|| {
            Error::config(
                &o.field("execute"),
                "must be a function (args, ctx) => result",
            )
        })?;
    let parameters = o
        .get("parameters")
        .map(|p| {
            super::error::from_js(&p).map_err(|e| {
                Error::config(
                    &o.field("parameters"),
                    format!("must be a JSON Schema object: {e}"),
                )
            })
        })
        .transpose()?;
    let description = o.string("description")?.unwrap_or_default();
    Ok((ToolSpec::new(name, description, parameters), f))
}

/// `tool(definition)`: checks one tool definition now, as `new Agent` would, and returns it
/// unchanged. It exists for TypeScript, which infers `execute`'s argument type from the
/// `parameters` schema of the call.
#[wasm_bindgen]
pub fn tool(definition: JsValue) -> std::result::Result<JsValue, JsValue> {
    parse_tool(&definition, "tool")
        .and_then(|(spec, _)| spec.validate("tool"))
        .map_err(|e| super::error::to_js_error(&e))?;
    Ok(definition)
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

/// Settles whatever a host function returned (value or promise).
async fn settle(
    returned: std::result::Result<JsValue, JsValue>,
) -> std::result::Result<JsValue, JsValue> {
    let v = returned?;
    super::callbacks::settle(&v).await
}

fn to_js_json(v: &Value) -> JsValue {
    to_plain_js(v)
}

fn cache_object(cache: CacheHandle) -> JsValue {
    let o = Object::new();
    let c = cache.clone();
    let get_fn = Closure::<dyn Fn(JsValue) -> JsValue>::new(move |k: JsValue| {
        match super::convert::exact_string(&k).flatten() {
            Some(k) => c.get(&k).map_or(JsValue::UNDEFINED, |v| to_js_json(&v)),
            None => JsValue::UNDEFINED,
        }
    });
    let c = cache.clone();
    let set_fn = Closure::<dyn Fn(JsValue, JsValue, JsValue) -> JsValue>::new(
        move |k: JsValue, v: JsValue, ttl: JsValue| {
            let value = super::error::from_js::<Value>(&v).ok();
            match (super::convert::exact_string(&k).flatten(), value) {
                (Some(k), Some(value)) => JsValue::from_bool(c.set(&k, value, ttl.as_f64())),
                _ => JsValue::FALSE,
            }
        },
    );
    let c = cache;
    let delete_fn = Closure::<dyn Fn(JsValue)>::new(move |k: JsValue| {
        if let Some(k) = super::convert::exact_string(&k).flatten() {
            c.delete(&k);
        }
    });
    // Owned by the JS object from here: a tool may keep `ctx.cache` beyond its call.
    let _ = Reflect::set(&o, &"get".into(), &get_fn.into_js_value());
    let _ = Reflect::set(&o, &"set".into(), &set_fn.into_js_value());
    let _ = Reflect::set(&o, &"delete".into(), &delete_fn.into_js_value());
    o.into()
}

impl ToolHost for JsTools {
    fn execute(
        &self,
        tool: &str,
        args: Value,
        ctx: ToolContext,
    ) -> LocalBoxFuture<'static, std::result::Result<Value, String>> {
        let f = self.execute.get(tool).cloned();
        let mut signal = signal_of(ctx.cancellation.as_deref());
        if signal.is_undefined() {
            signal = get(&linked_controller(&JsValue::UNDEFINED), "signal");
        }
        let js_ctx = Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = Reflect::set(&js_ctx, &JsValue::from_str(k), &v);
        };
        set(
            "userId",
            ctx.user_id
                .as_deref()
                .map_or(JsValue::NULL, JsValue::from_str),
        );
        if let Some(org) = &ctx.org_id {
            set("orgId", JsValue::from_str(org));
        }
        set("sessionId", JsValue::from_str(&ctx.session_id));
        set("runId", JsValue::from_str(&ctx.run_id));
        set("step", JsValue::from(ctx.step));
        set("signal", signal);
        set("cache", cache_object(ctx.cache));
        let returned = f.map(|f| f.call2(&JsValue::NULL, &to_js_json(&args), &js_ctx));
        Box::pin(async move {
            let Some(returned) = returned else {
                return Err("no execute function".into());
            };
            let value = settle(returned)
                .await
                .map_err(|e| thrown_message(&e, "the tool threw a non-Error value"))?;
            if value.is_undefined() {
                return Ok(Value::Null);
            }
            super::error::from_js(&value).map_err(|e| format!("the result is not JSON: {e}"))
        })
    }

    fn policy(
        &self,
        user: Option<&str>,
        org: Option<&str>,
        tool: &str,
        args: &Value,
    ) -> Option<LocalBoxFuture<'static, PolicyDecision>> {
        let f = self.policy.as_ref()?;
        let user = user.map_or(JsValue::NULL, JsValue::from_str);
        let args_list = js_sys::Array::of4(
            &user,
            &JsValue::from_str(tool),
            &to_js_json(args),
            &super::convert::org_context(org),
        );
        let returned = f.apply(&JsValue::NULL, &args_list);
        Some(Box::pin(async move {
            let answer = match settle(returned).await {
                Ok(v) => match (v.as_bool(), v.as_string()) {
                    (Some(b), _) => PolicyAnswer::Bool(b),
                    (None, Some(t)) => PolicyAnswer::Text(t),
                    (None, None) => PolicyAnswer::Other,
                },
                Err(_) => PolicyAnswer::Other,
            };
            PolicyDecision::from_answer(&answer)
        }))
    }

    fn approve(&self, request: ApprovalRequest) -> Option<LocalBoxFuture<'static, bool>> {
        let f = self.approve.as_ref()?;
        let returned = f.call1(&JsValue::NULL, &to_plain_js(&request));
        Some(Box::pin(async move {
            matches!(settle(returned).await, Ok(v) if v.is_truthy())
        }))
    }

    fn sleep(&self, ms: f64) -> LocalBoxFuture<'static, ()> {
        sleep_ms(ms)
    }
}
