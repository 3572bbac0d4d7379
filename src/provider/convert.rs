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
        output: request.output.as_ref().map(|o| wire::OutputSpec {
            name: o.name.clone(),
            schema: o.schema.clone(),
        }),
    }
}

/// `output` names the structured output the run asked for: a provider that was offered it
/// as a tool (Anthropic) answers by calling that tool, and the call's arguments are the
/// final answer, so they become its text and no tool call is left to run.
pub fn from_wire(mut r: wire::Response, output: Option<&str>) -> RawModelResponse {
    if let Some(name) = output {
        if let Some(call) = r.tool_calls.iter().find(|c| c.name == name) {
            r.text = call.arguments.clone();
            r.tool_calls.clear();
            r.finish_reason = Some("stop".into());
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolCall;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn answer(calls: &[(&str, &str)]) -> wire::Response {
        wire::Response {
            text: String::new(),
            tool_calls: calls
                .iter()
                .map(|(name, args)| ToolCall {
                    id: format!("id-{name}"),
                    name: (*name).into(),
                    arguments: (*args).into(),
                })
                .collect(),
            finish_reason: Some("tool_use".into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_call_of_the_output_tool_is_the_final_answer() {
        let r = from_wire(answer(&[("place", r#"{"city":"Lyon"}"#)]), Some("place"));
        assert_eq!(r.text.as_deref(), Some(r#"{"city":"Lyon"}"#));
        assert_eq!(r.tool_calls, None);
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        // Any other call is a tool call to run, output or not.
        let r = from_wire(answer(&[("weather", "{}")]), Some("place"));
        assert_eq!(r.tool_calls.map(|c| c.len()), Some(1));
        let r = from_wire(answer(&[("place", "{}")]), None);
        assert_eq!(r.tool_calls.map(|c| c.len()), Some(1));
    }
}
