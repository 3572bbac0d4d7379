//! Budgets and rate limits through the JS surface, in Node and headless Chromium: the
//! concurrent-overshoot case with real promises, rate limits, plans, reports, bad config.

use crate::wasm_support::get;

use js_sys::{Array, Function, Object, Promise, Reflect};
use tenantry::wasm::JsAgent;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

fn parse(json: &str) -> JsValue {
    js_sys::JSON::parse(json).unwrap()
}

/// A model that answers after a macrotask and reports 40 input + 30 output tokens.
fn slow_model() -> Function {
    Function::new_with_args(
        "req",
        "return new Promise(r => setTimeout(r, 1)).then(() => ({ text: 'ok', usage: { inputTokens: 40, outputTokens: 30 } }))",
    )
}

fn agent(budget: &str, rate: Option<&str>) -> Result<JsAgent, JsValue> {
    let config = Object::new();
    Reflect::set(&config, &"model".into(), &slow_model()).unwrap();
    Reflect::set(&config, &"maxOutputTokens".into(), &100.into()).unwrap();
    Reflect::set(&config, &"budget".into(), &parse(budget)).unwrap();
    if let Some(r) = rate {
        Reflect::set(&config, &"rateLimit".into(), &parse(r)).unwrap();
    }
    JsAgent::new(config.into())
}

async fn all_settled(promises: Vec<Promise>) -> Vec<JsValue> {
    let arr: Array = promises.into_iter().collect();
    let settled = JsFuture::from(Promise::all_settled(&arr)).await.unwrap();
    Array::from(&settled).iter().collect()
}

#[wasm_bindgen_test]
async fn twenty_concurrent_runs_stay_under_the_ceiling() {
    let a = agent(
        r#"{ "perUser": { "maxTotalTokens": 500, "window": "day" } }"#,
        None,
    )
    .unwrap();
    let runs: Vec<Promise> = (0..20)
        .map(|i| {
            let opts = Object::new();
            Reflect::set(&opts, &"sessionId".into(), &format!("s{i}").into()).unwrap();
            a.run("go".into(), "alice".into(), opts.into())
        })
        .collect();
    let results = all_settled(runs).await;
    let ok = results
        .iter()
        .filter(|r| get(r, "status").as_string().unwrap() == "fulfilled")
        .count();
    for r in results
        .iter()
        .filter(|r| get(r, "status").as_string().unwrap() == "rejected")
    {
        let e = get(r, "reason");
        assert_eq!(get(&e, "code").as_string().unwrap(), "budget_exceeded");
        assert_eq!(
            get(&get(&e, "details"), "metric").as_string().unwrap(),
            "totalTokens"
        );
    }
    let usage = a.usage("alice".into(), JsValue::UNDEFINED).unwrap();
    let used = get(&get(&usage, "totals"), "totalTokens").as_f64().unwrap();
    assert!(used <= 500.0, "used {used} of 500 with {ok} runs");
    assert_eq!(used, ok as f64 * 70.0, "charged exactly what was reported");
    assert!((1..20).contains(&ok));
    let limit = Array::from(&get(&usage, "limits")).get(0);
    assert_eq!(get(&limit, "limit").as_f64(), Some(500.0));
    assert_eq!(get(&limit, "remaining").as_f64(), Some(500.0 - used));
}

#[wasm_bindgen_test]
async fn rate_limits_and_plans_from_js() {
    let budget = parse(
        r#"{ "perUser": { "maxRequests": 100 }, "plans": { "trial": { "maxRequests": 1 } } }"#,
    );
    // Plans come from the host's planOf only.
    let plan_of = Function::new_with_args("u", "return u === 'ivan' ? 'trial' : undefined");
    Reflect::set(&budget, &"planOf".into(), &plan_of).unwrap();
    let config = Object::new();
    Reflect::set(&config, &"model".into(), &slow_model()).unwrap();
    Reflect::set(&config, &"maxOutputTokens".into(), &100.into()).unwrap();
    Reflect::set(&config, &"budget".into(), &budget).unwrap();
    let rate = parse(r#"{ "perUser": { "requests": 3, "perMs": 60000 } }"#);
    Reflect::set(&config, &"rateLimit".into(), &rate).unwrap();
    let a = JsAgent::new(config.into()).unwrap();
    // A `plan` property the user could write changes nothing: judy keeps the default plan.
    JsFuture::from(a.set_property(
        "judy".into(),
        "plan".into(),
        "trial".into(),
        JsValue::UNDEFINED,
    ))
    .await
    .unwrap();
    JsFuture::from(a.run("1".into(), "ivan".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let e = JsFuture::from(a.run("2".into(), "ivan".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(get(&e, "code").as_string().unwrap(), "budget_exceeded");
    for _ in 0..3 {
        JsFuture::from(a.run("x".into(), "judy".into(), JsValue::UNDEFINED))
            .await
            .unwrap();
    }
    let e = JsFuture::from(a.run("x".into(), "judy".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(get(&e, "code").as_string().unwrap(), "rate_limited");
    assert!(get(&get(&e, "details"), "retryAfterMs").as_f64().unwrap() > 0.0);
    assert_eq!(
        a.size("judy".into(), JsValue::UNDEFINED).unwrap(),
        6,
        "the refused run kept nothing"
    );
}

#[wasm_bindgen_test]
fn bad_budget_config_is_refused_with_the_field_named() {
    for (budget, field) in [
        (
            r#"{ "perUser": { "maxTotalTokens": -5 } }"#,
            "budget.perUser.maxTotalTokens",
        ),
        (
            r#"{ "perUser": { "maxCostUsd": "lots" } }"#,
            "budget.perUser.maxCostUsd",
        ),
        (
            r#"{ "prices": { "m": { "inputPerMTok": -1, "outputPerMTok": 1 } } }"#,
            "inputPerMTok",
        ),
    ] {
        let e = agent(budget, None).err().expect("refused");
        assert_eq!(get(&e, "code").as_string().unwrap(), "invalid_config");
        let f = get(&get(&e, "details"), "field").as_string().unwrap();
        assert!(f.contains(field), "{f} should name {field}");
    }
    let e = agent(
        r#"{ "perUser": { "maxTotalTokens": 5, "windw": "day" } }"#,
        None,
    )
    .err()
    .unwrap();
    assert_eq!(get(&e, "code").as_string().unwrap(), "invalid_config");
}

#[wasm_bindgen_test]
async fn plan_of_decides_the_plan() {
    let config = Object::new();
    Reflect::set(&config, &"model".into(), &slow_model()).unwrap();
    let budget =
        parse(r#"{ "perUser": { "maxRequests": 5 }, "plans": { "none": { "maxRequests": 0 } } }"#);
    let plan_of = Function::new_with_args("u", "return u === 'blocked' ? 'none' : undefined");
    Reflect::set(&budget, &"planOf".into(), &plan_of).unwrap();
    Reflect::set(&config, &"budget".into(), &budget).unwrap();
    let a = JsAgent::new(config.into()).unwrap();
    JsFuture::from(a.run("x".into(), "open".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let e = JsFuture::from(a.run("x".into(), "blocked".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(get(&e, "code").as_string().unwrap(), "budget_exceeded");
}

#[wasm_bindgen_test]
async fn a_stream_refused_by_the_rate_limit_still_yields_an_error_event() {
    let a = agent(
        r#"{}"#,
        Some(r#"{ "perUser": { "requests": 1, "perMs": 60000 } }"#),
    )
    .unwrap();
    JsFuture::from(a.run("1".into(), "kim".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    let stream = a.stream("2".into(), "kim".into(), JsValue::UNDEFINED);
    let next: Function = get(&stream, "next").unchecked_into();
    let first = JsFuture::from(next.call0(&stream).unwrap().unchecked_into::<Promise>())
        .await
        .unwrap();
    let event = get(&first, "value");
    assert_eq!(get(&event, "type").as_string().unwrap(), "error");
    assert_eq!(get(&event, "code").as_string().unwrap(), "rate_limited");
    assert_eq!(get(&event, "userId").as_string().unwrap(), "kim");
    let done = JsFuture::from(next.call0(&stream).unwrap().unchecked_into::<Promise>())
        .await
        .unwrap();
    assert_eq!(get(&done, "done").as_bool(), Some(true));
}
