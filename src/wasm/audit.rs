//! `audit: { key, sink?, ringSize?, includeContent?, resumeFrom? }`, `onEvent`,
//! `agent.auditLog(userId)` and `verifyAudit(entries, key)`.

use super::convert::{config_error, set, type_name, Options};
use super::error::{to_js_error, to_plain_js};
use super::js_clock::JsClock;
use crate::audit::{check_key, key_from_text, verify, Entry};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::observe::{AuditConfig, AuditSink, Kind, Observer, Telemetry, TelemetrySink};
use js_sys::{Function, Uint8Array, JSON};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

use super::js_fetch::call_sink;

/// A key as text (UTF-8, or `hex:`/`base64:`-prefixed) or bytes. Its length is the core's
/// check (`Observer::new`, `audit::check_key`).
fn key_bytes(v: &JsValue, field: &str) -> Result<Vec<u8>> {
    if let Some(s) = super::convert::exact_string(v) {
        // A key with a lone surrogate would become another key's U+FFFD spelling.
        let s = s.ok_or_else(|| Error::config(field, "contains a lone UTF-16 surrogate"))?;
        key_from_text(&s).map_err(|e| Error::config(field, e.to_string()))
    } else if super::convert::is_bytes(v) {
        Ok(Uint8Array::new(v).to_vec())
    } else {
        Err(Error::config(
            field,
            format!("must be a string or a Uint8Array, got {}", type_name(v)),
        ))
    }
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

/// `audit` and `onEvent` as the core `Observer`, which checks the audit settings.
pub fn observer(
    audit: Option<JsValue>,
    on_event: Option<JsValue>,
    clock: JsClock,
) -> Result<Observer> {
    let on_event = callback(on_event, "onEvent", "(event) => void")?;
    let report = sink_error_reporter(on_event.clone(), clock);
    let telemetry = on_event.map(|f| {
        let report = report.clone();
        Rc::new(move |e: &Telemetry| call_sink(&f, &to_plain_js(e), &report)) as TelemetrySink
    });
    let (config, sink) = match audit {
        None => (None, None),
        Some(a) => audit_config(&a, &report)?,
    };
    Observer::new(config, sink, telemetry)
}

/// An optional host callback at `field`.
fn callback(v: Option<JsValue>, field: &str, shape: &str) -> Result<Option<Function>> {
    match v {
        None => Ok(None),
        Some(f) if f.is_function() => Ok(Some(f.unchecked_into())),
        Some(v) => Err(Error::config(
            field,
            format!("must be a function {shape}, got {}", type_name(&v)),
        )),
    }
}

/// What a sink that throws is reported with: an `audit.sink-error` event to `onEvent`, or
/// nothing without one.
fn sink_error_reporter(on_event: Option<Function>, clock: JsClock) -> JsValue {
    let Some(f) = on_event else {
        return Closure::<dyn Fn(JsValue)>::new(|_| {}).into_js_value();
    };
    Closure::<dyn Fn(JsValue)>::new(move |message: JsValue| {
        let e = Telemetry {
            kind: Kind::AuditSinkError.name(),
            user_id: None,
            org_id: None,
            session_id: None,
            run_id: None,
            ts: clock.now_ms(),
            duration_ms: None,
            usage: None,
            data: serde_json::json!({ "message": message.as_string() }),
        };
        let _ = f.call1(&JsValue::NULL, &to_plain_js(&e));
    })
    .into_js_value()
}

/// `audit: { key, sink?, ringSize?, includeContent?, resumeFrom? }` as core settings; unset
/// fields keep `AuditConfig::new`'s defaults, and a missing key is refused by the core.
fn audit_config(
    audit: &JsValue,
    report: &JsValue,
) -> Result<(Option<AuditConfig>, Option<AuditSink>)> {
    let o = Options::new(
        audit,
        "audit",
        &["key", "sink", "ringSize", "includeContent", "resumeFrom"],
        config_error,
    )?;
    let key = o.get("key").map(|k| key_bytes(&k, "audit.key"));
    let mut config = AuditConfig::new(key.transpose()?.unwrap_or_default());
    let sink = callback(o.get("sink"), "audit.sink", "(entry) => void")?.map(|f| {
        let report = report.clone();
        Rc::new(move |e: &Entry| call_sink(&f, &to_plain_js(e), &report)) as AuditSink
    });
    set(&mut config.ring, o.whole("ringSize")?);
    if let Some(b) = o.get("includeContent") {
        config.include_content = b
            .as_bool()
            .ok_or_else(|| Error::config("audit.includeContent", "must be a boolean"))?;
    }
    if let Some(last) = o.get("resumeFrom") {
        let e = entry_from_js(&last).map_err(|why| {
            Error::config(
                "audit.resumeFrom",
                format!("must be the last entry of the persisted log: {why}"),
            )
        })?;
        config.resume = Some((e.seq, e.mac));
    }
    Ok((Some(config), sink))
}

/// `verifyAudit(entries, key)` -> `{ ok, checked, firstBroken: null | { index, seq, reason, message } }`.
/// Entries are objects or the JSON lines of a log as read (so duplicate keys are caught).
#[wasm_bindgen(js_name = verifyAudit)]
pub fn verify_audit(entries: JsValue, key: JsValue) -> std::result::Result<JsValue, JsValue> {
    let key = key_bytes(&key, "key")
        .and_then(|k| Ok(check_key(&k, "key").map(|()| k)?))
        .map_err(|e| to_js_error(&e))?;
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
