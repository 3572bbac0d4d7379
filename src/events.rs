//! Run events: what a streaming host sees as a run progresses. Every event names the user,
//! session and run it belongs to, so a host forwarding events for many users at once can
//! never attribute one to the wrong tenant. Shapes follow the Vercel AI SDK's stream parts
//! (`text-delta`, `finish`, ...).

use crate::error::Error;
use crate::model::{FinishReason, Usage};
use serde::Serialize;
use serde_json::Value;

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
}
