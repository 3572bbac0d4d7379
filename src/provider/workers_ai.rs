//! Cloudflare Workers AI text generation through a Worker's AI binding
//! (`env.AI.run(model, inputs, options)`): the agent's request as the binding's `inputs`,
//! and what `run` resolves to (a JSON object, or a `ReadableStream` of SSE bytes) back as
//! the agent's raw response.
//!
//! JSON in, JSON out: the host calls the binding and hands the values over. The shapes
//! read are the documented ones of text generation models:
//!
//! - whole answers in the binding's own shape, `{ response, tool_calls, usage }`, where a
//!   tool call is `{ name, arguments }` ("traditional" function calling, arguments an
//!   object) or `{ id, type: "function", function: { name, arguments } }` (arguments JSON
//!   text), and `response` is an object under JSON mode;
//! - whole answers in the OpenAI-compatible shape newer models return, `{ choices: [{
//!   message: { content, tool_calls }, finish_reason }], usage }`;
//! - streams of `data: {...}` events in either shape (`response` text pieces and
//!   `tool_calls` fragments, or `choices[0].delta`), a usage report in one of the last
//!   events, and `data: [DONE]`;
//! - `usage: { prompt_tokens, completion_tokens }` in both shapes.
//!
//! Every reader is total on whatever a binding returns: a wrong shape is
//! `model_malformed`, never a panic, and a usage figure that is not a token count (negative,
//! fractional, not a number) fails the call rather than being guessed at.

use crate::error::{Error, Result};
use crate::message::Role;
use crate::model::{
    reported_tokens, ModelRequest, RawModelResponse, RawUsage, ReportedTokens, MAX_REPLY_BYTES,
};
use crate::parts::Part;
use crate::wire::SseDecoder;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Inputs tenantry writes itself; `options.inputs` may add others (`temperature`, `seed`,
/// ...) but not these.
pub const RESERVED_INPUTS: [&str; 7] = [
    "messages",
    "prompt",
    "tools",
    "functions",
    "stream",
    "max_tokens",
    "response_format",
];

/// What `workersAI(binding, model, options)` was given, less the binding itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The model's id (`@cf/meta/llama-3.3-70b-instruct-fp8-fast`): what `run` is called
    /// with, and the name the price table knows it by.
    pub model: String,
    /// Extra model inputs, sent with every call.
    pub inputs: Map<String, Value>,
    /// `options.gateway`, passed on as `run`'s `{ gateway }` option (AI Gateway).
    pub gateway: Option<Value>,
}

impl Settings {
    pub fn new(model: String, inputs: Option<Value>, gateway: Option<Value>) -> Result<Settings> {
        if model.trim().is_empty() || model.chars().any(char::is_control) {
            return Err(Error::config(
                "model",
                "must be a Workers AI model id, e.g. \"@cf/meta/llama-3.3-70b-instruct-fp8-fast\"",
            ));
        }
        let inputs = match inputs {
            None => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(Error::config("options.inputs", "must be an object")),
        };
        if let Some(k) = inputs
            .keys()
            .find(|k| RESERVED_INPUTS.contains(&k.as_str()))
        {
            return Err(Error::config(
                &format!("options.inputs.{k}"),
                "is written by tenantry from the run (messages, tools, maxOutputTokens, output, streaming)",
            ));
        }
        if gateway.as_ref().is_some_and(|g| !g.is_object()) {
            return Err(Error::config(
                "options.gateway",
                "must be an object, e.g. { id: \"my-gateway\" }",
            ));
        }
        Ok(Settings {
            model,
            inputs,
            gateway,
        })
    }
}

/// Whether to ask for a stream: only when someone reads the run's text as it arrives, and
/// never with JSON mode, which the documentation says does not stream.
pub fn wants_stream(request: &ModelRequest, streaming: bool) -> bool {
    streaming && request.output.is_none()
}

/// `run`'s third argument, less the `signal` the host adds.
pub fn run_options(settings: &Settings) -> Value {
    match &settings.gateway {
        Some(g) => json!({ "gateway": g }),
        None => json!({}),
    }
}

/// The binding's `inputs` for one call. Nothing in it names the user: a provider receives
/// the conversation and tools only.
pub fn inputs(settings: &Settings, request: &ModelRequest, stream: bool) -> Result<Value> {
    let mut out = settings.inputs.clone();
    out.insert("messages".into(), Value::Array(messages(request)?));
    let tools: Vec<Value> = request.tools.iter().filter_map(tool).collect();
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }
    let max_tokens = match request.max_output_tokens {
        // 0 is a request that named no bound (as `convert::to_wire` reads it).
        0 => crate::limits::DEFAULT_MAX_OUTPUT_TOKENS,
        n => n,
    };
    out.insert("max_tokens".into(), json!(max_tokens));
    if let Some(output) = &request.output {
        out.insert(
            "response_format".into(),
            json!({ "type": "json_schema", "json_schema": output.schema }),
        );
    }
    if stream {
        out.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(out))
}

/// `{ name, description, parameters }` as the OpenAI-style function tool both shapes of
/// model accept.
fn tool(t: &Value) -> Option<Value> {
    let name = t.get("name")?.as_str()?;
    let mut function = json!({
        "name": name,
        "parameters": t
            .get("parameters")
            .filter(|p| p.is_object())
            .cloned()
            .unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
    });
    if let Some(d) = t.get("description").and_then(Value::as_str) {
        function["description"] = json!(d);
    }
    Some(json!({ "type": "function", "function": function }))
}

/// Role-scoped messages with string content; an assistant's tool calls in the OpenAI
/// shape, and a tool result with its call's id and tool name (templates of older models
/// read the name, newer ones the id).
fn messages(request: &ModelRequest) -> Result<Vec<Value>> {
    let messages = request.messages();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(messages.len());
    for m in &messages {
        let message = match m.role {
            Role::System => json!({ "role": "system", "content": m.content }),
            Role::User => {
                if m.parts.iter().any(|p| !matches!(p, Part::Text { .. })) {
                    return Err(Error::Unsupported {
                        feature: "image and file parts: workersAI() sends text messages only"
                            .into(),
                    });
                }
                json!({ "role": "user", "content": m.content })
            }
            Role::Assistant if m.tool_calls.is_empty() => {
                json!({ "role": "assistant", "content": m.content })
            }
            Role::Assistant => {
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        names.insert(c.id.clone(), c.name.clone());
                        json!({
                            "id": c.id,
                            "type": "function",
                            "function": { "name": c.name, "arguments": c.arguments },
                        })
                    })
                    .collect();
                json!({ "role": "assistant", "content": m.content, "tool_calls": calls })
            }
            Role::Tool => {
                let id = m.tool_call_id.clone().unwrap_or_default();
                let mut message =
                    json!({ "role": "tool", "content": m.content, "tool_call_id": id });
                if let Some(name) = names.get(&id) {
                    message["name"] = json!(name);
                }
                message
            }
        };
        out.push(message);
    }
    Ok(out)
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::ModelMalformed {
        reason: reason.into(),
    }
}

/// What `run` resolved to when it is not a stream: either shape of whole answer.
pub fn from_output(output: &Value) -> Result<RawModelResponse> {
    let obj = output
        .as_object()
        .ok_or_else(|| malformed("env.AI.run resolved to something that is not an object"))?;
    let usage = usage(obj.get("usage"))?;
    if let Some(choices) = obj.get("choices") {
        return from_choices(choices, usage);
    }
    if !obj.contains_key("response") && !obj.contains_key("tool_calls") {
        return Err(malformed(
            "the answer has neither `response`, `tool_calls` nor `choices`",
        ));
    }
    let text = match obj.get("response") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        // JSON mode answers with the object itself.
        Some(v @ (Value::Object(_) | Value::Array(_))) => v.to_string(),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
    };
    let tool_calls = match obj.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => calls
            .iter()
            .enumerate()
            .map(|(i, c)| whole_tool_call(c, &format!("tool_calls[{i}]")))
            .collect::<Result<_>>()?,
        Some(_) => return Err(malformed("`tool_calls` is not an array")),
    };
    let finish = finish_reason(obj.get("finish_reason"), !tool_calls.is_empty());
    Ok(response(text, tool_calls, usage, finish))
}

fn from_choices(choices: &Value, usage: Option<RawUsage>) -> Result<RawModelResponse> {
    let choice = choices
        .as_array()
        .and_then(|c| c.first())
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("`choices` is not an array of at least one object"))?;
    let message = choice
        .get("message")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("choices[0] has no `message` object"))?;
    let text = match message.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(malformed("choices[0].message.content is not a string")),
    };
    let tool_calls = match message.get("tool_calls") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(calls)) => calls
            .iter()
            .enumerate()
            .map(|(i, c)| whole_tool_call(c, &format!("choices[0].message.tool_calls[{i}]")))
            .collect::<Result<_>>()?,
        Some(_) => return Err(malformed("choices[0].message.tool_calls is not an array")),
    };
    let finish = finish_reason(choice.get("finish_reason"), !tool_calls.is_empty());
    Ok(response(text, tool_calls, usage, finish))
}

fn response(
    text: String,
    tool_calls: Vec<Value>,
    usage: Option<RawUsage>,
    finish_reason: Option<String>,
) -> RawModelResponse {
    RawModelResponse {
        text: Some(text),
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        usage,
        finish_reason,
    }
}

/// The reported reason, in the names `FinishReason::parse` knows; without one, a reply
/// with tool calls stopped for them.
fn finish_reason(reported: Option<&Value>, has_calls: bool) -> Option<String> {
    match reported.and_then(Value::as_str) {
        Some(r) => Some(reason_name(r)),
        None if has_calls => Some("tool_calls".into()),
        None => None,
    }
}

/// Some models say `model_length` for what the others call `length`.
fn reason_name(reported: &str) -> String {
    match reported {
        "model_length" => "length".into(),
        r => r.to_owned(),
    }
}

/// A call's arguments as JSON text: the OpenAI shape sends text, the traditional shape an
/// object.
fn arguments_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "{}".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `{ name, arguments, id? }` or `{ id, type, function: { name, arguments } }` as the
/// agent's `{ id, name, arguments }`.
fn whole_tool_call(call: &Value, what: &str) -> Result<Value> {
    let call = call
        .as_object()
        .ok_or_else(|| malformed(format!("{what} is not an object")))?;
    let (name, arguments) = match call.get("function") {
        Some(Value::Object(f)) => (f.get("name"), f.get("arguments")),
        Some(_) => return Err(malformed(format!("{what}.function is not an object"))),
        None => (call.get("name"), call.get("arguments")),
    };
    let name = name
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| malformed(format!("{what} has no tool name")))?;
    let id = call.get("id").and_then(Value::as_str).unwrap_or_default();
    Ok(json!({ "id": id, "name": name, "arguments": arguments_text(arguments) }))
}

/// `usage: { prompt_tokens, completion_tokens }`. A figure left out is not reported (the
/// run estimates it); one present that is not a whole count in range fails the call.
fn usage(v: Option<&Value>) -> Result<Option<RawUsage>> {
    let o = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(malformed("`usage` is not an object")),
    };
    let figure = |key: &str| -> Result<Option<f64>> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_f64().map(reported_tokens) {
                Some(ReportedTokens::Whole(t)) => Ok(Some(t as f64)),
                _ => Err(malformed(format!("usage.{key} is {n}, not a token count"))),
            },
            Some(other) => Err(malformed(format!(
                "usage.{key} is {other}, not a token count"
            ))),
        }
    };
    Ok(Some(RawUsage {
        input_tokens: figure("prompt_tokens")?,
        output_tokens: figure("completion_tokens")?,
    }))
}

/// What `run` threw or rejected with, as the host read it: `{ name?, message }`. The
/// binding reports the service's refusals (an unknown model, capacity, bad inputs) as an
/// `InferenceUpstreamError` whose message starts with the service's error code:
/// `model_http` without a status (the binding does not say which), as the built-in
/// clients report a provider's error. Anything else, the binding's own `AiInternalError`
/// included (raised before any request), is `model_error`.
pub fn thrown(error: &Value) -> Error {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or("env.AI.run threw a non-Error value")
        .to_owned();
    match error.get("name").and_then(Value::as_str) {
        Some(kind @ "InferenceUpstreamError") => Error::ModelHttp {
            status: None,
            kind: kind.to_owned(),
            message,
            attempts: 1,
        },
        _ => Error::Model { message },
    }
}

/// A tool call being assembled from stream fragments.
#[derive(Debug, Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// A `stream: true` answer read chunk by chunk: SSE bytes in, text deltas out; the tool
/// calls, usage and finish reason kept for the answer.
#[derive(Debug)]
pub struct StreamReader {
    sse: SseDecoder,
    text: String,
    calls: Vec<PartialCall>,
    /// The provider's `index` of each call, to the call.
    by_index: BTreeMap<u64, usize>,
    usage: Option<RawUsage>,
    finish_reason: Option<String>,
    done: bool,
}

impl Default for StreamReader {
    fn default() -> Self {
        StreamReader::new()
    }
}

impl StreamReader {
    pub fn new() -> StreamReader {
        StreamReader {
            sse: SseDecoder::new(),
            text: String::new(),
            calls: Vec::new(),
            by_index: BTreeMap::new(),
            usage: None,
            finish_reason: None,
            done: false,
        }
    }

    /// The next bytes of the stream, cut anywhere; the text they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>> {
        let events = self
            .sse
            .push(bytes)
            .map_err(|e| malformed(format!("the stream: {e}")))?;
        let mut deltas = Vec::new();
        for event in events {
            self.event(&event.data, &mut deltas)?;
        }
        Ok(deltas)
    }

    fn event(&mut self, data: &str, deltas: &mut Vec<String>) -> Result<()> {
        if self.done {
            // Keep-alives or trailing bytes after the end marker are not part of the answer.
            return Ok(());
        }
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.trim().is_empty() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|e| malformed(format!("a stream event is not JSON: {e}")))?;
        let chunk = value
            .as_object()
            .ok_or_else(|| malformed("a stream event is not a JSON object"))?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| error.as_str())
                .unwrap_or("the stream reported an error");
            return Err(Error::Model {
                message: message.to_owned(),
            });
        }
        if let Some(u) = usage(chunk.get("usage"))? {
            // Per figure: a later report that leaves one out does not erase it.
            let kept = self.usage.get_or_insert_with(RawUsage::default);
            kept.input_tokens = u.input_tokens.or(kept.input_tokens);
            kept.output_tokens = u.output_tokens.or(kept.output_tokens);
        }
        if let Some(r) = chunk.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason_name(r));
        }
        match chunk.get("response") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => self.text_delta(s, deltas)?,
            Some(v @ (Value::Object(_) | Value::Array(_) | Value::Number(_) | Value::Bool(_))) => {
                self.text_delta(&v.to_string(), deltas)?
            }
        }
        if let Some(calls) = chunk.get("tool_calls").filter(|c| !c.is_null()) {
            self.fragments(calls, "tool_calls")?;
        }
        if let Some(choices) = chunk.get("choices").filter(|c| !c.is_null()) {
            let choices = choices
                .as_array()
                .ok_or_else(|| malformed("a stream event's `choices` is not an array"))?;
            if let Some(choice) = choices.first() {
                let choice = choice
                    .as_object()
                    .ok_or_else(|| malformed("a stream event's choices[0] is not an object"))?;
                if let Some(delta) = choice.get("delta").filter(|d| !d.is_null()) {
                    let delta = delta
                        .as_object()
                        .ok_or_else(|| malformed("choices[0].delta is not an object"))?;
                    match delta.get("content") {
                        None | Some(Value::Null) => {}
                        Some(Value::String(s)) => self.text_delta(s, deltas)?,
                        Some(_) => {
                            return Err(malformed("choices[0].delta.content is not a string"))
                        }
                    }
                    if let Some(calls) = delta.get("tool_calls").filter(|c| !c.is_null()) {
                        self.fragments(calls, "choices[0].delta.tool_calls")?;
                    }
                }
                if let Some(r) = choice.get("finish_reason").and_then(Value::as_str) {
                    self.finish_reason = Some(reason_name(r));
                }
            }
        }
        Ok(())
    }

    fn text_delta(&mut self, delta: &str, deltas: &mut Vec<String>) -> Result<()> {
        if delta.is_empty() {
            return Ok(());
        }
        if self.text.len() + delta.len() > MAX_REPLY_BYTES {
            return Err(malformed(format!(
                "the streamed reply passed {MAX_REPLY_BYTES} bytes"
            )));
        }
        self.text.push_str(delta);
        deltas.push(delta.to_owned());
        Ok(())
    }

    /// Tool call fragments of one event. With an `index` they join that call; without one,
    /// a fragment that names a tool is a call of its own (the traditional shape sends each
    /// call whole) and one that does not continues the last call. A fragment with no id,
    /// name or arguments (some models close their calls with one) is skipped.
    fn fragments(&mut self, calls: &Value, what: &str) -> Result<()> {
        let calls = calls
            .as_array()
            .ok_or_else(|| malformed(format!("a stream event's `{what}` is not an array")))?;
        for (i, fragment) in calls.iter().enumerate() {
            let at = format!("{what}[{i}]");
            let fragment = fragment
                .as_object()
                .ok_or_else(|| malformed(format!("{at} is not an object")))?;
            let (name, arguments) = match fragment.get("function") {
                Some(Value::Object(f)) => (f.get("name"), f.get("arguments")),
                None | Some(Value::Null) => (fragment.get("name"), fragment.get("arguments")),
                Some(_) => return Err(malformed(format!("{at}.function is not an object"))),
            };
            let name = match name {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.as_str()).filter(|s| !s.is_empty()),
                Some(_) => return Err(malformed(format!("{at}: the tool name is not a string"))),
            };
            let arguments = match arguments {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            let id = fragment
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            if id.is_none() && name.is_none() && arguments.is_empty() {
                continue;
            }
            let slot = match fragment.get("index") {
                Some(Value::Number(n)) => {
                    let index = n
                        .as_u64()
                        .ok_or_else(|| malformed(format!("{at}.index is {n}")))?;
                    let next = self.calls.len();
                    let slot = *self.by_index.entry(index).or_insert(next);
                    if slot == next {
                        self.calls.push(PartialCall::default());
                    }
                    slot
                }
                None | Some(Value::Null) if name.is_some() => {
                    self.calls.push(PartialCall::default());
                    self.calls.len() - 1
                }
                None | Some(Value::Null) => self.calls.len().checked_sub(1).ok_or_else(|| {
                    malformed(format!("{at} continues a tool call that never started"))
                })?,
                Some(other) => return Err(malformed(format!("{at}.index is {other}"))),
            };
            let call = &mut self.calls[slot];
            if let Some(id) = id {
                call.id = id.to_owned();
            }
            if let Some(name) = name {
                call.name = name.to_owned();
            }
            if call.arguments.len() + arguments.len() > MAX_REPLY_BYTES {
                return Err(malformed(format!(
                    "a streamed tool call passed {MAX_REPLY_BYTES} bytes"
                )));
            }
            call.arguments.push_str(&arguments);
        }
        Ok(())
    }

    /// The answer once the byte stream ended. A stream cut off before `data: [DONE]` and
    /// without a finish reason is an answer broken off part-way, refused whole.
    pub fn finish(mut self) -> Result<RawModelResponse> {
        let cut_mid_event = self.sse.finish();
        if !self.done && (self.finish_reason.is_none() || cut_mid_event) {
            return Err(malformed("the stream ended before `data: [DONE]`"));
        }
        let mut tool_calls = Vec::with_capacity(self.calls.len());
        for (i, c) in self.calls.into_iter().enumerate() {
            if c.name.is_empty() {
                return Err(malformed(format!(
                    "streamed tool call {i} has no tool name"
                )));
            }
            let arguments = if c.arguments.is_empty() {
                "{}".to_owned()
            } else {
                c.arguments
            };
            tool_calls.push(json!({ "id": c.id, "name": c.name, "arguments": arguments }));
        }
        let finish = match self.finish_reason {
            Some(r) => Some(r),
            None => finish_reason(None, !tool_calls.is_empty()),
        };
        Ok(response(self.text, tool_calls, self.usage, finish))
    }
}

#[cfg(test)]
mod tests;
