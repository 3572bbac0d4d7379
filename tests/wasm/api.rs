//! The JS surface of the wasm build, driven with real JS functions, promises and
//! AbortControllers. Runs under `wasm-pack test --node` and `--headless --chrome`.

use crate::wasm_support::{get, obj, settle};

use js_sys::{Array, Function, Object, Promise, Reflect};
use tenantry::wasm::{demo_model, tenantry_error_class, JsAgent};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

/// A JS model: echoes the last message after a macrotask, so runs really interleave.
fn echo_model() -> Function {
    Function::new_with_args(
        "req",
        "return new Promise(r => setTimeout(r, 0)).then(() => {
            const last = req.messages[req.messages.length - 1].content;
            if (last.includes('THROW')) throw new Error('provider down');
            if (last.includes('NULL')) return null;
            return { text: 'echo:' + last + ':' + req.userId, usage: { inputTokens: 7, outputTokens: 3 }, finishReason: 'stop' };
        })",
    )
}

fn agent_with(model: Function, max_messages: f64) -> JsAgent {
    let memory = obj(&[("maxMessagesPerSession", max_messages.into())]);
    JsAgent::new(obj(&[
        ("name", "test".into()),
        ("instructions", "be brief".into()),
        ("model", model.into()),
        ("memory", memory),
    ]))
    .unwrap()
}

fn assert_tenantry_error(e: &JsValue, code: &str) {
    let class: Function = tenantry_error_class().unchecked_into();
    assert!(e.is_instance_of::<js_sys::Error>(), "not an Error: {e:?}");
    assert!(
        Reflect::get(&class, &"prototype".into())
            .map(|p| p.unchecked_into::<Object>().is_prototype_of(e))
            .unwrap(),
        "not a TenantryError: {e:?}"
    );
    assert_eq!(get(e, "code").as_string().as_deref(), Some(code), "{e:?}");
    assert_eq!(get(e, "name").as_string().as_deref(), Some("TenantryError"));
    assert!(get(e, "details").is_object());
}

#[wasm_bindgen_test]
async fn run_returns_the_documented_result_shape() {
    let agent = agent_with(echo_model(), 100.0);
    let out = settle(agent.run(
        "hi".into(),
        "alice".into(),
        obj(&[("sessionId", "c1".into())]),
    ))
    .await
    .unwrap();
    assert_eq!(get(&out, "text").as_string().unwrap(), "echo:hi:alice");
    assert!(get(&out, "runId").as_string().unwrap().starts_with("run_"));
    assert_eq!(get(&out, "finishReason").as_string().unwrap(), "stop");
    assert_eq!(get(&out, "sessionId").as_string().unwrap(), "c1");
    let usage = get(&out, "usage");
    assert_eq!(get(&usage, "inputTokens").as_f64(), Some(7.0));
    assert_eq!(get(&usage, "totalTokens").as_f64(), Some(10.0));
    assert_eq!(get(&usage, "estimated").as_bool(), Some(false));
    let h: Array = agent
        .history("alice".into(), "c1".into(), JsValue::UNDEFINED)
        .unwrap()
        .unchecked_into();
    assert_eq!(h.length(), 2);
    assert_eq!(get(&h.get(0), "role").as_string().unwrap(), "user");
    assert_eq!(
        get(&h.get(1), "content").as_string().unwrap(),
        "echo:hi:alice"
    );
    // The default session is a different session.
    let d: Array = agent
        .history("alice".into(), JsValue::UNDEFINED, JsValue::UNDEFINED)
        .unwrap()
        .unchecked_into();
    assert_eq!(d.length(), 0);
}

/// The request a host model receives and the result `run` resolves to are built in JS from
/// one string and UTF-16 offsets (src/wasm/transfer.rs): they must be exactly the serde
/// forms, whatever the text holds (multi-byte and astral characters, quotes, controls).
#[wasm_bindgen_test]
async fn model_request_and_run_result_are_exactly_their_serde_forms() {
    use tenantry::{FinishReason, Message, ModelRequest, RunOutput, Usage};
    let model = Function::new_with_args(
        "req",
        "(globalThis.__seen ??= []).push(JSON.stringify(req));
         return Promise.resolve({ text: 'réponse 🎉 \"q\"\\n\\u0001 end', usage: { inputTokens: 5, outputTokens: 2 } });",
    );
    let agent = agent_with(model, 100.0);
    let weird = "héllo 😀 \"q\" \\ tab\t nl\n \u{7} \u{2028} 日本";
    let user = "ü-😀-1";
    settle(agent.run(weird.into(), user.into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let out = settle(agent.run("next".into(), user.into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let seen: Array = Reflect::get(&js_sys::global(), &"__seen".into())
        .unwrap()
        .unchecked_into();
    let second = seen.get(seen.length() - 1).as_string().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&second).unwrap();
    let reply = "réponse 🎉 \"q\"\n\u{1} end";
    let expected = ModelRequest {
        prompt: vec![
            Message::system("be brief"),
            Message::user(weird),
            Message::assistant(reply),
            Message::user("next"),
        ]
        .into(),
        tools: vec![],
        max_output_tokens: parsed["maxOutputTokens"].as_u64().unwrap() as u32,
        user_id: Some(user.into()),
        org_id: None,
        session_id: "default".into(),
        run_id: parsed["runId"].as_str().unwrap().into(),
        output: None,
    };
    assert_eq!(second, serde_json::to_string(&expected).unwrap());
    let run_id = get(&out, "runId").as_string().unwrap();
    let expected = RunOutput {
        text: reply.into(),
        usage: Usage {
            input_tokens: 5,
            output_tokens: 2,
            total_tokens: 7,
            estimated: false,
            cost_usd: 0.0,
            overrun: false,
        },
        steps: 1,
        run_id,
        finish_reason: FinishReason::Stop,
        user_id: Some(user.into()),
        org_id: None,
        session_id: "default".into(),
        object: None,
    };
    // Through JS on both sides, so 0 and 0.0 are the same number.
    let serde_form = js_sys::JSON::parse(&serde_json::to_string(&expected).unwrap()).unwrap();
    assert_eq!(
        js_sys::JSON::stringify(&out).unwrap().as_string().unwrap(),
        js_sys::JSON::stringify(&serde_form)
            .unwrap()
            .as_string()
            .unwrap()
    );
}

/// A model's answer is read without JSON when it has the common shape, through JSON
/// otherwise: both readings must agree on every figure and refuse the same answers.
#[wasm_bindgen_test]
async fn model_answers_read_the_same_with_or_without_json() {
    // (answer as JS, expected [inputTokens, outputTokens, estimated, finishReason] or an
    // error code). The input estimate: 4 tokens of framing per message + text / 4, so
    // 6 for the instructions and 7 for the input.
    type Expected = Result<(f64, f64, bool, &'static str), &'static str>;
    let cases: &[(&str, Expected)] = &[
        ("{ text: 'ab', usage: { inputTokens: 5, outputTokens: 2 } }", Ok((5.0, 2.0, false, "stop"))),
        ("{ text: 'ab', usage: { inputTokens: 5, outputTokens: 2 }, finishReason: 'max_tokens' }", Ok((5.0, 2.0, false, "length"))),
        ("{ text: 'ab', usage: { inputTokens: 5, outputTokens: 2 }, finishReason: 'banana' }", Ok((5.0, 2.0, false, "other"))),
        ("{ text: 'ab', usage: { inputTokens: 5.5, outputTokens: null } }", Ok((13.0, 1.0, true, "stop"))),
        ("{ text: 'ab', usage: { inputTokens: Infinity, outputTokens: -1 } }", Ok((13.0, 1.0, true, "stop"))),
        ("{ text: 'ab', finishReason: null, extra: { nested: [1, 2] } }", Ok((13.0, 1.0, true, "stop"))),
        ("{ text: 'ab', toolCalls: [] }", Ok((13.0, 1.0, true, "stop"))),
        ("{ text: 'ab', usage: { inputTokens: '5' } }", Err("model_malformed")),
        ("{ text: 5 }", Err("model_malformed")),
        ("{ text: 'ab', usage: 7 }", Err("model_malformed")),
        ("{ usage: { inputTokens: 1 } }", Err("model_malformed")),
    ];
    for (i, (answer, expected)) in cases.iter().enumerate() {
        let model = Function::new_with_args("req", &format!("return Promise.resolve({answer});"));
        let agent = agent_with(model, 100.0);
        let user = format!("u{i}");
        let r = settle(agent.run(
            "0123456789".into(),
            user.as_str().into(),
            JsValue::UNDEFINED,
        ))
        .await;
        match (expected, r) {
            (Ok((input, output, estimated, finish)), Ok(out)) => {
                let usage = get(&out, "usage");
                assert_eq!(
                    get(&usage, "inputTokens").as_f64(),
                    Some(*input),
                    "{answer}"
                );
                assert_eq!(
                    get(&usage, "outputTokens").as_f64(),
                    Some(*output),
                    "{answer}"
                );
                assert_eq!(
                    get(&usage, "estimated").as_bool(),
                    Some(*estimated),
                    "{answer}"
                );
                assert_eq!(
                    get(&out, "finishReason").as_string().as_deref(),
                    Some(*finish),
                    "{answer}"
                );
            }
            (Err(code), Err(e)) => assert_tenantry_error(&e, code),
            (expected, got) => panic!("{answer}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[wasm_bindgen_test]
async fn bad_arguments_reject_with_typed_errors_and_touch_nothing() {
    let agent = agent_with(echo_model(), 100.0);
    let long = JsValue::from_str(&"u".repeat(256));
    for bad in [
        JsValue::from_str(""),
        JsValue::from_str("a\u{0}b"),
        long,
        JsValue::from_f64(42.0),
        JsValue::from_str("__tenantry_anonymous__"),
    ] {
        let e = settle(agent.run("hi".into(), bad, JsValue::UNDEFINED))
            .await
            .unwrap_err();
        assert_tenantry_error(&e, "invalid_user_id");
    }
    let e = settle(agent.run(JsValue::from_f64(1.0), "a".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_tenantry_error(&e, "invalid_input");
    let e = settle(agent.run("hi".into(), "a".into(), obj(&[("sesionId", "typo".into())])))
        .await
        .unwrap_err();
    assert_tenantry_error(&e, "invalid_input");
    let e = settle(agent.run("hi".into(), "a".into(), obj(&[("sessionId", "".into())])))
        .await
        .unwrap_err();
    assert_tenantry_error(&e, "invalid_session_id");
    let e = settle(agent.run("hi".into(), "a".into(), obj(&[("signal", "nope".into())])))
        .await
        .unwrap_err();
    assert_tenantry_error(&e, "invalid_input");
    // Sync methods throw the same class.
    let e = agent.size("".into(), JsValue::UNDEFINED).unwrap_err();
    assert_tenantry_error(&e, "invalid_user_id");
    assert_eq!(agent.size("a".into(), JsValue::UNDEFINED).unwrap(), 0);
}

#[wasm_bindgen_test]
fn bad_config_is_refused_with_the_field_named() {
    let cases: Vec<(JsValue, &str)> = vec![
        (JsValue::UNDEFINED, "config"),
        (obj(&[]), "model"),
        (obj(&[("model", "gpt".into())]), "model"),
        (
            obj(&[("model", echo_model().into()), ("modle", 1.into())]),
            "modle",
        ),
        (
            obj(&[
                ("model", echo_model().into()),
                (
                    "memory",
                    obj(&[("maxMessagesPerSession", JsValue::from_f64(f64::NAN))]),
                ),
            ]),
            "memory.maxMessagesPerSession",
        ),
        (
            obj(&[
                ("model", echo_model().into()),
                (
                    "memory",
                    obj(&[("maxMessagesPerSession", JsValue::from_f64(1.0))]),
                ),
            ]),
            "memory.maxMessagesPerSession",
        ),
        (
            obj(&[
                ("model", echo_model().into()),
                ("maxOutputTokens", JsValue::from_f64(-1.0)),
            ]),
            "maxOutputTokens",
        ),
    ];
    for (config, field) in cases {
        let e = JsAgent::new(config)
            .err()
            .expect("config should be refused");
        assert_tenantry_error(&e, "invalid_config");
        assert_eq!(
            get(&get(&e, "details"), "field").as_string().unwrap(),
            field
        );
    }
}

#[wasm_bindgen_test]
async fn a_throwing_or_malformed_model_commits_nothing() {
    let agent = agent_with(echo_model(), 100.0);
    settle(agent.run("keep".into(), "a".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let e = settle(agent.run("THROW".into(), "a".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_tenantry_error(&e, "model_error");
    assert!(get(&e, "message")
        .as_string()
        .unwrap()
        .contains("provider down"));
    let e = settle(agent.run("NULL".into(), "a".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_tenantry_error(&e, "model_malformed");
    assert_eq!(agent.size("a".into(), JsValue::UNDEFINED).unwrap(), 2);
}

#[wasm_bindgen_test]
async fn concurrent_runs_and_reentrant_calls_never_hit_a_borrow_error() {
    let agent = agent_with(echo_model(), 1000.0);
    let users: Vec<String> = (0..10).map(|i| format!("user-{i}")).collect();
    let mut promises = Vec::new();
    for n in 0..100 {
        for u in &users {
            promises.push(agent.run(format!("{u}/{n}").into(), u.into(), JsValue::UNDEFINED));
        }
        // Re-enter the agent while runs are pending.
        agent
            .history("user-0".into(), JsValue::UNDEFINED, JsValue::UNDEFINED)
            .unwrap();
        agent.size("user-1".into(), JsValue::UNDEFINED).unwrap();
    }
    let all = Promise::all(&promises.into_iter().collect::<Array>());
    JsFuture::from(all).await.unwrap();
    for u in &users {
        let h: Array = agent
            .history(u.into(), JsValue::UNDEFINED, JsValue::UNDEFINED)
            .unwrap()
            .unchecked_into();
        assert_eq!(h.length(), 200, "{u}");
        for m in h.iter() {
            let c = get(&m, "content").as_string().unwrap();
            assert!(c.contains(&format!("{u}/")), "{u} saw {c}");
        }
    }
}

#[wasm_bindgen_test]
async fn an_abort_signal_rejects_the_run_and_reaches_the_model() {
    // This model never answers on its own; it rejects only when its signal aborts.
    let model = Function::new_with_args(
        "req",
        "return new Promise((_, reject) => {
            if (!(req.abortSignal instanceof AbortSignal)) reject(new Error('no signal passed'));
            req.abortSignal.addEventListener('abort', () => reject(new Error('fetch aborted')));
        })",
    );
    let agent = agent_with(model, 100.0);
    let controller = web_controller();
    let signal = get(&controller, "signal");
    let p = agent.run("hi".into(), "a".into(), obj(&[("signal", signal)]));
    let timer = Function::new_with_args("c", "setTimeout(() => c.abort(), 5)");
    timer.call1(&JsValue::NULL, &controller).unwrap();
    let e = settle(p).await.unwrap_err();
    assert_tenantry_error(&e, "aborted");
    assert_eq!(agent.size("a".into(), JsValue::UNDEFINED).unwrap(), 0);
    // An already-aborted signal refuses before calling the model.
    let e = settle(agent.run(
        "hi".into(),
        "a".into(),
        obj(&[("signal", get(&controller, "signal"))]),
    ))
    .await
    .unwrap_err();
    assert_tenantry_error(&e, "aborted");
}

fn web_controller() -> JsValue {
    Function::new_no_args("return new AbortController()")
        .call0(&JsValue::NULL)
        .unwrap()
}

#[wasm_bindgen_test]
async fn demo_model_remembers_per_user_through_the_js_surface() {
    let agent = JsAgent::new(obj(&[("model", demo_model().into())])).unwrap();
    settle(agent.run(
        "My name is Alice".into(),
        "alice".into(),
        JsValue::UNDEFINED,
    ))
    .await
    .unwrap();
    let a = settle(agent.run("What's my name?".into(), "alice".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let b = settle(agent.run("What's my name?".into(), "bob".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let anon = settle(agent.run("What's my name?".into(), JsValue::NULL, JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(get(&a, "text").as_string().unwrap(), "Your name is Alice.");
    assert!(!get(&b, "text").as_string().unwrap().contains("Alice"));
    assert!(!get(&anon, "text").as_string().unwrap().contains("Alice"));
    assert!(get(&anon, "userId").is_null());
    settle(agent.clear("alice".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(agent.size("alice".into(), JsValue::UNDEFINED).unwrap(), 0);
    assert_eq!(agent.size("bob".into(), JsValue::UNDEFINED).unwrap(), 2);
    assert_eq!(agent.size(JsValue::NULL, JsValue::UNDEFINED).unwrap(), 2);
    settle(agent.clear_all()).await.unwrap();
    assert_eq!(agent.size("bob".into(), JsValue::UNDEFINED).unwrap(), 0);
}
