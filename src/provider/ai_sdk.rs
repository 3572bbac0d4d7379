//! Vercel AI SDK language models (`LanguageModelV2` and `LanguageModelV3`, what
//! `@ai-sdk/openai`, `@ai-sdk/anthropic`, `@ai-sdk/openai-compatible`, ... return): the
//! agent's request as the call options `doGenerate` and `doStream` take, and their results
//! and stream parts back as the agent's raw response.
//!
//! JSON in, JSON out: the host calls the model and hands the values over (the wasm binding
//! adds the run's `abortSignal`, and turns what a model threw into `thrown` JSON). Every
//! reader here is total on whatever a model returns: a wrong shape is `model_malformed`,
//! never a panic. Both versions send the same call options for what the agent uses; they
//! differ in how results report usage and finish reasons, which are read by shape.

use crate::error::{Error, Result};
use crate::message::{Message, Role};
use crate::model::{ModelRequest, RawModelResponse, RawUsage, MAX_REPLY_BYTES};
use crate::parts::{Part, Source};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// The interface versions understood (`specificationVersion`).
pub const VERSIONS: [&str; 2] = ["v2", "v3"];

/// The content part types of a `doGenerate` result that are read; a host may leave the
/// others (reasoning, files, sources, provider-executed results) unconverted.
pub const CONTENT_PARTS: [&str; 2] = ["text", "tool-call"];

/// The stream part types that are read; the others (text-start, reasoning, tool-input
/// deltas, metadata, raw chunks) may be skipped unconverted. An `error` part's `error` is
/// a thrown value, which the host passes as `thrown` JSON.
pub const STREAM_PARTS: [&str; 4] = ["text-delta", "tool-call", "finish", "error"];

/// The call options of one model call, less `abortSignal` (the host's own object).
/// Nothing in it names the user: a provider receives the conversation and tools only.
pub fn call_options(request: &ModelRequest) -> Value {
    let max_output_tokens = match request.max_output_tokens {
        // 0 is a request that named no bound (as `convert::to_wire` reads it).
        0 => crate::limits::DEFAULT_MAX_OUTPUT_TOKENS,
        n => n,
    };
    let mut options = json!({
        "prompt": prompt(&request.messages()),
        "maxOutputTokens": max_output_tokens,
    });
    let tools: Vec<Value> = request.tools.iter().filter_map(tool).collect();
    if !tools.is_empty() {
        options["tools"] = Value::Array(tools);
    }
    // The provider maps it to its own JSON mode; the run checks the answer either way.
    if let Some(output) = &request.output {
        options["responseFormat"] = json!({
            "type": "json",
            "schema": output.schema,
            "name": output.name,
        });
    }
    options
}

/// `{ name, description, parameters }` as an AI SDK function tool.
fn tool(t: &Value) -> Option<Value> {
    let name = t.get("name")?.as_str()?;
    let mut out = json!({
        "type": "function",
        "name": name,
        "inputSchema": t
            .get("parameters")
            .filter(|p| p.is_object())
            .cloned()
            .unwrap_or_else(|| json!({ "type": "object" })),
    });
    if let Some(d) = t.get("description").and_then(Value::as_str) {
        if !d.is_empty() {
            out["description"] = json!(d);
        }
    }
    Some(out)
}

/// An input part as an AI SDK prompt part: text, or a file part (images too) whose `data`
/// is base64, or a link. A link stays a string here (JSON has no URL); the host makes it a
/// `URL`, telling it from base64 by its `http` scheme, which base64 cannot spell.
fn user_part(p: &Part) -> Value {
    let media_type = match p {
        Part::Image { media_type, .. } => media_type.as_deref().unwrap_or("image/*"),
        Part::File { media_type, .. } => media_type.as_str(),
        Part::Text { text } => return json!({ "type": "text", "text": text }),
    };
    let data = match p.source() {
        Some(Source::Url(url)) => url,
        Some(Source::Data { data, .. }) => data,
        None => "",
    };
    let mut part = json!({ "type": "file", "mediaType": media_type, "data": data });
    if let Part::File {
        filename: Some(name),
        ..
    } = p
    {
        part["filename"] = json!(name);
    }
    part
}

/// The messages as an AI SDK prompt: content parts for user, assistant and tool messages.
fn prompt(messages: &[Message]) -> Vec<Value> {
    // A tool result names its tool in this format; the agent's tool message only names the
    // call, which an earlier assistant message made.
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let message = match m.role {
            Role::System => json!({ "role": "system", "content": m.content }),
            Role::User if !m.parts.is_empty() => json!({
                "role": "user",
                "content": m.parts.iter().map(user_part).collect::<Vec<_>>(),
            }),
            Role::User => json!({
                "role": "user",
                "content": [{ "type": "text", "text": m.content }],
            }),
            Role::Assistant => {
                let mut parts = Vec::with_capacity(1 + m.tool_calls.len());
                if !m.content.is_empty() || m.tool_calls.is_empty() {
                    parts.push(json!({ "type": "text", "text": m.content }));
                }
                for c in &m.tool_calls {
                    names.insert(&c.id, &c.name);
                    parts.push(json!({
                        "type": "tool-call",
                        "toolCallId": c.id,
                        "toolName": c.name,
                        "input": arguments_value(&c.arguments),
                    }));
                }
                json!({ "role": "assistant", "content": parts })
            }
            Role::Tool => {
                let id = m.tool_call_id.as_deref().unwrap_or_default();
                json!({
                    "role": "tool",
                    "content": [{
                        "type": "tool-result",
                        "toolCallId": id,
                        "toolName": names.get(id).copied().unwrap_or_default(),
                        "output": tool_output(&m.content),
                    }],
                })
            }
        };
        out.push(message);
    }
    out
}

/// A call's arguments as the JSON value the format carries; text that is not JSON (a model
/// that wrote broken arguments, which the agent answered with a tool error) stays text.
fn arguments_value(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_owned()))
}

/// A tool message's content (the result as JSON text, or an error object) as an output.
fn tool_output(content: &str) -> Value {
    match serde_json::from_str::<Value>(content) {
        Ok(value) => json!({ "type": "json", "value": value }),
        Err(_) => json!({ "type": "text", "value": content }),
    }
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::ModelMalformed {
        reason: reason.into(),
    }
}

/// A `doGenerate` result, `{ content, finishReason, usage }` (other keys are ignored), as
/// the agent's raw response. Text parts are concatenated; tool-call parts the provider did
/// not execute itself become the agent's tool calls; other parts are not the answer's text.
pub fn from_generate(result: &Value) -> Result<RawModelResponse> {
    let obj = result
        .as_object()
        .ok_or_else(|| malformed("doGenerate resolved to something that is not an object"))?;
    let content = obj
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("doGenerate's result has no `content` array"))?;
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for (i, part) in content.iter().enumerate() {
        let what = format!("content[{i}]");
        let part = part
            .as_object()
            .ok_or_else(|| malformed(format!("{what} is not an object")))?;
        match part.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(str_field(part, "text", &what)?),
            Some("tool-call") => {
                if let Some(call) = tool_call(part, &what)? {
                    tool_calls.push(call);
                }
            }
            Some(_) => {}
            None => return Err(malformed(format!("{what} has no `type`"))),
        }
    }
    Ok(RawModelResponse {
        text: Some(text),
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        usage: obj.get("usage").map(usage),
        finish_reason: obj.get("finishReason").and_then(finish_reason),
    })
}

fn str_field<'a>(part: &'a Map<String, Value>, key: &str, what: &str) -> Result<&'a str> {
    part.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| malformed(format!("`{what}.{key}` is not a string")))
}

/// A tool-call part as `{ id, name, arguments }`; `None` for one the provider executed
/// itself (its result is the provider's, not a call for the agent's tools).
fn tool_call(part: &Map<String, Value>, what: &str) -> Result<Option<Value>> {
    if part.get("providerExecuted") == Some(&Value::Bool(true)) {
        return Ok(None);
    }
    let name = str_field(part, "toolName", what)?;
    let id = part
        .get("toolCallId")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // `input` is JSON text by the spec; an object some hand-written models send is taken too.
    let arguments = match part.get("input") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    Ok(Some(
        json!({ "id": id, "name": name, "arguments": arguments }),
    ))
}

/// V3: `{ unified, raw }`; V2: the name itself. The AI SDK names are the agent's own
/// (`FinishReason::parse`); V2's `unknown` and anything else is `other`.
fn finish_reason(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("unified").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// V3: `inputTokens: { total, noCache, cacheRead, cacheWrite }`, `outputTokens: { total,
/// text, reasoning }`; V2: plain numbers. Only the totals are charged: cached and reasoning
/// tokens are part of them. A figure that is not a number is unreported (then estimated).
fn usage(v: &Value) -> RawUsage {
    let figure = |key: &str| match v.get(key) {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::Object(o)) => o.get("total").and_then(Value::as_f64),
        _ => None,
    };
    RawUsage {
        input_tokens: figure("inputTokens"),
        output_tokens: figure("outputTokens"),
    }
}

/// What a model threw (from `doGenerate`, `doStream`, reading the stream, or an `error`
/// part), as the host read it: `{ name?, message, statusCode? }`. An AI SDK
/// `APICallError` (a provider's HTTP error) carries the status: `model_http`, as the
/// built-in clients report one; anything else is `model_error` with its message. An abort
/// of the run is decided by the run itself, whatever the model threw.
pub fn thrown(error: &Value) -> Error {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or("the model threw a non-Error value")
        .to_owned();
    // A JS number: 429 arrives as 429.0.
    let status = error
        .get("statusCode")
        .and_then(Value::as_f64)
        .filter(|s| (100.0..=599.0).contains(s) && s.fract() == 0.0)
        .map(|s| s as u16);
    match status {
        Some(status) => Error::ModelHttp {
            status: Some(status),
            kind: error
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("APICallError")
                .to_owned(),
            message,
            attempts: 1,
        },
        None => Error::Model { message },
    }
}

/// A `doStream` stream read part by part: text deltas go on to the run as they arrive,
/// tool calls and the `finish` part's usage and reason are kept for the answer.
#[derive(Debug, Default)]
pub struct StreamReader {
    text: String,
    tool_calls: Vec<Value>,
    usage: Option<RawUsage>,
    finish_reason: Option<String>,
}

impl StreamReader {
    pub fn new() -> StreamReader {
        StreamReader::default()
    }

    /// One part; the text to pass on, if it is a text delta. An `error` part ends the call.
    pub fn push(&mut self, part: &Value) -> Result<Option<String>> {
        let part = part
            .as_object()
            .ok_or_else(|| malformed("a stream part is not an object"))?;
        match part.get("type").and_then(Value::as_str) {
            Some("text-delta") => {
                // V3 and V2 name it `delta`; V2 pre-releases `textDelta`.
                let delta = match (part.get("delta"), part.get("textDelta")) {
                    (Some(Value::String(d)), _) | (None, Some(Value::String(d))) => d,
                    _ => return Err(malformed("a text-delta part has no `delta` string")),
                };
                if self.text.len() + delta.len() > MAX_REPLY_BYTES {
                    return Err(malformed(format!(
                        "the streamed reply passed {MAX_REPLY_BYTES} bytes"
                    )));
                }
                self.text.push_str(delta);
                Ok(Some(delta.clone()))
            }
            Some("tool-call") => {
                if let Some(call) = tool_call(part, "a tool-call part")? {
                    self.tool_calls.push(call);
                }
                Ok(None)
            }
            Some("finish") => {
                self.usage = part.get("usage").map(usage);
                self.finish_reason = part.get("finishReason").and_then(finish_reason);
                Ok(None)
            }
            Some("error") => Err(thrown(part.get("error").unwrap_or(&Value::Null))),
            Some(_) => Ok(None),
            None => Err(malformed("a stream part has no `type`")),
        }
    }

    /// The answer once the stream ended. A stream that ended without a `finish` part has
    /// no usage (estimated, as for any model that reports none).
    pub fn finish(self) -> RawModelResponse {
        RawModelResponse {
            text: Some(self.text),
            tool_calls: (!self.tool_calls.is_empty()).then_some(self.tool_calls),
            usage: self.usage,
            finish_reason: self.finish_reason,
        }
    }
}

#[cfg(test)]
mod tests;
