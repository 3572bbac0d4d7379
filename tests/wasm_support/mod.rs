//! Helpers shared by the JS-surface suites (wasm only).
#![allow(dead_code)]

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

pub fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &JsValue::from_str(key)).unwrap()
}

pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

pub async fn settle(p: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(p).await
}

/// Every event of a `RunStream`, by driving its async-iterator `next()` to the end.
pub async fn collect(stream: JsValue) -> Vec<JsValue> {
    let next: js_sys::Function = get(&stream, "next").unchecked_into();
    let mut out = Vec::new();
    loop {
        let step = settle(next.call0(&stream).unwrap().unchecked_into())
            .await
            .unwrap();
        if get(&step, "done").as_bool() == Some(true) {
            return out;
        }
        out.push(get(&step, "value"));
    }
}
