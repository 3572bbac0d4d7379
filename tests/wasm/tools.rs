//! Tools through the JS surface, in Node and headless Chromium, with a scripted model: the
//! model's input is a JSON script of the tool calls to make, and after tool results it
//! answers with what it saw (results, and the tools it was told about).

use crate::wasm_support::{collect, get};

use js_sys::{Array, Function, Object, Promise, Reflect, JSON};
use tenantry::wasm::JsAgent;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::wasm_bindgen_test;

/// Builds an agent from JS source for the config object (tools are JS functions).
fn agent(config_js: &str) -> Result<JsAgent, JsValue> {
    let config = Function::new_no_args(&format!(
        "const sleep = (ms) => new Promise(r => setTimeout(r, ms));
         const model = async (req) => {{
           const turn = req.messages.slice(req.messages.findLastIndex(m => m.role === 'user'));
           const script = JSON.parse(turn[0].content);
           const rounds = turn.filter(m => m.role === 'assistant').length;
           const results = turn.filter(m => m.role === 'tool').map(m => m.content);
           const failed = results.some(r => r.includes('error'));
           const calls = rounds === 0 ? script.calls : (script.retry && failed && rounds === 1 ? [script.retry] : script.loop ? script.calls : []);
           if (calls.length) return {{ text: '', toolCalls: calls.map((c, i) => ({{ id: 'r' + rounds + 'c' + i, name: c.name, arguments: typeof c.args === 'string' ? c.args : JSON.stringify(c.args) }})) }};
           return {{ text: JSON.stringify({{ results, tools: req.tools.map(t => t.name) }}) }};
         }};
         return {config_js};"
    ))
    .call0(&JsValue::NULL)
    .unwrap();
    JsAgent::new(config)
}

const ADD: &str = "{ name: 'add', description: 'Adds two integers.', parameters: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'], additionalProperties: false },
    execute: async ({ a, b }, ctx) => { (globalThis.log ??= []).push('start ' + a); await sleep(10); globalThis.log.push('end ' + a); return a + b; } }";

async fn run(a: &JsAgent, user: &str, script: &str) -> Result<JsValue, JsValue> {
    JsFuture::from(a.run(script.into(), user.into(), JsValue::UNDEFINED)).await
}

fn answer(out: &JsValue) -> JsValue {
    JSON::parse(&get(out, "text").as_string().unwrap()).unwrap()
}

fn strings(v: JsValue) -> Vec<String> {
    Array::from(&v)
        .iter()
        .map(|x| x.as_string().unwrap_or_else(|| format!("{x:?}")))
        .collect()
}

#[wasm_bindgen_test]
async fn a_multi_step_loop_runs_concurrent_calls_and_returns_results_in_order() {
    let a = agent(&format!("{{ model, tools: [{ADD}] }}")).unwrap();
    Reflect::set(&js_sys::global(), &"log".into(), &Array::new()).unwrap();
    let out = run(
        &a,
        "alice",
        r#"{"calls":[{"name":"add","args":{"a":1,"b":2}},{"name":"add","args":{"a":3,"b":4}}]}"#,
    )
    .await
    .unwrap();
    assert_eq!(strings(get(&answer(&out), "results")), ["3", "7"]);
    assert_eq!(get(&out, "steps").as_f64(), Some(2.0));
    let log = strings(get(&js_sys::global(), "log"));
    assert_eq!(
        &log[..2],
        ["start 1", "start 3"],
        "both calls started before either ended: {log:?}"
    );
    // The whole turn is committed: input, tool calls, two results, answer.
    let h = Array::from(
        &a.history("alice".into(), JsValue::UNDEFINED, JsValue::UNDEFINED)
            .unwrap(),
    );
    let roles: Vec<String> = h
        .iter()
        .map(|m| get(&m, "role").as_string().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool", "assistant"]);
    assert_eq!(Array::from(&get(&h.get(1), "toolCalls")).length(), 2);
    assert_eq!(get(&h.get(2), "toolCallId").as_string().unwrap(), "r0c0");
}

#[wasm_bindgen_test]
async fn invalid_arguments_go_back_to_the_model_which_retries() {
    let a = agent(&format!("{{ model, tools: [{ADD}] }}")).unwrap();
    let out = run(
        &a,
        "bob",
        r#"{"calls":[{"name":"add","args":{"a":"one","b":2}}],"retry":{"name":"add","args":{"a":1,"b":2}}}"#,
    )
    .await
    .unwrap();
    let results = strings(get(&answer(&out), "results"));
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results[0].contains("$.a: expected integer"), "{results:?}");
    assert_eq!(results[1], "3");
    // Malformed JSON, an unknown tool and oversized arguments are tool errors too.
    let huge = format!(
        r#"{{"calls":[{{"name":"add","args":"{{\"a\":1,\"b\":2,\"pad\":\"{}\"}}"}},{{"name":"add","args":"{{nope"}},{{"name":"launch","args":{{}}}}]}}"#,
        "x".repeat(70_000)
    );
    let out = run(&a, "bob", &huge).await.unwrap();
    let r = strings(get(&answer(&out), "results"));
    assert!(
        r[0].contains("limit is 65536"),
        "{}",
        &r[0][..80.min(r[0].len())]
    );
    assert!(r[1].contains("not valid JSON"), "{r:?}");
    assert!(r[2].contains("unknown tool `launch`"), "{r:?}");
}

#[wasm_bindgen_test]
async fn a_throwing_tool_becomes_a_tool_error_and_an_event() {
    let a = agent(
        "{ model, tools: [{ name: 'boom', execute: () => { throw new Error('disk on fire'); } },
                          { name: 'cyclic', execute: () => { const o = {}; o.self = o; return o; } }] }",
    )
    .unwrap();
    let stream = a.stream(
        r#"{"calls":[{"name":"boom","args":{}},{"name":"cyclic","args":{}}]}"#.into(),
        "carol".into(),
        JsValue::UNDEFINED,
    );
    let events = collect(stream).await;
    let types: Vec<String> = events
        .iter()
        .map(|e| get(e, "type").as_string().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "tool-call",
            "tool-call",
            "tool-result",
            "tool-result",
            "usage",
            "finish"
        ]
    );
    let boom = &events[2];
    assert_eq!(get(boom, "decision").as_string().unwrap(), "failed");
    assert!(get(boom, "error")
        .as_string()
        .unwrap()
        .contains("disk on fire"));
    assert!(get(&events[3], "error")
        .as_string()
        .unwrap()
        .contains("the result is not JSON"));
    assert!(events
        .iter()
        .all(|e| get(e, "userId").as_string().as_deref() == Some("carol")));
}

#[wasm_bindgen_test]
async fn permissions_hide_deny_and_require_approval_per_user() {
    let a = agent(&format!(
        "{{ model, tools: [{ADD}, {{ name: 'refund', parameters: {{ type: 'object' }}, execute: (_, ctx) => 'refunded for ' + ctx.userId }}],
            permissions: {{ users: {{ bob: {{ deny: ['refund'] }} }}, requireApproval: ['refund'] }},
            approve: async ({{ userId, tool }}) => userId === 'alice' && tool === 'refund' }}"
    ))
    .unwrap();
    let script = r#"{"calls":[{"name":"refund","args":{}}]}"#;
    let alice = answer(&run(&a, "alice", script).await.unwrap());
    assert_eq!(strings(get(&alice, "results")), ["refunded for alice"]);
    assert_eq!(strings(get(&alice, "tools")), ["add", "refund"]);
    let bob = answer(&run(&a, "bob", script).await.unwrap());
    assert_eq!(
        strings(get(&bob, "tools")),
        ["add"],
        "bob's model is not told about refund"
    );
    assert!(strings(get(&bob, "results"))[0].contains("not permitted"));
    let carol = answer(&run(&a, "carol", script).await.unwrap());
    assert!(strings(get(&carol, "results"))[0].contains("approval for `refund` was refused"));
}

#[wasm_bindgen_test]
async fn a_policy_function_and_an_approval_timeout_decide_too() {
    let a = agent(&format!(
        "{{ model, tools: [{ADD}], policy: (userId, tool, args) => args.a > 100 ? 'deny' : args.a > 10 ? 'approve' : 'allow',
            approve: () => new Promise(() => {{}}), approvalTimeoutMs: 20 }}"
    ))
    .unwrap();
    let out = answer(&run(&a, "dan", r#"{"calls":[{"name":"add","args":{"a":1,"b":1}},{"name":"add","args":{"a":50,"b":1}},{"name":"add","args":{"a":500,"b":1}}]}"#).await.unwrap());
    let r = strings(get(&out, "results"));
    assert_eq!(r[0], "2");
    assert!(r[1].contains("refused or timed out"), "{r:?}");
    assert!(r[2].contains("the policy denied"), "{r:?}");
}

#[wasm_bindgen_test]
async fn two_users_running_the_same_cached_tool_never_see_each_others_value() {
    let a = agent(
        "{ model, tools: [{ name: 'balance', execute: async (_, ctx) => {
            let v = ctx.cache.get('balance');
            if (v === undefined) { await sleep(5); v = 'balance of ' + ctx.userId; ctx.cache.set('balance', v, 60000); }
            return v; } }] }",
    )
    .unwrap();
    let script = r#"{"calls":[{"name":"balance","args":{}}]}"#;
    let promises: Array = ["erin", "frank", "erin", "frank"]
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let opts = Object::new();
            Reflect::set(&opts, &"sessionId".into(), &format!("s{i}").into()).unwrap();
            JsValue::from(a.run(script.into(), (*u).into(), opts.into()))
        })
        .collect();
    let outs = JsFuture::from(Promise::all(&promises)).await.unwrap();
    for (i, out) in Array::from(&outs).iter().enumerate() {
        let user = ["erin", "frank"][i % 2];
        assert_eq!(
            strings(get(&answer(&out), "results")),
            [format!("balance of {user}")]
        );
    }
    // Forget clears the user's cache entries with everything else.
    JsFuture::from(a.forget("erin".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
}

#[wasm_bindgen_test]
async fn max_steps_stops_a_looping_model_and_commits_nothing() {
    let a = agent(&format!("{{ model, tools: [{ADD}], maxSteps: 3 }}")).unwrap();
    let e = run(
        &a,
        "gina",
        r#"{"loop":true,"calls":[{"name":"add","args":{"a":1,"b":1}}]}"#,
    )
    .await
    .unwrap_err();
    assert_eq!(get(&e, "code").as_string().unwrap(), "max_steps");
    assert_eq!(get(&get(&e, "details"), "steps").as_f64(), Some(3.0));
    assert_eq!(a.size("gina".into(), JsValue::UNDEFINED).unwrap(), 0);
}

#[wasm_bindgen_test]
fn bad_tool_config_is_refused_by_name() {
    for (cfg, field) in [
        ("{ model, tools: [{ name: 'has space', execute() {} }] }", "tools[0].name"),
        ("{ model, tools: [{ name: 'x' }] }", "tools[0].execute"),
        ("{ model, tools: [{ name: 'x', execute() {}, parameters: 3 }] }", "tools[0].parameters"),
        ("{ model, tools: [{ name: 'x', execute() {} }], permissions: { requireApproval: ['y'] } }", "permissions.requireApproval"),
        ("{ model, approve: () => true }", "approve"),
    ] {
        let e = agent(cfg).err().expect(cfg);
        assert_eq!(get(&e, "code").as_string().unwrap(), "invalid_config", "{cfg}");
        assert_eq!(get(&get(&e, "details"), "field").as_string().unwrap(), field, "{cfg}");
    }
}

#[wasm_bindgen_test]
async fn a_hanging_tool_is_cut_off_by_the_runs_signal_and_nothing_commits() {
    let a = agent(
        "{ model, tools: [{ name: 'hang', execute: (_, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('stopped')))) }] }",
    )
    .unwrap();
    let controller = Function::new_no_args("return new AbortController()")
        .call0(&JsValue::NULL)
        .unwrap();
    let opts = Object::new();
    Reflect::set(&opts, &"signal".into(), &get(&controller, "signal")).unwrap();
    let p = a.run(
        r#"{"calls":[{"name":"hang","args":{}}]}"#.into(),
        "hal".into(),
        opts.into(),
    );
    Function::new_with_args("c", "setTimeout(() => c.abort(), 20)")
        .call1(&JsValue::NULL, &controller)
        .unwrap();
    let e = JsFuture::from(p).await.unwrap_err();
    assert_eq!(get(&e, "code").as_string().unwrap(), "aborted");
    assert_eq!(a.size("hal".into(), JsValue::UNDEFINED).unwrap(), 0);
}
