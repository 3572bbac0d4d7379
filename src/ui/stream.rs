//! Run events as the AI SDK's UI message stream: the chunks `readUIMessageStream` and
//! `useChat` build an assistant message from, their SSE framing, and the plain text and
//! run-event SSE forms of the same run.
//!
//! One [`UiMessageEncoder`] per stream turns each event into the chunks it means, in the
//! order the client's state machine expects: `start` (the message id is the run id), then
//! per model call a `start-step` ... `finish-step` holding its text part
//! (`text-start`/`text-delta`/`text-end`, one id each) and its tool calls
//! (`tool-input-available`, then `tool-output-available`, `tool-output-error` or
//! `tool-output-denied`), and at last `finish` with the finish reason and the run's token
//! usage as message metadata, or an `error` chunk and nothing after it.

use crate::events::{EventPart, RunEvent};
use crate::model::{FinishReason, Usage};
use crate::tools::Decision;
use serde::Serialize;
use serde_json::Value;

/// The headers of a UI message stream response (`UI_MESSAGE_STREAM_HEADERS` in `ai`):
/// `DefaultChatTransport` reads any SSE body, and the version header tells other readers
/// which protocol it is. Proxies that buffer (nginx) are told not to.
pub const UI_MESSAGE_STREAM_HEADERS: [(&str, &str); 5] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    ("connection", "keep-alive"),
    ("x-vercel-ai-ui-message-stream", "v1"),
    ("x-accel-buffering", "no"),
];

/// The headers of a plain text stream (`toTextStreamResponse` in `ai`).
pub const TEXT_STREAM_HEADERS: [(&str, &str); 1] = [("content-type", "text/plain; charset=utf-8")];

/// The headers of a stream of run events as SSE.
pub const EVENT_STREAM_HEADERS: [(&str, &str); 4] = [
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
    ("connection", "keep-alive"),
    ("x-accel-buffering", "no"),
];

/// The message that ends a UI message stream (`JsonToSseTransformStream`'s flush).
pub const SSE_DONE: &str = "data: [DONE]\n\n";

/// One chunk of the UI message stream, serialized as the `ai` 6 schema
/// (`uiMessageChunkSchema`) names it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum UiChunk {
    Start {
        message_id: String,
    },
    StartStep,
    TextStart {
        id: String,
    },
    TextDelta {
        id: String,
        delta: String,
    },
    TextEnd {
        id: String,
    },
    ToolInputAvailable {
        tool_call_id: String,
        tool_name: String,
        /// The parsed arguments, or the model's text as it was when it is not JSON.
        input: Value,
    },
    ToolOutputAvailable {
        tool_call_id: String,
        output: Value,
    },
    ToolOutputError {
        tool_call_id: String,
        error_text: String,
    },
    /// The call was not run: permissions or a policy denied it, or its approval was refused.
    ToolOutputDenied {
        tool_call_id: String,
    },
    FinishStep,
    Finish {
        finish_reason: FinishReason,
        message_metadata: Metadata,
    },
    Error {
        error_text: String,
    },
}

/// What the assistant message carries as `metadata` once the run finished.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metadata {
    pub usage: UiUsage,
}

/// The run's tokens, summed over its model calls. Cost and overrun stay out: they are the
/// host's accounting, not the end user's.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UiUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
}

impl From<&Usage> for UiUsage {
    fn from(u: &Usage) -> Self {
        UiUsage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            total_tokens: u.total_tokens,
        }
    }
}

/// The state of one UI message stream. Feed it every event of one run, in order.
#[derive(Debug, Default)]
pub struct UiMessageEncoder {
    started: bool,
    /// After `finish` or `error` nothing more is sent: the client has closed the message.
    ended: bool,
    step_open: bool,
    /// Tool results arrived in the open step: the next text or tool call is the answer of
    /// the model's next call, so a new step.
    results_in_step: bool,
    /// The id of the open text part.
    text: Option<String>,
    texts: u32,
    /// Text was streamed in the open step (a model that does not stream sends its answer
    /// whole, in `finish` only).
    streamed_in_step: bool,
}

impl UiMessageEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `finish` or `error` went out: anything more is dropped.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The chunks one event of the run becomes (none for some, such as `usage`).
    pub fn push(&mut self, event: &RunEvent) -> Vec<UiChunk> {
        self.push_part(&event.part, Some(&event.run_id))
    }

    /// `push` for an event without ids: a call refused before its run had any.
    pub fn push_part(&mut self, part: &EventPart, run_id: Option<&str>) -> Vec<UiChunk> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        match part {
            EventPart::TextDelta { text } => {
                self.begin(run_id, &mut out);
                if text.is_empty() {
                    return out;
                }
                self.next_step_if_answered(&mut out);
                self.open_text(&mut out);
                out.push(UiChunk::TextDelta {
                    id: self.text.clone().unwrap_or_default(),
                    delta: text.clone(),
                });
                self.streamed_in_step = true;
            }
            EventPart::ToolCall {
                tool_call_id,
                tool_name,
                args,
                ..
            } => {
                self.begin(run_id, &mut out);
                self.next_step_if_answered(&mut out);
                self.close_text(&mut out);
                out.push(UiChunk::ToolInputAvailable {
                    tool_call_id: tool_call_id.clone(),
                    tool_name: tool_name.clone(),
                    input: serde_json::from_str(args).unwrap_or_else(|_| args.clone().into()),
                });
            }
            EventPart::ToolResult {
                tool_call_id,
                decision,
                result,
                error,
                ..
            } => {
                self.begin(run_id, &mut out);
                self.close_text(&mut out);
                self.results_in_step = true;
                let tool_call_id = tool_call_id.clone();
                out.push(match decision {
                    Decision::Allowed | Decision::Approved if error.is_none() => {
                        UiChunk::ToolOutputAvailable {
                            tool_call_id,
                            output: result.clone().unwrap_or(Value::Null),
                        }
                    }
                    Decision::Denied | Decision::ApprovalRefused => {
                        UiChunk::ToolOutputDenied { tool_call_id }
                    }
                    _ => UiChunk::ToolOutputError {
                        tool_call_id,
                        error_text: error.clone().unwrap_or_else(|| "the tool failed".into()),
                    },
                });
            }
            EventPart::Usage { .. } => {}
            EventPart::Finish {
                text,
                finish_reason,
                usage,
            } => {
                self.begin(run_id, &mut out);
                if !self.streamed_in_step && !text.is_empty() {
                    self.next_step_if_answered(&mut out);
                    self.open_text(&mut out);
                    let id = self.text.clone().unwrap_or_default();
                    out.push(UiChunk::TextDelta {
                        id,
                        delta: text.clone(),
                    });
                }
                self.close_text(&mut out);
                if self.step_open {
                    out.push(UiChunk::FinishStep);
                }
                out.push(UiChunk::Finish {
                    finish_reason: *finish_reason,
                    message_metadata: Metadata {
                        usage: usage.into(),
                    },
                });
                self.ended = true;
            }
            EventPart::Error { .. } => {
                let EventPart::Error { code, message, .. } = part.public().into_owned() else {
                    return out;
                };
                // The code first, so a client can branch on it from the one string the
                // protocol carries (`new Error(errorText)` on the client).
                out.push(UiChunk::Error {
                    error_text: format!("{code}: {message}"),
                });
                self.ended = true;
            }
        }
        out
    }

    /// `start` and the first `start-step`, before the run's first chunk of content.
    fn begin(&mut self, run_id: Option<&str>, out: &mut Vec<UiChunk>) {
        if !self.started {
            self.started = true;
            out.push(UiChunk::Start {
                message_id: run_id.unwrap_or_default().to_owned(),
            });
        }
        if !self.step_open {
            self.step_open = true;
            out.push(UiChunk::StartStep);
        }
    }

    fn next_step_if_answered(&mut self, out: &mut Vec<UiChunk>) {
        if self.results_in_step {
            self.close_text(out);
            out.push(UiChunk::FinishStep);
            out.push(UiChunk::StartStep);
            self.results_in_step = false;
            self.streamed_in_step = false;
        }
    }

    fn open_text(&mut self, out: &mut Vec<UiChunk>) {
        if self.text.is_none() {
            self.texts += 1;
            let id = format!("text-{}", self.texts);
            out.push(UiChunk::TextStart { id: id.clone() });
            self.text = Some(id);
        }
    }

    fn close_text(&mut self, out: &mut Vec<UiChunk>) {
        if let Some(id) = self.text.take() {
            out.push(UiChunk::TextEnd { id });
        }
    }
}

/// Chunks as the protocol's SSE: `data: <json>` and a blank line each. A chunk's JSON
/// never holds a raw newline (serde_json escapes them), so one line carries one chunk.
pub fn sse(chunks: &[UiChunk]) -> String {
    let mut out = String::new();
    for chunk in chunks {
        out.push_str("data: ");
        out.push_str(&serde_json::to_string(chunk).unwrap_or_default());
        out.push_str("\n\n");
    }
    out
}

/// The text the chunks add to the message.
pub fn text_of(chunks: &[UiChunk]) -> String {
    let mut out = String::new();
    for chunk in chunks {
        if let UiChunk::TextDelta { delta, .. } = chunk {
            out.push_str(delta);
        }
    }
    out
}

/// One run event as one SSE message named by its type (so `EventSource` listeners can
/// pick), in its public form.
pub fn event_sse(event: &RunEvent) -> String {
    let json = match event.part.public() {
        std::borrow::Cow::Borrowed(_) => serde_json::to_string(event),
        std::borrow::Cow::Owned(part) => serde_json::to_string(&RunEvent {
            part,
            ..event.clone()
        }),
    };
    message(event.part.kind(), &json.unwrap_or_default())
}

/// `event_sse` for an event without ids (a call refused before its run had any).
pub fn part_sse(part: &EventPart) -> String {
    message(
        part.kind(),
        &serde_json::to_string(&part.public()).unwrap_or_default(),
    )
}

fn message(kind: &str, json: &str) -> String {
    format!("event: {kind}\ndata: {json}\n\n")
}

#[cfg(test)]
mod tests;
