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

/// A host data value (a model answer, a tool's arguments, an import document) -> Rust,
/// through exact JSON: what JSON cannot represent is refused with its path, never rewritten
/// (see `strictJson` in js/host.js); `undefined` reads as `null`.
pub(crate) fn from_js<T: serde::de::DeserializeOwned>(v: &JsValue) -> Result<T, String> {
    from_js_without(v, &[])
}

/// The keys of a model request that are functions or signals, not data.
pub(crate) const REQUEST_CALLBACKS: &[&str] = &["onTextDelta", "abortSignal"];

/// `from_js` leaving out some top-level keys (a model request's `onTextDelta` and
/// `abortSignal`, which the caller reads apart).
pub(crate) fn from_js_without<T: serde::de::DeserializeOwned>(
    v: &JsValue,
    skip: &[&str],
) -> Result<T, String> {
    let text = super::convert::exact_json(v, "", false, skip).map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

/// A config value -> Rust, with `Infinity` kept (it means "no cap") and `toJSON` refused;
/// errors name the field.
pub(crate) fn config_from_js<T: serde::de::DeserializeOwned>(
    v: &JsValue,
    field: &str,
    skip: &[&str],
) -> crate::error::Result<T> {
    let text = super::convert::exact_json(v, field, true, skip)
        .map_err(|e| crate::error::Error::config(&e.path, e.reason))?;
    serde_json::from_str(&text).map_err(|e| crate::error::Error::config(field, e.to_string()))
}

/// The `TenantryError` class, re-exported by the package entry points so that
/// `err instanceof TenantryError` holds for errors thrown by any method.
#[wasm_bindgen(js_name = __tenantryErrorClass)]
pub fn tenantry_error_class() -> JsValue {
    error_class()
}
