//! The body `useChat`'s `DefaultChatTransport` posts: `{ id, messages, trigger,
//! messageId? }`, and the one run it asks for.
//!
//! The client sends its whole copy of the conversation, and that copy is the client's to
//! write: it can hold assistant turns the agent never said, tool results no tool returned,
//! or another chat's messages. So the agent reads one thing from it, the text of the last
//! message, which must be the user's new one; the history comes from the agent's own
//! memory of that user's session, where the chat id points. The rest is checked for shape
//! (so a malformed body is refused, not half-read) and otherwise ignored.

use crate::error::{Error, Result};
use crate::ids::SessionId;
use crate::limits::{MAX_CHAT_MESSAGES, MAX_CHAT_REQUEST_BYTES};
use serde_json::{Map, Value};

/// What a chat request asks of the agent: run `input` in the user's session `session`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The chat's `id`: one conversation of the user who posts it, never anyone else's
    /// (sessions live inside a user's partition).
    pub session: SessionId,
    /// The text parts of the last message, joined by newlines.
    pub input: String,
}

fn invalid(path: &str, reason: impl std::fmt::Display) -> Error {
    Error::InvalidInput {
        reason: format!("{path}: {reason}"),
    }
}

impl ChatRequest {
    /// A body as JSON text, at most `MAX_CHAT_REQUEST_BYTES`.
    pub fn parse(json: &str) -> Result<ChatRequest> {
        if json.len() > MAX_CHAT_REQUEST_BYTES {
            return Err(invalid(
                "body",
                format!(
                    "is {} bytes of JSON; the limit is {MAX_CHAT_REQUEST_BYTES}",
                    json.len()
                ),
            ));
        }
        let value: Value =
            serde_json::from_str(json).map_err(|e| invalid("body", format!("is not JSON: {e}")))?;
        ChatRequest::from_value(&value)
    }

    /// A body already parsed.
    pub fn from_value(body: &Value) -> Result<ChatRequest> {
        let body = object(body, "body")?;
        // Keys other than these are left alone: the transport merges the app's own `body`
        // option into the same object, for the host to read.
        let id = string(body.get("id"), "body.id")?;
        let session = SessionId::parse(Some(id)).map_err(|e| match e {
            Error::InvalidSessionId { reason } => invalid("body.id", reason),
            other => other,
        })?;
        match string(body.get("trigger"), "body.trigger")? {
            "submit-message" => {}
            "regenerate-message" => {
                // The answer to regenerate is already in memory, and memory is not the
                // client's to rewrite: running the question again would store it twice and
                // show the model the answer it is replacing.
                return Err(invalid(
                    "body.trigger",
                    "\"regenerate-message\" is not supported: the agent's memory already holds the answer; send a new message instead",
                ));
            }
            other => {
                return Err(invalid(
                    "body.trigger",
                    format!("must be \"submit-message\" or \"regenerate-message\", got {other:?}"),
                ))
            }
        }
        let message_id = match body.get("messageId") {
            None | Some(Value::Null) => None,
            v => Some(string(v, "body.messageId")?),
        };
        let messages = match body.get("messages") {
            Some(Value::Array(m)) => m,
            Some(_) => return Err(invalid("body.messages", "must be an array")),
            None => return Err(invalid("body.messages", "is required")),
        };
        if messages.is_empty() || messages.len() > MAX_CHAT_MESSAGES {
            return Err(invalid(
                "body.messages",
                format!(
                    "must hold 1 to {MAX_CHAT_MESSAGES} messages, got {}",
                    messages.len()
                ),
            ));
        }
        let mut last = None;
        for (i, m) in messages.iter().enumerate() {
            last = Some(Posted::check(m, &format!("body.messages[{i}]"))?);
        }
        let last = last.ok_or_else(|| invalid("body.messages", "is empty"))?;
        let at = format!("body.messages[{}]", messages.len() - 1);
        if last.role != "user" {
            return Err(invalid(
                &format!("{at}.role"),
                format!(
                    "the last message must be the user's new message, got {:?} (continuing an assistant message, as client-side tools and approvals do, is not supported)",
                    last.role
                ),
            ));
        }
        // Sent when the user edits their last message: it names that message. Any other
        // value names a message this request does not end with.
        if let Some(mid) = message_id {
            if mid != last.id {
                return Err(invalid(
                    "body.messageId",
                    "must name the last message when given",
                ));
            }
        }
        let mut texts = Vec::new();
        for (j, part) in last.parts.iter().enumerate() {
            match part.kind {
                "text" => texts.push(part.text.unwrap_or_default()),
                // Not sent to the model rather than dropped quietly: the user attached it.
                "file" => {
                    return Err(invalid(
                        &format!("{at}.parts[{j}]"),
                        "file parts are not supported: only text is sent to the model",
                    ))
                }
                // Data parts are the app's, not the model's (the AI SDK's own conversion
                // drops them too); other kinds have no meaning on a user message.
                _ => {}
            }
        }
        let input = texts.join("\n");
        if input.trim().is_empty() {
            return Err(invalid(&format!("{at}.parts"), "the message has no text"));
        }
        Ok(ChatRequest { session, input })
    }
}

/// One posted message, checked for shape.
struct Posted<'a> {
    id: &'a str,
    role: &'a str,
    parts: Vec<Part<'a>>,
}

struct Part<'a> {
    kind: &'a str,
    /// Present for text parts.
    text: Option<&'a str>,
}

impl<'a> Posted<'a> {
    fn check(v: &'a Value, at: &str) -> Result<Posted<'a>> {
        let m = object(v, at)?;
        let id = string(m.get("id"), &format!("{at}.id"))?;
        let role = string(m.get("role"), &format!("{at}.role"))?;
        if !matches!(role, "system" | "user" | "assistant") {
            return Err(invalid(
                &format!("{at}.role"),
                format!("must be \"system\", \"user\" or \"assistant\", got {role:?}"),
            ));
        }
        let parts = match m.get("parts") {
            Some(Value::Array(p)) => p,
            Some(_) => return Err(invalid(&format!("{at}.parts"), "must be an array")),
            None => return Err(invalid(&format!("{at}.parts"), "is required")),
        };
        let parts = parts
            .iter()
            .enumerate()
            .map(|(j, p)| {
                let path = format!("{at}.parts[{j}]");
                let p = object(p, &path)?;
                let kind = string(p.get("type"), &format!("{path}.type"))?;
                let text = match kind {
                    "text" => Some(string(p.get("text"), &format!("{path}.text"))?),
                    _ => None,
                };
                Ok(Part { kind, text })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Posted { id, role, parts })
    }
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| invalid(at, format!("must be an object, got {}", json_type(v))))
}

fn string<'a>(v: Option<&'a Value>, at: &str) -> Result<&'a str> {
    match v {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(invalid(
            at,
            format!("must be a string, got {}", json_type(other)),
        )),
        None => Err(invalid(at, "is required")),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests;
