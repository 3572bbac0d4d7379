use super::*;
use crate::error::Error;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const RUN: &str = "run_0123";

fn ev(part: EventPart) -> RunEvent {
    RunEvent {
        part,
        user_id: Some("alice".into()),
        org_id: None,
        session_id: "chat-1".into(),
        run_id: RUN.into(),
    }
}

fn delta(t: &str) -> RunEvent {
    ev(EventPart::TextDelta { text: t.into() })
}

fn usage() -> Usage {
    Usage {
        input_tokens: 20,
        output_tokens: 5,
        total_tokens: 25,
        estimated: false,
        cost_usd: 0.5,
        overrun: false,
    }
}

fn finish(text: &str) -> RunEvent {
    ev(EventPart::Finish {
        text: text.into(),
        finish_reason: FinishReason::Stop,
        usage: usage(),
    })
}

fn call(id: &str, args: &str, step: u32) -> RunEvent {
    ev(EventPart::ToolCall {
        tool_call_id: id.into(),
        tool_name: "weather".into(),
        args: args.into(),
        step,
    })
}

fn result(id: &str, decision: Decision, result: Option<Value>, error: Option<&str>) -> RunEvent {
    ev(EventPart::ToolResult {
        tool_call_id: id.into(),
        tool_name: "weather".into(),
        decision,
        result,
        error: error.map(str::to_owned),
        step: 1,
    })
}

/// Every chunk the events become, as the JSON a client receives.
fn encode(events: &[RunEvent]) -> Vec<Value> {
    let mut enc = UiMessageEncoder::new();
    events
        .iter()
        .flat_map(|e| enc.push(e))
        .map(|c| serde_json::to_value(c).unwrap())
        .collect()
}

fn types(chunks: &[Value]) -> Vec<&str> {
    chunks.iter().map(|c| c["type"].as_str().unwrap()).collect()
}

#[test]
fn a_streamed_answer_is_one_text_part_in_one_step() {
    let usage_event = ev(EventPart::Usage { usage: usage() });
    let chunks = encode(&[
        delta("Hello "),
        delta(""),
        delta("Alice"),
        usage_event,
        finish("Hello Alice"),
    ]);
    assert_eq!(
        chunks,
        vec![
            json!({ "type": "start", "messageId": RUN }),
            json!({ "type": "start-step" }),
            json!({ "type": "text-start", "id": "text-1" }),
            json!({ "type": "text-delta", "id": "text-1", "delta": "Hello " }),
            json!({ "type": "text-delta", "id": "text-1", "delta": "Alice" }),
            json!({ "type": "text-end", "id": "text-1" }),
            json!({ "type": "finish-step" }),
            json!({ "type": "finish", "finishReason": "stop", "messageMetadata": { "usage": { "inputTokens": 20, "outputTokens": 5, "totalTokens": 25 } } }),
        ]
    );
}

#[test]
fn an_answer_that_was_not_streamed_is_sent_whole_at_the_end() {
    let chunks = encode(&[finish("All at once.")]);
    assert_eq!(
        types(&chunks),
        [
            "start",
            "start-step",
            "text-start",
            "text-delta",
            "text-end",
            "finish-step",
            "finish"
        ]
    );
    assert_eq!(chunks[3]["delta"], "All at once.");
    // An empty answer has no text part.
    assert_eq!(
        types(&encode(&[finish("")])),
        ["start", "start-step", "finish-step", "finish"]
    );
}

#[test]
fn tool_rounds_are_steps_and_each_outcome_has_its_chunk() {
    let chunks = encode(&[
        delta("Let me check."),
        call("c1", r#"{"city":"Paris"}"#, 1),
        call("c2", "{not json", 1),
        call("c3", "{}", 1),
        call("c4", "{}", 1),
        result("c1", Decision::Allowed, Some(json!({ "temp": 21 })), None),
        result(
            "c2",
            Decision::Invalid,
            None,
            Some("arguments are not JSON"),
        ),
        result("c3", Decision::Denied, None, Some("denied by permissions")),
        result("c4", Decision::Failed, None, Some("the tool threw: boom")),
        call("c5", "{}", 2),
        result("c5", Decision::Approved, None, None),
        delta("It is 21"),
        delta(" degrees."),
        finish("It is 21 degrees."),
    ]);
    assert_eq!(
        types(&chunks),
        [
            "start",
            "start-step",
            "text-start",
            "text-delta",
            "text-end",
            "tool-input-available",
            "tool-input-available",
            "tool-input-available",
            "tool-input-available",
            "tool-output-available",
            "tool-output-error",
            "tool-output-denied",
            "tool-output-error",
            "finish-step",
            "start-step",
            "tool-input-available",
            "tool-output-available",
            "finish-step",
            "start-step",
            "text-start",
            "text-delta",
            "text-delta",
            "text-end",
            "finish-step",
            "finish",
        ]
    );
    assert_eq!(
        chunks[5],
        json!({ "type": "tool-input-available", "toolCallId": "c1", "toolName": "weather", "input": { "city": "Paris" } })
    );
    // Arguments that are not JSON travel as the model wrote them.
    assert_eq!(chunks[6]["input"], "{not json");
    assert_eq!(
        chunks[9],
        json!({ "type": "tool-output-available", "toolCallId": "c1", "output": { "temp": 21 } })
    );
    assert_eq!(
        chunks[10],
        json!({ "type": "tool-output-error", "toolCallId": "c2", "errorText": "arguments are not JSON" })
    );
    assert_eq!(
        chunks[11],
        json!({ "type": "tool-output-denied", "toolCallId": "c3" })
    );
    // A result of nothing is still an output: the client's part needs the field.
    assert_eq!(
        chunks[16],
        json!({ "type": "tool-output-available", "toolCallId": "c5", "output": null })
    );
    // Each text part has its own id.
    assert_eq!(chunks[2]["id"], "text-1");
    assert_eq!(chunks[19]["id"], "text-2");
    assert!(chunks[20..23].iter().all(|c| c["id"] == "text-2"));
}

#[test]
fn the_final_answer_after_tools_is_its_own_step_even_when_not_streamed() {
    let chunks = encode(&[
        call("c1", "{}", 1),
        result("c1", Decision::Allowed, Some(json!(1)), None),
        finish("Done."),
    ]);
    assert_eq!(
        types(&chunks),
        [
            "start",
            "start-step",
            "tool-input-available",
            "tool-output-available",
            "finish-step",
            "start-step",
            "text-start",
            "text-delta",
            "text-end",
            "finish-step",
            "finish",
        ]
    );
}

#[test]
fn an_error_is_one_chunk_with_the_code_and_nothing_follows_it() {
    let refusal = Error::InvalidInput {
        reason: "body.trigger: is required".into(),
    };
    let mut enc = UiMessageEncoder::new();
    let mut chunks: Vec<UiChunk> = enc.push(&delta("Hel"));
    chunks.extend(enc.push(&ev(EventPart::error(&Error::Aborted))));
    assert!(enc.ended());
    chunks.extend(enc.push(&delta("lo")));
    chunks.extend(enc.push(&finish("Hello")));
    let json: Vec<Value> = chunks
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(
        types(&json),
        ["start", "start-step", "text-start", "text-delta", "error"]
    );
    assert_eq!(
        json[4],
        json!({ "type": "error", "errorText": "aborted: the run was aborted" })
    );

    // Refused before it started: no `start`, the error alone.
    let mut enc = UiMessageEncoder::new();
    let refused = enc.push_part(&EventPart::error(&refusal), None);
    let text = match &refused[..] {
        [UiChunk::Error { error_text }] => error_text.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        text,
        "invalid_input: invalid input: body.trigger: is required"
    );
}

#[test]
fn a_failing_providers_text_stays_out_of_the_error_chunk() {
    let e = Error::ModelHttp {
        status: Some(500),
        kind: "server_error".into(),
        message: "Traceback: /srv/llm/app.py line 12".into(),
        attempts: 3,
    };
    let chunks = encode(&[delta("par"), ev(EventPart::error(&e))]);
    assert_eq!(
        chunks.last().unwrap(),
        &json!({ "type": "error", "errorText": "model_http: the model provider failed" })
    );
    // The run-event SSE form hides it the same way, and keeps the ids.
    let sse = event_sse(&ev(EventPart::error(&e)));
    assert!(!sse.contains("Traceback"), "{sse}");
    let data = sse
        .strip_prefix("event: error\ndata: ")
        .and_then(|s| s.strip_suffix("\n\n"))
        .expect("one message named `error`");
    assert_eq!(
        serde_json::from_str::<Value>(data).unwrap(),
        json!({ "type": "error", "code": "model_http", "message": "the model provider failed", "details": { "status": 500, "kind": "server_error" }, "userId": "alice", "sessionId": "chat-1", "runId": RUN })
    );
    assert!(!part_sse(&EventPart::error(&e)).contains("Traceback"));
}

#[test]
fn sse_framing_is_one_data_line_per_chunk() {
    let mut enc = UiMessageEncoder::new();
    let chunks = enc.push(&delta("two\nlines \"quoted\""));
    let text = sse(&chunks);
    let messages: Vec<&str> = text.split_terminator("\n\n").collect();
    assert_eq!(messages.len(), chunks.len());
    for (m, c) in messages.iter().zip(&chunks) {
        let data = m.strip_prefix("data: ").expect("a data line");
        assert!(!data.contains('\n'));
        assert_eq!(
            serde_json::from_str::<Value>(data).unwrap(),
            serde_json::to_value(c).unwrap()
        );
    }
    assert_eq!(SSE_DONE, "data: [DONE]\n\n");
    assert_eq!(sse(&[]), "");
}

#[test]
fn the_text_form_is_every_delta_in_order() {
    let mut enc = UiMessageEncoder::new();
    let text: String = [
        delta("a"),
        call("c", "{}", 1),
        result("c", Decision::Allowed, None, None),
        delta("b"),
        finish("b"),
    ]
    .iter()
    .map(|e| text_of(&enc.push(e)))
    .collect();
    assert_eq!(text, "ab");
    let mut enc = UiMessageEncoder::new();
    assert_eq!(text_of(&enc.push(&finish("whole"))), "whole");
}

#[test]
fn run_events_as_sse_are_named_by_type() {
    let e = delta("hi");
    assert_eq!(
        event_sse(&e),
        format!(
            "event: text-delta\ndata: {}\n\n",
            serde_json::to_string(&e).unwrap()
        )
    );
}

/// The JS wrapper keeps literal copies of the header tables (it builds `Response`s);
/// they must say what these say.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn stream_js_holds_the_same_headers() {
    let js = include_str!("../../js/stream.js");
    for (name, table) in [
        ("UI_MESSAGE_STREAM_HEADERS", &UI_MESSAGE_STREAM_HEADERS[..]),
        ("TEXT_STREAM_HEADERS", &TEXT_STREAM_HEADERS[..]),
        ("EVENT_STREAM_HEADERS", &EVENT_STREAM_HEADERS[..]),
    ] {
        let start = js
            .find(&format!("const {name} = "))
            .unwrap_or_else(|| panic!("stream.js has no {name}"));
        let rest = &js[start + name.len() + 9..];
        let literal = &rest[..rest.find(";\n").expect("the constant ends")];
        let parsed: Vec<(String, String)> =
            serde_json::from_str(literal).expect("a JSON list of pairs");
        let expected: Vec<(String, String)> = table
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        assert_eq!(
            parsed, expected,
            "stream.js `{name}` differs from src/ui/stream.rs"
        );
    }
}
