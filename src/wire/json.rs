//! Small accessors that turn "absent", "null" and "wrong type" into the three answers
//! the provider parsers need, so each parser reads as a description of the shape.

use super::WireError;
use serde_json::{Map, Value};

pub(crate) fn parse(text: &str, what: &str) -> Result<Value, WireError> {
    serde_json::from_str(text).map_err(|e| WireError::malformed(format!("{what} is not JSON: {e}")))
}

pub(crate) fn object<'a>(
    value: &'a Value,
    what: &str,
) -> Result<&'a Map<String, Value>, WireError> {
    value
        .as_object()
        .ok_or_else(|| WireError::malformed(format!("{what} is not an object")))
}

/// A field that may be absent or null; present with another type is malformed.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub(crate) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a str>, WireError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(WireError::malformed(format!(
            "`{what}.{key}` is not a string"
        ))),
    }
}

pub(crate) fn opt_array<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<&'a [Value], WireError> {
    match field(obj, key) {
        None => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(WireError::malformed(format!(
            "`{what}.{key}` is not an array"
        ))),
    }
}

pub(crate) fn opt_object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<&'a Map<String, Value>>, WireError> {
    match field(obj, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(WireError::malformed(format!(
            "`{what}.{key}` is not an object"
        ))),
    }
}

/// A block or tool-call index; anything but a non-negative integer is malformed.
pub(crate) fn opt_index(
    obj: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<usize>, WireError> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| WireError::malformed(format!("`{what}.{key}` is not an index"))),
    }
}

/// Token figures are advisory: a bogus one (negative, fractional, a string) is treated
/// as unreported rather than failing an otherwise good answer.
pub(crate) fn tokens(obj: &Map<String, Value>, key: &str) -> Option<u64> {
    obj.get(key).and_then(Value::as_u64)
}

/// The `{ "type", "message" }` error object both providers use, or a bare string, which
/// some OpenAI-compatible servers send instead.
pub(crate) fn provider_error(error: &Value) -> WireError {
    let (kind, message) = match error {
        Value::Object(o) => {
            let text = |k: &str| o.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
            (
                text("type").or_else(|| text("code")).unwrap_or("error"),
                text("message").unwrap_or("(no message)"),
            )
        }
        Value::String(s) => ("error", s.as_str()),
        _ => ("error", "(no message)"),
    };
    WireError::Provider {
        kind: kind.to_owned(),
        message: message.to_owned(),
    }
}

/// Just the human-readable message of an error object, when it has one.
pub(crate) fn error_message(error: &Value) -> Option<String> {
    match error {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// `error.message` of an HTTP error body, for the error shown to the user.
pub fn body_error_message(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    error_message(value.get("error")?)
}

/// The error object of an HTTP error body with its kind (`type`, else `code`): the HTTP
/// layer needs it to tell an exhausted quota (429 `insufficient_quota`, retrying is
/// pointless) or an overload from a rate limit.
pub fn body_provider_error(body: &str) -> Option<WireError> {
    let value: Value = serde_json::from_str(body).ok()?;
    let error = value.get("error").filter(|e| !e.is_null())?;
    Some(provider_error(error))
}
