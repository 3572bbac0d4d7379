//! A server's answers read into what the model sees: a `tools/list` page into tool specs
//! (a tool the model providers would refuse is left out, with the reason), and a
//! `tools/call` result into the tool result (text parts, and `structuredContent` when
//! given) or the tool error it reports.

use super::catalog::{McpTool, ServerTools};
use crate::limits::{
    MAX_MCP_DESCRIPTION_BYTES, MAX_MCP_SCHEMA_BYTES, MAX_MCP_TOOLS_PER_SERVER, MAX_TOOL_NAME_BYTES,
};
use crate::tools::{ToolSpec, MAX_RESULT_BYTES};
use serde_json::{json, Value};

/// Longest tool name quoted in a report of a skipped tool.
const QUOTED_NAME_BYTES: usize = 80;

/// Adds one `tools/list` page to `into`; returns the cursor of the next page, if any.
pub fn read_page(
    result: &Value,
    server: usize,
    prefix: &str,
    into: &mut ServerTools,
) -> Result<Option<String>, String> {
    let tools = result
        .get("tools")
        .and_then(Value::as_array)
        .ok_or("the server's tool list has no `tools` array")?;
    for t in tools {
        if into.tools.len() >= MAX_MCP_TOOLS_PER_SERVER {
            into.truncated = true;
            return Ok(None);
        }
        match read_tool(t, server, prefix) {
            Ok(tool) => {
                if into.tools.iter().any(|o| o.name == tool.name) {
                    into.skipped
                        .push((tool.name, "the server listed this name twice".into()));
                } else {
                    into.tools.push(tool);
                }
            }
            Err((name, reason)) => into.skipped.push((name, reason)),
        }
    }
    Ok(match result.get("nextCursor") {
        Some(Value::String(c)) if !c.is_empty() => Some(c.clone()),
        _ => None,
    })
}

fn read_tool(t: &Value, server: usize, prefix: &str) -> Result<McpTool, (String, String)> {
    let name = match t.get("name") {
        Some(Value::String(n)) => n.clone(),
        _ => return Err(("?".into(), "it has no name".into())),
    };
    let skip = |reason: &str| {
        let quoted: String = name.chars().take(QUOTED_NAME_BYTES).collect();
        Err((quoted, reason.to_owned()))
    };
    let full = format!("{prefix}{name}");
    let valid = !name.is_empty()
        && full.len() <= MAX_TOOL_NAME_BYTES
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return skip(&format!(
            "`{prefix}` and its name must make 1 to {MAX_TOOL_NAME_BYTES} letters, digits, `_` or `-`"
        ));
    }
    let schema = match t.get("inputSchema") {
        Some(s @ Value::Object(_)) => s.clone(),
        _ => return skip("its inputSchema is not an object"),
    };
    if schema.to_string().len() > MAX_MCP_SCHEMA_BYTES {
        return skip(&format!(
            "its inputSchema is over {MAX_MCP_SCHEMA_BYTES} bytes"
        ));
    }
    let description = match t.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(d)) if d.len() <= MAX_MCP_DESCRIPTION_BYTES => d.clone(),
        Some(Value::String(_)) => {
            return skip(&format!(
                "its description is over {MAX_MCP_DESCRIPTION_BYTES} bytes"
            ))
        }
        Some(_) => return skip("its description is not a string"),
    };
    Ok(McpTool {
        server,
        name,
        spec: std::rc::Rc::new(ToolSpec::new(full, description, Some(schema))),
    })
}

/// A `tools/call` result as the tool result, or the tool error it reports.
pub fn read_result(result: &Value) -> Result<Value, String> {
    let content = match result.get("content") {
        Some(Value::Array(parts)) => parts,
        None if result.get("structuredContent").is_some() => &Vec::new(),
        _ => return Err("the server's result has no `content` array".into()),
    };
    let text = content
        .iter()
        .map(|p| match (p["type"].as_str(), p["text"].as_str()) {
            (Some("text"), Some(t)) => t.to_owned(),
            (Some("resource"), _) => match p["resource"]["text"].as_str() {
                Some(t) => t.to_owned(),
                None => "[a binary resource, not shown]".into(),
            },
            (Some(kind), _) => format!("[{} content, not shown]", short(kind)),
            (None, _) => "[content of no type, not shown]".into(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    if result.get("isError") == Some(&Value::Bool(true)) {
        let shown: String = text.chars().take(4096).collect();
        return Err(format!("the tool reported an error: {shown}"));
    }
    let value = match result.get("structuredContent") {
        Some(s @ Value::Object(_)) => json!({ "content": text, "structuredContent": s }),
        Some(_) => return Err("the server's structuredContent is not an object".into()),
        None => Value::String(text),
    };
    let size = match &value {
        Value::String(s) => s.len(),
        v => v.to_string().len(),
    };
    if size > MAX_RESULT_BYTES {
        return Err(format!(
            "the tool returned {size} bytes; the limit is {MAX_RESULT_BYTES}"
        ));
    }
    Ok(value)
}

fn short(kind: &str) -> String {
    kind.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn pages_keep_valid_tools_and_say_why_others_are_left_out() {
        let mut into = ServerTools::default();
        let page = json!({
            "tools": [
                { "name": "search", "description": "Find", "inputSchema": { "type": "object" } },
                { "name": "a.b", "inputSchema": { "type": "object" } },
                { "name": "x".repeat(61), "inputSchema": { "type": "object" } },
                { "name": "noschema" },
                { "name": "arr", "inputSchema": [] },
                { "name": 7 },
                { "name": "search", "inputSchema": { "type": "object" } },
                { "name": "d", "description": 3, "inputSchema": { "type": "object" } },
            ],
            "nextCursor": "p2"
        });
        let next = read_page(&page, 0, "crm_", &mut into).unwrap();
        assert_eq!(next.as_deref(), Some("p2"));
        assert_eq!(into.tools.len(), 1);
        assert_eq!(into.tools[0].spec.name, "crm_search");
        assert_eq!(into.tools[0].name, "search");
        into.tools[0].spec.validate("t").unwrap();
        let skipped: Vec<&str> = into.skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "a.b",
                &"x".repeat(61),
                "noschema",
                "arr",
                "?",
                "search",
                "d"
            ]
        );
        assert!(read_page(&json!({}), 0, "crm_", &mut into).is_err());
        let last = read_page(
            &json!({ "tools": [], "nextCursor": "" }),
            0,
            "crm_",
            &mut into,
        );
        assert_eq!(last, Ok(None));
    }

    #[test]
    fn results_map_to_text_structured_content_or_errors() {
        let r = json!({ "content": [
            { "type": "text", "text": "a" },
            { "type": "image", "data": "AAAA", "mimeType": "image/png" },
            { "type": "text", "text": "b" }
        ] });
        assert_eq!(
            read_result(&r),
            Ok(json!("a\n[image content, not shown]\nb"))
        );
        let r = json!({ "content": [{ "type": "text", "text": "{\"n\":1}" }], "structuredContent": { "n": 1 } });
        assert_eq!(
            read_result(&r),
            Ok(json!({ "content": "{\"n\":1}", "structuredContent": { "n": 1 } }))
        );
        let r =
            json!({ "content": [{ "type": "text", "text": "no such order" }], "isError": true });
        assert_eq!(
            read_result(&r),
            Err("the tool reported an error: no such order".into())
        );
        assert!(read_result(&json!({ "content": "x" })).is_err());
        assert!(read_result(&json!({ "content": [], "structuredContent": [1] })).is_err());
        let big =
            json!({ "content": [{ "type": "text", "text": "x".repeat(MAX_RESULT_BYTES + 1) }] });
        assert!(read_result(&big).unwrap_err().contains("limit"));
        let at_limit =
            json!({ "content": [{ "type": "text", "text": "x".repeat(MAX_RESULT_BYTES) }] });
        assert!(read_result(&at_limit).is_ok());
    }
}
