//! The fetch-based provider clients and `agent.stream` through the JS surface, with an
//! injected `fetch` that answers with real `Response` objects whose bodies arrive in small
//! chunks. Runs in Node and in headless Chromium (`wasm-pack test --node` / `--chrome`).

use crate::wasm_support::{collect, get, obj, settle};

use js_sys::{Array, Function};
use tenantry::wasm::{anthropic, openai, JsAgent};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

const OPENAI_SSE: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo, \"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Alice\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n";

/// A fetch double: answers each call with the next scripted reply `{ status, body, headers,
/// hang }`, the body streamed 3 bytes at a time; records every call on `fetch.calls`.
fn scripted_fetch(replies: &[JsValue]) -> Function {
    let make = Function::new_with_args(
        "replies",
        "const calls = [];
         const f = async (url, init) => {
           calls.push({ url, init });
           const r = replies.shift();
           if (!r) throw new TypeError('fetch failed: no more replies');
           const bytes = new TextEncoder().encode(r.body ?? '');
           let i = 0;
           const body = new ReadableStream({
             pull(c) {
               if (i < bytes.length) { c.enqueue(bytes.slice(i, i + 3)); i += 3; return; }
               if (r.hang) return new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal.reason)));
               c.close();
             },
           });
           return new Response(body, { status: r.status ?? 200, headers: r.headers ?? {} });
         };
         f.calls = calls;
         return f;",
    );
    make.call1(&JsValue::NULL, &replies.iter().collect::<Array>())
        .unwrap()
        .unchecked_into()
}

fn reply(status: u16, body: &str) -> JsValue {
    obj(&[("status", status.into()), ("body", body.into())])
}

fn agent_on(model: Function) -> JsAgent {
    JsAgent::new(obj(&[
        ("model", model.into()),
        ("instructions", "Be brief.".into()),
    ]))
    .unwrap()
}

#[wasm_bindgen_test]
async fn a_stream_yields_deltas_then_finish_and_commits_the_turn() {
    let fetch = scripted_fetch(&[reply(200, OPENAI_SSE)]);
    let model = openai(obj(&[
        ("model", "gpt-test".into()),
        ("apiKey", "sk-test-key".into()),
        ("baseUrl", "http://llm.invalid/v1".into()),
        ("fetch", fetch.clone().into()),
    ]))
    .unwrap();
    let agent = agent_on(model);
    let stream = agent.stream(
        "Hi".into(),
        "alice".into(),
        obj(&[("sessionId", "s1".into())]),
    );
    let events = collect(stream.clone()).await;
    let types: Vec<String> = events
        .iter()
        .map(|e| get(e, "type").as_string().unwrap())
        .collect();
    assert_eq!(
        types,
        ["text-delta", "text-delta", "text-delta", "usage", "finish"]
    );
    let deltas: String = events[..3]
        .iter()
        .map(|e| get(e, "text").as_string().unwrap())
        .collect();
    assert_eq!(deltas, "Hello, Alice");
    for e in &events {
        assert_eq!(get(e, "userId").as_string().as_deref(), Some("alice"));
        assert_eq!(get(e, "sessionId").as_string().as_deref(), Some("s1"));
        assert!(get(e, "runId").as_string().unwrap().starts_with("run_"));
    }
    let usage = get(&events[3], "usage");
    assert_eq!(get(&usage, "inputTokens").as_f64(), Some(21.0));
    let result = settle(get(&stream, "result").unchecked_into())
        .await
        .unwrap();
    assert_eq!(get(&result, "text").as_string().unwrap(), "Hello, Alice");
    assert_eq!(agent.size("alice".into(), JsValue::UNDEFINED).unwrap(), 2);
    // The request the client sent.
    let call = Array::from(&get(&fetch, "calls")).get(0);
    assert_eq!(
        get(&call, "url").as_string().unwrap(),
        "http://llm.invalid/v1/chat/completions"
    );
    let headers = get(&get(&call, "init"), "headers");
    assert_eq!(
        get(&headers, "authorization").as_string().unwrap(),
        "Bearer sk-test-key"
    );
    let body = js_sys::JSON::parse(&get(&get(&call, "init"), "body").as_string().unwrap()).unwrap();
    assert_eq!(get(&body, "model").as_string().unwrap(), "gpt-test");
    assert_eq!(Array::from(&get(&body, "messages")).length(), 2);
}

#[wasm_bindgen_test]
async fn run_uses_the_client_with_retries_and_typed_http_errors() {
    let fetch = scripted_fetch(&[
        obj(&[("status", 429.into()), ("body", "{\"error\":{\"message\":\"slow down\"}}".into()), ("headers", obj(&[("retry-after", "0".into())]))]),
        reply(200, OPENAI_SSE),
        reply(401, "{\"error\":{\"message\":\"Incorrect API key provided: sk-test-key\",\"type\":\"invalid_request_error\"}}"),
    ]);
    let model = openai(obj(&[
        ("model", "m".into()),
        ("apiKey", "sk-test-key".into()),
        ("fetch", fetch.into()),
    ]))
    .unwrap();
    let agent = agent_on(model);
    let out = settle(agent.run("hi".into(), "bob".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(get(&out, "text").as_string().unwrap(), "Hello, Alice");
    let e = settle(agent.run("again".into(), "bob".into(), JsValue::UNDEFINED))
        .await
        .unwrap_err();
    assert_eq!(get(&e, "code").as_string().unwrap(), "model_http");
    let details = get(&e, "details");
    assert_eq!(get(&details, "status").as_f64(), Some(401.0));
    let shown = format!(
        "{} {}",
        get(&e, "message").as_string().unwrap(),
        js_sys::JSON::stringify(&details).unwrap()
    );
    assert!(!shown.contains("sk-test-key"), "{shown}");
    assert_eq!(
        agent.size("bob".into(), JsValue::UNDEFINED).unwrap(),
        2,
        "the failed run kept nothing"
    );
}

#[wasm_bindgen_test]
async fn aborting_mid_stream_cancels_the_fetch_and_commits_nothing() {
    let partial = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Once upon\"}}]}\n\n";
    let fetch = scripted_fetch(&[obj(&[("body", partial.into()), ("hang", true.into())])]);
    let model = openai(obj(&[("model", "m".into()), ("fetch", fetch.into())])).unwrap();
    let agent = agent_on(model);
    let controller = Function::new_no_args("return new AbortController()")
        .call0(&JsValue::NULL)
        .unwrap();
    let stream = agent.stream(
        "tell a story".into(),
        "carol".into(),
        obj(&[("signal", get(&controller, "signal"))]),
    );
    let next: Function = get(&stream, "next").unchecked_into();
    let first = settle(next.call0(&stream).unwrap().unchecked_into())
        .await
        .unwrap();
    assert_eq!(
        get(&get(&first, "value"), "text").as_string().unwrap(),
        "Once upon"
    );
    let abort: Function = get(&controller, "abort").unchecked_into();
    abort.call0(&controller).unwrap();
    let rest = collect(stream.clone()).await;
    assert_eq!(
        get(rest.last().unwrap(), "code").as_string().unwrap(),
        "aborted"
    );
    let e = settle(get(&stream, "result").unchecked_into())
        .await
        .unwrap_err();
    assert_eq!(get(&e, "code").as_string().unwrap(), "aborted");
    assert_eq!(agent.size("carol".into(), JsValue::UNDEFINED).unwrap(), 0);
}

#[wasm_bindgen_test]
async fn leaving_the_loop_early_aborts_the_run() {
    let partial = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Once\"}}]}\n\n";
    let fetch = scripted_fetch(&[obj(&[("body", partial.into()), ("hang", true.into())])]);
    let model = openai(obj(&[("model", "m".into()), ("fetch", fetch.into())])).unwrap();
    let agent = agent_on(model);
    let stream = agent.stream("go".into(), "dave".into(), JsValue::UNDEFINED);
    let next: Function = get(&stream, "next").unchecked_into();
    settle(next.call0(&stream).unwrap().unchecked_into())
        .await
        .unwrap();
    let ret: Function = get(&stream, "return").unchecked_into();
    settle(ret.call0(&stream).unwrap().unchecked_into())
        .await
        .unwrap();
    let e = settle(get(&stream, "result").unchecked_into())
        .await
        .unwrap_err();
    assert_eq!(get(&e, "code").as_string().unwrap(), "aborted");
    assert_eq!(agent.size("dave".into(), JsValue::UNDEFINED).unwrap(), 0);
}

#[wasm_bindgen_test]
async fn anthropic_streams_through_the_same_surface() {
    let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Salut\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let fetch = scripted_fetch(&[reply(200, sse)]);
    let model = anthropic(obj(&[
        ("model", "claude-test".into()),
        ("apiKey", "k-anthropic".into()),
        ("fetch", fetch.clone().into()),
    ]))
    .unwrap();
    let agent = agent_on(model);
    let out = settle(agent.run("hi".into(), "erin".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(get(&out, "text").as_string().unwrap(), "Salut");
    assert_eq!(get(&out, "finishReason").as_string().unwrap(), "stop");
    assert_eq!(get(&get(&out, "usage"), "outputTokens").as_f64(), Some(2.0));
    let call = Array::from(&get(&fetch, "calls")).get(0);
    assert_eq!(
        get(&get(&get(&call, "init"), "headers"), "x-api-key")
            .as_string()
            .unwrap(),
        "k-anthropic"
    );
}

#[wasm_bindgen_test]
fn client_options_are_checked() {
    for (opts, field) in [
        (obj(&[]), "model"),
        (
            obj(&[("model", "m".into()), ("baseUrl", "ftp://x".into())]),
            "baseUrl",
        ),
        (
            obj(&[("model", "m".into()), ("maxRetries", (-1).into())]),
            "maxRetries",
        ),
        (obj(&[("model", "m".into()), ("fetch", 3.into())]), "fetch"),
        (
            obj(&[("model", "m".into()), ("apikey", "typo".into())]),
            "apikey",
        ),
    ] {
        let e = openai(opts).unwrap_err();
        assert_eq!(get(&e, "code").as_string().unwrap(), "invalid_config");
        assert_eq!(
            get(&get(&e, "details"), "field").as_string().unwrap(),
            field
        );
    }
}

/// A host model's `onTextDelta` and the promise it returns reach wasm through slots
/// (src/wasm/callbacks.rs): a sink kept past its call, or a promise settling after its
/// run was abandoned, must reach nothing, least of all a later run of another user.
#[wasm_bindgen_test]
async fn stale_text_sinks_and_late_settlements_reach_no_other_run() {
    let model = Function::new_with_args(
        "req",
        "const g = globalThis.__stale ??= { sinks: [], resolvers: [] };
         const n = g.sinks.length;
         g.sinks.push(req.onTextDelta);
         if (req.messages.at(-1).content === 'hang') return new Promise((r) => g.resolvers.push(r));
         // Every earlier call's sink, called during this one: none may reach this stream.
         for (const s of g.sinks.slice(0, n)) s('LEAK');
         req.onTextDelta('own-' + req.userId);
         return { text: 'done-' + req.userId };",
    );
    let agent = agent_on(model);
    let first = collect(agent.stream("hi".into(), "u1".into(), JsValue::UNDEFINED)).await;
    assert!(first
        .iter()
        .any(|e| get(e, "text").as_string().as_deref() == Some("own-u1")));

    // A run whose model never answers, abandoned by its caller.
    let controller = js_sys::eval("new AbortController()").unwrap();
    let options = obj(&[("signal", get(&controller, "signal"))]);
    let hung = agent.run("hang".into(), "u2".into(), options);
    // Aborted once the model holds the call (a run aborted before that never calls it).
    let tick = js_sys::eval("new Promise((r) => setTimeout(r, 0))").unwrap();
    settle(tick.unchecked_into()).await.unwrap();
    assert_eq!(
        js_sys::eval("globalThis.__stale.resolvers.length")
            .unwrap()
            .as_f64(),
        Some(1.0)
    );
    let abort: Function = get(&controller, "abort").unchecked_into();
    abort.call0(&controller).unwrap();
    let e = settle(hung).await.unwrap_err();
    assert_eq!(get(&e, "code").as_string().unwrap(), "aborted");

    // Another user's run while the stale sinks fire; then the hung promise settles late.
    let third = collect(agent.stream("hi".into(), "u3".into(), JsValue::UNDEFINED)).await;
    let texts: Vec<String> = third
        .iter()
        .filter_map(|e| get(e, "text").as_string())
        .collect();
    assert!(texts.iter().all(|t| !t.contains("LEAK")), "{texts:?}");
    assert!(texts.contains(&"own-u3".to_string()), "{texts:?}");
    let late = js_sys::eval(
        "globalThis.__stale.resolvers[0]({ text: 'late answer' }); globalThis.__stale.sinks[0]('LATE')",
    );
    assert!(late.is_ok(), "a stale sink threw: {late:?}");
    let fourth = settle(agent.run("hi".into(), "u4".into(), JsValue::UNDEFINED))
        .await
        .unwrap();
    assert_eq!(get(&fourth, "text").as_string().unwrap(), "done-u4");
    assert_eq!(
        agent.size("u2".into(), JsValue::UNDEFINED).unwrap(),
        0,
        "the abandoned run committed"
    );
    let h: Array = agent
        .history("u4".into(), JsValue::UNDEFINED, JsValue::UNDEFINED)
        .unwrap()
        .unchecked_into();
    assert_eq!(h.length(), 2);
}
