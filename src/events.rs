//! Run events: what a streaming host sees as a run progresses. Every event names the user,
//! session and run it belongs to, so a host forwarding events for many users at once can
//! never attribute one to the wrong tenant. Shapes follow the Vercel AI SDK's stream parts
//! (`text-delta`, `finish`, ...).

use crate::error::Error;
use crate::model::{FinishReason, Usage};
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum EventPart {
    TextDelta {
        text: String,
    },
    ToolCall {
        tool_call_id: String,
        tool_name: String,
        /// The arguments as the model wrote them (JSON text).
        args: String,
        step: u32,
    },
    ToolResult {
        tool_call_id: String,
        tool_name: String,
        decision: crate::tools::Decision,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        step: u32,
    },
    Usage {
        usage: Usage,
    },
    Finish {
        text: String,
        finish_reason: FinishReason,
        usage: Usage,
    },
    Error {
        code: String,
        message: String,
        details: Value,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    #[serde(flatten)]
    pub part: EventPart,
    pub user_id: Option<String>,
    /// The user's org; absent for the default org.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub session_id: String,
    pub run_id: String,
}

impl EventPart {
    pub fn error(e: &Error) -> EventPart {
        EventPart::Error {
            code: e.code().to_owned(),
            message: e.to_string(),
            details: e.details(),
        }
    }

    /// The `type` this part serializes with.
    pub fn kind(&self) -> &'static str {
        match self {
            EventPart::TextDelta { .. } => "text-delta",
            EventPart::ToolCall { .. } => "tool-call",
            EventPart::ToolResult { .. } => "tool-result",
            EventPart::Usage { .. } => "usage",
            EventPart::Finish { .. } => "finish",
            EventPart::Error { .. } => "error",
        }
    }

    /// The part as the end user may see it, for the streams a host sends to its clients
    /// (the UI message stream, the SSE and text responses). An error keeps its code; the
    /// text of a failing model, embedder, storage adapter or host function stays out, with
    /// its details: it can carry a provider's server paths, stack lines or internal names,
    /// and it is not the caller's to read. The host still has it in full from the run's
    /// result and its own event stream. Errors about the run itself (a limit, an abort,
    /// bad input) are the caller's business and pass unchanged.
    pub fn public(&self) -> Cow<'_, EventPart> {
        let EventPart::Error { code, details, .. } = self else {
            return Cow::Borrowed(self);
        };
        let message = match code.as_str() {
            "model_error" | "model_http" | "model_malformed" => "the model provider failed",
            "storage" | "internal" | "embedding_failed" => "internal error",
            _ => return Cow::Borrowed(self),
        };
        // An HTTP status and a kind that is a plain identifier say which failure it was
        // without quoting anyone's text.
        let mut kept = Map::new();
        if let Some(status) = details.get("status").filter(|s| s.is_u64()) {
            kept.insert("status".into(), status.clone());
        }
        if let Some(kind) = details.get("kind").and_then(Value::as_str) {
            if is_identifier(kind) {
                kept.insert("kind".into(), kind.into());
            }
        }
        Cow::Owned(EventPart::Error {
            code: code.clone(),
            message: message.to_owned(),
            details: Value::Object(kept),
        })
    }
}

/// `[a-z][a-z0-9_]{0,39}`: a name such as `rate_limit_error`, never free text.
fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && s.len() <= 40
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn kind_is_the_serialized_type() {
        let usage = Usage::default();
        let parts = [
            EventPart::TextDelta { text: "a".into() },
            EventPart::ToolCall {
                tool_call_id: "c".into(),
                tool_name: "t".into(),
                args: "{}".into(),
                step: 1,
            },
            EventPart::ToolResult {
                tool_call_id: "c".into(),
                tool_name: "t".into(),
                decision: crate::tools::Decision::Allowed,
                result: None,
                error: None,
                step: 1,
            },
            EventPart::Usage { usage },
            EventPart::Finish {
                text: String::new(),
                finish_reason: FinishReason::Stop,
                usage,
            },
            EventPart::error(&Error::Aborted),
        ];
        for p in parts {
            assert_eq!(serde_json::to_value(&p).unwrap()["type"], p.kind());
        }
    }

    #[test]
    fn a_failing_providers_text_never_reaches_the_public_form() {
        let secret = "upstream said: /srv/app/secret.py line 3, key sk-live-123";
        let failures = [
            Error::Model {
                message: secret.into(),
            },
            Error::ModelHttp {
                status: Some(401),
                kind: "invalid_request_error".into(),
                message: secret.into(),
                attempts: 1,
            },
            Error::ModelMalformed {
                reason: secret.into(),
            },
            Error::storage("put", secret),
            Error::Internal {
                message: secret.into(),
            },
            Error::Embedding {
                reason: secret.into(),
            },
        ];
        for e in failures {
            let public = EventPart::error(&e).public().into_owned();
            let text = serde_json::to_string(&public).unwrap();
            assert!(!text.contains("secret"), "{text}");
            let EventPart::Error { code, .. } = &public else {
                panic!("still an error")
            };
            assert_eq!(code, e.code());
        }
        let http = Error::ModelHttp {
            status: Some(429),
            kind: "rate limit: from upstream".into(),
            message: secret.into(),
            attempts: 3,
        };
        assert_eq!(
            serde_json::to_value(EventPart::error(&http).public()).unwrap(),
            json!({ "type": "error", "code": "model_http", "message": "the model provider failed", "details": { "status": 429 } })
        );
    }

    #[test]
    fn errors_about_the_run_itself_pass_unchanged() {
        for e in [
            Error::Aborted,
            Error::InvalidInput {
                reason: "body.id: must be a string".into(),
            },
            Error::MaxSteps {
                steps: 8,
                text: "partial".into(),
            },
        ] {
            let part = EventPart::error(&e);
            assert!(matches!(part.public(), Cow::Borrowed(p) if *p == part));
        }
        let text = EventPart::TextDelta { text: "x".into() };
        assert!(matches!(text.public(), Cow::Borrowed(_)));
    }
}
