//! An AI SDK language model object (`LanguageModelV2` / `LanguageModelV3`) as the core
//! `Model`: recognised by its `specificationVersion`, called through `doGenerate`, or
//! `doStream` when the run streams. The request and every answer are translated by
//! `provider::ai_sdk`; this file only moves values across and awaits.

use super::abort::signal_of;
use super::convert::{describe_thrown, exact_string, is_array, read_array, type_name};
use super::error::{from_js, to_plain_js};
use super::stream_reader::Reader;
use crate::error::{Error, Result};
use crate::model::{CallContext, Model, ModelRequest, RawModelResponse};
use crate::provider::ai_sdk;
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Reflect};
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};

#[derive(Clone)]
pub struct AiSdkModel {
    object: JsValue,
    do_generate: Function,
    do_stream: Function,
    /// `modelId`, the name it declares for the price table.
    pub model_id: Option<String>,
}

fn config_error(reason: String) -> Error {
    Error::config("model", reason)
}

/// One read of a property, whose getter or Proxy trap may throw.
fn read(object: &JsValue, key: &str) -> std::result::Result<JsValue, String> {
    Reflect::get(object, &JsValue::from_str(key))
        .map_err(|e| format!("reading `{key}` threw: {}", describe_thrown(&e)))
}

/// `Some` for an object that declares itself an AI SDK language model: one whose
/// `specificationVersion` is set. Its methods are read once, here, so a getter that throws
/// refuses the config instead of failing runs later. `None` for any other object.
pub fn detect(v: &JsValue) -> Result<Option<AiSdkModel>> {
    if !v.is_object() || is_array(v) {
        return Ok(None);
    }
    let version = read(v, "specificationVersion").map_err(config_error)?;
    if version.is_undefined() {
        return Ok(None);
    }
    match version.as_string() {
        Some(s) if ai_sdk::VERSIONS.contains(&s.as_str()) => {}
        _ => {
            return Err(config_error(format!(
                "an AI SDK language model must have specificationVersion {}, got {}",
                ai_sdk::VERSIONS.map(|v| format!("{v:?}")).join(" or "),
                version
                    .as_string()
                    .map_or_else(|| type_name(&version), |s| format!("{s:?}"))
            )))
        }
    }
    let method = |name: &str| -> Result<Function> {
        read(v, name)
            .map_err(config_error)?
            .dyn_into::<Function>()
            .map_err(|other| {
                config_error(format!(
                    "an AI SDK language model's `{name}` must be a function, got {}",
                    type_name(&other)
                ))
            })
    };
    let do_generate = method("doGenerate")?;
    let do_stream = method("doStream")?;
    let id = read(v, "modelId").map_err(config_error)?;
    let model_id = match exact_string(&id) {
        _ if id.is_undefined() => None,
        Some(Some(s)) => Some(s),
        Some(None) => {
            return Err(config_error(
                "`modelId` contains a lone UTF-16 surrogate".into(),
            ))
        }
        None => {
            return Err(config_error(format!(
                "`modelId` must be a string, got {}",
                type_name(&id)
            )))
        }
    };
    Ok(Some(AiSdkModel {
        object: v.clone(),
        do_generate,
        do_stream,
        model_id,
    }))
}

fn malformed(reason: String) -> Error {
    Error::ModelMalformed { reason }
}

/// What a model threw, as the JSON `ai_sdk::thrown` reads. An `Error`'s message is not an
/// own enumerable property, so it is read here rather than converted.
fn thrown_json(e: &JsValue) -> Value {
    let field = |k: &str| Reflect::get(e, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
    let message = describe_thrown(e);
    json!({
        "name": field("name").as_string(),
        "message": (message != "a non-Error value").then_some(message),
        "statusCode": field("statusCode").as_f64(),
    })
}

fn thrown(e: &JsValue) -> Error {
    ai_sdk::thrown(&thrown_json(e))
}

/// A content or stream part as JSON, when its type is one of `read_types`; `None` to skip
/// it. A part without a string type goes on as `{}`, which the reader refuses by name.
fn part(value: &JsValue, read_types: &[&str], what: &str) -> Result<Option<Value>> {
    let field = |k: &str| read(value, k).map_err(|e| malformed(format!("{what}: {e}")));
    let Some(ty) = field("type")?.as_string() else {
        return Ok(Some(json!({})));
    };
    if !read_types.contains(&ty.as_str()) {
        return Ok(None);
    }
    if ty == "error" {
        return Ok(Some(
            json!({ "type": "error", "error": thrown_json(&field("error")?) }),
        ));
    }
    from_js::<Value>(value)
        .map(Some)
        .map_err(|e| malformed(format!("{what}: {e}")))
}

/// `{ content, finishReason, usage }` of a `doGenerate` result, with only the content parts
/// the reader uses converted (a generated image's bytes are not).
fn generate_result(value: &JsValue) -> Result<Value> {
    if !value.is_object() {
        return Err(malformed(format!(
            "doGenerate resolved to {}, not a result object",
            type_name(value)
        )));
    }
    let field =
        |k: &str| read(value, k).map_err(|e| malformed(format!("doGenerate's result: {e}")));
    let content = field("content")?;
    let content = if is_array(&content) {
        let items = read_array(&content, "content").map_err(|u| malformed(u.to_string()))?;
        let mut parts = Vec::new();
        for (i, p) in items.iter().enumerate() {
            let what = format!("content[{i}]");
            if let Some(json) = part(&p, &ai_sdk::CONTENT_PARTS, &what)? {
                parts.push(json);
            }
        }
        Value::Array(parts)
    } else {
        Value::Null
    };
    let data = |k: &str| -> Result<Value> {
        from_js::<Value>(&field(k)?).map_err(|e| malformed(format!("{k}: {e}")))
    };
    Ok(json!({
        "content": content,
        "finishReason": data("finishReason")?,
        "usage": data("usage")?,
    }))
}

fn call(f: &Function, this: &JsValue, options: &JsValue) -> Result<JsValue> {
    f.call1(this, options).map_err(|e| thrown(&e))
}

async fn generate(model: &AiSdkModel, options: JsValue) -> Result<RawModelResponse> {
    let returned = call(&model.do_generate, &model.object, &options)?;
    let value = super::callbacks::settle(&returned)
        .await
        .map_err(|e| thrown(&e))?;
    ai_sdk::from_generate(&generate_result(&value)?)
}

async fn stream(
    model: &AiSdkModel,
    options: JsValue,
    ctx: &CallContext,
) -> Result<RawModelResponse> {
    let returned = call(&model.do_stream, &model.object, &options)?;
    let value = super::callbacks::settle(&returned)
        .await
        .map_err(|e| thrown(&e))?;
    let not_a_stream = |why: String| malformed(format!("doStream's `stream`: {why}"));
    if !value.is_object() {
        return Err(malformed(format!(
            "doStream resolved to {}, not {{ stream }}",
            type_name(&value)
        )));
    }
    let stream = read(&value, "stream").map_err(not_a_stream)?;
    let get_reader = read(&stream, "getReader")
        .map_err(not_a_stream)?
        .dyn_into::<Function>()
        .map_err(|_| not_a_stream("is not a ReadableStream".into()))?;
    let reader = Reader::new(get_reader.call0(&stream).map_err(|e| thrown(&e))?);
    let read_fn = read(&reader.reader, "read")
        .map_err(not_a_stream)?
        .dyn_into::<Function>()
        .map_err(|_| not_a_stream("its reader has no read()".into()))?;
    let mut reader = reader;
    let mut parts = ai_sdk::StreamReader::new();
    loop {
        let next = read_fn.call0(&reader.reader).map_err(|e| thrown(&e))?;
        // A stream that errors mid-way rejects here with its error.
        let result = super::callbacks::settle(&next)
            .await
            .map_err(|e| thrown(&e))?;
        let done = read(&result, "done").map_err(not_a_stream)?;
        if done.as_bool() == Some(true) {
            reader.done = true;
            return Ok(parts.finish());
        }
        let value = read(&result, "value").map_err(not_a_stream)?;
        let Some(json) = part(&value, &ai_sdk::STREAM_PARTS, "a stream part")? else {
            continue;
        };
        if let Some(delta) = parts.push(&json)? {
            if let Some(sink) = &ctx.on_text {
                sink(&delta);
            }
        }
    }
}

impl Model for AiSdkModel {
    fn generate(
        &self,
        request: ModelRequest,
        ctx: CallContext,
    ) -> LocalBoxFuture<'static, Result<RawModelResponse>> {
        let model = self.clone();
        Box::pin(async move {
            let options = to_plain_js(&ai_sdk::call_options(&request));
            links_as_urls(&options);
            let signal = signal_of(ctx.cancellation.as_deref());
            if !signal.is_undefined() {
                let _ = Reflect::set(&options, &"abortSignal".into(), &signal);
            }
            if ctx.streaming {
                stream(&model, options, &ctx).await
            } else {
                generate(&model, options).await
            }
        })
    }
}

/// File parts given by link carry it as a string (see `ai_sdk::call_options`); the AI SDK
/// takes a link as a `URL` object, and any other string as base64.
fn links_as_urls(options: &JsValue) {
    let get =
        |v: &JsValue, k: &str| Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
    let prompt: js_sys::Array = get(options, "prompt").unchecked_into();
    for message in prompt.iter() {
        let content = get(&message, "content");
        if !js_sys::Array::is_array(&content) {
            continue;
        }
        for part in content.unchecked_into::<js_sys::Array>().iter() {
            let data = get(&part, "data").as_string().unwrap_or_default();
            if get(&part, "type").as_string().as_deref() == Some("file")
                && (data.starts_with("https://") || data.starts_with("http://"))
            {
                if let Ok(url) = new_url(&data) {
                    let _ = Reflect::set(&part, &"data".into(), &url);
                }
            }
        }
    }
}

fn new_url(link: &str) -> std::result::Result<JsValue, JsValue> {
    let ctor = Reflect::get(&js_sys::global(), &"URL".into())?;
    let ctor: &js_sys::Function = ctor.unchecked_ref();
    Reflect::construct(ctor, &js_sys::Array::of1(&link.into()))
}
