//! Reading JS arguments into core types with errors that name the bad field.

use crate::error::{Error, Result};
use crate::ids::{SessionId, UserKey};
use js_sys::{Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

pub fn user_key(v: &JsValue) -> Result<UserKey> {
    if v.is_undefined() || v.is_null() {
        return UserKey::parse(None);
    }
    match v.as_string() {
        Some(s) => UserKey::parse(Some(&s)),
        None => Err(Error::InvalidUserId {
            reason: format!("must be a string, null or undefined, got {}", type_name(v)),
        }),
    }
}

pub fn session_id(v: &JsValue) -> Result<SessionId> {
    if v.is_undefined() || v.is_null() {
        return SessionId::parse(None);
    }
    match v.as_string() {
        Some(s) => SessionId::parse(Some(&s)),
        None => Err(Error::InvalidSessionId {
            reason: format!("must be a string or undefined, got {}", type_name(v)),
        }),
    }
}

/// `typeof`-style name for error messages.
pub fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else if Array_is_array(v) {
        "array".into()
    } else {
        v.js_typeof()
            .as_string()
            .unwrap_or_else(|| "unknown".into())
    }
}

#[allow(non_snake_case)]
fn Array_is_array(v: &JsValue) -> bool {
    js_sys::Array::is_array(v)
}

/// A plain options object: `undefined`/`null` means empty; keys outside `known` are refused
/// so typos surface instead of silently doing nothing.
pub struct Options {
    obj: Option<Object>,
    path: String,
}

impl Options {
    pub fn new(
        v: &JsValue,
        path: &str,
        known: &[&str],
        err: fn(String, String) -> Error,
    ) -> Result<Options> {
        if v.is_undefined() || v.is_null() {
            return Ok(Options {
                obj: None,
                path: path.to_owned(),
            });
        }
        if !v.is_object() || js_sys::Array::is_array(v) || v.is_function() {
            return Err(err(
                path.to_owned(),
                format!("must be an object, got {}", type_name(v)),
            ));
        }
        let obj: Object = v.clone().unchecked_into();
        for key in Object::keys(&obj).iter() {
            let key = key.as_string().unwrap_or_default();
            let value = Reflect::get(&obj, &JsValue::from_str(&key)).unwrap_or(JsValue::UNDEFINED);
            if !value.is_undefined() && !known.contains(&key.as_str()) {
                return Err(err(
                    join(path, &key),
                    format!("unknown option (expected one of: {})", known.join(", ")),
                ));
            }
        }
        Ok(Options {
            obj: Some(obj),
            path: path.to_owned(),
        })
    }

    /// The value of `key`, `None` when absent or undefined.
    pub fn get(&self, key: &str) -> Option<JsValue> {
        let obj = self.obj.as_ref()?;
        let v = Reflect::get(obj, &JsValue::from_str(key)).ok()?;
        (!v.is_undefined()).then_some(v)
    }

    pub fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_string().map(Some).ok_or_else(|| {
                Error::config(
                    &self.field(key),
                    format!("must be a string, got {}", type_name(&v)),
                )
            }),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                Error::config(
                    &self.field(key),
                    format!("must be a number, got {}", type_name(&v)),
                )
            }),
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

pub fn config_error(field: String, reason: String) -> Error {
    Error::InvalidConfig { field, reason }
}

pub fn input_error(field: String, reason: String) -> Error {
    Error::InvalidInput {
        reason: format!("{field}: {reason}"),
    }
}
