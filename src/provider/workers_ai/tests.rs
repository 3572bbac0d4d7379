// The Workers AI inputs and answer readers on the documented shapes: the traditional
// `{ response, tool_calls: [{ name, arguments }] }`, the OpenAI-compatible `choices`, JSON
// mode's object `response`, and SSE streams of both. The same tests run natively and under
// wasm-bindgen-test.
use super::*;
use crate::message::{Message, ToolCall};
use crate::model::{FinishReason, ModelResponse};
use crate::output::OutputSpec;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const MODEL: &str = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

fn settings() -> Settings {
    Settings::new(MODEL.into(), None, None).unwrap()
}

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

fn code(r: Result<RawModelResponse>) -> &'static str {
    r.err().map(|e| e.code()).unwrap_or("ok")
}

/// The answer as the agent validates it.
fn parsed(raw: RawModelResponse) -> ModelResponse {
    ModelResponse::from_raw(raw, 7, true).unwrap()
}

#[test]
fn a_tool_round_trip_becomes_role_scoped_messages_and_function_tools() {
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
            Message::user("Thanks"),
        ],
        vec![weather_tool(), json!({ "name": "no_schema" })],
    );
    let inputs = inputs(&settings(), &req, false).unwrap();
    assert_eq!(
        inputs,
        json!({
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Weather in Paris?" },
                { "role": "assistant", "content": "", "tool_calls": [
                    { "id": "call_1", "type": "function",
                      "function": { "name": "get_weather", "arguments": "{\"city\":\"Paris\"}" } },
                ] },
                { "role": "tool", "content": "{\"temperature\":21}", "tool_call_id": "call_1", "name": "get_weather" },
                { "role": "assistant", "content": "It is 21 °C." },
                { "role": "user", "content": "Thanks" },
            ],
            "tools": [
                { "type": "function", "function": {
                    "name": "get_weather", "description": "Current weather",
                    "parameters": { "type": "object", "properties": { "city": { "type": "string" } } },
                } },
                { "type": "function", "function": {
                    "name": "no_schema", "parameters": { "type": "object", "properties": {} },
                } },
            ],
            "max_tokens": 256,
        })
    );
    // Nothing names the user, the session or the run.
    let text = inputs.to_string();
    for secret in ["alice-secret-id", "conv-7", "run_abc"] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
}

#[test]
fn streaming_json_mode_extra_inputs_and_the_default_output_bound() {
    let mut req = request(vec![Message::user("Hi")], vec![]);
    req.max_output_tokens = 0;
    let s = Settings::new(
        MODEL.into(),
        Some(json!({ "temperature": 0.2, "seed": 7 })),
        Some(json!({ "id": "gw" })),
    )
    .unwrap();
    let streamed = inputs(&s, &req, true).unwrap();
    assert_eq!(streamed["stream"], json!(true));
    assert_eq!(streamed["temperature"], json!(0.2));
    assert_eq!(streamed["seed"], json!(7));
    assert_eq!(
        streamed["max_tokens"],
        json!(crate::limits::DEFAULT_MAX_OUTPUT_TOKENS)
    );
    assert!(streamed.get("tools").is_none() && streamed.get("response_format").is_none());
    assert_eq!(run_options(&s), json!({ "gateway": { "id": "gw" } }));
    assert_eq!(run_options(&settings()), json!({}));

    let schema = json!({ "type": "object", "properties": { "city": { "type": "string" } } });
    req.output = Some(OutputSpec {
        schema: schema.clone(),
        name: "place".into(),
    });
    // JSON mode does not stream: asked for even when the run streams.
    assert!(!wants_stream(&req, true));
    assert!(wants_stream(&request(vec![], vec![]), true));
    assert!(!wants_stream(&request(vec![], vec![]), false));
    let json_mode = inputs(&s, &req, false).unwrap();
    assert_eq!(
        json_mode["response_format"],
        json!({ "type": "json_schema", "json_schema": schema })
    );
    assert!(json_mode.get("stream").is_none());
}

#[test]
fn settings_refuse_empty_models_reserved_inputs_and_bad_gateways() {
    let field = |r: Result<Settings>| match r {
        Err(Error::InvalidConfig { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    for model in ["", "   ", "@cf/x\n"] {
        assert_eq!(field(Settings::new(model.into(), None, None)), "model");
    }
    for key in RESERVED_INPUTS {
        assert_eq!(
            field(Settings::new(MODEL.into(), Some(json!({ key: 1 })), None)),
            format!("options.inputs.{key}")
        );
    }
    assert_eq!(
        field(Settings::new(MODEL.into(), Some(json!([1])), None)),
        "options.inputs"
    );
    assert_eq!(
        field(Settings::new(MODEL.into(), None, Some(json!("gw")))),
        "options.gateway"
    );
}

#[test]
fn image_and_file_parts_are_refused_before_any_call() {
    let parts = vec![
        Part::Text {
            text: "What is this?".into(),
        },
        Part::Image {
            url: Some("https://example.com/a.png".into()),
            data: None,
            media_type: None,
        },
    ];
    let req = request(vec![Message::user_parts(parts)], vec![]);
    assert_eq!(
        inputs(&settings(), &req, false).unwrap_err().code(),
        "unsupported"
    );
    // Text parts alone are the message's text.
    let text_only = request(
        vec![Message::user_parts(vec![Part::Text { text: "Hi".into() }])],
        vec![],
    );
    assert_eq!(
        inputs(&settings(), &text_only, false).unwrap()["messages"][0],
        json!({ "role": "user", "content": "Hi" })
    );
}

#[test]
fn a_traditional_answer_with_usage() {
    let raw = from_output(&json!({
        "response": "Hello there.",
        "usage": { "prompt_tokens": 31, "completion_tokens": 4, "total_tokens": 35 },
    }))
    .unwrap();
    let r = parsed(raw);
    assert_eq!(r.text, "Hello there.");
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (31, 4));
    assert!(!r.usage.estimated);
    assert_eq!(r.finish_reason, FinishReason::Stop);
}

#[test]
fn traditional_tool_calls_carry_their_arguments_as_an_object() {
    let raw = from_output(&json!({
        "response": null,
        "tool_calls": [
            { "name": "get_weather", "arguments": { "city": "Paris" } },
            { "name": "get_time", "arguments": null },
        ],
        "usage": { "prompt_tokens": 80, "completion_tokens": 20 },
    }))
    .unwrap();
    let r = parsed(raw);
    assert_eq!(r.text, "");
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.tool_calls.len(), 2);
    assert_eq!(r.tool_calls[0].name, "get_weather");
    assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    assert_eq!(r.tool_calls[1].arguments, "{}");
    // The agent names calls that came without an id, each apart.
    assert_ne!(r.tool_calls[0].id, r.tool_calls[1].id);
}

#[test]
fn tool_calls_in_the_binding_shape_with_openai_functions() {
    let raw = from_output(&json!({
        "response": "",
        "tool_calls": [{ "id": "chatcmpl-tool-9", "type": "function",
                         "function": { "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}" } }],
    }))
    .unwrap();
    let r = parsed(raw);
    assert_eq!(r.tool_calls[0].id, "chatcmpl-tool-9");
    assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Oslo"}"#);
    // No usage reported: estimated, and flagged.
    assert!(r.usage.estimated);
}

#[test]
fn the_openai_compatible_shape_of_newer_models() {
    let raw = from_output(&json!({
        "id": "chatcmpl-1", "object": "chat.completion", "model": MODEL,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": null, "reasoning_content": "thinking...",
                         "tool_calls": [{ "id": "call_a", "type": "function",
                                          "function": { "name": "get_weather", "arguments": "{\"city\":\"Rome\"}" } }] },
            "finish_reason": "tool_calls",
        }],
        "usage": { "prompt_tokens": 120, "completion_tokens": 18, "total_tokens": 138 },
    }))
    .unwrap();
    let r = parsed(raw);
    assert_eq!(r.text, "", "reasoning is not the answer");
    assert_eq!(r.tool_calls[0].name, "get_weather");
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (120, 18));

    let text = parsed(
        from_output(&json!({
            "choices": [{ "message": { "content": "Ciao." }, "finish_reason": "length" }],
        }))
        .unwrap(),
    );
    assert_eq!(text.text, "Ciao.");
    assert_eq!(text.finish_reason, FinishReason::Length);
    let model_length = from_output(&json!({
        "choices": [{ "message": { "content": "Ciao" }, "finish_reason": "model_length" }],
    }))
    .unwrap();
    assert_eq!(parsed(model_length).finish_reason, FinishReason::Length);
}

#[test]
fn json_mode_answers_with_an_object_that_becomes_its_json_text() {
    let raw = from_output(&json!({
        "response": { "name": "India", "capital": "New Delhi", "languages": ["Hindi", "English"] },
    }))
    .unwrap();
    let text = raw.text.unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back["capital"], "New Delhi");
    assert_eq!(back["languages"][1], "English");
}

#[test]
fn wrong_shapes_are_model_malformed() {
    for bad in [
        json!(null),
        json!("text"),
        json!([1]),
        json!({}),
        json!({ "result": { "response": "hi" } }),
        json!({ "response": "x", "tool_calls": {} }),
        json!({ "response": "x", "tool_calls": [7] }),
        json!({ "tool_calls": [{ "arguments": {} }] }),
        json!({ "tool_calls": [{ "name": "" }] }),
        json!({ "tool_calls": [{ "function": "get_weather" }] }),
        json!({ "choices": [] }),
        json!({ "choices": {} }),
        json!({ "choices": [{ "message": { "content": 5 } }] }),
        json!({ "choices": [{ "delta": { "content": "x" } }] }),
        json!({ "response": "x", "usage": "lots" }),
    ] {
        assert_eq!(code(from_output(&bad)), "model_malformed", "{bad}");
    }
}

#[test]
fn a_usage_figure_that_is_not_a_token_count_fails_the_call() {
    for figure in [
        json!(-3),
        json!(2.5),
        json!(1e300),
        json!("12"),
        json!(true),
        json!({}),
    ] {
        for key in ["prompt_tokens", "completion_tokens"] {
            let out = json!({ "response": "hi", "usage": { key: figure.clone() } });
            assert_eq!(code(from_output(&out)), "model_malformed", "{out}");
        }
        let stream = format!(
            "data: {{\"response\":\"hi\"}}\n\ndata: {{\"response\":\"\",\"usage\":{{\"prompt_tokens\":{figure}}}}}\n\ndata: [DONE]\n\n"
        );
        assert_eq!(code(read_stream(&[stream.as_bytes()])), "model_malformed");
    }
    // Left out or null is unreported (then estimated), not an error.
    let raw =
        from_output(&json!({ "response": "hi", "usage": { "prompt_tokens": null } })).unwrap();
    assert!(parsed(raw).usage.estimated);
}

#[test]
fn what_the_binding_threw() {
    let e = thrown(&json!({ "name": "InferenceUpstreamError", "message": "5007: No such model" }));
    assert_eq!(e.code(), "model_http");
    assert!(e.to_string().contains("5007: No such model"));
    let e = thrown(&json!({ "name": "AiInternalError", "message": "Content-Type is required" }));
    assert_eq!(e.code(), "model_error");
    let e = thrown(&json!({ "name": "TypeError", "message": "boom" }));
    assert_eq!(e.code(), "model_error");
    assert!(e.to_string().contains("boom"));
    assert_eq!(thrown(&json!(null)).code(), "model_error");
}

/// A stream cut into the given pieces: the deltas in order, then the answer.
fn read_stream(pieces: &[&[u8]]) -> Result<RawModelResponse> {
    read_stream_deltas(pieces).map(|(_, r)| r)
}

fn read_stream_deltas(pieces: &[&[u8]]) -> Result<(Vec<String>, RawModelResponse)> {
    let mut reader = StreamReader::new();
    let mut deltas = Vec::new();
    for piece in pieces {
        deltas.extend(reader.push(piece)?);
    }
    Ok((deltas, reader.finish()?))
}

/// The traditional stream: `response` pieces (with the `p` padding field some models
/// add), an empty response carrying the usage, then `[DONE]`.
const TEXT_STREAM: &str = "data: {\"response\":\"Bonjour\",\"p\":\"abcdef\"}\n\n\
data: {\"response\":\", ça va\"}\n\n\
data: {\"response\":\" ?\"}\n\n\
data: {\"response\":\"\",\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":5,\"total_tokens\":17}}\n\n\
data: [DONE]\n\n";

#[test]
fn a_text_stream_gives_deltas_and_the_final_usage_however_it_is_cut() {
    let bytes = TEXT_STREAM.as_bytes();
    let whole = read_stream_deltas(&[bytes]).unwrap();
    assert_eq!(whole.0, vec!["Bonjour", ", ça va", " ?"]);
    let r = parsed(whole.1);
    assert_eq!(r.text, "Bonjour, ça va ?");
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (12, 5));
    assert_eq!(r.finish_reason, FinishReason::Stop);
    // Every two-piece cut (inside "ç" too), and one byte at a time.
    for cut in 0..=bytes.len() {
        let (a, b) = bytes.split_at(cut);
        let (deltas, raw) = read_stream_deltas(&[a, b]).unwrap();
        assert_eq!(deltas.concat(), "Bonjour, ça va ?");
        assert_eq!(raw.text.as_deref(), Some("Bonjour, ça va ?"));
    }
    let singles: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(
        read_stream(&singles).unwrap().text.as_deref(),
        Some("Bonjour, ça va ?")
    );
}

#[test]
fn streamed_tool_calls_in_the_binding_shape() {
    // Start, argument pieces, a second call, and the null finalization some models send.
    let stream = r#"data: {"response":"","tool_calls":[{"id":"chatcmpl-tool-1","type":"function","index":0,"function":{"name":"get_weather"}}]}

data: {"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]}

data: {"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}

data: {"tool_calls":[{"id":"chatcmpl-tool-2","type":"function","index":1,"function":{"name":"get_time","arguments":"{}"}}]}

data: {"tool_calls":[{"id":null,"type":null,"function":{"name":null,"arguments":""}}]}

data: {"response":"","usage":{"prompt_tokens":40,"completion_tokens":22}}

data: [DONE]

"#;
    let (deltas, raw) = read_stream_deltas(&[stream.as_bytes()]).unwrap();
    assert!(deltas.is_empty());
    let r = parsed(raw);
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.tool_calls.len(), 2);
    assert_eq!(r.tool_calls[0].id, "chatcmpl-tool-1");
    assert_eq!(r.tool_calls[0].arguments, r#"{"city": "Paris"}"#);
    assert_eq!(r.tool_calls[1].name, "get_time");
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (40, 22));
}

#[test]
fn whole_traditional_calls_in_a_stream_stay_apart() {
    let stream = r#"data: {"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}

data: {"tool_calls":[{"name":"get_weather","arguments":{"city":"Oslo"}}]}

data: [DONE]

"#;
    let r = parsed(read_stream(&[stream.as_bytes()]).unwrap());
    assert_eq!(r.tool_calls.len(), 2);
    assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
    assert_eq!(r.tool_calls[1].arguments, r#"{"city":"Oslo"}"#);
}

#[test]
fn an_openai_compatible_stream() {
    let stream = r#"data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}

data: {"id":"c1","choices":[{"index":0,"delta":{"reasoning_content":"hmm"},"finish_reason":null}]}

data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Let me check. "},"finish_reason":null}]}

data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_x","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}

data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\"Rome\"}"}}]},"finish_reason":null}]}

data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: {"id":"c1","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":9,"total_tokens":59}}

data: [DONE]

"#;
    let (deltas, raw) = read_stream_deltas(&[stream.as_bytes()]).unwrap();
    assert_eq!(deltas, vec!["Let me check. "]);
    let r = parsed(raw);
    assert_eq!(r.text, "Let me check. ");
    assert_eq!(r.tool_calls[0].id, "call_x");
    assert_eq!(r.tool_calls[0].arguments, r#"{"city":"Rome"}"#);
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (50, 9));
}

#[test]
fn broken_streams_are_refused() {
    for bad in [
        // Cut off before the end marker, with no finish reason.
        "data: {\"response\":\"Hel\"}\n\n",
        // Cut off inside an event.
        "data: {\"response\":\"Hel\"}\n\ndata: {\"resp",
        // Garbage, and NaN, which JSON cannot spell.
        "data: not json\n\ndata: [DONE]\n\n",
        "data: {\"response\":\"x\",\"usage\":{\"prompt_tokens\":NaN}}\n\ndata: [DONE]\n\n",
        "data: [1,2]\n\ndata: [DONE]\n\n",
        "data: {\"choices\":{}}\n\ndata: [DONE]\n\n",
        "data: {\"choices\":[{\"delta\":{\"content\":7}}]}\n\ndata: [DONE]\n\n",
        "data: {\"tool_calls\":{}}\n\ndata: [DONE]\n\n",
        "data: {\"tool_calls\":[{\"index\":-1,\"function\":{\"name\":\"x\"}}]}\n\ndata: [DONE]\n\n",
        "data: {\"tool_calls\":[{\"index\":\"0\",\"function\":{\"name\":\"x\"}}]}\n\ndata: [DONE]\n\n",
        "data: {\"tool_calls\":[{\"function\":{\"name\":5}}]}\n\ndata: [DONE]\n\n",
        // Arguments for a call that never started, and a call that never got a name.
        "data: {\"tool_calls\":[{\"arguments\":\"{}\"}]}\n\ndata: [DONE]\n\n",
        "data: {\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"arguments\":\"{}\"}}]}\n\ndata: [DONE]\n\n",
    ] {
        assert_eq!(code(read_stream(&[bad.as_bytes()])), "model_malformed", "{bad}");
    }
    // An error event ends the call with the service's message.
    let err = read_stream(&[b"data: {\"response\":\"a\"}\n\ndata: {\"error\":{\"message\":\"3040: Capacity temporarily exceeded\"}}\n\n"]);
    let err = err.unwrap_err();
    assert_eq!(err.code(), "model_error");
    assert!(err.to_string().contains("3040"));
    // A line far past any event's size.
    let mut reader = StreamReader::new();
    let huge = vec![b'a'; crate::wire::sse::DEFAULT_MAX_BYTES + 10];
    assert_eq!(
        reader.push(&huge).map(|_| ()).unwrap_err().code(),
        "model_malformed"
    );
}

#[test]
fn a_stream_ended_by_a_finish_reason_without_the_marker_is_whole() {
    let stream =
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\n";
    let r = parsed(read_stream(&[stream.as_bytes()]).unwrap());
    assert_eq!(r.text, "Hi");
    // Bytes after the end marker are not read as part of the answer.
    let after = "data: {\"response\":\"Hi\"}\n\ndata: [DONE]\n\ndata: garbage\n\n";
    assert_eq!(
        read_stream(&[after.as_bytes()]).unwrap().text.as_deref(),
        Some("Hi")
    );
}

#[test]
fn a_streamed_reply_past_the_reply_limit_is_refused() {
    let piece = "x".repeat(1 << 20);
    let event = format!("data: {{\"response\":\"{piece}\"}}\n\n");
    let mut reader = StreamReader::new();
    let mut failed = None;
    for _ in 0..5 {
        if let Err(e) = reader.push(event.as_bytes()) {
            failed = Some(e);
            break;
        }
    }
    assert_eq!(failed.map(|e| e.code()), Some("model_malformed"));
}
