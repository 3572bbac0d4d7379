//! A host JS function as the core `Model`: `(request) => response | Promise<response>`.

use super::abort::signal_of;
use crate::error::{Error, Result};
use crate::model::{CallContext, Model, ModelRequest, RawModelResponse};
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Reflect};
use wasm_bindgen::JsValue;

pub struct JsModel {
    pub func: Function,
}

impl Model for JsModel {
    fn generate(
        &self,
        request: ModelRequest,
        ctx: CallContext,
    ) -> LocalBoxFuture<'static, Result<RawModelResponse>> {
        let func = self.func.clone();
        let signal = signal_of(ctx.cancellation.as_deref());
        // `onTextDelta` for a host model that streams: the run's sink behind a plain JS
        // function, live for this call only.
        let on_text = ctx.on_text.map(super::callbacks::text_sink);
        Box::pin(async move {
            let text_fn = on_text
                .as_ref()
                .map_or(JsValue::UNDEFINED, |(f, _)| f.clone());
            let req = super::transfer::request_to_js(&request, &signal, &text_fn);
            let returned = func
                .call1(&JsValue::NULL, &req)
                .map_err(|e| model_error(&e))?;
            let value = super::callbacks::settle(&returned)
                .await
                .map_err(|e| model_error(&e))?;
            if value.is_undefined() || value.is_null() || !value.is_object() {
                return Err(Error::ModelMalformed {
                    reason: format!(
                        "expected an object {{ text, usage?, finishReason? }}, got {}",
                        super::convert::type_name(&value)
                    ),
                });
            }
            if let Some(fast) = super::transfer::response_from_js(&value) {
                return Ok(fast);
            }
            super::error::from_js(&value).map_err(|e| Error::ModelMalformed {
                reason: e.to_string(),
            })
        })
    }
}

/// What a model function threw, as a core error. A `TenantryError` from a built-in client
/// (`openai()`, `anthropic()`) keeps its code, so `model_http` reaches the caller as such.
fn model_error(thrown: &JsValue) -> Error {
    let get = |k: &str| Reflect::get(thrown, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
    let details = get("details");
    let detail =
        |k: &str| Reflect::get(&details, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED);
    let message = thrown_message(thrown, "the model function threw a non-Error value");
    match get("code").as_string().as_deref() {
        Some("model_http") if details.is_object() => Error::ModelHttp {
            status: detail("status").as_f64().map(|s| s as u16),
            kind: detail("kind").as_string().unwrap_or_default(),
            message: detail("message").as_string().unwrap_or(message),
            attempts: detail("attempts").as_f64().unwrap_or(1.0) as u32,
        },
        Some("model_malformed") => Error::ModelMalformed {
            reason: detail("reason").as_string().unwrap_or(message),
        },
        Some("aborted") => Error::Aborted,
        // A request the client cannot express (a part its API does not read).
        Some("unsupported") => Error::Unsupported {
            feature: detail("feature").as_string().unwrap_or(message),
        },
        _ => Error::Model { message },
    }
}

/// The message of whatever a host function threw or rejected with.
pub fn thrown_message(thrown: &JsValue, fallback: &str) -> String {
    // Read on the JS side: the thrown value may be a Proxy whose traps throw too.
    let m = super::convert::describe_thrown(thrown);
    if m == "a non-Error value" {
        fallback.to_owned()
    } else {
        m
    }
}
