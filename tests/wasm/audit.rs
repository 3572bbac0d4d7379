//! The audit log and telemetry through the JS surface, in Node and headless Chromium:
//! tampering of each kind caught at the right index, the key never in an entry, entries
//! never attributed to another user, privacy by keyed hashing that `forget` makes
//! unconfirmable, lines naming a key twice refused, and a chain that verifies across a
//! restart when the host persists its entries.

use crate::wasm_support::get;

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
    JsFuture::from(a.forget("bob".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
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
    let alice = Array::from(&a.audit_log("alice".into(), JsValue::UNDEFINED).unwrap());
    assert_eq!(alice.length(), 6);
    assert!(alice
        .iter()
        .all(|e| get(&e, "userId").as_string().as_deref() == Some("alice")));
    // Privacy: contents are hashed, and the key is nowhere.
    let text = JSON::stringify(&entries).unwrap().as_string().unwrap();
    assert!(
        !text.contains("My name is Alice") && text.contains("hmacSha256"),
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

/// The `hmacSha256` of `data.input` of `user`'s last `run.start` in `log.entries`.
fn last_input_hash(log: &JsValue, user: &str) -> String {
    let entries = Array::from(&get(log, "entries"));
    let start = entries
        .iter()
        .rev()
        .find(|e| {
            get(e, "type").as_string().as_deref() == Some("run.start")
                && get(e, "userId").as_string().as_deref() == Some(user)
        })
        .unwrap();
    let input = get(&get(&start, "data"), "input");
    assert_eq!(get(&input, "bytes").as_f64(), Some(14.0));
    get(&input, "hmacSha256").as_string().unwrap()
}

#[wasm_bindgen_test]
async fn contents_are_keyed_hashes_that_forget_makes_unconfirmable() {
    use sha2::{Digest, Sha256};
    let log = new_log();
    let a = agent(&log, "{}").unwrap();
    let pin = "My PIN is 4711";
    run(&a, pin, "alice").await;
    let before = last_input_hash(&log, "alice");
    // Not the plain SHA-256 anyone could recompute from a guess.
    let plain: String = Sha256::digest(pin.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_ne!(before, plain);
    // Stable for the user until forget; another user's key is another.
    run(&a, pin, "alice").await;
    assert_eq!(last_input_hash(&log, "alice"), before);
    run(&a, pin, "bob").await;
    let bob = last_input_hash(&log, "bob");
    assert_ne!(bob, before);

    JsFuture::from(a.forget("alice".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    // Alice's content key is gone: the same PIN now hashes under a new one, and nothing in
    // the agent can reproduce the old hash.
    run(&a, pin, "alice").await;
    assert_ne!(last_input_hash(&log, "alice"), before);
    run(&a, pin, "bob").await;
    assert_eq!(last_input_hash(&log, "bob"), bob);

    // The whole chain, old hashes included, still verifies; no text was logged or emitted.
    let entries = get(&log, "entries");
    let report = verify(&entries, KEY);
    assert_eq!(
        get(&report, "ok").as_bool(),
        Some(true),
        "{:?}",
        JSON::stringify(&report)
    );
    let shown = JSON::stringify(&entries).unwrap().as_string().unwrap()
        + &JSON::stringify(&get(&log, "events"))
            .unwrap()
            .as_string()
            .unwrap();
    // "PIN is" cannot occur in the hex of a hash, a MAC or a run id; "4711" can.
    assert!(!shown.contains("PIN is"), "{shown}");
    // Telemetry names a content by the same keyed hash as the log.
    let events = Array::from(&get(&log, "events"));
    let first_start = events
        .iter()
        .find(|e| get(e, "type").as_string().as_deref() == Some("run.start"))
        .unwrap();
    assert_eq!(
        get(&get(&get(&first_start, "data"), "input"), "hmacSha256").as_string(),
        Some(before)
    );
}

#[wasm_bindgen_test]
async fn a_line_naming_a_key_twice_is_a_malformed_link() {
    use tenantry::{parse_jsonl, verify_jsonl, Entry};
    let log = new_log();
    let a = agent(&log, "{}").unwrap();
    run(&a, "hello", "alice").await;
    run(&a, "hello", "bob").await;
    let lines: Vec<String> = Array::from(&get(&log, "entries"))
        .iter()
        .map(|e| {
            Entry::from_json_line(&JSON::stringify(&e).unwrap().as_string().unwrap())
                .unwrap()
                .to_json_line()
                .unwrap()
        })
        .collect();
    let file = |v: &[String]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
    assert!(verify_jsonl(file(&lines).as_bytes(), KEY.as_bytes()).ok);
    // A forged value before the signed one: `JSON.parse` keeps the signed one (the MAC would
    // verify), a first-wins reader the forgery.
    let mut forged = lines.clone();
    forged[4] = lines[4].replacen(
        "\"userId\":\"bob\"",
        "\"userId\":\"alice\",\"userId\":\"bob\"",
        1,
    );
    assert_ne!(forged[4], lines[4]);
    let parsed = JSON::parse(&forged[4]).unwrap();
    assert_eq!(get(&parsed, "userId").as_string().as_deref(), Some("bob"));
    let r = verify_jsonl(file(&forged).as_bytes(), KEY.as_bytes());
    let b = r.first_broken.unwrap();
    assert_eq!((b.index, b.seq, b.reason.code()), (4, None, "malformed"));
    assert_eq!(b.to_string(), "malformed entry: duplicate key \"userId\"");
    assert!(parse_jsonl(file(&forged).as_bytes()).is_err());
    // What `resumeFrom` and `verifyAudit` read entries with refuses it too.
    let err = Entry::from_json_line(&forged[4]).unwrap_err();
    assert!(err.to_string().contains("duplicate key"), "{err}");
    // `verifyAudit` given the lines as strings sees the duplicate; the intact lines verify.
    let as_js = |v: &[String]| -> JsValue {
        v.iter()
            .map(|l| JsValue::from_str(l))
            .collect::<Array>()
            .into()
    };
    assert_eq!(
        get(&verify(&as_js(&lines), KEY), "ok").as_bool(),
        Some(true)
    );
    let report = verify(&as_js(&forged), KEY);
    assert_eq!(get(&report, "ok").as_bool(), Some(false));
    let broken = get(&report, "firstBroken");
    assert_eq!(get(&broken, "index").as_f64(), Some(4.0));
    assert_eq!(
        get(&broken, "reason").as_string().as_deref(),
        Some("malformed")
    );
}
