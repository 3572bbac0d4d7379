//! The model contract: what the agent sends and what it accepts back.
//!
//! `RawModelResponse` is the loosely-typed shape a host function returns; `ModelResponse`
//! is what the loop works with after validation. Validation lives here, in plain Rust, so
//! every host (JS function, HTTP client, demo) is held to the same rules.

use crate::cancel::Cancellation;
use crate::error::{Error, Result};
use crate::limits::{BYTES_PER_TOKEN, MAX_REPORTED_TOKENS};
use crate::message::{Message, ToolCall};
use crate::prompt::Prompt;
use futures_util::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// What the model function receives. Field names are the documented JS shape.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ModelRequest {
    /// The messages, oldest first (`messages` in JS).
    #[serde(rename = "messages")]
    pub prompt: Prompt,
    pub tools: Vec<serde_json::Value>,
    pub max_output_tokens: u32,
    /// `null` for the anonymous bucket.
    pub user_id: Option<String>,
    /// The user's org; absent for the default org.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub session_id: String,
    pub run_id: String,
    /// The structured output the run asked for: the final answer must be JSON valid
    /// against its schema (`request.output` for a host model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<crate::output::OutputSpec>,
}

impl ModelRequest {
    /// Every message as an owned `Message` (a copy: `prompt.iter()` reads without one).
    pub fn messages(&self) -> Vec<Message> {
        self.prompt.messages()
    }
}

/// Where a streaming model call sends each text delta.
pub type TextSink = Rc<dyn Fn(&str)>;

/// Per-call extras: the run's cancellation (an AbortSignal to pass on to fetch) and, when
/// the host is streaming, where text deltas go as they arrive.
#[derive(Clone, Default)]
pub struct CallContext {
    pub cancellation: Option<Rc<dyn Cancellation>>,
    pub on_text: Option<TextSink>,
    /// Someone reads the run's text as it arrives (`agent.stream`). A model with a separate
    /// streaming call (an AI SDK model's `doStream`) makes that call only then: `on_text` is
    /// set for plain runs too, so that text a model streams anyway is charged if it fails.
    pub streaming: bool,
}

pub trait Model {
    fn generate(
        &self,
        request: ModelRequest,
        ctx: CallContext,
    ) -> LocalBoxFuture<'static, Result<RawModelResponse>>;
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawUsage {
    pub input_tokens: Option<f64>,
    pub output_tokens: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawModelResponse {
    pub text: Option<String>,
    pub tool_calls: Option<Vec<serde_json::Value>>,
    pub usage: Option<RawUsage>,
    pub finish_reason: Option<String>,
}

/// Why generation stopped, named as in the Vercel AI SDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
    Error,
    Other,
}

impl FinishReason {
    /// Every name a model may report and the reason it means: the AI SDK names first, in
    /// declaration order (so `as_str` is the first name of each reason), then the
    /// OpenAI/Anthropic wire names. Any other name is `other`. The JS host sends a reported
    /// name as its index here (`FINISH` in `js/host.js`, a copy `boundary` checks).
    pub const NAMES: [(&'static str, FinishReason); 13] = [
        ("stop", FinishReason::Stop),
        ("length", FinishReason::Length),
        ("content-filter", FinishReason::ContentFilter),
        ("tool-calls", FinishReason::ToolCalls),
        ("error", FinishReason::Error),
        ("other", FinishReason::Other),
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("content_filter", FinishReason::ContentFilter),
        ("refusal", FinishReason::ContentFilter),
        ("tool_calls", FinishReason::ToolCalls),
        ("tool_use", FinishReason::ToolCalls),
    ];

    /// The AI SDK name, as it appears in results and events.
    pub fn as_str(self) -> &'static str {
        FinishReason::NAMES[self as usize].0
    }

    /// Any name in `NAMES`; anything else is `other`.
    pub fn parse(s: &str) -> FinishReason {
        FinishReason::NAMES
            .iter()
            .find(|(name, _)| *name == s)
            .map_or(FinishReason::Other, |&(_, reason)| reason)
    }
}

/// Longest reply text kept, in bytes: a reply is committed to memory and sent back with
/// every later prompt, so it is bounded like input (a model that ignores its output cap
/// must not grow a user's memory without limit).
pub const MAX_REPLY_BYTES: usize = 4 << 20;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    /// True when any figure was estimated by tenantry rather than reported by the model,
    /// or when a reported figure was unusable (negative, fractional, absurd) and replaced.
    pub estimated: bool,
    /// What the call cost in USD by the price table (0 when the model has no price).
    pub cost_usd: f64,
    /// The model reported more output than it was granted (it ignored `maxOutputTokens`):
    /// charged in full, so the user may now be over a limit, and their next runs are
    /// refused until the window frees room.
    pub overrun: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelResponse {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub finish_reason: FinishReason,
}

/// Rough token count of a text. Only used when a model reports nothing, and always flagged
/// as an estimate.
pub fn estimate_tokens(text: &str) -> u64 {
    estimate_tokens_of_bytes(text.len() as u64)
}

/// `estimate_tokens` of a text known only by its length in bytes (streamed text counted as
/// it went by).
pub fn estimate_tokens_of_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(BYTES_PER_TOKEN)
}

/// A token count a model or host reported, as read by `reported_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportedTokens {
    /// A whole number in range: taken at face value.
    Whole(u64),
    /// In range but fractional, rounded up. No tokenizer counts fractions, so this is not a
    /// count as reported; each reader decides whether to keep the rounded figure.
    Fractional(u64),
    /// Not a number, infinite, negative, or above `MAX_REPORTED_TOKENS`.
    Unusable,
}

/// The one rule for reading a reported token figure: usable when finite and within
/// `0..=MAX_REPORTED_TOKENS`, exact when also whole.
pub fn reported_tokens(v: f64) -> ReportedTokens {
    if !(0.0..=MAX_REPORTED_TOKENS).contains(&v) {
        ReportedTokens::Unusable
    } else if v.fract() != 0.0 {
        ReportedTokens::Fractional(v.ceil() as u64)
    } else {
        ReportedTokens::Whole(v as u64)
    }
}

impl ModelResponse {
    /// Checks a host's answer against the contract. `prompt_estimate` is the estimated
    /// size of what was sent, taken when the model reports no input tokens.
    pub fn from_raw(
        raw: RawModelResponse,
        prompt_estimate: u64,
        tools_enabled: bool,
    ) -> Result<ModelResponse> {
        let calls = raw.tool_calls.unwrap_or_default();
        if !calls.is_empty() && !tools_enabled {
            return Err(Error::Unsupported {
                feature: "the model asked for tool calls, but this agent has no tools".into(),
            });
        }
        let tool_calls = calls
            .iter()
            .enumerate()
            .map(|(i, c)| parse_tool_call(i, c))
            .collect::<Result<Vec<_>>>()?;
        let text = raw.text.ok_or_else(|| Error::ModelMalformed {
            reason: "missing `text` (expected { text: string, usage?, finishReason? })".into(),
        })?;
        if text.len() > MAX_REPLY_BYTES {
            return Err(Error::ModelMalformed {
                reason: format!(
                    "the reply is {} bytes; the limit is {MAX_REPLY_BYTES}",
                    text.len()
                ),
            });
        }
        let usage = raw.usage.unwrap_or_default();
        let (input, in_est) = token_figure(usage.input_tokens, || prompt_estimate);
        let (output, out_est) = token_figure(usage.output_tokens, || estimate_tokens(&text));
        let finish_reason = raw
            .finish_reason
            .as_deref()
            .map(FinishReason::parse)
            .unwrap_or(FinishReason::Stop);
        Ok(ModelResponse {
            text,
            tool_calls,
            usage: Usage {
                input_tokens: input,
                output_tokens: output,
                total_tokens: input + output,
                estimated: in_est || out_est,
                cost_usd: 0.0,
                overrun: false,
            },
            finish_reason,
        })
    }
}

/// `{ id?, name, arguments }` with arguments as JSON text or an object (as host models
/// written in JS naturally return them).
fn parse_tool_call(i: usize, v: &serde_json::Value) -> Result<ToolCall> {
    let bad = |why: &str| Error::ModelMalformed {
        reason: format!("toolCalls[{i}]: {why} (expected {{ id, name, arguments }})"),
    };
    let name = v
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| bad("missing `name`"))?;
    let id = match v.get("id").and_then(|x| x.as_str()) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!("call_{i}"),
    };
    let arguments = match v.get("arguments") {
        None | Some(serde_json::Value::Null) => "{}".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    Ok(ToolCall {
        id,
        name: name.to_owned(),
        arguments,
    })
}

/// A reported count if it is a whole number in range, else the estimate (flagged): a
/// fractional figure says the host is not reporting tokens, so it is not rounded into one.
fn token_figure(reported: Option<f64>, estimate: impl FnOnce() -> u64) -> (u64, bool) {
    match reported.map(reported_tokens) {
        Some(ReportedTokens::Whole(n)) => (n, false),
        _ => (estimate(), true),
    }
}

#[cfg(test)]
impl ModelResponse {
    fn from_raw_test(raw: RawModelResponse, prompt: &[Message]) -> Result<ModelResponse> {
        let estimate = prompt.iter().map(|m| estimate_tokens(&m.content)).sum();
        ModelResponse::from_raw(raw, estimate, false)
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn raw(text: Option<&str>, usage: Option<(f64, f64)>) -> RawModelResponse {
        RawModelResponse {
            text: text.map(str::to_owned),
            usage: usage.map(|(i, o)| RawUsage {
                input_tokens: Some(i),
                output_tokens: Some(o),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn reported_usage_is_taken() {
        let r = ModelResponse::from_raw_test(raw(Some("hi"), Some((10.0, 3.0))), &[]).unwrap();
        assert_eq!(r.usage.total_tokens, 13);
        assert!(!r.usage.estimated);
        assert_eq!(r.finish_reason, FinishReason::Stop);
    }

    #[test]
    fn missing_or_bogus_usage_is_estimated_and_flagged() {
        let prompt = [Message::user("12345678")];
        let r = ModelResponse::from_raw_test(raw(Some("abcd"), None), &prompt).unwrap();
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (2, 1));
        assert!(r.usage.estimated);
        let r = ModelResponse::from_raw_test(raw(Some("abcd"), Some((-5.0, f64::NAN))), &prompt)
            .unwrap();
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (2, 1));
        assert!(r.usage.estimated);
    }

    #[test]
    fn missing_text_is_malformed() {
        let e = ModelResponse::from_raw_test(raw(None, None), &[]).unwrap_err();
        assert_eq!(e.code(), "model_malformed");
    }

    #[test]
    fn each_reason_is_named_first_by_its_ai_sdk_name() {
        let all = [
            FinishReason::Stop,
            FinishReason::Length,
            FinishReason::ContentFilter,
            FinishReason::ToolCalls,
            FinishReason::Error,
            FinishReason::Other,
        ];
        for r in all {
            let first = FinishReason::NAMES.iter().find(|(_, x)| *x == r).unwrap().0;
            assert_eq!(r.as_str(), first);
            assert_eq!(serde_json::to_value(r).unwrap(), first);
            assert_eq!(FinishReason::parse(r.as_str()), r);
        }
        for (name, r) in FinishReason::NAMES {
            assert_eq!(FinishReason::parse(name), r);
        }
    }

    #[test]
    fn reported_token_figures_are_read_by_one_rule() {
        use ReportedTokens::*;
        assert_eq!(reported_tokens(0.0), Whole(0));
        assert_eq!(reported_tokens(-0.0), Whole(0));
        assert_eq!(reported_tokens(1e9), Whole(1_000_000_000));
        assert_eq!(reported_tokens(10.5), Fractional(11));
        for v in [-1.0, 1e9 + 1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(reported_tokens(v), Unusable);
        }
        let r = ModelResponse::from_raw_test(raw(Some("abcd"), Some((10.5, 3.0))), &[]).unwrap();
        assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (0, 3));
        assert!(r.usage.estimated);
    }

    #[test]
    fn finish_reasons_map_from_wire_names() {
        assert_eq!(FinishReason::parse("max_tokens"), FinishReason::Length);
        assert_eq!(FinishReason::parse("tool_calls"), FinishReason::ToolCalls);
        assert_eq!(FinishReason::parse("banana"), FinishReason::Other);
    }
}
