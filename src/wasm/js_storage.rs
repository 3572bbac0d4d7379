//! A host storage adapter object (`{ get, put, delete, list }`, sync or async) as the core
//! `Storage`. Anything the adapter throws, rejects or returns in the wrong shape becomes a
//! `storage` error naming the operation.

use super::convert::type_name;
use crate::error::{Error, Result};
use crate::persist::Storage;
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Reflect};
use wasm_bindgen::{JsCast, JsValue};

pub const METHODS: [&str; 4] = ["get", "put", "delete", "list"];

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/js/storage.js")]
extern "C" {
    #[wasm_bindgen(js_name = memoryStorage)]
    fn memory_storage_js() -> JsValue;
    #[wasm_bindgen(js_name = indexedDbStorage, catch)]
    fn indexed_db_storage_js(name: JsValue) -> std::result::Result<JsValue, JsValue>;
}

/// `memoryStorage()`: an adapter over a JS Map.
#[wasm_bindgen::prelude::wasm_bindgen(js_name = memoryStorage)]
pub fn memory_storage() -> JsValue {
    memory_storage_js()
}

/// `indexedDbStorage(name?)`: an adapter over the browser's IndexedDB.
#[wasm_bindgen::prelude::wasm_bindgen(js_name = indexedDbStorage)]
pub fn indexed_db_storage(name: JsValue) -> std::result::Result<JsValue, JsValue> {
    indexed_db_storage_js(name).map_err(|e| {
        super::error::to_js_error(&Error::Unsupported {
            feature: super::js_model::thrown_message(&e, "indexedDbStorage failed"),
        })
    })
}

pub struct JsStorage {
    adapter: JsValue,
    methods: [Function; 4],
}

impl JsStorage {
    /// Checks the adapter's shape up front, so a typo fails `new Agent`, not the first run.
    pub fn new(adapter: JsValue) -> Result<JsStorage> {
        let method = |name: &str| -> Result<Function> {
            let f = Reflect::get(&adapter, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
            if f.is_function() {
                Ok(f.unchecked_into::<Function>())
            } else {
                Err(Error::config(
                    &format!("memory.storage.{name}"),
                    format!("must be a function, got {}", type_name(&f)),
                ))
            }
        };
        Ok(JsStorage {
            methods: [
                method("get")?,
                method("put")?,
                method("delete")?,
                method("list")?,
            ],
            adapter,
        })
    }

    fn call(&self, op: usize, args: &[JsValue]) -> LocalBoxFuture<'static, Result<JsValue>> {
        let name = METHODS[op];
        let returned = match args {
            [a] => self.methods[op].call1(&self.adapter, a),
            [a, b] => self.methods[op].call2(&self.adapter, a, b),
            _ => self.methods[op].call0(&self.adapter),
        };
        Box::pin(async move {
            let value = returned.map_err(|e| failed(name, &e))?;
            super::callbacks::settle(&value)
                .await
                .map_err(|e| failed(name, &e))
        })
    }
}

fn failed(op: &str, thrown: &JsValue) -> Error {
    Error::storage(
        op,
        super::js_model::thrown_message(thrown, "the adapter threw"),
    )
}

impl Storage for JsStorage {
    fn get(&self, key: &str) -> LocalBoxFuture<'static, Result<Option<String>>> {
        let call = self.call(0, &[JsValue::from_str(key)]);
        Box::pin(async move {
            let v = call.await?;
            if v.is_null() || v.is_undefined() {
                return Ok(None);
            }
            match super::convert::exact_string(&v) {
                Some(Some(s)) => Ok(Some(s)),
                Some(None) => Err(Error::storage(
                    "get",
                    "resolved to a string with a lone UTF-16 surrogate",
                )),
                None => Err(Error::storage(
                    "get",
                    format!("must resolve to a string or null, got {}", type_name(&v)),
                )),
            }
        })
    }

    fn put(&self, key: &str, value: String) -> LocalBoxFuture<'static, Result<()>> {
        let call = self.call(1, &[JsValue::from_str(key), JsValue::from_str(&value)]);
        Box::pin(async move { call.await.map(|_| ()) })
    }

    fn delete(&self, key: &str) -> LocalBoxFuture<'static, Result<()>> {
        let call = self.call(2, &[JsValue::from_str(key)]);
        Box::pin(async move { call.await.map(|_| ()) })
    }

    fn list(&self, prefix: &str) -> LocalBoxFuture<'static, Result<Vec<String>>> {
        let call = self.call(3, &[JsValue::from_str(prefix)]);
        Box::pin(async move {
            let v = call.await?;
            if !super::convert::is_array(&v) {
                return Err(Error::storage(
                    "list",
                    format!("must resolve to an array of keys, got {}", type_name(&v)),
                ));
            }
            super::error::from_js::<Vec<String>>(&v)
                .map_err(|e| Error::storage("list", format!("keys must be strings: {e}")))
        })
    }
}
