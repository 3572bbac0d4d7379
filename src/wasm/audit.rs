//! `audit: { key, sink?, ringSize?, includeContent?, resumeFrom? }`, `onEvent`,
//! `agent.auditLog(userId)` and `verifyAudit(entries, key)`.

use super::convert::{config_error, type_name, Options};
use super::error::{to_js_error, to_plain_js};
use crate::audit::{key_from_text, verify, Entry};
use crate::error::{Error, Result};
use crate::observe::{AuditConfig, AuditSink, Observer, Telemetry, TelemetrySink, DEFAULT_RING};
use js_sys::{Function, Uint8Array, JSON};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

use super::js_fetch::call_sink;

/// A key as text (UTF-8, or `hex:`/`base64:`-prefixed) or bytes; at least 16 bytes.
fn key_bytes(v: &JsValue, field: &str) -> Result<Vec<u8>> {
    let bytes = if let Some(s) = super::convert::exact_string(v) {
        // A key with a lone surrogate would become another key's U+FFFD spelling.
        let s = s.ok_or_else(|| Error::config(field, "contains a lone UTF-16 surrogate"))?;
        key_from_text(&s).map_err(|e| Error::config(field, e.to_string()))?
    } else if super::convert::is_bytes(v) {
        Uint8Array::new(v).to_vec()
    } else {
        return Err(Error::config(
            field,
            format!("must be a string or a Uint8Array, got {}", type_name(v)),
        ));
    };
    if bytes.len() < crate::audit::MIN_KEY_BYTES {
        return Err(Error::config(
            field,
            format!("must be at least {} bytes", crate::audit::MIN_KEY_BYTES),
        ));
    }
    Ok(bytes)
}

fn entry_from_js(v: &JsValue) -> std::result::Result<Entry, String> {
    // A line as read from a log goes to the audit module's own reader as it is: that is the
    // only form in which a key named twice can still be seen (and refused).
    if let Some(line) = super::convert::exact_string(v) {
        let line = line.ok_or("the line has a lone UTF-16 surrogate")?;
        return Entry::from_json_line(&line).map_err(|e| e.to_string());
    }
    // An object through JSON text and the same reader: it keeps every double exact, which
    // the MAC depends on.
    let text = JSON::stringify(v).map_err(|_| "not JSON".to_owned())?;
    let text = text.as_string().unwrap_or_default();
    Entry::from_json_line(&text).map_err(|e| e.to_string())
}

pub fn observer(audit: Option<JsValue>, on_event: Option<JsValue>) -> Result<Observer> {
    let telemetry: Option<Function> = match on_event {
        None => None,
        Some(f) if f.is_function() => Some(f.unchecked_into()),
        Some(v) => {
            return Err(Error::config(
                "onEvent",
                format!("must be a function (event) => void, got {}", type_name(&v)),
            ))
        }
    };
    let report = telemetry.clone().map(|f| {
        Closure::<dyn Fn(JsValue)>::new(move |message: JsValue| {
            let e = Telemetry {
                kind: "audit.sink-error",
                user_id: None,
                session_id: None,
                run_id: None,
                ts: js_sys::Date::now(),
                duration_ms: None,
                usage: None,
                data: serde_json::json!({ "message": message.as_string() }),
            };
            let _ = f.call1(&JsValue::NULL, &to_plain_js(&e));
        })
        .into_js_value()
    });
    let report = report.unwrap_or_else(|| Closure::<dyn Fn(JsValue)>::new(|_| {}).into_js_value());
    let telemetry_sink: Option<TelemetrySink> = telemetry.map(|f| {
        let report = report.clone();
        Rc::new(move |e: &Telemetry| call_sink(&f, &to_plain_js(e), &report)) as TelemetrySink
    });
    let Some(audit) = audit else {
        return Observer::new(None, None, telemetry_sink);
    };
    let o = Options::new(
        &audit,
        "audit",
        &["key", "sink", "ringSize", "includeContent", "resumeFrom"],
        config_error,
    )?;
    let key = match o.get("key") {
        Some(k) => key_bytes(&k, "audit.key")?,
        None => {
            return Err(Error::config(
                "audit.key",
                "is required: the audit log has no default key",
            ))
        }
    };
    let sink: Option<AuditSink> = match o.get("sink") {
        None => None,
        Some(f) if f.is_function() => {
            let f: Function = f.unchecked_into();
            let report = report.clone();
            Some(Rc::new(move |e: &Entry| {
                call_sink(&f, &to_plain_js(e), &report)
            }))
        }
        Some(v) => {
            return Err(Error::config(
                "audit.sink",
                format!("must be a function (entry) => void, got {}", type_name(&v)),
            ))
        }
    };
    let ring = match o.number("ringSize")? {
        None => DEFAULT_RING,
        Some(n) => crate::config::integer_field("audit.ringSize", n, 0, 10_000_000)? as usize,
    };
    let include_content = match o.get("includeContent") {
        None => false,
        Some(b) => b
            .as_bool()
            .ok_or_else(|| Error::config("audit.includeContent", "must be a boolean"))?,
    };
    let resume = match o.get("resumeFrom") {
        None => None,
        Some(last) => {
            let e = entry_from_js(&last).map_err(|why| {
                Error::config(
                    "audit.resumeFrom",
                    format!("must be the last entry of the persisted log: {why}"),
                )
            })?;
            Some((e.seq, e.mac))
        }
    };
    Observer::new(
        Some(AuditConfig {
            key,
            ring,
            include_content,
            resume,
        }),
        sink,
        telemetry_sink,
    )
}

/// `verifyAudit(entries, key)` -> `{ ok, checked, firstBroken: null | { index, seq, reason, message } }`.
/// Entries are objects or the JSON lines of a log as read (so duplicate keys are caught).
#[wasm_bindgen(js_name = verifyAudit)]
pub fn verify_audit(entries: JsValue, key: JsValue) -> std::result::Result<JsValue, JsValue> {
    let key = key_bytes(&key, "key").map_err(|e| to_js_error(&e))?;
    if !super::convert::is_array(&entries) {
        return Err(to_js_error(&Error::InvalidInput {
            reason: format!("entries must be an array, got {}", type_name(&entries)),
        }));
    }
    let items = super::convert::read_array(&entries, "entries").map_err(|u| {
        to_js_error(&Error::InvalidInput {
            reason: u.to_string(),
        })
    })?;
    let mut parsed = Vec::new();
    for (i, v) in items.iter().enumerate() {
        match entry_from_js(&v) {
            Ok(e) => parsed.push(e),
            // A malformed entry is itself a broken link at its index.
            Err(why) => {
                let report = verify(&parsed, &key);
                if !report.ok {
                    return Ok(to_plain_js(&report));
                }
                return Ok(to_plain_js(&serde_json::json!({
                    "ok": false,
                    "checked": i,
                    "firstBroken": { "index": i, "seq": null, "reason": "malformed", "message": why },
                })));
            }
        }
    }
    Ok(to_plain_js(&verify(&parsed, &key)))
}
