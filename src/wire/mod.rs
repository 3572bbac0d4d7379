//! Provider wire formats: turns a provider-neutral [`Request`] into the JSON body of the
//! OpenAI Chat Completions or Anthropic Messages API, and their answers (whole bodies or
//! SSE streams) back into provider-neutral [`Response`]s and [`StreamPart`]s.
//!
//! Plain Rust with no I/O: the HTTP layer owns fetching, aborting and retry timing, and
//! feeds bytes and bodies in here. Every parser is total on untrusted input (it returns a
//! [`WireError`], never panics), because the bytes come from the network.

mod accumulator;
pub mod anthropic;
mod json;
pub mod openai;
pub mod retry;
pub mod sse;

pub use accumulator::Accumulator;
pub use sse::{SseDecoder, SseEvent};

// The wire layer speaks the agent's own message type: one shape from memory to the
// provider's JSON, no conversion in between.
pub use crate::message::{Message, Role, ToolCall};
pub use crate::parts::{Part, Source};

/// Shapes a provider cannot express, refused before any request is built.
pub(crate) fn check(m: &Message, position: usize) -> Result<(), WireError> {
    if m.role != Role::Assistant && !m.tool_calls.is_empty() {
        return Err(WireError::malformed(format!(
            "message {position}: only assistant messages can carry tool calls"
        )));
    }
    if m.role == Role::Tool && m.tool_call_id.is_none() {
        return Err(WireError::malformed(format!(
            "message {position}: a tool result needs a tool_call_id"
        )));
    }
    if m.role != Role::User && !m.parts.is_empty() {
        return Err(WireError::malformed(format!(
            "message {position}: only user messages can carry parts"
        )));
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    /// Omitted from the request when empty.
    pub description: String,
    /// A JSON Schema for the arguments object.
    pub parameters: serde_json::Value,
}

/// A structured output to ask for: the final answer as JSON of `schema`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputSpec {
    pub name: String,
    pub schema: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub model: String,
    pub messages: Vec<Message>,
    pub tools: Vec<ToolSpec>,
    pub max_output_tokens: u32,
    pub stream: bool,
    pub output: Option<OutputSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// The provider's own name ("stop", "tool_calls", "end_turn", "max_tokens", ...);
    /// `crate::model::FinishReason::parse` maps both vocabularies.
    pub finish_reason: Option<String>,
}

/// One step of a streamed answer, in provider-neutral terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamPart {
    TextDelta(String),
    /// A tool call begins. `index` identifies it for the deltas that follow; it is the
    /// provider's index (Anthropic counts text blocks too), so it need not be dense.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    /// The next fragment of a tool call's JSON arguments, to be concatenated in order.
    ToolCallDelta {
        index: usize,
        arguments: String,
    },
    /// Token figures reported so far; `None` means "not in this report", not zero.
    /// Anthropic's output count is cumulative, so the last report wins.
    Usage {
        input_tokens: Option<u64>,
        output_tokens: Option<u64>,
    },
    Finish {
        reason: String,
    },
    /// The provider's end-of-stream marker (`[DONE]`, `message_stop`). A stream cut off
    /// before it may still carry a finish reason but miss the final usage figures.
    Done,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Bytes that are not the documented shape: bad JSON, a wrong type, an oversized SSE
    /// line, or a request this layer cannot express (e.g. unparseable tool arguments).
    #[error("malformed provider data: {reason}")]
    Malformed { reason: String },
    /// An error object the provider sent, as an HTTP error body or inside a stream.
    #[error("provider error ({kind}): {message}")]
    Provider { kind: String, message: String },
    /// A request the provider's API has no form for (a file type it does not read, a
    /// file by link where it takes only bytes): refused before it is sent.
    #[error("not supported: {feature}")]
    Unsupported { feature: String },
}

impl WireError {
    pub(crate) fn unsupported(feature: impl Into<String>) -> Self {
        WireError::Unsupported {
            feature: feature.into(),
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        WireError::Malformed {
            reason: reason.into(),
        }
    }
}

/// Shared by the provider test modules: runs a recorded SSE byte stream, cut into the
/// given pieces, through the SSE decoder and a provider's event handler; and requests
/// holding input parts.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Accumulator, Message, Request, SseDecoder, SseEvent, StreamPart, WireError};
    use crate::parts::Part;

    pub fn parts_request(parts: Vec<Part>) -> Request {
        Request {
            model: "m".into(),
            messages: vec![Message::user_parts(parts)],
            tools: vec![],
            max_output_tokens: 5,
            stream: false,
            output: None,
        }
    }

    pub fn image(url: Option<&str>, data: Option<&str>) -> Part {
        Part::Image {
            url: url.map(Into::into),
            data: data.map(Into::into),
            media_type: data.map(|_| "image/png".into()),
        }
    }

    pub fn file(
        url: Option<&str>,
        data: Option<&str>,
        media_type: &str,
        name: Option<&str>,
    ) -> Part {
        Part::File {
            url: url.map(Into::into),
            data: data.map(Into::into),
            media_type: media_type.into(),
            filename: name.map(Into::into),
        }
    }

    pub fn run_pieces<F>(pieces: &[&[u8]], mut on_event: F) -> Result<Accumulator, WireError>
    where
        F: FnMut(&SseEvent) -> Result<Vec<StreamPart>, WireError>,
    {
        let mut sse = SseDecoder::new();
        let mut acc = Accumulator::new();
        for piece in pieces {
            for event in sse.push(piece)? {
                acc.extend(on_event(&event)?);
            }
        }
        sse.finish();
        Ok(acc)
    }

    /// Every two-piece split of `bytes`, plus one byte at a time: each must yield the
    /// same result, since network chunking is arbitrary.
    pub fn all_splits(bytes: &[u8]) -> Vec<Vec<&[u8]>> {
        let mut out: Vec<Vec<&[u8]>> = (0..=bytes.len())
            .map(|cut| {
                let (a, b) = bytes.split_at(cut);
                vec![a, b]
            })
            .collect();
        out.push(bytes.chunks(1).collect());
        out
    }
}
