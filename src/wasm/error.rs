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
pub(crate) fn to_plain_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    let ser = serde_wasm_bindgen::Serializer::json_compatible();
    value.serialize(&ser).unwrap_or(JsValue::NULL)
}

/// The `TenantryError` class, re-exported by the package entry points so that
/// `err instanceof TenantryError` holds for errors thrown by any method.
#[wasm_bindgen(js_name = __tenantryErrorClass)]
pub fn tenantry_error_class() -> JsValue {
    error_class()
}
