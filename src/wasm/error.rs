use crate::error::Error;
use serde::Serialize;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/error.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeError)]
    fn make_error(code: &str, message: &str, details: JsValue) -> JsValue;
    #[wasm_bindgen(js_name = errorClass)]
    fn error_class() -> JsValue;
}

/// The single conversion point from core errors to what JS sees.
pub fn to_js_error(e: &Error) -> JsValue {
    make_error(e.code(), &e.to_string(), to_plain_js(&e.details()))
}

/// Rust -> plain JS objects (maps as objects, None as null), as a JSON user expects.
/// Through JSON text: one `JSON.parse` is faster than a JS call per field, and one serde
/// format (serde_json) instead of two keeps the .wasm small.
pub(crate) fn to_plain_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    serde_json::to_string(value)
        .ok()
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .unwrap_or(JsValue::NULL)
}

/// JS -> Rust through `JSON.stringify` (which refuses cycles and BigInt with a TypeError
/// rather than recursing); `undefined` reads as `null`.
pub(crate) fn from_js<T: serde::de::DeserializeOwned>(v: &JsValue) -> Result<T, String> {
    let text = if v.is_undefined() {
        "null".to_owned()
    } else {
        js_sys::JSON::stringify(v)
            .map_err(|e| super::js_model::thrown_message(&e, "not JSON-serialisable"))?
            .as_string()
            .unwrap_or_else(|| "null".to_owned())
    };
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// The `TenantryError` class, re-exported by the package entry points so that
/// `err instanceof TenantryError` holds for errors thrown by any method.
#[wasm_bindgen(js_name = __tenantryErrorClass)]
pub fn tenantry_error_class() -> JsValue {
    error_class()
}
