//! Reading JS arguments into core types with errors that name the bad field.

use crate::error::{Error, Result};
use crate::ids::{OrgId, SessionId, UserKey};
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen(module = "/src/js/host.js")]
extern "C" {
    #[wasm_bindgen(catch, js_name = wellFormed)]
    fn well_formed(s: &JsValue) -> std::result::Result<bool, JsValue>;
    #[wasm_bindgen(catch, js_name = readOptions)]
    fn read_options(v: &JsValue, path: &str) -> std::result::Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, js_name = strictJson)]
    fn strict_json(
        v: &JsValue,
        path: &str,
        config: bool,
        skip: &JsValue,
        limit: Option<f64>,
    ) -> std::result::Result<String, JsValue>;
    #[wasm_bindgen(catch, js_name = readArray)]
    fn read_array_js(v: &JsValue, path: &str) -> std::result::Result<js_sys::Array, JsValue>;
    #[wasm_bindgen(catch, js_name = headerEntries)]
    fn header_entries_js(h: &JsValue) -> std::result::Result<js_sys::Array, JsValue>;
    #[wasm_bindgen(js_name = isBytes)]
    pub fn is_bytes(v: &JsValue) -> bool;
    #[wasm_bindgen(js_name = isArray)]
    pub fn is_array(v: &JsValue) -> bool;
    #[wasm_bindgen(js_name = isAbortSignal)]
    pub fn is_abort_signal(v: &JsValue) -> bool;
    #[wasm_bindgen(js_name = describeThrown)]
    pub fn describe_thrown(e: &JsValue) -> String;
}

/// A JS string converted exactly, or `None` when it holds a lone surrogate (which UTF-8
/// cannot represent: `as_string` would turn it into U+FFFD and merge it with that spelling).
pub fn exact_string(v: &JsValue) -> Option<Option<String>> {
    let s = v.as_string()?;
    Some(matches!(well_formed(v), Ok(true)).then_some(s))
}

pub fn user_key(v: &JsValue) -> Result<UserKey> {
    id(v, UserKey::parse, "a string, null or undefined", |reason| {
        Error::InvalidUserId { reason }
    })
}

/// `{ orgId }`, the context object host callbacks get beside a user id (`orgId: null` for
/// the default org).
pub fn org_context(org: Option<&str>) -> JsValue {
    let ctx = Object::new();
    let org = org.map_or(JsValue::NULL, JsValue::from_str);
    // A data property on a fresh plain object: cannot fail.
    let _ = Reflect::set(&ctx, &"orgId".into(), &org);
    ctx.into()
}

/// The `orgId` of a call's options: absent (`undefined`, `null`: the default org) or an
/// exact string, then the core's rules.
pub fn org_id(v: &JsValue) -> Result<Option<OrgId>> {
    id(v, OrgId::parse, "a string, null or undefined", |reason| {
        Error::InvalidOrgId { reason }
    })
}

pub fn session_id(v: &JsValue) -> Result<SessionId> {
    id(v, SessionId::parse, "a string or undefined", |reason| {
        Error::InvalidSessionId { reason }
    })
}

/// An id argument: absent (`undefined`, `null`) or an exact string, then the core's rules.
fn id<T>(
    v: &JsValue,
    parse: impl FnOnce(Option<&str>) -> Result<T>,
    expected: &str,
    invalid: impl FnOnce(String) -> Error,
) -> Result<T> {
    if v.is_undefined() || v.is_null() {
        return parse(None);
    }
    match exact_string(v) {
        Some(Some(s)) => parse(Some(&s)),
        Some(None) => Err(invalid(
            "contains a lone UTF-16 surrogate, which has no exact UTF-8 form".into(),
        )),
        None => Err(invalid(format!("must be {expected}, got {}", type_name(v)))),
    }
}

/// A plain copy of a host array (each element read once, on the JS side).
pub fn read_array(v: &JsValue, path: &str) -> std::result::Result<js_sys::Array, Unreadable> {
    read_array_js(v, path).map_err(|e| unreadable(&e, path))
}

/// A headers object as a flat `[name, value, ...]` array of strings.
pub fn header_entries(h: &JsValue) -> std::result::Result<js_sys::Array, Unreadable> {
    header_entries_js(h).map_err(|e| unreadable(&e, "headers"))
}

/// Where and why a host value could not be read exactly (see `strictJson` in host.js).
pub struct Unreadable {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// A plain copy of a host object's own enumerable properties, each read once (for maps
/// keyed by ids, whose keys no `Options` list can name).
pub fn read_map(v: &JsValue, path: &str) -> std::result::Result<Object, Unreadable> {
    read_options(v, path)
        .map(|copy| copy.unchecked_into())
        .map_err(|e| unreadable(&e, path))
}

fn unreadable(e: &JsValue, path: &str) -> Unreadable {
    let field = |k: &str| Reflect::get(e, &JsValue::from_str(k)).ok();
    match (
        field("tenantryPath").and_then(|v| v.as_string()),
        field("reason").and_then(|v| v.as_string()),
    ) {
        (Some(path), Some(reason)) => Unreadable { path, reason },
        _ => Unreadable {
            path: path.to_owned(),
            reason: format!("could not be read: {}", describe_thrown(e)),
        },
    }
}

/// A host value as exact JSON text (see `strictJson` in host.js). `config`: `Infinity`
/// travels as the string "Infinity" and `toJSON` is refused; `skip`: top-level keys left out.
pub fn exact_json(
    v: &JsValue,
    path: &str,
    config: bool,
    skip: &[&str],
) -> std::result::Result<String, Unreadable> {
    let skip = if skip.is_empty() {
        JsValue::UNDEFINED
    } else {
        skip.iter()
            .map(|s| JsValue::from_str(s))
            .collect::<js_sys::Array>()
            .into()
    };
    strict_json(v, path, config, &skip, None).map_err(|e| unreadable(&e, path))
}

/// `exact_json` of request data (`toJSON` honoured, non-finite numbers refused) that gives
/// up past `limit` characters of JSON: the walk stops there, so a huge array or a Proxy
/// claiming millions of elements costs no more than a body at the limit.
pub fn exact_json_within(
    v: &JsValue,
    path: &str,
    limit: usize,
) -> std::result::Result<String, Unreadable> {
    strict_json(v, path, false, &JsValue::UNDEFINED, Some(limit as f64))
        .map_err(|e| unreadable(&e, path))
}

/// `typeof`-style name for error messages.
pub fn type_name(v: &JsValue) -> String {
    if v.is_null() {
        "null".into()
    } else if is_array(v) {
        "array".into()
    } else {
        v.js_typeof()
            .as_string()
            .unwrap_or_else(|| "unknown".into())
    }
}

/// A plain options object: `undefined`/`null` means empty; keys outside `known` are refused
/// so typos surface instead of silently doing nothing.
pub struct Options {
    obj: Option<Object>,
    path: String,
    /// The error kind of this object's fields (`invalid_config` for config,
    /// `invalid_input` for a call's options).
    err: fn(String, String) -> Error,
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
                err,
            });
        }
        if !v.is_object() || is_array(v) || v.is_function() {
            return Err(err(
                path.to_owned(),
                format!("must be an object, got {}", type_name(v)),
            ));
        }
        // One read of each key, on the JS side: a throwing getter or trap is an error here,
        // and later reads of the copy run no host code.
        let copy = read_options(v, path).map_err(|e| {
            let u = unreadable(&e, path);
            err(u.path, u.reason)
        })?;
        let obj: Object = copy.unchecked_into();
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
            err,
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
            Some(v) => match exact_string(&v) {
                Some(Some(s)) => Ok(Some(s)),
                Some(None) => Err((self.err)(
                    self.field(key),
                    "contains a lone UTF-16 surrogate".into(),
                )),
                None => Err((self.err)(
                    self.field(key),
                    format!("must be a string, got {}", type_name(&v)),
                )),
            },
        }
    }

    /// A count: the JS number as the field's unsigned integer type (`whole`).
    pub fn whole<T: TryFrom<u64>>(&self, key: &str) -> Result<Option<T>> {
        self.number(key)?
            .map(|v| whole(v).map_err(|why| (self.err)(self.field(key), why)))
            .transpose()
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| {
                (self.err)(
                    self.field(key),
                    format!("must be a boolean, got {}", type_name(&v)),
                )
            }),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| {
                (self.err)(
                    self.field(key),
                    format!("must be a number, got {}", type_name(&v)),
                )
            }),
        }
    }
}

/// A JS number as an unsigned integer of type `T`: NaN, infinities, fractions, negatives
/// and numbers past `T` have no such form. Which values a field accepts is the core's
/// check, after this.
pub fn whole<T: TryFrom<u64>>(v: f64) -> std::result::Result<T, String> {
    if !v.is_finite() || v.fract() != 0.0 || v < 0.0 {
        return Err(format!("must be a whole number of 0 or more, got {v}"));
    }
    // `u64::MAX as f64` rounds up to 2^64: every f64 below it converts without saturating.
    (v < u64::MAX as f64)
        .then_some(v as u64)
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("is too large, got {v}"))
}

/// Overwrites a core default with the value the host gave, if it gave one.
pub fn set<T>(slot: &mut T, given: Option<T>) {
    if let Some(v) = given {
        *slot = v;
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
