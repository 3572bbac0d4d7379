//! The exported `Agent` class. It holds an `Rc` to the core agent and every async method
//! clones it into the returned promise, so no wasm-bindgen borrow of `self` outlives the
//! call: JS may call `run` again (or anything else) while a model call is pending.

use super::abort::{AbortSignal, JsAbort};
use super::convert::{config_error, input_error, session_id, type_name, user_key, Options};
use super::error::{to_js_error, to_plain_js};
use super::js_model::JsModel;
use crate::agent::{Agent, RunOptions};
use crate::config::{integer_field, AgentConfig, MemoryConfig};
use crate::error::{Error, Result};
use js_sys::{Function, Promise};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(js_name = Agent)]
pub struct JsAgent {
    inner: Rc<Agent>,
}

type JsResult<T> = std::result::Result<T, JsValue>;

fn js<T>(r: Result<T>) -> JsResult<T> {
    r.map_err(|e| to_js_error(&e))
}

#[wasm_bindgen(js_class = Agent)]
impl JsAgent {
    /// `new Agent({ name?, instructions?, model, memory?: { maxMessagesPerSession? }, maxOutputTokens? })`
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue) -> JsResult<JsAgent> {
        js(build(&config))
    }

    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.config().name.clone()
    }

    /// `run(input, userId, { sessionId?, signal? })` -> `Promise<RunResult>`. Never throws
    /// synchronously: every failure is a rejected promise with a `TenantryError`.
    pub fn run(&self, input: JsValue, user_id: JsValue, options: JsValue) -> Promise {
        let started = (|| -> Result<_> {
            let user = user_key(&user_id)?;
            let input = input.as_string().ok_or_else(|| Error::InvalidInput {
                reason: format!("input must be a string, got {}", type_name(&input)),
            })?;
            Ok((input, user, run_options(&options)?))
        })();
        let (input, user, opts) = match started {
            Ok(v) => v,
            Err(e) => return Promise::reject(&to_js_error(&e)),
        };
        // Called now, not inside the promise: the session ticket is taken in call order.
        let run = self.inner.run(input, user, opts);
        wasm_bindgen_futures::future_to_promise(async move {
            run.await
                .map(|out| to_plain_js(&out))
                .map_err(|e| to_js_error(&e))
        })
    }

    /// Messages of one session of one user (the default session when omitted), oldest first.
    pub fn history(&self, user_id: JsValue, session: JsValue) -> JsResult<JsValue> {
        let user = js(user_key(&user_id))?;
        let session = js(session_id(&session))?;
        Ok(to_plain_js(&self.inner.history(&user, &session)))
    }

    /// Messages stored for one user across all of their sessions.
    pub fn size(&self, user_id: JsValue) -> JsResult<usize> {
        Ok(self.inner.size(&js(user_key(&user_id))?))
    }

    /// Forgets one user's conversations. Other users are untouched.
    pub fn clear(&self, user_id: JsValue) -> JsResult<()> {
        self.inner.clear(&js(user_key(&user_id))?);
        Ok(())
    }

    /// Host-only: forgets every user's conversations.
    #[wasm_bindgen(js_name = clearAll)]
    pub fn clear_all(&self) {
        self.inner.clear_all()
    }
}

impl JsAgent {
    /// The core agent, for Rust-side tests of the bindings.
    pub fn core(&self) -> &Rc<Agent> {
        &self.inner
    }
}

fn build(config: &JsValue) -> Result<JsAgent> {
    if config.is_undefined() || config.is_null() {
        return Err(Error::config(
            "config",
            "pass an object: new Agent({ model, ... })",
        ));
    }
    let opts = Options::new(
        config,
        "",
        &["name", "instructions", "model", "memory", "maxOutputTokens"],
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
    let memory_opts = Options::new(
        &opts.get("memory").unwrap_or(JsValue::UNDEFINED),
        "memory",
        &["maxMessagesPerSession"],
        config_error,
    )?;
    let max_messages = match memory_opts.number("maxMessagesPerSession")? {
        Some(v) => integer_field("memory.maxMessagesPerSession", v, 0, u32::MAX as u64)? as usize,
        None => defaults.memory.max_messages_per_session,
    };
    let max_output_tokens = match opts.number("maxOutputTokens")? {
        Some(v) => integer_field("maxOutputTokens", v, 1, 10_000_000)? as u32,
        None => defaults.max_output_tokens,
    };
    let config = AgentConfig {
        name: opts.string("name")?.unwrap_or(defaults.name),
        instructions: opts.string("instructions")?.unwrap_or_default(),
        max_output_tokens,
        memory: MemoryConfig {
            max_messages_per_session: max_messages,
        },
    };
    let agent = Agent::new(config, Rc::new(JsModel { func: model }))?;
    Ok(JsAgent {
        inner: Rc::new(agent),
    })
}

fn run_options(options: &JsValue) -> Result<RunOptions> {
    let opts = Options::new(options, "options", &["sessionId", "signal"], input_error)?;
    let session = session_id(&opts.get("sessionId").unwrap_or(JsValue::UNDEFINED))?;
    let cancellation = match opts.get("signal") {
        None => None,
        Some(v) => match v.dyn_into::<AbortSignal>() {
            Ok(signal) => Some(Rc::new(JsAbort { signal }) as Rc<dyn crate::agent::Cancellation>),
            Err(v) => {
                return Err(Error::InvalidInput {
                    reason: format!(
                        "options.signal must be an AbortSignal, got {}",
                        type_name(&v)
                    ),
                })
            }
        },
    };
    Ok(RunOptions {
        session,
        cancellation,
    })
}
