//! Folds a stream of [`StreamPart`]s into one [`Response`], the same way for every provider.

use super::{Response, StreamPart, ToolCall};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct Accumulator {
    text: String,
    // Keyed by the provider's index so interleaved calls stay apart; a BTreeMap keeps the
    // provider's order and tolerates sparse indices (Anthropic counts text blocks too).
    calls: BTreeMap<usize, ToolCall>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    finish_reason: Option<String>,
    done: bool,
}

impl Accumulator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, part: StreamPart) {
        match part {
            StreamPart::TextDelta(text) => self.text.push_str(&text),
            StreamPart::ToolCallStart { index, id, name } => {
                let call = self.calls.entry(index).or_default();
                // A repeated start must not erase what an earlier one said.
                if !id.is_empty() {
                    call.id = id;
                }
                if !name.is_empty() {
                    call.name = name;
                }
            }
            StreamPart::ToolCallDelta { index, arguments } => {
                self.calls
                    .entry(index)
                    .or_default()
                    .arguments
                    .push_str(&arguments);
            }
            StreamPart::Usage {
                input_tokens,
                output_tokens,
            } => {
                // Per field, so a later report that omits a figure does not erase it.
                if input_tokens.is_some() {
                    self.input_tokens = input_tokens;
                }
                if output_tokens.is_some() {
                    self.output_tokens = output_tokens;
                }
            }
            StreamPart::Finish { reason } => self.finish_reason = Some(reason),
            StreamPart::Done => self.done = true,
        }
    }

    #[cfg(test)]
    pub fn extend(&mut self, parts: impl IntoIterator<Item = StreamPart>) {
        for part in parts {
            self.push(part);
        }
    }

    /// Whether the provider said why it stopped. False means the stream was cut off
    /// during generation and the response is partial.
    pub fn finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    /// Whether the provider's end-of-stream marker arrived. A stream can be finished but
    /// not done when it is cut off before the trailing usage report.
    pub fn done(&self) -> bool {
        self.done
    }

    /// What was received so far; usable whether or not the stream completed.
    #[cfg(test)]
    pub fn response(&self) -> Response {
        self.clone().into_response()
    }

    pub fn into_response(self) -> Response {
        Response {
            text: self.text,
            tool_calls: self.calls.into_values().collect(),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            finish_reason: self.finish_reason,
        }
    }
}

#[cfg(test)]
mod tests;
