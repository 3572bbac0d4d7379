//! The audit log and telemetry through the JS surface, in Node and headless Chromium:
//! tampering of each kind caught at the right index, the key never in an entry, entries
//! never attributed to another user, privacy by hashing, and a chain that verifies across a
//! restart when the host persists its entries.
#![cfg(target_arch = "wasm32")]

mod js_support;
use js_support::get;

use js_sys::{Array, Function, Object, Promise, Reflect, JSON};
use tenantry::wasm::{verify_audit, JsAgent};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

const KEY: &str = "audit-key-for-tests-0123456789";

/// An agent on the demo model that logs every audit entry and event into `log.entries`
/// and `log.events`; `extra` is merged into the `audit` options.
fn agent(log: &JsValue, extra: &str) -> Result<JsAgent, JsValue> {
    let config = Function::new_with_args(
        "log, demoModel, key",
        &format!(
            "return {{ model: demoModel, audit: {{ key, sink: (e) => log.entries.push(e), ...{extra} }}, onEvent: (e) => log.events.push(e) }};"
        ),
    )
    .call3(&JsValue::NULL, log, &tenantry::wasm::demo_model().into(), &KEY.into())
    .unwrap();
    JsAgent::new(config)
}

fn new_log() -> JsValue {
    let o = Object::new();
    Reflect::set(&o, &"entries".into(), &Array::new()).unwrap();
    Reflect::set(&o, &"events".into(), &Array::new()).unwrap();
    o.into()
}

async fn run(a: &JsAgent, text: &str, user: &str) -> JsValue {
    JsFuture::from(a.run(text.into(), user.into(), JsValue::UNDEFINED))
        .await
        .unwrap()
}

fn verify(entries: &JsValue, key: &str) -> JsValue {
    verify_audit(entries.clone(), key.into()).unwrap()
}

fn clone(v: &JsValue) -> JsValue {
    JSON::parse(&JSON::stringify(v).unwrap().as_string().unwrap()).unwrap()
}

#[wasm_bindgen_test]
async fn every_run_and_forget_is_a_chained_entry_of_the_right_user() {
    let log = new_log();
    let a = agent(&log, "{}").unwrap();
    let runs: Array = [
        ("My name is Alice", "alice"),
        ("My name is Bob", "bob"),
        ("What's my name?", "alice"),
    ]
    .iter()
    .map(|(t, u)| JsValue::from(a.run((*t).into(), (*u).into(), JsValue::UNDEFINED)))
    .collect();
    let outs = JsFuture::from(Promise::all(&runs)).await.unwrap();
    JsFuture::from(a.forget("bob".into())).await.unwrap();
    let entries = get(&log, "entries");
    let types: Vec<String> = Array::from(&entries)
        .iter()
        .map(|e| get(&e, "type").as_string().unwrap())
        .collect();
    assert_eq!(types.iter().filter(|t| *t == "run.start").count(), 3);
    assert_eq!(types.iter().filter(|t| *t == "model.call").count(), 3);
    assert_eq!(types.iter().filter(|t| *t == "run.finish").count(), 3);
    assert_eq!(types.last().unwrap(), "forget");
    // Entries of a run carry that run's user, never another's.
    let owner: std::collections::HashMap<String, String> = Array::from(&outs)
        .iter()
        .map(|o| {
            (
                get(&o, "runId").as_string().unwrap(),
                get(&o, "userId").as_string().unwrap(),
            )
        })
        .collect();
    for e in Array::from(&entries).iter() {
        if let Some(run) = get(&e, "runId").as_string() {
            assert_eq!(get(&e, "userId").as_string().unwrap(), owner[&run]);
        }
    }
    // The sink saw what the ring holds; the whole chain verifies; auditLog is one user's.
    assert_eq!(
        JSON::stringify(&entries).unwrap(),
        JSON::stringify(&a.audit_entries()).unwrap()
    );
    let report = verify(&entries, KEY);
    assert_eq!(get(&report, "ok").as_bool(), Some(true));
    assert_eq!(get(&report, "checked").as_f64(), Some(10.0));
    let alice = Array::from(&a.audit_log("alice".into()).unwrap());
    assert_eq!(alice.length(), 6);
    assert!(alice
        .iter()
        .all(|e| get(&e, "userId").as_string().as_deref() == Some("alice")));
    // Privacy: contents are hashed, and the key is nowhere.
    let text = JSON::stringify(&entries).unwrap().as_string().unwrap();
    assert!(
        !text.contains("My name is Alice") && text.contains("sha256"),
        "{text}"
    );
    assert!(!text.contains(KEY));
    // Telemetry: the same events, tagged, with latency and usage on model calls.
    let events = Array::from(&get(&log, "events"));
    let call = events
        .iter()
        .find(|e| get(e, "type").as_string().as_deref() == Some("model.call"))
        .unwrap();
    assert!(get(&call, "durationMs").as_f64().is_some());
    assert!(get(&get(&call, "usage"), "totalTokens").as_f64().unwrap() > 0.0);
    assert!(events
        .iter()
        .all(|e| get(&e, "type").as_string().unwrap().contains('.')
            || get(&e, "type").as_string().unwrap() == "forget"));
}

#[wasm_bindgen_test]
async fn each_kind_of_tampering_is_caught_at_its_index() {
    let log = new_log();
    let a = agent(&log, "{}").unwrap();
    run(&a, "hello", "alice").await;
    run(&a, "hello", "bob").await;
    let entries = get(&log, "entries");
    let broken = |e: &JsValue| {
        let r = verify(e, KEY);
        assert_eq!(
            get(&r, "ok").as_bool(),
            Some(false),
            "{:?}",
            JSON::stringify(&r)
        );
        let b = get(&r, "firstBroken");
        (
            get(&r, "ok").as_bool().unwrap(),
            get(&b, "index").as_f64(),
            get(&b, "reason").as_string(),
        )
    };
    // Modified data.
    let m = clone(&entries);
    let e2 = Array::from(&m).get(2);
    Reflect::set(&get(&e2, "data"), &"forged".into(), &true.into()).unwrap();
    assert_eq!(broken(&m), (false, Some(2.0), Some("modified".into())));
    // Re-attributed to another user.
    let m = clone(&entries);
    Reflect::set(&Array::from(&m).get(1), &"userId".into(), &"bob".into()).unwrap();
    assert_eq!(broken(&m), (false, Some(1.0), Some("modified".into())));
    // Deleted.
    // (Array::from copies: edit the parsed array itself.)
    let m = clone(&entries);
    let arr: &Array = m.unchecked_ref();
    arr.splice(3, 1, &JsValue::UNDEFINED);
    let m: JsValue = arr.filter(&mut |v, _, _| !v.is_undefined()).into();
    assert_eq!(broken(&m), (false, Some(3.0), Some("deleted".into())));
    // Reordered.
    let m = clone(&entries);
    let arr: &Array = m.unchecked_ref();
    let (x, y) = (arr.get(1), arr.get(2));
    arr.set(1, y);
    arr.set(2, x);
    assert_eq!(broken(&m).1, Some(1.0));
    // Wrong key.
    let r = verify(&entries, "another-key-of-enough-length");
    assert_eq!(
        get(&get(&r, "firstBroken"), "reason").as_string().unwrap(),
        "wrong_key"
    );
}

#[wasm_bindgen_test]
async fn a_chain_resumed_after_a_restart_verifies_end_to_end() {
    let log = new_log();
    let a = agent(&log, "{}").unwrap();
    run(&a, "first life", "alice").await;
    let persisted = Array::from(&get(&log, "entries"));
    let last = persisted.get(persisted.length() - 1);
    // A new agent (a restart) continues the chain from the last persisted entry.
    Reflect::set(&log, &"last".into(), &last).unwrap();
    let b = agent(&log, "{ resumeFrom: log.last }").unwrap();
    run(&b, "second life", "alice").await;
    let all = get(&log, "entries");
    let report = verify(&all, KEY);
    assert_eq!(
        get(&report, "ok").as_bool(),
        Some(true),
        "{:?}",
        JSON::stringify(&report)
    );
    assert_eq!(
        get(&report, "checked").as_f64(),
        Some(Array::from(&all).length() as f64)
    );
}

#[wasm_bindgen_test]
async fn content_is_kept_only_when_asked_and_the_key_is_required() {
    let log = new_log();
    let a = agent(&log, "{ includeContent: true }").unwrap();
    run(&a, "My name is Alice", "alice").await;
    let text = JSON::stringify(&get(&log, "entries"))
        .unwrap()
        .as_string()
        .unwrap();
    assert!(text.contains("My name is Alice"));
    for (audit, field) in [
        ("{ sink: () => {} }", "audit.key"),
        ("{ key: 'short' }", "audit.key"),
    ] {
        let config = Function::new_with_args(
            "demoModel",
            &format!("return {{ model: demoModel, audit: {audit} }}"),
        )
        .call1(&JsValue::NULL, &tenantry::wasm::demo_model().into())
        .unwrap();
        let e = JsAgent::new(config).err().unwrap();
        assert_eq!(get(&e, "code").as_string().unwrap(), "invalid_config");
        assert_eq!(
            get(&get(&e, "details"), "field").as_string().unwrap(),
            field
        );
        let shown = JSON::stringify(&e).unwrap().as_string().unwrap()
            + &get(&e, "message").as_string().unwrap();
        assert!(!shown.contains("short'"), "{shown}");
    }
}
