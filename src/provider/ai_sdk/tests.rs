// The AI SDK call options and result readers on recorded shapes: what `@ai-sdk/*`
// providers and `MockLanguageModelV3` return. The same tests run natively and under
// wasm-bindgen-test.
use super::*;
use crate::message::ToolCall;
use crate::model::{FinishReason, ModelResponse};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn request(messages: Vec<Message>, tools: Vec<Value>) -> ModelRequest {
    ModelRequest {
        prompt: messages.into(),
        tools,
        max_output_tokens: 256,
        user_id: Some("alice-secret-id".into()),
        org_id: None,
        session_id: "conv-7".into(),
        run_id: "run_abc".into(),
        output: None,
    }
}

fn weather_tool() -> Value {
    json!({
        "name": "get_weather",
        "description": "Current weather",
        "parameters": { "type": "object", "properties": { "city": { "type": "string" } } },
    })
}

#[test]
fn a_conversation_with_a_tool_round_trip_becomes_v3_prompt_parts() {
    let call = ToolCall {
        id: "call_1".into(),
        name: "get_weather".into(),
        arguments: r#"{"city":"Paris"}"#.into(),
    };
    let req = request(
        vec![
            Message::system("Be brief."),
            Message::user("Weather in Paris?"),
            Message::assistant_with_tools("", vec![call]),
            Message::tool_result("call_1", r#"{"temperature":21}"#),
            Message::assistant("It is 21 °C."),
        ],
        vec![weather_tool()],
    );
    let options = call_options(&req);
    assert_eq!(
        options["prompt"],
        json!([
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": [{ "type": "text", "text": "Weather in Paris?" }] },
            { "role": "assistant", "content": [
                { "type": "tool-call", "toolCallId": "call_1", "toolName": "get_weather", "input": { "city": "Paris" } },
            ] },
            { "role": "tool", "content": [
                { "type": "tool-result", "toolCallId": "call_1", "toolName": "get_weather",
                  "output": { "type": "json", "value": { "temperature": 21 } } },
            ] },
            { "role": "assistant", "content": [{ "type": "text", "text": "It is 21 °C." }] },
        ])
    );
    assert_eq!(
        options["tools"],
        json!([{
            "type": "function",
            "name": "get_weather",
            "description": "Current weather",
            "inputSchema": { "type": "object", "properties": { "city": { "type": "string" } } },
        }])
    );
    assert_eq!(options["maxOutputTokens"], 256);
}

#[test]
fn the_call_options_name_no_user_session_or_run() {
    let req = request(vec![Message::user("hi")], Vec::new());
    let text = call_options(&req).to_string();
    for private in [
        "alice-secret-id",
        "conv-7",
        "run_abc",
        "userId",
        "sessionId",
    ] {
        assert!(!text.contains(private), "{private} in {text}");
    }
    assert!(
        call_options(&req).get("tools").is_none(),
        "no tools: none sent"
    );
}

#[test]
fn text_results_and_broken_arguments_stay_text() {
    let call = ToolCall {
        id: "c".into(),
        name: "t".into(),
        arguments: "{not json".into(),
    };
    let req = request(
        vec![
            Message::assistant_with_tools("Let me check.", vec![call]),
            Message::tool_result("c", "plain words"),
            Message::tool_result("unknown-call", "null"),
        ],
        vec![json!({ "name": "t" })],
    );
    let o = call_options(&req);
    let parts = &o["prompt"][0]["content"];
    assert_eq!(parts[0], json!({ "type": "text", "text": "Let me check." }));
    assert_eq!(parts[1]["input"], "{not json");
    assert_eq!(
        o["prompt"][1]["content"][0]["output"],
        json!({ "type": "text", "value": "plain words" })
    );
    assert_eq!(o["prompt"][2]["content"][0]["toolName"], "");
    // A tool with no schema gets the empty object schema the format requires.
    assert_eq!(o["tools"][0]["inputSchema"], json!({ "type": "object" }));
    assert!(o["tools"][0].get("description").is_none());
}

fn v3_usage(input: Value, output: Value) -> Value {
    json!({
        "inputTokens": { "total": input, "noCache": 8, "cacheRead": 2, "cacheWrite": null },
        "outputTokens": { "total": output, "text": 4, "reasoning": 1 },
    })
}

#[test]
fn a_v3_generate_result_reads_text_tool_calls_usage_and_finish_reason() {
    let result = json!({
        "content": [
            { "type": "reasoning", "text": "thinking about it" },
            { "type": "text", "text": "Checking " },
            { "type": "text", "text": "now." },
            { "type": "tool-call", "toolCallId": "call_9", "toolName": "get_weather", "input": "{\"city\":\"Oslo\"}" },
            { "type": "tool-call", "toolCallId": "srv", "toolName": "web_search", "input": "{}", "providerExecuted": true },
            { "type": "tool-result", "toolCallId": "srv", "toolName": "web_search", "result": {} },
            { "type": "source", "sourceType": "url", "id": "s", "url": "https://example.com" },
        ],
        "finishReason": { "unified": "tool-calls", "raw": "tool_calls" },
        "usage": v3_usage(json!(10), json!(5)),
        "warnings": [],
        "response": { "id": "r", "modelId": "m" },
    });
    let raw = from_generate(&result).unwrap();
    assert_eq!(raw.text.as_deref(), Some("Checking now."));
    assert_eq!(
        raw.tool_calls,
        Some(vec![
            json!({ "id": "call_9", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}" })
        ])
    );
    let r = ModelResponse::from_raw(raw, 99, true).unwrap();
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (10, 5));
    assert!(!r.usage.estimated);
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.tool_calls[0].name, "get_weather");
}

#[test]
fn a_v2_generate_result_reads_flat_usage_and_a_string_finish_reason() {
    let result = json!({
        "content": [{ "type": "text", "text": "Hello." }],
        "finishReason": "length",
        "usage": { "inputTokens": 7, "outputTokens": 3, "totalTokens": 10, "cachedInputTokens": 2, "reasoningTokens": 0 },
    });
    let r = ModelResponse::from_raw(from_generate(&result).unwrap(), 99, false).unwrap();
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (7, 3));
    assert_eq!(r.finish_reason, FinishReason::Length);
    let unknown = json!({ "content": [], "finishReason": "unknown" });
    let r = ModelResponse::from_raw(from_generate(&unknown).unwrap(), 99, false).unwrap();
    assert_eq!(r.finish_reason, FinishReason::Other);
    assert_eq!(r.text, "");
}

#[test]
fn missing_or_unusable_usage_is_estimated() {
    for usage in [
        Value::Null,
        json!({}),
        v3_usage(Value::Null, Value::Null),
        json!({ "inputTokens": "10", "outputTokens": [5] }),
    ] {
        let result = json!({ "content": [{ "type": "text", "text": "abcdefgh" }], "usage": usage });
        let r = ModelResponse::from_raw(from_generate(&result).unwrap(), 4, false).unwrap();
        assert!(r.usage.estimated, "{usage}");
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (4, 2));
        assert_eq!(r.finish_reason, FinishReason::Stop);
    }
}

#[test]
fn results_of_the_wrong_shape_are_malformed() {
    for bad in [
        json!(null),
        json!("text"),
        json!({}),
        json!({ "content": "hi" }),
        json!({ "content": [42] }),
        json!({ "content": [{ "text": "no type" }] }),
        json!({ "content": [{ "type": "text", "text": 5 }] }),
        json!({ "content": [{ "type": "tool-call", "toolCallId": "c", "input": "{}" }] }),
    ] {
        let e = from_generate(&bad).unwrap_err();
        assert_eq!(e.code(), "model_malformed", "{bad}");
    }
}

#[test]
fn a_stream_passes_deltas_on_and_keeps_calls_usage_and_reason() {
    let parts = [
        json!({ "type": "stream-start", "warnings": [] }),
        json!({ "type": "text-start", "id": "1" }),
        json!({ "type": "text-delta", "id": "1", "delta": "The answer" }),
        json!({ "type": "reasoning-delta", "id": "r", "delta": "hmm" }),
        json!({ "type": "text-delta", "id": "1", "textDelta": " is" }),
        json!({ "type": "text-delta", "id": "1", "delta": " 42." }),
        json!({ "type": "tool-input-delta", "id": "c", "delta": "{\"q\"" }),
        json!({ "type": "tool-call", "toolCallId": "c", "toolName": "t", "input": "{\"q\":1}" }),
        json!({ "type": "finish", "finishReason": { "unified": "stop", "raw": "stop" }, "usage": v3_usage(json!(30), json!(6)) }),
    ];
    let mut reader = StreamReader::new();
    let mut seen = Vec::new();
    for p in &parts {
        if let Some(d) = reader.push(p).unwrap() {
            seen.push(d);
        }
    }
    assert_eq!(seen, ["The answer", " is", " 42."]);
    let raw = reader.finish();
    assert_eq!(raw.tool_calls.as_ref().map(Vec::len), Some(1));
    let r = ModelResponse::from_raw(raw, 1, true).unwrap();
    assert_eq!(r.text, "The answer is 42.");
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (30, 6));
    assert_eq!(r.finish_reason, FinishReason::Stop);
}

#[test]
fn a_stream_without_finish_is_estimated() {
    let mut reader = StreamReader::new();
    reader
        .push(&json!({ "type": "text-delta", "id": "1", "delta": "abcd" }))
        .unwrap();
    let r = ModelResponse::from_raw(reader.finish(), 3, false).unwrap();
    assert!(r.usage.estimated);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (3, 1));
}

#[test]
fn an_error_part_or_a_bad_part_ends_the_stream() {
    let mut reader = StreamReader::new();
    let e = reader
        .push(&json!({ "type": "error", "error": { "message": "overloaded" } }))
        .unwrap_err();
    assert_eq!(
        e,
        Error::Model {
            message: "overloaded".into()
        }
    );
    for bad in [
        json!(7),
        json!({ "delta": "no type" }),
        json!({ "type": "text-delta", "delta": 5 }),
        json!({ "type": "text-delta" }),
        json!({ "type": "tool-call", "toolCallId": "c", "input": "{}" }),
    ] {
        let e = StreamReader::new().push(&bad).unwrap_err();
        assert_eq!(e.code(), "model_malformed", "{bad}");
    }
}

#[test]
fn a_stream_past_the_reply_bound_is_refused_as_it_grows() {
    let mut reader = StreamReader::new();
    let chunk = "x".repeat(1 << 20);
    let part = json!({ "type": "text-delta", "id": "1", "delta": chunk });
    for _ in 0..4 {
        reader.push(&part).unwrap();
    }
    assert_eq!(reader.push(&part).unwrap_err().code(), "model_malformed");
}

#[test]
fn what_a_model_threw_is_model_error_or_with_an_http_status_model_http() {
    assert_eq!(
        thrown(&json!({ "name": "Error", "message": "boom" })),
        Error::Model {
            message: "boom".into()
        }
    );
    assert_eq!(
        thrown(
            &json!({ "name": "AI_APICallError", "message": "Too Many Requests", "statusCode": 429 })
        ),
        Error::ModelHttp {
            status: Some(429),
            kind: "AI_APICallError".into(),
            message: "Too Many Requests".into(),
            attempts: 1,
        }
    );
    let from_js =
        thrown(&json!({ "name": "AI_APICallError", "message": "m", "statusCode": 503.0 }));
    assert_eq!(from_js.details()["status"], 503);
    for odd in [
        json!(null),
        json!({ "statusCode": 1e9 }),
        json!({ "statusCode": "500" }),
        json!({ "statusCode": 404.5 }),
    ] {
        assert_eq!(thrown(&odd).code(), "model_error", "{odd}");
    }
}

#[test]
fn structured_output_is_asked_for_as_a_json_response_format() {
    let mut r = request(vec![Message::user("where?")], vec![]);
    let schema = json!({ "type": "object", "required": ["city"] });
    r.output = Some(crate::output::OutputSpec::new(schema.clone(), Some("place".into())).unwrap());
    let options = call_options(&r);
    assert_eq!(
        options["responseFormat"],
        json!({ "type": "json", "schema": schema, "name": "place" })
    );
    assert!(call_options(&request(vec![Message::user("x")], vec![]))
        .get("responseFormat")
        .is_none());
}

#[test]
fn input_parts_become_text_and_file_parts() {
    let parts = vec![
        crate::parts::Part::text("What is this?"),
        crate::parts::Part::Image {
            url: None,
            data: Some("iVBORw0KGgo=".into()),
            media_type: Some("image/png".into()),
        },
        crate::parts::Part::Image {
            url: Some("https://example.com/cat.jpg".into()),
            data: None,
            media_type: None,
        },
        crate::parts::Part::File {
            url: None,
            data: Some("JVBERi0=".into()),
            media_type: "application/pdf".into(),
            filename: Some("a.pdf".into()),
        },
    ];
    let mut m = Message::user("What is this?");
    m.parts = parts;
    let options = call_options(&request(vec![m], vec![]));
    assert_eq!(
        options["prompt"][0]["content"],
        json!([
            { "type": "text", "text": "What is this?" },
            { "type": "file", "mediaType": "image/png", "data": "iVBORw0KGgo=" },
            { "type": "file", "mediaType": "image/*", "data": "https://example.com/cat.jpg" },
            { "type": "file", "mediaType": "application/pdf", "data": "JVBERi0=", "filename": "a.pdf" }
        ])
    );
}
