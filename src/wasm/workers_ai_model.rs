//! `workersAI(binding, model, options?)`: a Cloudflare Workers AI binding (`env.AI`) as a
//! model. It returns a model function, like `openai()`, so it can be called directly and
//! is priced by its model id; `new Agent` recognises it and calls the core `Model` below
//! itself, which knows whether the run streams. The inputs and every answer are
//! translated by `provider::workers_ai`; this file only calls `binding.run`, awaits, and
//! reads the answer or its byte stream.

use super::abort::signal_of;
use super::convert::{config_error, describe_thrown, exact_string, type_name, Options};
use super::error::{from_js, to_js_error, to_plain_js};
use super::stream_reader::Reader;
use crate::error::{Error, Result};
use crate::model::{CallContext, Model, ModelRequest, RawModelResponse};
use crate::provider::workers_ai::{self, Settings, StreamReader};
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Promise, Reflect, Uint8Array, WeakMap};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/host.js")]
extern "C" {
    #[wasm_bindgen(js_name = chunkBytes, catch)]
    fn chunk_bytes(result: &JsValue) -> std::result::Result<JsValue, JsValue>;
}

#[derive(Clone)]
pub struct WorkersAiModel {
    inner: Rc<Inner>,
}

struct Inner {
    binding: JsValue,
    settings: Settings,
}

impl WorkersAiModel {
    /// The model id, the name the price table knows it by.
    pub fn model_id(&self) -> String {
        self.inner.settings.model.clone()
    }
}

thread_local! {
    /// The functions `workersAI()` returned, each with the number of its model in
    /// `MODELS`: how `new Agent` finds the model behind one.
    static FUNCTIONS: WeakMap = WeakMap::new();
    /// Held weakly: a model lives as long as its function's closure. A list, not a
    /// HashMap, whose creation would want a random seed: `workersAI()` may run at a
    /// Worker's global scope, where randomness is refused.
    static MODELS: RefCell<Vec<(u64, Weak<Inner>)>> = const { RefCell::new(Vec::new()) };
    static NEXT: Cell<u64> = const { Cell::new(0) };
}

/// `workersAI(binding, model, options?)`
#[wasm_bindgen(js_name = workersAI)]
pub fn workers_ai(
    binding: JsValue,
    model: JsValue,
    options: JsValue,
) -> std::result::Result<Function, JsValue> {
    build(binding, &model, &options).map_err(|e| to_js_error(&e))
}

fn build(binding: JsValue, model: &JsValue, options: &JsValue) -> Result<Function> {
    let model = match exact_string(model) {
        Some(Some(s)) => s,
        Some(None) => {
            return Err(config_error(
                "model".into(),
                "contains a lone UTF-16 surrogate".into(),
            ))
        }
        None => {
            return Err(config_error(
                "model".into(),
                format!(
                    "must be a Workers AI model id string, got {}",
                    type_name(model)
                ),
            ))
        }
    };
    check_binding(&binding)?;
    let opts = Options::new(options, "options", &["inputs", "gateway"], config_error)?;
    let data = |key: &str| -> Result<Option<Value>> {
        opts.get(key)
            .map(|v| super::error::config_from_js::<Value>(&v, &opts.field(key), &[]))
            .transpose()
    };
    let settings = Settings::new(model, data("inputs")?, data("gateway")?)?;
    let model = WorkersAiModel {
        inner: Rc::new(Inner { binding, settings }),
    };
    Ok(model_function(model))
}

/// The binding must be an object with a `run` method. Checked here so a missing `env.AI`
/// (no `[ai]` binding configured) is refused at once; `run` is read again at each call.
fn check_binding(binding: &JsValue) -> Result<()> {
    let refuse = |why: String| Err(config_error("binding".into(), why));
    if !(binding.is_object() || binding.is_function()) {
        return refuse(format!(
            "must be the Workers AI binding (env.AI), got {}",
            type_name(binding)
        ));
    }
    match Reflect::get(binding, &"run".into()) {
        Err(e) => refuse(format!("reading `run` threw: {}", describe_thrown(&e))),
        Ok(f) if f.is_function() => Ok(()),
        Ok(other) => refuse(format!(
            "must be the Workers AI binding (env.AI): its `run` is {}, not a function",
            type_name(&other)
        )),
    }
}

/// The model behind a function `workersAI()` returned; `None` for any other function.
pub fn lookup(f: &Function) -> Option<WorkersAiModel> {
    let number = FUNCTIONS.with(|m| m.get(f)).as_f64()? as u64;
    let inner = MODELS.with(|m| {
        let models = m.borrow();
        let (_, model) = models.iter().find(|(n, _)| *n == number)?;
        model.upgrade()
    })?;
    Some(WorkersAiModel { inner })
}

/// The model as a JS model function `(request) => Promise<response>`, registered as a
/// built-in client with its model id.
fn model_function(model: WorkersAiModel) -> Function {
    let id = JsValue::from_str(&model.inner.settings.model);
    let number = NEXT.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    MODELS.with(|m| {
        let mut m = m.borrow_mut();
        m.retain(|(_, w)| w.strong_count() > 0);
        m.push((number, Rc::downgrade(&model.inner)));
    });
    let f = Closure::<dyn Fn(JsValue) -> Promise>::new(move |request: JsValue| {
        let model = model.clone();
        let ctx = super::provider::call_context(&request);
        match super::provider::model_request(&request) {
            Ok(req) => wasm_bindgen_futures::future_to_promise(async move {
                model
                    .call(&req, &ctx)
                    .await
                    .map(|r| to_plain_js(&r))
                    .map_err(|e| to_js_error(&e))
            }),
            Err(e) => Promise::reject(&to_js_error(&Error::InvalidInput {
                reason: format!("a model request is {{ messages, maxOutputTokens, ... }}: {e}"),
            })),
        }
    });
    let f: Function = f.into_js_value().unchecked_into();
    FUNCTIONS.with(|m| m.set(&f, &JsValue::from_f64(number as f64)));
    super::provider::registered(f, &id)
}

fn malformed(reason: String) -> Error {
    Error::ModelMalformed { reason }
}

/// What `run`, or reading its stream, threw or rejected with. An `Error`'s `message` is
/// not an own enumerable property, so it is read here rather than converted.
fn thrown(e: &JsValue) -> Error {
    let name = Reflect::get(e, &"name".into())
        .ok()
        .and_then(|n| n.as_string());
    let message = describe_thrown(e);
    workers_ai::thrown(&json!({
        "name": name,
        "message": (message != "a non-Error value").then_some(message),
    }))
}

fn read(object: &JsValue, key: &str) -> Result<JsValue> {
    Reflect::get(object, &JsValue::from_str(key))
        .map_err(|e| malformed(format!("reading `{key}` threw: {}", describe_thrown(&e))))
}

impl WorkersAiModel {
    async fn call(&self, request: &ModelRequest, ctx: &CallContext) -> Result<RawModelResponse> {
        let Inner { binding, settings } = self.inner.as_ref();
        let stream = workers_ai::wants_stream(request, ctx.streaming);
        let inputs = to_plain_js(&workers_ai::inputs(settings, request, stream)?);
        let options = to_plain_js(&workers_ai::run_options(settings));
        // The binding passes `signal` to its own fetch, so an abort also ends the inference
        // request; where a binding ignores it, the run still stops waiting (the agent races
        // the call against the abort) and an abandoned stream is cancelled.
        let signal = signal_of(ctx.cancellation.as_deref());
        if !signal.is_undefined() {
            let _ = Reflect::set(&options, &"signal".into(), &signal);
        }
        let run = Reflect::get(binding, &"run".into()).map_err(|e| Error::Model {
            message: format!("reading env.AI.run threw: {}", describe_thrown(&e)),
        })?;
        let run: Function = run.dyn_into().map_err(|other| Error::Model {
            message: format!("env.AI.run is {}, not a function", type_name(&other)),
        })?;
        let returned = run
            .call3(
                binding,
                &JsValue::from_str(&settings.model),
                &inputs,
                &options,
            )
            .map_err(|e| thrown(&e))?;
        let value = super::callbacks::settle(&returned)
            .await
            .map_err(|e| thrown(&e))?;
        // A model may answer with JSON whether or not a stream was asked for (some do not
        // stream), so the answer's kind decides how it is read.
        let get_reader = if value.is_object() {
            read(&value, "getReader")?
        } else {
            JsValue::UNDEFINED
        };
        match get_reader.dyn_into::<Function>() {
            Ok(get_reader) => read_stream(&value, &get_reader, ctx).await,
            Err(_) => {
                let json: Value =
                    from_js(&value).map_err(|e| malformed(format!("env.AI.run's answer: {e}")))?;
                workers_ai::from_output(&json)
            }
        }
    }
}

async fn read_stream(
    stream: &JsValue,
    get_reader: &Function,
    ctx: &CallContext,
) -> Result<RawModelResponse> {
    let mut reader = Reader::new(get_reader.call0(stream).map_err(|e| thrown(&e))?);
    let read_fn = read(&reader.reader, "read")?
        .dyn_into::<Function>()
        .map_err(|_| malformed("the answer's stream reader has no read()".into()))?;
    let mut answer = StreamReader::new();
    loop {
        let next = read_fn.call0(&reader.reader).map_err(|e| thrown(&e))?;
        // A stream that errors part-way rejects here with its error.
        let result = super::callbacks::settle(&next)
            .await
            .map_err(|e| thrown(&e))?;
        let chunk = chunk_bytes(&result).map_err(|e| {
            let reason = Reflect::get(&e, &"reason".into())
                .ok()
                .and_then(|r| r.as_string())
                .unwrap_or_else(|| describe_thrown(&e));
            malformed(format!("the answer's stream: {reason}"))
        })?;
        if chunk.is_null() {
            reader.done = true;
            return answer.finish();
        }
        let bytes = chunk.unchecked_into::<Uint8Array>().to_vec();
        for delta in answer.push(&bytes)? {
            if let Some(sink) = &ctx.on_text {
                sink(&delta);
            }
        }
    }
}

impl Model for WorkersAiModel {
    fn generate(
        &self,
        request: ModelRequest,
        ctx: CallContext,
    ) -> LocalBoxFuture<'static, Result<RawModelResponse>> {
        let model = self.clone();
        Box::pin(async move { model.call(&request, &ctx).await })
    }
}
