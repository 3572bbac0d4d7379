//! Anthropic Messages (`POST /v1/messages`).

use super::json::{self, object, opt_index, opt_object, opt_str, tokens};
use super::{Part, Request, Response, Role, Source, StreamPart, ToolCall, WireError};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Builds the body. Anthropic has no system role and wants strictly alternating turns,
/// so system messages are lifted to the top-level `system` (joined with blank lines,
/// wherever they appeared) and consecutive turns of the same side are merged. Empty
/// text is left out, and a turn left with no content dropped, because the API rejects
/// empty text blocks.
pub fn request_body(request: &Request) -> Result<Value, WireError> {
    let mut system: Vec<&str> = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, m) in request.messages.iter().enumerate() {
        super::check(m, i)?;
        let mut blocks = Vec::new();
        let role = match m.role {
            Role::System => {
                if !m.content.is_empty() {
                    system.push(&m.content);
                }
                continue;
            }
            Role::User if m.parts.is_empty() => {
                push_text(&mut blocks, &m.content);
                "user"
            }
            Role::User => {
                for (j, p) in m.parts.iter().enumerate() {
                    match p {
                        Part::Text { text } => push_text(&mut blocks, text),
                        _ => blocks.push(media_block(p, i, j)?),
                    }
                }
                "user"
            }
            Role::Assistant => {
                push_text(&mut blocks, &m.content);
                for call in &m.tool_calls {
                    blocks.push(json!({
                        "type": "tool_use",
                        "id": call.id,
                        "name": call.name,
                        "input": tool_input(call, i)?,
                    }));
                }
                "assistant"
            }
            Role::Tool => {
                let mut block = json!({
                    "type": "tool_result",
                    "tool_use_id": m.tool_call_id.as_deref().unwrap_or_default(),
                });
                if !m.content.is_empty() {
                    block["content"] = json!(m.content);
                }
                blocks.push(block);
                "user"
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, merged)) if *last == role => merged.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, mut content)| {
            // The API requires tool results to lead their user turn; a stable sort keeps
            // their order and that of the text after them.
            content.sort_by_key(|b| b.get("type").and_then(Value::as_str) != Some("tool_result"));
            json!({ "role": role, "content": content })
        })
        .collect();
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_output_tokens,
        "messages": messages,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    let mut tools: Vec<Value> = request
        .tools
        .iter()
        .map(|t| {
            let mut tool = json!({ "name": t.name, "input_schema": t.parameters });
            if !t.description.is_empty() {
                tool["description"] = json!(t.description);
            }
            tool
        })
        .collect();
    // Anthropic has no JSON mode: the output is a tool the model must call, whose input is
    // the answer. With other tools it may call those first ("any"), and ends by calling
    // this one; alone, it is forced.
    if let Some(output) = &request.output {
        body["tool_choice"] = match tools.is_empty() {
            true => json!({ "type": "tool", "name": output.name }),
            false => json!({ "type": "any" }),
        };
        tools.push(json!({
            "name": output.name,
            "description": "Give your final answer by calling this tool; its input is the answer.",
            "input_schema": output.schema,
        }));
    }
    if !tools.is_empty() {
        body["tools"] = Value::Array(tools);
    }
    if request.stream {
        body["stream"] = json!(true);
    }
    Ok(body)
}

/// An image or PDF as a content block; the Messages API reads no other file type as bytes
/// or link (plain text goes in as text).
fn media_block(p: &Part, position: usize, index: usize) -> Result<Value, WireError> {
    let kind = match p {
        Part::Image { .. } => "image",
        Part::File { media_type, .. } if media_type.eq_ignore_ascii_case("application/pdf") => {
            "document"
        }
        Part::File { media_type, .. } => {
            return Err(WireError::unsupported(format!(
                "message {position}, part {index}: Anthropic reads PDF files, not {media_type}"
            )))
        }
        Part::Text { .. } => "text",
    };
    let source = match p.source() {
        Some(Source::Url(url)) => json!({ "type": "url", "url": url }),
        Some(Source::Data { data, media_type }) => {
            json!({ "type": "base64", "media_type": media_type, "data": data })
        }
        None => {
            return Err(WireError::malformed(format!(
                "message {position}, part {index}: has neither `url` nor `data`"
            )))
        }
    };
    let mut block = json!({ "type": kind, "source": source });
    if let Part::File {
        filename: Some(name),
        ..
    } = p
    {
        block["title"] = json!(name);
    }
    Ok(block)
}

fn push_text(blocks: &mut Vec<Value>, text: &str) {
    if !text.is_empty() {
        blocks.push(json!({ "type": "text", "text": text }));
    }
}

/// Anthropic takes a tool call's input as an object, not text. Empty arguments mean "no
/// arguments": that is what a streamed call to a parameterless tool accumulates to.
/// Anything else unparseable is refused, since guessing would replay a different call
/// than the model made.
fn tool_input(call: &ToolCall, position: usize) -> Result<Value, WireError> {
    if call.arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(&call.arguments) {
        Ok(input @ Value::Object(_)) => Ok(input),
        Ok(_) => Err(WireError::malformed(format!(
            "message {position}: arguments of tool call `{}` are not a JSON object",
            call.id
        ))),
        Err(e) => Err(WireError::malformed(format!(
            "message {position}: arguments of tool call `{}` are not JSON: {e}",
            call.id
        ))),
    }
}

/// Counted like OpenAI's `prompt_tokens`, which include cached tokens: Anthropic reports
/// cache writes and reads apart from `input_tokens`, and a tenant's prompt costs all three.
fn input_tokens(usage: &Map<String, Value>) -> Option<u64> {
    let base = tokens(usage, "input_tokens")?;
    let cached = ["cache_creation_input_tokens", "cache_read_input_tokens"]
        .iter()
        .filter_map(|k| tokens(usage, k))
        .fold(0u64, u64::saturating_add);
    Some(base.saturating_add(cached))
}

pub fn parse_response(body: &str) -> Result<Response, WireError> {
    let value = json::parse(body, "response")?;
    let obj = object(&value, "response")?;
    if opt_str(obj, "type", "response")? == Some("error") {
        return Err(json::provider_error(
            obj.get("error").unwrap_or(&Value::Null),
        ));
    }
    let Some(Value::Array(content)) = obj.get("content") else {
        return Err(WireError::malformed("response has no content array"));
    };
    let mut response = Response {
        finish_reason: opt_str(obj, "stop_reason", "response")?.map(str::to_owned),
        ..Response::default()
    };
    for (i, block) in content.iter().enumerate() {
        let what = format!("content[{i}]");
        let block = object(block, &what)?;
        match opt_str(block, "type", &what)? {
            Some("text") => response
                .text
                .push_str(opt_str(block, "text", &what)?.unwrap_or_default()),
            Some("tool_use") => {
                let (id, name) = tool_identity(block, &what)?;
                let arguments = match block.get("input") {
                    None | Some(Value::Null) => "{}".to_owned(),
                    Some(input) => input.to_string(),
                };
                response.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments,
                });
            }
            // Thinking, server-tool and future block types carry nothing the neutral
            // response can hold.
            _ => {}
        }
    }
    if let Some(usage) = opt_object(obj, "usage", "response")? {
        response.input_tokens = input_tokens(usage);
        response.output_tokens = tokens(usage, "output_tokens");
    }
    Ok(response)
}

fn tool_identity(block: &Map<String, Value>, what: &str) -> Result<(String, String), WireError> {
    let id = opt_str(block, "id", what)?.filter(|s| !s.is_empty());
    let name = opt_str(block, "name", what)?.filter(|s| !s.is_empty());
    match (id, name) {
        (Some(id), Some(name)) => Ok((id.to_owned(), name.to_owned())),
        _ => Err(WireError::malformed(format!(
            "{what}: tool_use needs an id and a name"
        ))),
    }
}

const KNOWN_EVENTS: [&str; 8] = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
];

/// Turns each SSE event into stream parts. One decoder per response.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Block indices opened as client `tool_use`. Other blocks (e.g. `server_tool_use`)
    /// also stream `input_json_delta`s, which must not become phantom tool calls.
    tool_blocks: BTreeSet<usize>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// `event_name` is the SSE `event:` field; the data's own `type` takes precedence
    /// since the API always sends both and they match.
    pub fn event(
        &mut self,
        event_name: Option<&str>,
        data: &str,
    ) -> Result<Vec<StreamPart>, WireError> {
        // "message" is the SSE default type, i.e. no name; a caller may pass it either way.
        let event_name = event_name.filter(|n| !n.is_empty() && *n != "message");
        // New event types may not even carry JSON; skipping them unparsed keeps today's
        // decoder working against tomorrow's API.
        if event_name.is_some_and(|name| !KNOWN_EVENTS.contains(&name)) {
            return Ok(Vec::new());
        }
        let value = json::parse(data, "stream event")?;
        let obj = object(&value, "stream event")?;
        let kind = opt_str(obj, "type", "stream event")?
            .or(event_name)
            .ok_or_else(|| WireError::malformed("stream event has no type"))?;
        let mut parts = Vec::new();
        match kind {
            "message_start" => {
                let usage = opt_object(obj, "message", kind)?
                    .map(|m| opt_object(m, "usage", "message_start.message"))
                    .transpose()?
                    .flatten();
                if let Some(usage) = usage {
                    push_usage(&mut parts, usage);
                }
            }
            "content_block_start" => {
                let index = block_index(obj, kind)?;
                let block = opt_object(obj, "content_block", kind)?.ok_or_else(|| {
                    WireError::malformed("content_block_start has no content_block")
                })?;
                match opt_str(block, "type", "content_block")? {
                    Some("text") => {
                        let text = opt_str(block, "text", "content_block")?.unwrap_or_default();
                        if !text.is_empty() {
                            parts.push(StreamPart::TextDelta(text.to_owned()));
                        }
                    }
                    Some("tool_use") => {
                        let (id, name) = tool_identity(block, "content_block")?;
                        self.tool_blocks.insert(index);
                        parts.push(StreamPart::ToolCallStart { index, id, name });
                        // The API starts with `{}` and streams the input as deltas; a
                        // proxy that sends the whole input up front must not lose it.
                        if let Some(Value::Object(input)) = block.get("input") {
                            if !input.is_empty() {
                                parts.push(StreamPart::ToolCallDelta {
                                    index,
                                    arguments: Value::Object(input.clone()).to_string(),
                                });
                            }
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = block_index(obj, kind)?;
                let delta = opt_object(obj, "delta", kind)?
                    .ok_or_else(|| WireError::malformed("content_block_delta has no delta"))?;
                match opt_str(delta, "type", "delta")? {
                    Some("text_delta") => {
                        let text = opt_str(delta, "text", "delta")?.unwrap_or_default();
                        if !text.is_empty() {
                            parts.push(StreamPart::TextDelta(text.to_owned()));
                        }
                    }
                    Some("input_json_delta") if self.tool_blocks.contains(&index) => {
                        let json = opt_str(delta, "partial_json", "delta")?.unwrap_or_default();
                        if !json.is_empty() {
                            parts.push(StreamPart::ToolCallDelta {
                                index,
                                arguments: json.to_owned(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(usage) = opt_object(obj, "usage", kind)? {
                    push_usage(&mut parts, usage);
                }
                if let Some(delta) = opt_object(obj, "delta", kind)? {
                    if let Some(reason) = opt_str(delta, "stop_reason", "message_delta.delta")? {
                        parts.push(StreamPart::Finish {
                            reason: reason.to_owned(),
                        });
                    }
                }
            }
            "message_stop" => parts.push(StreamPart::Done),
            "error" => {
                return Err(json::provider_error(
                    obj.get("error").unwrap_or(&Value::Null),
                ))
            }
            // content_block_stop and ping carry nothing to keep; unknown types are skipped.
            _ => {}
        }
        Ok(parts)
    }
}

fn block_index(obj: &Map<String, Value>, what: &str) -> Result<usize, WireError> {
    opt_index(obj, "index", what)?
        .ok_or_else(|| WireError::malformed(format!("{what} has no index")))
}

fn push_usage(parts: &mut Vec<StreamPart>, usage: &Map<String, Value>) {
    let (input_tokens, output_tokens) = (input_tokens(usage), tokens(usage, "output_tokens"));
    if input_tokens.is_some() || output_tokens.is_some() {
        parts.push(StreamPart::Usage {
            input_tokens,
            output_tokens,
        });
    }
}

// HTTP error bodies (`{"type":"error","error":{"type","message"}}`) read the same way as
// OpenAI's: one reader for both.
pub use super::json::{body_error_message as error_message, body_provider_error as provider_error};

#[cfg(test)]
mod tests {
    use super::super::test_support::{all_splits, file, image, parts_request, run_pieces};
    use super::super::{Accumulator, Message, ToolSpec};
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// A recorded-shape stream: cached input, a text block, a ping, a tool_use block whose
    /// input arrives as JSON fragments (the first empty, one split inside "°"), then the
    /// cumulative usage and stop reason, and message_stop.
    const TOOL_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":128,"output_tokens":2,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Je vérifie "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"la météo à Paris."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ris\", \"unit\": \"°C\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"#;

    fn tool_stream_response() -> Response {
        Response {
            text: "Je vérifie la météo à Paris.".into(),
            tool_calls: vec![ToolCall {
                id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                name: "get_weather".into(),
                arguments: r#"{"city": "Paris", "unit": "°C"}"#.into(),
            }],
            input_tokens: Some(600),
            output_tokens: Some(89),
            finish_reason: Some("tool_use".into()),
        }
    }

    fn run(pieces: &[&[u8]]) -> Result<Accumulator, WireError> {
        let mut decoder = StreamDecoder::new();
        run_pieces(pieces, |e| decoder.event(e.event.as_deref(), &e.data))
    }

    fn run_str(stream: &str) -> Result<Accumulator, WireError> {
        run(&[stream.as_bytes()])
    }

    fn request(messages: Vec<Message>) -> Request {
        Request {
            model: "claude-sonnet-4-20250514".into(),
            messages,
            tools: vec![],
            max_output_tokens: 1024,
            stream: false,
            output: None,
        }
    }

    #[test]
    fn structured_output_is_a_tool_the_model_must_end_with() {
        let schema = json!({ "type": "object", "required": ["city"] });
        let mut r = request(vec![Message::user("hi")]);
        r.output = Some(super::super::OutputSpec {
            name: "place".into(),
            schema: schema.clone(),
        });
        let body = request_body(&r).unwrap();
        assert_eq!(
            body["tool_choice"],
            json!({ "type": "tool", "name": "place" })
        );
        assert_eq!(body["tools"][0]["name"], "place");
        assert_eq!(body["tools"][0]["input_schema"], schema);
        // With tools of its own the model may call those first, and must end with a tool.
        r.tools.push(super::super::ToolSpec {
            name: "weather".into(),
            description: String::new(),
            parameters: json!({ "type": "object" }),
        });
        let body = request_body(&r).unwrap();
        assert_eq!(body["tool_choice"], json!({ "type": "any" }));
        let names: Vec<&str> = body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["weather", "place"]);
    }

    fn call(id: &str, arguments: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "get_weather".into(),
            arguments: arguments.into(),
        }
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
    fn crlf_and_missing_event_names_change_nothing() {
        let crlf = TOOL_STREAM.replace('\n', "\r\n");
        assert_eq!(
            run_str(&crlf).unwrap().into_response(),
            tool_stream_response()
        );
        // The data's `type` alone is enough.
        let unnamed: String = TOOL_STREAM
            .lines()
            .filter(|l| !l.starts_with("event:"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            run_str(&unnamed).unwrap().into_response(),
            tool_stream_response()
        );
    }

    #[test]
    fn an_error_event_mid_stream_is_a_provider_error() {
        let cut = TOOL_STREAM.find("event: content_block_stop").unwrap();
        let stream = format!(
            "{}event: error\ndata: {{\"type\": \"error\", \"error\": {{\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}}}\n\n",
            &TOOL_STREAM[..cut]
        );
        assert_eq!(
            run_str(&stream).unwrap_err(),
            WireError::Provider {
                kind: "overloaded_error".into(),
                message: "Overloaded".into(),
            }
        );
    }

    #[test]
    fn unknown_events_and_foreign_blocks_are_ignored() {
        let mut d = StreamDecoder::new();
        // A future event name, even with non-JSON data.
        assert_eq!(d.event(Some("future_event"), "not json").unwrap(), vec![]);
        // A future type with no event name.
        assert_eq!(
            d.event(None, r#"{"type":"future_event","x":1}"#).unwrap(),
            vec![]
        );
        // The SSE default name counts as no name, so the data's type still decides.
        assert_eq!(
            d.event(Some("message"), r#"{"type":"message_stop"}"#)
                .unwrap(),
            vec![StreamPart::Done]
        );
        // Thinking and server-tool blocks and their deltas yield nothing.
        for (name, data) in [
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"query\":"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":1}"#,
            ),
            ("ping", r#"{"type":"ping"}"#),
        ] {
            assert_eq!(d.event(Some(name), data).unwrap(), vec![], "{data}");
        }
    }

    #[test]
    fn a_tool_use_start_with_its_input_up_front_keeps_it() {
        let parts = StreamDecoder::new()
            .event(
                None,
                r#"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"f","input":{"a":1}}}"#,
            )
            .unwrap();
        assert_eq!(
            parts,
            vec![
                StreamPart::ToolCallStart {
                    index: 2,
                    id: "t".into(),
                    name: "f".into()
                },
                StreamPart::ToolCallDelta {
                    index: 2,
                    arguments: r#"{"a":1}"#.into()
                },
            ]
        );
    }

    #[test]
    fn malformed_events_are_malformed() {
        for (name, data) in [
            (
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}"#,
            ),
            (Some("message_start"), "[]"),
            (None, r#"{"no":"type"}"#),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","content_block":{"type":"text","text":""}}"#,
            ),
            (
                Some("content_block_start"),
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","input":{}}}"#,
            ),
            (
                Some("content_block_delta"),
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":7}}"#,
            ),
            (
                Some("message_delta"),
                r#"{"type":"message_delta","delta":{"stop_reason":1}}"#,
            ),
        ] {
            let err = StreamDecoder::new().event(name, data).unwrap_err();
            assert!(
                matches!(err, WireError::Malformed { .. }),
                "{data}: {err:?}"
            );
        }
    }

    #[test]
    fn a_stream_cut_off_before_message_stop_keeps_what_arrived() {
        let cut = TOOL_STREAM.find("ris\\\"").unwrap();
        let acc = run_str(&TOOL_STREAM[..cut]).unwrap();
        assert!(!acc.finished() && !acc.done());
        let r = acc.into_response();
        assert_eq!(r.text, "Je vérifie la météo à Paris.");
        assert_eq!(r.tool_calls[0].arguments, r#"{"city": "Pa"#);
        // message_start's figures: input known, output only the initial placeholder.
        assert_eq!((r.input_tokens, r.output_tokens), (Some(600), Some(2)));
        assert_eq!(r.finish_reason, None);

        let cut = TOOL_STREAM.find("event: message_stop").unwrap();
        let acc = run_str(&TOOL_STREAM[..cut]).unwrap();
        assert!(acc.finished() && !acc.done());
    }

    #[test]
    fn request_body_lifts_system_merges_turns_and_orders_tool_results_first() {
        let mut req = request(vec![
            Message::system("You are terse."),
            Message::user("Weather in Paris"),
            Message::user("and Tokyo?"),
            Message::assistant_with_tools(
                "Checking.",
                vec![call("toolu_1", r#"{"city":"Paris"}"#), call("toolu_2", "")],
            ),
            Message::system("Use °C."),
            Message::tool_result("toolu_1", "18°C"),
            Message::tool_result("toolu_2", ""),
            Message::user("Thanks"),
            Message::assistant(""),
        ]);
        req.tools = vec![ToolSpec {
            name: "get_weather".into(),
            description: "Current weather".into(),
            parameters: json!({"type":"object","properties":{"city":{"type":"string"}}}),
        }];
        req.stream = true;
        assert_eq!(
            request_body(&req).unwrap(),
            json!({
                "model": "claude-sonnet-4-20250514",
                "max_tokens": 1024,
                "system": "You are terse.\n\nUse °C.",
                "messages": [
                    {"role": "user", "content": [
                        {"type": "text", "text": "Weather in Paris"},
                        {"type": "text", "text": "and Tokyo?"},
                    ]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}},
                    ]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C"},
                        {"type": "tool_result", "tool_use_id": "toolu_2"},
                        {"type": "text", "text": "Thanks"},
                    ]},
                ],
                "tools": [{
                    "name": "get_weather",
                    "description": "Current weather",
                    "input_schema": {"type":"object","properties":{"city":{"type":"string"}}},
                }],
                "stream": true,
            })
        );
    }

    #[test]
    fn a_tool_result_after_user_text_still_leads_the_turn() {
        let body = request_body(&request(vec![
            Message::user("note"),
            Message::tool_result("t1", "ok"),
        ]))
        .unwrap();
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
                {"type": "text", "text": "note"},
            ]}])
        );
        assert!(body.get("system").is_none() && body.get("stream").is_none());
    }

    #[test]
    fn unparseable_or_non_object_tool_arguments_are_refused() {
        for args in [r#"{"city":"Par"#, "[1]", "\"Paris\"", "null"] {
            let req = request(vec![
                Message::user("hi"),
                Message::assistant_with_tools("", vec![call("toolu_1", args)]),
            ]);
            let err = request_body(&req).unwrap_err();
            assert!(
                matches!(&err, WireError::Malformed { reason } if reason.contains("toolu_1")),
                "{args}: {err:?}"
            );
        }
    }

    #[test]
    fn a_streamed_tool_call_replays_into_the_next_request() {
        let call = run_str(TOOL_STREAM).unwrap().into_response().tool_calls;
        let body = request_body(&request(vec![
            Message::user("Weather?"),
            Message::assistant_with_tools("", call),
            Message::tool_result("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "18"),
        ]))
        .unwrap();
        assert_eq!(
            body["messages"][1]["content"][0]["input"],
            json!({"city": "Paris", "unit": "°C"})
        );
    }

    #[test]
    fn parses_a_response_with_text_and_tool_use() {
        let body = r#"{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"thinking","thinking":"...","signature":"x"},{"type":"text","text":"I'll check."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":2095,"cache_creation_input_tokens":5,"cache_read_input_tokens":null,"output_tokens":503}}"#;
        assert_eq!(
            parse_response(body).unwrap(),
            Response {
                text: "I'll check.".into(),
                tool_calls: vec![ToolCall {
                    id: "toolu_01A09q90qw90lq917835lq9".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                }],
                input_tokens: Some(2100),
                output_tokens: Some(503),
                finish_reason: Some("tool_use".into()),
            }
        );
    }

    #[test]
    fn parses_a_text_response_without_usage() {
        let body = r#"{"type":"message","role":"assistant","content":[{"type":"text","text":"Hi"},{"type":"text","text":" there"}],"stop_reason":"max_tokens"}"#;
        let r = parse_response(body).unwrap();
        assert_eq!(r.text, "Hi there");
        assert_eq!(r.finish_reason.as_deref(), Some("max_tokens"));
        assert_eq!((r.input_tokens, r.output_tokens), (None, None));
    }

    #[test]
    fn bad_responses_are_malformed_and_error_bodies_are_provider_errors() {
        for bad in [
            "",
            "{",
            "[]",
            r#"{"type":"message"}"#,
            r#"{"content":{}}"#,
            r#"{"content":[{"type":"text","text":1}]}"#,
            r#"{"content":[{"type":"tool_use","name":"f","input":{}}]}"#,
            r#"{"content":["text"]}"#,
        ] {
            assert!(
                matches!(parse_response(bad), Err(WireError::Malformed { .. })),
                "{bad}"
            );
        }
        let body = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_011"}"#;
        assert_eq!(
            parse_response(body).unwrap_err(),
            WireError::Provider {
                kind: "rate_limit_error".into(),
                message: "Number of request tokens has exceeded your per-minute rate limit".into(),
            }
        );
    }

    #[test]
    fn error_message_reads_http_error_bodies() {
        let body =
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-nope"}}"#;
        assert_eq!(error_message(body).as_deref(), Some("model: claude-nope"));
        assert!(matches!(
            provider_error(body),
            Some(WireError::Provider { kind, .. }) if kind == "not_found_error"
        ));
        assert_eq!(error_message("upstream connect error"), None);
        assert_eq!(
            error_message(r#"{"type":"error","error":{"type":"api_error"}}"#),
            None
        );
        assert_eq!(provider_error(r#"{"type":"message","content":[]}"#), None);
    }

    #[test]
    fn parts_become_image_and_document_blocks_in_order() {
        let body = request_body(&parts_request(vec![
            Part::text("compare"),
            image(Some("https://x.test/a.png"), None),
            image(None, Some("aGk=")),
            file(None, Some("JVBERg=="), "application/pdf", Some("r.pdf")),
            file(Some("https://x.test/r.pdf"), None, "application/pdf", None),
            Part::text(""),
        ]))
        .unwrap();
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": [
                {"type": "text", "text": "compare"},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}},
                {"type": "document", "title": "r.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERg=="}},
                {"type": "document", "source": {"type": "url", "url": "https://x.test/r.pdf"}},
            ]}])
        );
    }

    #[test]
    fn files_other_than_pdf_are_unsupported() {
        let e = request_body(&parts_request(vec![
            Part::text("read"),
            file(None, Some("aGk="), "text/csv", None),
        ]))
        .unwrap_err();
        assert!(
            matches!(&e, WireError::Unsupported { feature } if feature.contains("text/csv")),
            "{e:?}"
        );
    }
}
