//! OpenAI Chat Completions (`POST /v1/chat/completions`), also spoken by most
//! "OpenAI-compatible" servers. Only the first choice is read: requests never ask for
//! more than one (`n` is left at its default).

use super::json::{self, object, opt_array, opt_index, opt_object, opt_str, tokens};
use super::{Message, Part, Request, Response, Role, Source, StreamPart, ToolCall, WireError};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

pub fn request_body(request: &Request) -> Result<Value, WireError> {
    let mut messages = Vec::with_capacity(request.messages.len());
    for (i, m) in request.messages.iter().enumerate() {
        super::check(m, i)?;
        messages.push(message(m, i)?);
    }
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        // Not `max_completion_tokens`: compatible servers widely accept only this name.
        "max_tokens": request.max_output_tokens,
    });
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                let mut function = json!({ "name": t.name, "parameters": t.parameters });
                if !t.description.is_empty() {
                    function["description"] = json!(t.description);
                }
                json!({ "type": "function", "function": function })
            })
            .collect();
        body["tools"] = Value::Array(tools);
    }
    if let Some(output) = &request.output {
        // Not `strict`: strict mode rejects schemas that leave properties optional or
        // allow others, and the run checks the answer against the schema itself.
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": { "name": output.name, "schema": output.schema },
        });
    }
    if request.stream {
        body["stream"] = json!(true);
        // Without it a stream reports no token usage at all.
        body["stream_options"] = json!({ "include_usage": true });
    }
    Ok(body)
}

fn message(m: &Message, position: usize) -> Result<Value, WireError> {
    Ok(match m.role {
        Role::System => json!({ "role": "system", "content": m.content }),
        Role::User if m.parts.is_empty() => json!({ "role": "user", "content": m.content }),
        Role::User => {
            let content = m
                .parts
                .iter()
                .enumerate()
                .map(|(j, p)| content_part(p, position, j))
                .collect::<Result<Vec<Value>, WireError>>()?;
            json!({ "role": "user", "content": content })
        }
        Role::Tool => json!({
            "role": "tool",
            "tool_call_id": m.tool_call_id.as_deref().unwrap_or_default(),
            "content": m.content,
        }),
        Role::Assistant if m.tool_calls.is_empty() => {
            json!({ "role": "assistant", "content": m.content })
        }
        Role::Assistant => {
            let calls: Vec<Value> = m
                .tool_calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "type": "function",
                        "function": { "name": c.name, "arguments": c.arguments },
                    })
                })
                .collect();
            // The API documents null, not "", for an assistant turn that only calls tools.
            let content = if m.content.is_empty() {
                Value::Null
            } else {
                json!(m.content)
            };
            json!({ "role": "assistant", "content": content, "tool_calls": calls })
        }
    })
}

/// One part as a Chat Completions content part. Files go inline only: the API reads a file
/// from `file_data` or an uploaded `file_id`, never from a link.
fn content_part(p: &Part, position: usize, index: usize) -> Result<Value, WireError> {
    let inline = |data: &str, media_type: &str| format!("data:{media_type};base64,{data}");
    Ok(match (p, p.source()) {
        (Part::Text { text }, _) => json!({ "type": "text", "text": text }),
        (Part::Image { .. }, Some(Source::Url(url))) => {
            json!({ "type": "image_url", "image_url": { "url": url } })
        }
        (Part::Image { .. }, Some(Source::Data { data, media_type })) => {
            json!({ "type": "image_url", "image_url": { "url": inline(data, media_type) } })
        }
        (
            Part::File { filename, .. },
            Some(Source::Data { data, media_type }),
        ) => json!({ "type": "file", "file": {
            "file_data": inline(data, media_type),
            // The API asks for a name with inline data.
            "filename": filename.clone().unwrap_or_else(|| default_filename(media_type)),
        }}),
        _ => {
            return Err(WireError::unsupported(format!(
                "message {position}, part {index}: OpenAI Chat Completions reads files only as `data`, not by `url`"
            )))
        }
    })
}

/// `file.pdf` for `application/pdf`: a name whose extension says what the bytes are.
fn default_filename(media_type: &str) -> String {
    match media_type.split_once('/') {
        Some((_, sub)) if sub.bytes().all(|b| b.is_ascii_alphanumeric()) => format!("file.{sub}"),
        _ => "file".into(),
    }
}

pub fn parse_response(body: &str) -> Result<Response, WireError> {
    let value = json::parse(body, "response")?;
    let obj = object(&value, "response")?;
    if let Some(error) = obj.get("error").filter(|e| !e.is_null()) {
        return Err(json::provider_error(error));
    }
    let choice = opt_array(obj, "choices", "response")?
        .first()
        .ok_or_else(|| WireError::malformed("response has no choices"))?;
    let choice = object(choice, "choices[0]")?;
    let message = opt_object(choice, "message", "choices[0]")?
        .ok_or_else(|| WireError::malformed("choices[0] has no message"))?;
    let mut response = Response {
        finish_reason: opt_str(choice, "finish_reason", "choices[0]")?.map(str::to_owned),
        ..Response::default()
    };
    response.text.push_str(text_of(message, "message")?);
    for (i, call) in opt_array(message, "tool_calls", "message")?
        .iter()
        .enumerate()
    {
        let what = format!("message.tool_calls[{i}]");
        let call = object(call, &what)?;
        check_function_type(call, &what)?;
        let function = opt_object(call, "function", &what)?
            .ok_or_else(|| WireError::malformed(format!("{what} has no function")))?;
        response.tool_calls.push(ToolCall {
            id: opt_str(call, "id", &what)?.unwrap_or_default().to_owned(),
            name: opt_str(function, "name", &what)?
                .filter(|n| !n.is_empty())
                .ok_or_else(|| WireError::malformed(format!("{what} has no function name")))?
                .to_owned(),
            arguments: opt_str(function, "arguments", &what)?
                .unwrap_or_default()
                .to_owned(),
        });
    }
    if let Some(usage) = opt_object(obj, "usage", "response")? {
        response.input_tokens = tokens(usage, "prompt_tokens");
        response.output_tokens = tokens(usage, "completion_tokens");
    }
    Ok(response)
}

/// `content` plus `refusal`: a refusal is the model's visible answer, and dropping it
/// would leave the user with an empty reply. The API never sends both.
fn text_of<'a>(message: &'a Map<String, Value>, what: &str) -> Result<&'a str, WireError> {
    let content = opt_str(message, "content", what)?;
    let refusal = opt_str(message, "refusal", what)?;
    Ok(content
        .filter(|c| !c.is_empty())
        .or(refusal)
        .unwrap_or_default())
}

fn check_function_type(call: &Map<String, Value>, what: &str) -> Result<(), WireError> {
    match opt_str(call, "type", what)? {
        // Some compatible servers omit the type; "function" is the only one requested.
        None | Some("function") => Ok(()),
        Some(other) => Err(WireError::malformed(format!(
            "{what} has unsupported type `{other}`"
        ))),
    }
}

/// Turns the `data` of each SSE event into stream parts. One decoder per response.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: BTreeSet<usize>,
    last_index: Option<usize>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn event(&mut self, data: &str) -> Result<Vec<StreamPart>, WireError> {
        if data.trim() == "[DONE]" {
            return Ok(vec![StreamPart::Done]);
        }
        let value = json::parse(data, "stream chunk")?;
        let chunk = object(&value, "stream chunk")?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return Err(json::provider_error(error));
        }
        let mut parts = Vec::new();
        // `null` or `[]` choices: the trailing usage-only chunk, or a keep-alive.
        for choice in opt_array(chunk, "choices", "chunk")? {
            let choice = object(choice, "chunk.choices[]")?;
            if opt_index(choice, "index", "chunk.choices[]")?.unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = opt_object(choice, "delta", "chunk.choices[]")? {
                let text = text_of(delta, "delta")?;
                if !text.is_empty() {
                    parts.push(StreamPart::TextDelta(text.to_owned()));
                }
                for fragment in opt_array(delta, "tool_calls", "delta")? {
                    self.tool_fragment(fragment, &mut parts)?;
                }
            }
            if let Some(reason) = opt_str(choice, "finish_reason", "chunk.choices[]")? {
                parts.push(StreamPart::Finish {
                    reason: reason.to_owned(),
                });
            }
        }
        if let Some(usage) = opt_object(chunk, "usage", "chunk")? {
            let (input_tokens, output_tokens) = (
                tokens(usage, "prompt_tokens"),
                tokens(usage, "completion_tokens"),
            );
            if input_tokens.is_some() || output_tokens.is_some() {
                parts.push(StreamPart::Usage {
                    input_tokens,
                    output_tokens,
                });
            }
        }
        Ok(parts)
    }

    fn tool_fragment(
        &mut self,
        fragment: &Value,
        parts: &mut Vec<StreamPart>,
    ) -> Result<(), WireError> {
        const WHAT: &str = "delta.tool_calls[]";
        let fragment = object(fragment, WHAT)?;
        check_function_type(fragment, WHAT)?;
        let function = opt_object(fragment, "function", WHAT)?;
        let id = opt_str(fragment, "id", WHAT)?.filter(|s| !s.is_empty());
        let (name, arguments) = match function {
            Some(f) => (
                opt_str(f, "name", WHAT)?.filter(|s| !s.is_empty()),
                opt_str(f, "arguments", WHAT)?.unwrap_or_default(),
            ),
            None => (None, ""),
        };
        let index = match opt_index(fragment, "index", WHAT)? {
            Some(index) => index,
            // Some compatible servers omit `index`: a fragment with an id opens the next
            // call, one without continues the last.
            None if id.is_some() => self.started.last().map_or(0, |l| l.saturating_add(1)),
            None => self.last_index.ok_or_else(|| {
                WireError::malformed("tool call fragment has neither index nor id")
            })?,
        };
        if self.started.insert(index) {
            // The id may be missing on lenient servers, but a call without a name cannot
            // be dispatched, and it means the fragments are not what we think they are.
            let name = name.ok_or_else(|| {
                WireError::malformed(format!("tool call {index} starts without a function name"))
            })?;
            parts.push(StreamPart::ToolCallStart {
                index,
                id: id.unwrap_or_default().to_owned(),
                name: name.to_owned(),
            });
        }
        self.last_index = Some(index);
        if !arguments.is_empty() {
            parts.push(StreamPart::ToolCallDelta {
                index,
                arguments: arguments.to_owned(),
            });
        }
        Ok(())
    }
}

pub use super::json::{body_error_message as error_message, body_provider_error as provider_error};

#[cfg(test)]
mod tests {
    use super::super::test_support::{all_splits, file, image, parts_request, run_pieces};
    use super::super::{Accumulator, ToolSpec};
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// A recorded-shape stream: text, then two parallel tool calls whose arguments
    /// arrive in fragments (one containing non-ASCII), the finish chunk, and the
    /// `choices: []` usage-only chunk that `include_usage` adds before `[DONE]`.
    const TOOL_STREAM: &str = r#"data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{"content":"Vérifions "},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{"content":"les deux villes."},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_Xy12","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Par"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_Zw34","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"city\": \"Tōkyō\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"is\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}

data: {"id":"chatcmpl-AbC1","object":"chat.completion.chunk","created":1727000000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_a1b2","choices":[],"usage":{"prompt_tokens":82,"completion_tokens":47,"total_tokens":129,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0}}}

data: [DONE]

"#;

    fn tool_stream_response() -> Response {
        Response {
            text: "Vérifions les deux villes.".into(),
            tool_calls: vec![
                ToolCall {
                    id: "call_Xy12".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city": "Paris"}"#.into(),
                },
                ToolCall {
                    id: "call_Zw34".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city": "Tōkyō"}"#.into(),
                },
            ],
            input_tokens: Some(82),
            output_tokens: Some(47),
            finish_reason: Some("tool_calls".into()),
        }
    }

    fn run(pieces: &[&[u8]]) -> Result<Accumulator, WireError> {
        let mut decoder = StreamDecoder::new();
        run_pieces(pieces, |e| decoder.event(&e.data))
    }

    fn run_str(stream: &str) -> Result<Accumulator, WireError> {
        run(&[stream.as_bytes()])
    }

    fn chunk(choices: &str) -> String {
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":{choices}}}\n\n"
        )
    }

    #[test]
    fn a_recorded_tool_stream_accumulates_identically_at_every_split() {
        let want = tool_stream_response();
        for pieces in all_splits(TOOL_STREAM.as_bytes()) {
            let acc = run(&pieces).unwrap();
            assert!(acc.finished() && acc.done());
            assert_eq!(acc.into_response(), want, "pieces {:?}", pieces.len());
        }
    }

    #[test]
    fn crlf_endings_and_keepalive_comments_change_nothing() {
        // OpenRouter interleaves `: OPENROUTER PROCESSING` comments; some proxies use CRLF.
        let crlf = TOOL_STREAM
            .replace("\n\n", "\n: OPENROUTER PROCESSING\n\n")
            .replace('\n', "\r\n");
        for pieces in all_splits(crlf.as_bytes()) {
            assert_eq!(
                run(&pieces).unwrap().into_response(),
                tool_stream_response()
            );
        }
    }

    #[test]
    fn null_choices_and_missing_usage_yield_text_without_token_figures() {
        let stream = [
            chunk(
                r#"[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]"#,
            ),
            chunk("null"),
            chunk(r#"[{"index":0,"delta":{"content":" there"},"finish_reason":"stop"}]"#),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let acc = run_str(&stream).unwrap();
        assert!(acc.done());
        let r = acc.into_response();
        assert_eq!(r.text, "Hi there");
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!((r.input_tokens, r.output_tokens), (None, None));
    }

    #[test]
    fn choices_other_than_the_first_are_ignored() {
        let mut d = StreamDecoder::new();
        let parts = d
            .event(r#"{"choices":[{"index":1,"delta":{"content":"other"}},{"index":0,"delta":{"content":"mine"}}]}"#)
            .unwrap();
        assert_eq!(parts, vec![StreamPart::TextDelta("mine".into())]);
    }

    #[test]
    fn an_error_object_inside_the_stream_is_a_provider_error() {
        let stream = chunk(r#"[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]"#)
            + "data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
        let err = run_str(&stream).unwrap_err();
        assert_eq!(
            err,
            WireError::Provider {
                kind: "server_error".into(),
                message: "The server had an error while processing your request.".into(),
            }
        );
    }

    #[test]
    fn malformed_chunks_are_malformed() {
        for bad in [
            r#"{"choices":[{"delta":{"content":"x"}"#,
            "[1,2]",
            r#"{"choices":{"index":0}}"#,
            r#"{"choices":[{"index":0,"delta":{"content":5}}]}"#,
            r#"{"choices":[{"index":-1,"delta":{}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":"0"}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"type":"custom","custom":{}}]}}]}"#,
            r#"{"choices":[],"usage":[]}"#,
        ] {
            let err = StreamDecoder::new().event(bad).unwrap_err();
            assert!(matches!(err, WireError::Malformed { .. }), "{bad}: {err:?}");
        }
    }

    #[test]
    fn a_stream_cut_off_before_done_keeps_what_arrived() {
        let cut = TOOL_STREAM
            .find("data: {\"id\":\"chatcmpl-AbC1\",\"object\":\"chat.completion.chunk\",\"created\":1727000000,\"model\":\"gpt-4o-2024-08-06\",\"system_fingerprint\":\"fp_a1b2\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\"")
            .unwrap();
        // Cut in the middle of an event: the SSE layer discards the partial event.
        let acc = run_str(&TOOL_STREAM[..cut + 40]).unwrap();
        assert!(!acc.finished() && !acc.done());
        let r = acc.into_response();
        assert_eq!(r.text, "Vérifions les deux villes.");
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].arguments, r#"{"city": "Par"#);
        assert_eq!(r.tool_calls[1].arguments, "");
        assert_eq!(r.finish_reason, None);
    }

    #[test]
    fn finished_but_not_done_when_cut_before_the_usage_chunk() {
        let cut = TOOL_STREAM.find(r#""choices":[],"usage""#).unwrap();
        let acc = run_str(&TOOL_STREAM[..cut]).unwrap();
        assert!(acc.finished() && !acc.done());
        assert_eq!(acc.response().input_tokens, None);
    }

    #[test]
    fn indexless_fragments_open_a_call_per_id_and_continue_the_last() {
        let mut d = StreamDecoder::new();
        let mut acc = Accumulator::new();
        for data in [
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
        ] {
            acc.extend(d.event(data).unwrap());
        }
        let calls = acc.into_response().tool_calls;
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].id.as_str(), calls[0].arguments.as_str()),
            ("a", "{\"x\":1}")
        );
        assert_eq!(
            (calls[1].name.as_str(), calls[1].arguments.as_str()),
            ("g", "{}")
        );
    }

    #[test]
    fn request_body_maps_every_role_tools_and_streaming() {
        let request = Request {
            model: "gpt-4o".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("Weather in Paris?"),
                Message::assistant_with_tools(
                    "",
                    vec![ToolCall {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    }],
                ),
                Message::tool_result("call_1", "18°C"),
                Message::assistant("18°C in Paris."),
            ],
            tools: vec![ToolSpec {
                name: "get_weather".into(),
                description: "Current weather".into(),
                parameters: json!({"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}),
            }],
            max_output_tokens: 256,
            stream: true,
            output: None,
        };
        assert_eq!(
            request_body(&request).unwrap(),
            json!({
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Weather in Paris?"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                    ]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
                    {"role": "assistant", "content": "18°C in Paris."},
                ],
                "tools": [{"type": "function", "function": {
                    "name": "get_weather", "description": "Current weather",
                    "parameters": {"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},
                }}],
                "max_tokens": 256,
                "stream": true,
                "stream_options": {"include_usage": true},
            })
        );
    }

    #[test]
    fn a_plain_request_has_no_stream_or_tools_keys() {
        let body = request_body(&Request {
            model: "m".into(),
            messages: vec![Message::user("hi")],
            tools: vec![],
            max_output_tokens: 5,
            stream: false,
            output: None,
        })
        .unwrap();
        assert_eq!(
            body,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
        );
    }

    #[test]
    fn structured_output_asks_for_its_json_schema() {
        let schema = json!({ "type": "object", "required": ["city"] });
        let body = request_body(&Request {
            model: "m".into(),
            messages: vec![Message::user("hi")],
            tools: vec![],
            max_output_tokens: 5,
            stream: false,
            output: Some(super::super::OutputSpec {
                name: "place".into(),
                schema: schema.clone(),
            }),
        })
        .unwrap();
        assert_eq!(
            body["response_format"],
            json!({ "type": "json_schema", "json_schema": { "name": "place", "schema": schema } })
        );
        assert!(body.get("tools").is_none());
    }

    #[test]
    fn request_body_refuses_unexpressible_messages() {
        let mut tool = Message::tool_result("x", "r");
        tool.tool_call_id = None;
        let mut user = Message::user("u");
        user.tool_calls.push(ToolCall::default());
        for m in [tool, user] {
            let req = Request {
                model: "m".into(),
                messages: vec![m],
                tools: vec![],
                max_output_tokens: 1,
                stream: false,
                output: None,
            };
            assert!(matches!(
                request_body(&req),
                Err(WireError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn parses_a_text_response() {
        let body = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1727000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#;
        assert_eq!(
            parse_response(body).unwrap(),
            Response {
                text: "Hello!".into(),
                tool_calls: vec![],
                input_tokens: Some(9),
                output_tokens: Some(3),
                finish_reason: Some("stop".into()),
            }
        );
    }

    #[test]
    fn parses_tool_calls_with_null_content_and_no_usage() {
        let body = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"rust\"}"}}]},"finish_reason":"tool_calls"}]}"#;
        let r = parse_response(body).unwrap();
        assert_eq!(r.text, "");
        assert_eq!(
            r.tool_calls,
            vec![ToolCall {
                id: "call_9".into(),
                name: "lookup".into(),
                arguments: r#"{"q":"rust"}"#.into(),
            }]
        );
        assert_eq!((r.input_tokens, r.output_tokens), (None, None));
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn a_refusal_is_the_text() {
        let body = r#"{"choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}"#;
        assert_eq!(
            parse_response(body).unwrap().text,
            "I can't help with that."
        );
    }

    #[test]
    fn bad_responses_are_malformed_and_error_bodies_are_provider_errors() {
        for bad in [
            "",
            "not json",
            r#"{"choices":[]}"#,
            r#"{"choices":[{"index":0}]}"#,
            r#"{"choices":[{"message":{"content":["a"]}}]}"#,
            r#"{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}}]}"#,
            "[]",
        ] {
            assert!(
                matches!(parse_response(bad), Err(WireError::Malformed { .. })),
                "{bad}"
            );
        }
        let body = r#"{"error":{"message":"Incorrect API key provided: sk-abc.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        assert_eq!(
            parse_response(body).unwrap_err(),
            WireError::Provider {
                kind: "invalid_request_error".into(),
                message: "Incorrect API key provided: sk-abc.".into(),
            }
        );
    }

    #[test]
    fn error_message_reads_http_error_bodies() {
        let quota = r#"{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(
            error_message(quota).as_deref(),
            Some("You exceeded your current quota.")
        );
        assert!(matches!(
            provider_error(quota),
            Some(WireError::Provider { kind, .. }) if kind == "insufficient_quota"
        ));
        let code_only =
            r#"{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}"#;
        assert!(matches!(
            provider_error(code_only),
            Some(WireError::Provider { kind, .. }) if kind == "rate_limit_exceeded"
        ));
        assert_eq!(
            error_message(r#"{"error":"model not found"}"#).as_deref(),
            Some("model not found")
        );
        assert_eq!(error_message("<html>502 Bad Gateway</html>"), None);
        assert_eq!(error_message(r#"{"choices":[]}"#), None);
        assert_eq!(error_message(r#"{"error":null}"#), None);
    }

    #[test]
    fn parts_become_a_content_array_in_order() {
        let body = request_body(&parts_request(vec![
            Part::text("compare"),
            image(Some("https://x.test/a.png"), None),
            image(None, Some("aGk=")),
            file(None, Some("JVBERg=="), "application/pdf", Some("r.pdf")),
            file(None, Some("JVBERg=="), "application/pdf", None),
            Part::text("briefly"),
        ]))
        .unwrap();
        assert_eq!(
            body["messages"][0],
            json!({"role": "user", "content": [
                {"type": "text", "text": "compare"},
                {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "r.pdf"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "file.pdf"}},
                {"type": "text", "text": "briefly"},
            ]})
        );
    }

    #[test]
    fn a_file_by_link_is_unsupported() {
        let e = request_body(&parts_request(vec![
            Part::text("read"),
            file(Some("https://x.test/r.pdf"), None, "application/pdf", None),
        ]))
        .unwrap_err();
        assert!(
            matches!(&e, WireError::Unsupported { feature } if feature.contains("part 1")),
            "{e:?}"
        );
        let mut assistant = Message::assistant("a");
        assistant.parts.push(Part::text("a"));
        let mut req = parts_request(vec![Part::text("x")]);
        req.messages.push(assistant);
        assert!(matches!(
            request_body(&req),
            Err(WireError::Malformed { .. })
        ));
    }
}
