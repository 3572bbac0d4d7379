//! The agent's model request to a provider-neutral wire request, and the provider's answer
//! back to the agent's raw response.

use crate::model::{ModelRequest, RawModelResponse, RawUsage};
use crate::wire;

pub fn to_wire(request: &ModelRequest, model: &str, stream: bool) -> wire::Request {
    wire::Request {
        model: model.to_owned(),
        messages: request.messages(),
        tools: request
            .tools
            .iter()
            .filter_map(|t| {
                Some(wire::ToolSpec {
                    name: t.get("name")?.as_str()?.to_owned(),
                    description: t
                        .get("description")
                        .and_then(|d| d.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                    parameters: t
                        .get("parameters")
                        .cloned()
                        .unwrap_or_else(|| serde_json::json!({ "type": "object" })),
                })
            })
            .collect(),
        // 0 is a request that named no bound (a host calling the client directly).
        max_output_tokens: match request.max_output_tokens {
            0 => crate::limits::DEFAULT_MAX_OUTPUT_TOKENS,
            n => n,
        },
        stream,
    }
}

pub fn from_wire(r: wire::Response) -> RawModelResponse {
    let tool_calls = (!r.tool_calls.is_empty()).then(|| {
        r.tool_calls
            .into_iter()
            .map(|c| serde_json::json!({ "id": c.id, "name": c.name, "arguments": c.arguments }))
            .collect()
    });
    RawModelResponse {
        text: Some(r.text),
        tool_calls,
        usage: Some(RawUsage {
            input_tokens: r.input_tokens.map(|v| v as f64),
            output_tokens: r.output_tokens.map(|v| v as f64),
        }),
        finish_reason: r.finish_reason,
    }
}
