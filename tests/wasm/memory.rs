//! Memory features through the JS surface: storage adapters written in JS (including
//! IndexedDB in the browser run), an injected clock, working memory, recall,
//! export/import as JSON text, snapshots. Runs under `wasm-pack test --node` and `--chrome`.

use crate::wasm_support::{get, obj, settle};

use js_sys::{Array, Function, Reflect, JSON};
use tenantry::wasm::{demo_model, indexed_db_storage, memory_storage, JsAgent};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

fn code(e: &JsValue) -> String {
    get(e, "code").as_string().unwrap_or_default()
}

/// An agent on the demo model with the given `memory` options.
fn agent(memory: JsValue) -> JsAgent {
    JsAgent::new(obj(&[("model", demo_model().into()), ("memory", memory)])).unwrap()
}

async fn say(a: &JsAgent, user: &str, text: &str) -> String {
    let out = settle(a.run(text.into(), user.into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    get(&out, "text").as_string().unwrap()
}

fn len(v: JsValue) -> u32 {
    v.unchecked_into::<Array>().length()
}

#[wasm_bindgen_test]
async fn a_js_storage_adapter_persists_across_agents() {
    let storage = memory_storage();
    let a = agent(obj(&[("storage", storage.clone())]));
    say(&a, "alice", "My name is Alice").await;
    settle(a.set_block(
        "alice".into(),
        "notes".into(),
        "likes tea".into(),
        JsValue::UNDEFINED,
    ))
    .await
    .unwrap();
    // A second agent over the same store (a restarted process) knows her.
    let b = agent(obj(&[("storage", storage.clone())]));
    let e = b
        .history("alice".into(), JsValue::UNDEFINED, JsValue::UNDEFINED)
        .unwrap_err();
    assert_eq!(code(&e), "not_loaded");
    assert_eq!(
        say(&b, "alice", "What's my name?").await,
        "Your name is Alice."
    );
    assert_eq!(
        len(b.blocks("alice".into(), JsValue::UNDEFINED).unwrap()),
        1
    );
    // Bob, on the same store, knows nothing of her.
    assert!(!say(&b, "bob", "What's my name?").await.contains("Alice"));
    settle(b.forget("alice".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let keys = settle(
        get(&storage, "list")
            .unchecked_into::<Function>()
            .call1(&storage, &"".into())
            .unwrap()
            .unchecked_into(),
    )
    .await
    .unwrap();
    let keys: Vec<String> = Array::from(&keys)
        .iter()
        .filter_map(|k| k.as_string())
        .collect();
    assert!(
        !keys.is_empty() && keys.iter().all(|k| !k.contains("/alice/")),
        "{keys:?}"
    );
}

#[wasm_bindgen_test]
async fn a_failing_adapter_fails_the_run_with_storage_and_keeps_ram() {
    let store = memory_storage();
    let flaky = Function::new_with_args(
        "inner",
        "const s = { ...inner, failing: false };
         s.put = async (k, v) => { if (s.failing) throw new Error('disk full'); return inner.put(k, v); };
         return s;",
    )
    .call1(&JsValue::NULL, &store)
    .unwrap();
    let a = agent(obj(&[("storage", flaky.clone())]));
    say(&a, "alice", "My name is Alice").await;
    Reflect::set(&flaky, &"failing".into(), &JsValue::TRUE).unwrap();
    let e = settle(a.run(
        "My name is Mallory".into(),
        "alice".into(),
        JsValue::UNDEFINED,
    ))
    .await
    .unwrap_err();
    assert_eq!(code(&e), "storage");
    assert!(get(&get(&e, "details"), "message")
        .as_string()
        .unwrap()
        .contains("disk full"));
    assert_eq!(a.size("alice".into(), JsValue::UNDEFINED).unwrap(), 2);
    Reflect::set(&flaky, &"failing".into(), &JsValue::FALSE).unwrap();
    assert_eq!(
        say(&a, "alice", "What's my name?").await,
        "Your name is Alice."
    );
}

#[wasm_bindgen_test]
fn bad_memory_options_are_refused_by_name() {
    let cases = [
        (obj(&[("maxUsers", 0.into())]), "memory.maxUsers"),
        (obj(&[("idleTtlMs", (-5).into())]), "memory.idleTtlMs"),
        (
            obj(&[("recall", obj(&[("topK", 1.5.into())]))]),
            "memory.recall.topK",
        ),
        (
            obj(&[("recall", obj(&[("k", 1.into())]))]),
            "memory.recall.k",
        ),
        (
            obj(&[("storage", obj(&[("get", 1.into())]))]),
            "memory.storage.get",
        ),
        (obj(&[("clock", "now".into())]), "memory.clock"),
        (
            obj(&[("maxContextTokens", 0.into())]),
            "memory.maxContextTokens",
        ),
    ];
    for (memory, field) in cases {
        let e = JsAgent::new(obj(&[("model", demo_model().into()), ("memory", memory)]))
            .err()
            .expect("refused");
        assert_eq!(code(&e), "invalid_config");
        assert_eq!(
            get(&get(&e, "details"), "field").as_string().unwrap(),
            field
        );
    }
}

#[wasm_bindgen_test]
async fn an_injected_clock_drives_idle_eviction_and_timestamps() {
    let now = obj(&[("t", 1000.into())]);
    let clock = Function::new_with_args("", "return this.t").bind0(&now);
    let a = agent(obj(&[
        ("clock", clock.into()),
        ("idleTtlMs", 60_000.into()),
    ]));
    say(&a, "alice", "hello").await;
    let sessions = a.sessions("alice".into(), JsValue::UNDEFINED).unwrap();
    let first = Array::from(&sessions).get(0);
    assert_eq!(get(&first, "createdAt").as_f64(), Some(1000.0));
    assert_eq!(get(&first, "messageCount").as_f64(), Some(2.0));
    Reflect::set(&now, &"t".into(), &200_000.into()).unwrap();
    say(&a, "bob", "hello").await;
    let stats = a.stats();
    assert_eq!(get(&stats, "users").as_f64(), Some(1.0), "alice idled out");
    assert_eq!(a.size("alice".into(), JsValue::UNDEFINED).unwrap(), 0);
}

#[wasm_bindgen_test]
async fn export_survives_json_text_and_import_refuses_foreign_documents() {
    let a = agent(JsValue::UNDEFINED);
    say(&a, "alice", "My name is Alice").await;
    settle(a.set_property(
        "alice".into(),
        "plan".into(),
        obj(&[("tier", "pro".into())]),
        JsValue::UNDEFINED,
    ))
    .await
    .unwrap();
    say(&a, "bob", "My name is Bob").await;
    let doc = settle(a.export("alice".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let text: String = JSON::stringify(&doc).unwrap().into();
    assert!(text.contains("Alice") && !text.contains("Bob"), "{text}");
    assert_eq!(get(&doc, "format").as_string().unwrap(), "tenantry.user");

    let b = agent(JsValue::UNDEFINED);
    let parsed = JSON::parse(&text).unwrap();
    let who = settle(b.import(parsed)).await.unwrap();
    assert_eq!(who.as_string().unwrap(), "alice");
    assert_eq!(
        say(&b, "alice", "What's my name?").await,
        "Your name is Alice."
    );
    let plan = get(
        &b.properties("alice".into(), JsValue::UNDEFINED).unwrap(),
        "plan",
    );
    assert_eq!(get(&plan, "tier").as_string().as_deref(), Some("pro"));
    // Mixed owners, wrong version, garbage: refused, nothing changes.
    for bad in [
        text.replacen("\"userId\":\"alice\"", "\"userId\":\"bob\"", 1),
        text.replace("\"version\":1", "\"version\":7"),
        "{\"format\":\"tenantry.user\"}".to_string(),
        "42".to_string(),
    ] {
        let e = settle(b.import(JSON::parse(&bad).unwrap()))
            .await
            .unwrap_err();
        assert_eq!(code(&e), "invalid_import", "{bad}");
    }
    assert_eq!(b.size("alice".into(), JsValue::UNDEFINED).unwrap(), 4);
    assert_eq!(b.size("bob".into(), JsValue::UNDEFINED).unwrap(), 0);
}

#[wasm_bindgen_test]
async fn recall_and_snapshot_through_js() {
    let a = agent(obj(&[("recall", obj(&[("topK", 3.into())]))]));
    say(&a, "alice", "my favourite city is Lisbon").await;
    say(&a, "bob", "city city city Porto favourite favourite").await;
    let hits = a
        .recall(
            "alice".into(),
            "favourite city".into(),
            obj(&[("limit", 5.into())]),
        )
        .unwrap();
    let hits = Array::from(&hits);
    assert!(hits.length() >= 1);
    for h in hits.iter() {
        assert!(!get(&h, "content").as_string().unwrap().contains("Porto"));
    }
    assert!(get(&hits.get(0), "score").as_f64().unwrap() > 0.0);
    let e = a
        .recall("alice".into(), "x".into(), obj(&[("limit", 0.into())]))
        .unwrap_err();
    assert_eq!(code(&e), "invalid_input");

    let snap = a.snapshot();
    let restored = settle(JsAgent::restore(
        obj(&[("model", demo_model().into())]),
        snap,
    ))
    .await
    .unwrap();
    let restored: JsAgent = restored.unchecked_into::<JsValue>().into_agent();
    assert_eq!(
        restored.size("alice".into(), JsValue::UNDEFINED).unwrap(),
        2
    );
    assert_eq!(restored.size("bob".into(), JsValue::UNDEFINED).unwrap(), 2);
}

trait IntoAgent {
    fn into_agent(self) -> JsAgent;
}

impl IntoAgent for JsValue {
    /// wasm-bindgen hands a returned Rust object to JS as a wrapper; take it back.
    fn into_agent(self) -> JsAgent {
        use wasm_bindgen::convert::TryFromJsValue;
        JsAgent::try_from_js_value(self).expect("an Agent")
    }
}

#[wasm_bindgen_test]
async fn indexed_db_storage_persists_in_the_browser() {
    let has_idb = Reflect::has(&js_sys::global(), &"indexedDB".into()).unwrap_or(false);
    if !has_idb {
        // Node has no IndexedDB: the adapter must say so clearly instead of failing later.
        let e = indexed_db_storage("t".into()).unwrap_err();
        assert_eq!(code(&e), "unsupported");
        return;
    }
    let name = JsValue::from_str(&format!("tenantry-test-{}", js_sys::Math::random()));
    let a = agent(obj(&[(
        "storage",
        indexed_db_storage(name.clone()).unwrap(),
    )]));
    say(&a, "alice", "My name is Alice").await;
    say(&a, "bob", "My name is Bob").await;
    let b = agent(obj(&[(
        "storage",
        indexed_db_storage(name.clone()).unwrap(),
    )]));
    settle(b.load("alice".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(b.size("alice".into(), JsValue::UNDEFINED).unwrap(), 2);
    settle(b.forget("alice".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let c = agent(obj(&[("storage", indexed_db_storage(name).unwrap())]));
    settle(c.load("alice".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    settle(c.load("bob".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(c.size("alice".into(), JsValue::UNDEFINED).unwrap(), 0);
    assert_eq!(c.size("bob".into(), JsValue::UNDEFINED).unwrap(), 2);
}

#[wasm_bindgen_test]
async fn a_slow_adapter_under_concurrent_runs_keeps_every_turn_and_every_user_apart() {
    // Every adapter call waits a few milliseconds, so runs of different users interleave
    // inside their storage writes.
    let slow = Function::new_with_args(
        "inner",
        "const wait = () => new Promise(r => setTimeout(r, Math.random() * 4));
         return { get: async k => { await wait(); return inner.get(k); }, put: async (k, v) => { await wait(); return inner.put(k, v); },
                  delete: async k => { await wait(); return inner.delete(k); }, list: async p => { await wait(); return inner.list(p); } };",
    )
    .call1(&JsValue::NULL, &memory_storage())
    .unwrap();
    let a = agent(obj(&[("storage", slow.clone())]));
    let users = ["ann", "ben", "cat", "dan", "eve"];
    let runs: Array = (0..5)
        .flat_map(|n| users.iter().map(move |u| (n, *u)))
        .map(|(n, u)| {
            JsValue::from(a.run(
                format!("My name is {u}{n}").into(),
                u.into(),
                JsValue::UNDEFINED,
            ))
        })
        .collect();
    settle(js_sys::Promise::all(&runs)).await.unwrap();
    let b = agent(obj(&[("storage", slow)]));
    for u in users {
        settle(b.load(u.into(), JsValue::UNDEFINED)).await.unwrap();
        let h = Array::from(
            &b.history(u.into(), JsValue::UNDEFINED, JsValue::UNDEFINED)
                .unwrap(),
        );
        assert_eq!(h.length(), 10, "{u}");
        for m in h
            .iter()
            .filter(|m| get(m, "role").as_string().as_deref() == Some("user"))
        {
            assert!(get(&m, "content")
                .as_string()
                .unwrap()
                .starts_with(&format!("My name is {u}")));
        }
    }
}
