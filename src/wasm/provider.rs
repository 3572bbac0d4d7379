//! `openai({...})` and `anthropic({...})`: the Rust provider clients as model functions, so
//! they plug into `new Agent({ model })` exactly like a user's own function, and can be
//! called directly too. Errors reject with `TenantryError` (`model_http`, ...).

use super::abort::{AbortSignal, JsAbort};
use super::convert::{config_error, set, type_name, Options};
use super::error::{to_js_error, to_plain_js};
use super::js_fetch::{global_fetch, FetchHost};
use crate::cancel::Cancellation;
use crate::error::{Error, Result};
use crate::model::{CallContext, ModelRequest, TextSink};
use crate::provider::{EmbeddingClient, Provider, ProviderConfig, ProviderModel};
use js_sys::{Function, Promise, Reflect, WeakMap};
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

/// `openaiEmbeddings({ model, apiKey?, baseUrl?, headers?, fetch?, maxRetries?, timeoutMs? })`:
/// an embedder function for `memory.embedder`, `(texts, { signal? }) =>
/// Promise<{ embeddings, usage: { tokens } }>`.
#[wasm_bindgen(js_name = openaiEmbeddings)]
pub fn openai_embeddings(options: JsValue) -> std::result::Result<Function, JsValue> {
    embeddings_client(&options).map_err(|e| to_js_error(&e))
}

fn embeddings_client(options: &JsValue) -> Result<Function> {
    let keys = &KEYS[..KEYS.len() - 2];
    let opts = Options::new(options, "", keys, config_error)?;
    let mut config = provider_config(Provider::OpenAi, &opts)?;
    config.stream = false;
    let fetch = fetch_function(opts.get("fetch"))?;
    let client = Rc::new(EmbeddingClient::new(config, Rc::new(FetchHost { fetch }))?);
    let id = JsValue::from_str(client.model_id());
    let f = Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(
        move |texts: JsValue, context: JsValue| {
            let client = client.clone();
            let cancel = Reflect::get(&context, &"signal".into())
                .ok()
                .filter(super::convert::is_abort_signal)
                .map(|s| {
                    Rc::new(JsAbort {
                        signal: s.unchecked_into(),
                    }) as Rc<dyn Cancellation>
                });
            match super::error::from_js::<Vec<String>>(&texts) {
                Ok(texts) => wasm_bindgen_futures::future_to_promise(async move {
                    client
                        .embed_texts(&texts, cancel)
                        .await
                        .map(|r| {
                            to_plain_js(&serde_json::json!({
                                "embeddings": r.vectors,
                                "usage": { "tokens": r.tokens },
                            }))
                        })
                        .map_err(|e| to_js_error(&e))
                }),
                Err(e) => Promise::reject(&to_js_error(&Error::InvalidInput {
                    reason: format!("texts must be an array of strings: {e}"),
                })),
            }
        },
    );
    Ok(registered(f.into_js_value().unchecked_into(), &id))
}

fn client(provider: Provider, options: &JsValue) -> Result<Function> {
    let opts = Options::new(options, "", KEYS, config_error)?;
    let config = provider_config(provider, &opts)?;
    let fetch = fetch_function(opts.get("fetch"))?;
    let model = ProviderModel::new(config, Rc::new(FetchHost { fetch }))?;
    Ok(model_function(Rc::new(model)))
}

/// The options as a core `ProviderConfig`: unset fields keep `ProviderConfig::new`'s
/// defaults, and `ProviderModel::new` checks every bound.
fn provider_config(provider: Provider, opts: &Options) -> Result<ProviderConfig> {
    let mut cfg = ProviderConfig::new(provider, opts.string("model")?.unwrap_or_default());
    cfg.api_key = opts.string("apiKey")?;
    set(&mut cfg.base_url, opts.string("baseUrl")?);
    if let Some(v) = opts.string("version")? {
        if provider == Provider::OpenAi {
            return Err(Error::config("version", "is an anthropic() option"));
        }
        cfg.anthropic_version = v;
    }
    set(&mut cfg.max_retries, opts.whole("maxRetries")?);
    set(&mut cfg.timeout_ms, opts.whole("timeoutMs")?);
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
    Ok(cfg)
}

fn fetch_function(fetch: Option<JsValue>) -> Result<Function> {
    match fetch {
        Some(f) if f.is_function() => Ok(f.unchecked_into()),
        Some(v) => Err(Error::config(
            "fetch",
            format!("must be a fetch-compatible function, got {}", type_name(&v)),
        )),
        None => global_fetch()
            .dyn_into::<Function>()
            .map_err(|_| Error::config("fetch", "this runtime has no global fetch: pass one")),
    }
}

thread_local! {
    /// The functions `openai()`, `anthropic()`, `openaiEmbeddings()` and `workersAI()`
    /// returned, each with its core client's model id: how `new Agent` prices a built-in
    /// client by the model it calls.
    static CLIENTS: WeakMap = WeakMap::new();
}

/// The model id of a built-in client's model function; `None` for any other function.
pub fn model_id(f: &Function) -> Option<String> {
    CLIENTS.with(|c| c.get(f).as_string())
}

/// The core client as a JS model function: a request decoded, the client called, the
/// response or error encoded.
fn model_function(model: Rc<ProviderModel>) -> Function {
    let id = JsValue::from_str(model.model_id());
    let f = Closure::<dyn Fn(JsValue) -> Promise>::new(move |request: JsValue| {
        let model = model.clone();
        let ctx = call_context(&request);
        match model_request(&request) {
            Ok(req) => wasm_bindgen_futures::future_to_promise(async move {
                model
                    .complete(&req, &ctx)
                    .await
                    .map(|r| to_plain_js(&r))
                    .map_err(|e| to_js_error(&e))
            }),
            Err(e) => Promise::reject(&to_js_error(&Error::InvalidInput {
                reason: format!("a model request is {{ messages, maxOutputTokens, ... }}: {e}"),
            })),
        }
    });
    registered(f.into_js_value().unchecked_into(), &id)
}

pub(super) fn registered(f: Function, id: &JsValue) -> Function {
    CLIENTS.with(|c| c.set(&f, id));
    // Also readable by JS code, as `fn.modelId`.
    let _ = Reflect::set(&f, &"modelId".into(), id);
    f
}

pub(super) fn model_request(request: &JsValue) -> std::result::Result<ModelRequest, String> {
    if super::convert::is_array(request) {
        return Err("a model request is an object, not an array".to_owned());
    }
    super::error::from_js_without::<ModelRequest>(request, super::error::REQUEST_CALLBACKS)
}

/// The request's `abortSignal` and `onTextDelta`, as the agent passes them.
pub(super) fn call_context(request: &JsValue) -> CallContext {
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
        streaming: on_text.is_some(),
        on_text,
    }
}
