//! `openai({...})` and `anthropic({...})`: the Rust provider clients as model functions, so
//! they plug into `new Agent({ model })` exactly like a user's own function, and can be
//! called directly too. Errors reject with `TenantryError` (`model_http`, ...).

use super::abort::{AbortSignal, JsAbort};
use super::convert::{config_error, type_name, Options};
use super::error::{to_js_error, to_plain_js};
use super::js_fetch::{global_fetch, FetchHost};
use crate::cancel::Cancellation;
use crate::config::integer_field;
use crate::error::{Error, Result};
use crate::model::{CallContext, ModelRequest, TextSink};
use crate::provider::{Provider, ProviderConfig, ProviderModel};
use js_sys::{Function, Promise, Reflect};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

const KEYS: &[&str] = &[
    "model",
    "apiKey",
    "baseUrl",
    "headers",
    "fetch",
    "maxRetries",
    "timeoutMs",
    "stream",
    "version",
];

/// `openai({ model, apiKey?, baseUrl?, headers?, fetch?, maxRetries?, timeoutMs?, stream? })`
#[wasm_bindgen(js_name = openai)]
pub fn openai(options: JsValue) -> std::result::Result<Function, JsValue> {
    client(Provider::OpenAi, &options).map_err(|e| to_js_error(&e))
}

/// `anthropic({ model, apiKey?, baseUrl?, version?, headers?, fetch?, maxRetries?, timeoutMs?, stream? })`
#[wasm_bindgen(js_name = anthropic)]
pub fn anthropic(options: JsValue) -> std::result::Result<Function, JsValue> {
    client(Provider::Anthropic, &options).map_err(|e| to_js_error(&e))
}

fn client(provider: Provider, options: &JsValue) -> Result<Function> {
    let opts = Options::new(options, "", KEYS, config_error)?;
    let mut cfg = ProviderConfig::new(provider, opts.string("model")?.unwrap_or_default());
    cfg.api_key = opts.string("apiKey")?.filter(|k| !k.is_empty());
    if let Some(url) = opts.string("baseUrl")? {
        cfg.base_url = url;
    }
    if let Some(v) = opts.string("version")? {
        if provider == Provider::OpenAi {
            return Err(Error::config("version", "is an anthropic() option"));
        }
        cfg.anthropic_version = v;
    }
    if let Some(n) = opts.number("maxRetries")? {
        cfg.max_retries = integer_field("maxRetries", n, 0, 10)? as u32;
    }
    if let Some(n) = opts.number("timeoutMs")? {
        cfg.timeout_ms = integer_field("timeoutMs", n, 1, 3_600_000)?;
    }
    if let Some(v) = opts.get("stream") {
        cfg.stream = v.as_bool().ok_or_else(|| {
            Error::config(
                "stream",
                format!("must be a boolean, got {}", type_name(&v)),
            )
        })?;
    }
    if let Some(h) = opts.get("headers") {
        let flat =
            super::convert::header_entries(&h).map_err(|u| Error::config(&u.path, u.reason))?;
        let mut it = flat.iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if let (Some(k), Some(v)) = (k.as_string(), v.as_string()) {
                cfg.headers.push((k, v));
            }
        }
    }
    let fetch = match opts.get("fetch") {
        Some(f) if f.is_function() => f.unchecked_into::<Function>(),
        Some(v) => {
            return Err(Error::config(
                "fetch",
                format!("must be a fetch-compatible function, got {}", type_name(&v)),
            ))
        }
        None => global_fetch()
            .dyn_into::<Function>()
            .map_err(|_| Error::config("fetch", "this runtime has no global fetch: pass one"))?,
    };
    let model_id = cfg.model.clone();
    let model = Rc::new(ProviderModel::new(cfg, Rc::new(FetchHost { fetch }))?);
    let f = Closure::<dyn Fn(JsValue) -> Promise>::new(move |request: JsValue| {
        let model = model.clone();
        let ctx = call_context(&request);
        let shaped = if super::convert::is_array(&request) {
            Err("a model request is an object, not an array".to_owned())
        } else {
            Ok(())
        };
        match shaped.and_then(|()| {
            super::error::from_js_without::<ModelRequest>(&request, super::error::REQUEST_CALLBACKS)
        }) {
            Ok(mut req) => {
                if req.max_output_tokens == 0 {
                    req.max_output_tokens = crate::config::DEFAULT_MAX_OUTPUT_TOKENS;
                }
                wasm_bindgen_futures::future_to_promise(async move {
                    model
                        .complete(&req, &ctx)
                        .await
                        .map(|r| to_plain_js(&r))
                        .map_err(|e| to_js_error(&e))
                })
            }
            Err(e) => Promise::reject(&to_js_error(&Error::InvalidInput {
                reason: format!("a model request is {{ messages, maxOutputTokens, ... }}: {e}"),
            })),
        }
    });
    let f: Function = f.into_js_value().unchecked_into();
    // Read by `new Agent` to price the budget's cost limits.
    let _ = Reflect::set(&f, &"modelId".into(), &JsValue::from_str(&model_id));
    Ok(f)
}

/// The request's `abortSignal` and `onTextDelta`, as the agent passes them.
fn call_context(request: &JsValue) -> CallContext {
    let signal = Reflect::get(request, &"abortSignal".into())
        .ok()
        .and_then(|s| s.dyn_into::<AbortSignal>().ok());
    let on_text = Reflect::get(request, &"onTextDelta".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .map(|f| {
            Rc::new(move |t: &str| {
                let _ = f.call1(&JsValue::NULL, &JsValue::from_str(t));
            }) as TextSink
        });
    CallContext {
        cancellation: signal.map(|signal| Rc::new(JsAbort { signal }) as Rc<dyn Cancellation>),
        on_text,
    }
}
