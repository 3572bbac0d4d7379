//! `HttpHost` over the host's `fetch` (the global one or one the user injects: a service
//! binding, a proxy, a test double) and `setTimeout`. The same code runs in Node 20+,
//! browsers and workerd, since all three speak WHATWG fetch and streams.

use super::abort::signal_of;
use super::js_clock::JsClock;
use super::js_model::thrown_message;
use crate::cancel::Cancellation;
use crate::clock::Clock;
use crate::http::{Body, HttpHost, HttpRequest, HttpResponse, NetworkError};
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(module = "/src/js/host.js")]
extern "C" {
    fn timer(ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = globalFetch)]
    pub fn global_fetch() -> JsValue;
    #[wasm_bindgen(js_name = linkedController)]
    pub fn linked_controller(signal: &JsValue) -> JsValue;
    /// One extern block per JS module: wasm-bindgen writes one import key per block.
    #[wasm_bindgen(js_name = callSink)]
    pub fn call_sink(sink: &Function, value: &JsValue, on_error: &JsValue);
    #[wasm_bindgen(js_name = cancelReader)]
    fn cancel_reader(reader: &JsValue);
    #[wasm_bindgen(js_name = chunkBytes, catch)]
    fn chunk_bytes(result: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_name = bodyReader, catch)]
    fn body_reader(response: &JsValue) -> Result<JsValue, JsValue>;
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn call_method(obj: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(obj, name).dyn_into()?;
    match args {
        [] => f.call0(obj),
        [a] => f.call1(obj, a),
        _ => f.call2(obj, &args[0], &args[1]),
    }
}

fn network(e: &JsValue) -> NetworkError {
    NetworkError {
        message: thrown_message(e, "fetch failed"),
    }
}

/// A `setTimeout` sleep that clears its timer if dropped first (a deadline that lost its
/// race), so no stray timer keeps Node alive.
pub fn sleep_ms(ms: f64) -> LocalBoxFuture<'static, ()> {
    let t = timer(ms);
    let promise: Promise = get(&t, "promise").unchecked_into();
    let guard = Timer {
        cancel: get(&t, "cancel"),
    };
    Box::pin(async move {
        let _guard = guard;
        let _ = JsFuture::from(promise).await;
    })
}

pub struct FetchHost {
    pub fetch: Function,
}

struct Timer {
    cancel: JsValue,
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Ok(f) = self.cancel.clone().dyn_into::<Function>() {
            let _ = f.call0(&JsValue::NULL);
        }
    }
}

impl HttpHost for FetchHost {
    fn send(
        &self,
        request: HttpRequest,
        cancel: Option<Rc<dyn Cancellation>>,
    ) -> LocalBoxFuture<'static, Result<HttpResponse, NetworkError>> {
        let init = Object::new();
        let headers = Object::new();
        for (k, v) in &request.headers {
            let _ = Reflect::set(&headers, &JsValue::from_str(k), &JsValue::from_str(v));
        }
        let _ = Reflect::set(&init, &"method".into(), &"POST".into());
        let _ = Reflect::set(&init, &"headers".into(), &headers);
        let _ = Reflect::set(&init, &"body".into(), &JsValue::from_str(&request.body));
        let signal = signal_of(cancel.as_deref());
        if !signal.is_undefined() {
            let _ = Reflect::set(&init, &"signal".into(), &signal);
        }
        let called = self
            .fetch
            .call2(&JsValue::UNDEFINED, &JsValue::from_str(&request.url), &init);
        Box::pin(async move {
            let promise = called.map_err(|e| network(&e))?;
            let response = super::callbacks::settle(&promise)
                .await
                .map_err(|e| network(&e))?;
            let status = get(&response, "status")
                .as_f64()
                .ok_or_else(|| NetworkError {
                    message: "fetch resolved to something that is not a Response".into(),
                })? as u16;
            let mut header_values = Vec::new();
            let hs = get(&response, "headers");
            for name in ["retry-after", "content-type", crate::mcp::SESSION_HEADER] {
                if let Ok(v) = call_method(&hs, "get", &[JsValue::from_str(name)]) {
                    if let Some(v) = v.as_string() {
                        header_values.push((name.to_owned(), v));
                    }
                }
            }
            let reader = body_reader(&response).map_err(|e| network(&e))?;
            Ok(HttpResponse {
                status,
                headers: header_values,
                body: Box::new(FetchBody { reader }),
            })
        })
    }

    fn sleep(&self, ms: u64) -> LocalBoxFuture<'static, ()> {
        sleep_ms(ms as f64)
    }

    fn random(&self) -> f64 {
        js_sys::Math::random()
    }
}

impl Clock for FetchHost {
    fn now_ms(&self) -> f64 {
        JsClock::wall().now_ms()
    }
}

struct FetchBody {
    reader: JsValue,
}

impl Body for FetchBody {
    fn chunk(&mut self) -> LocalBoxFuture<'_, Result<Option<Vec<u8>>, NetworkError>> {
        Box::pin(async move {
            if self.reader.is_null() || self.reader.is_undefined() {
                return Ok(None);
            }
            let read = call_method(&self.reader, "read", &[]).map_err(|e| network(&e))?;
            let result = super::callbacks::settle(&read)
                .await
                .map_err(|e| network(&e))?;
            let bytes = chunk_bytes(&result).map_err(|e| NetworkError {
                message: format!(
                    "the response body is not a byte stream: {}",
                    js_sys::Reflect::get(&e, &"reason".into())
                        .ok()
                        .and_then(|r| r.as_string())
                        .unwrap_or_default()
                ),
            })?;
            if bytes.is_null() {
                self.reader = JsValue::NULL;
                return Ok(None);
            }
            Ok(Some(Uint8Array::new(&bytes).to_vec()))
        })
    }
}

impl Drop for FetchBody {
    fn drop(&mut self) {
        // An abandoned body (error, abort, early end) releases its connection.
        if !self.reader.is_null() && !self.reader.is_undefined() {
            cancel_reader(&self.reader);
        }
    }
}
