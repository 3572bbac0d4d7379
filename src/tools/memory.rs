//! The built-in memory tools: the model edits the calling user's own memory (working
//! blocks, facts) and searches it. They act for the run's user and nobody else by
//! construction: no schema has a user field, every schema refuses properties it does not
//! name (a prompt-injected `userId` is an invalid call, not a redirect), and the agent runs
//! them against the user the run belongs to. Permissions, policy and approvals apply to
//! them by name like to any tool.

use super::ToolSpec;
use crate::error::{Error, Result};
use serde_json::{json, Value};

pub const UPDATE_BLOCK: &str = "memory_update_block";
pub const APPEND_BLOCK: &str = "memory_append_block";
pub const REMEMBER: &str = "memory_remember";
pub const FORGET_FACT: &str = "memory_forget_fact";
pub const SEARCH: &str = "memory_search";

pub const NAMES: [&str; 5] = [UPDATE_BLOCK, APPEND_BLOCK, REMEMBER, FORGET_FACT, SEARCH];

pub fn is_memory_tool(name: &str) -> bool {
    NAMES.contains(&name)
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

fn spec(name: &str) -> ToolSpec {
    let text = json!({ "type": "string" });
    let (description, parameters) = match name {
        UPDATE_BLOCK => (
            "Replace one block of your working memory about this user (create it if new).",
            object(json!({ "label": text, "text": text }), &["label", "text"]),
        ),
        APPEND_BLOCK => (
            "Append a line to one block of your working memory about this user.",
            object(json!({ "label": text, "text": text }), &["label", "text"]),
        ),
        REMEMBER => (
            "Remember a fact about this user, e.g. subject \"user\", predicate \"favourite colour\", object \"green\". A new object for the same subject and predicate replaces the old one.",
            object(
                json!({ "subject": text, "predicate": text, "object": text }),
                &["subject", "predicate", "object"],
            ),
        ),
        FORGET_FACT => (
            "Withdraw what you remember for a subject and predicate of this user.",
            object(json!({ "subject": text, "predicate": text }), &["subject", "predicate"]),
        ),
        _ => (
            "Search this user's earlier messages (by meaning too, when the agent has an embedder).",
            object(
                json!({ "query": text, "limit": { "type": "integer", "minimum": 1, "maximum": 20 } }),
                &["query"],
            ),
        ),
    };
    ToolSpec::new(name.into(), description.into(), Some(parameters))
}

/// The specs of the named memory tools, each name checked.
pub fn specs(names: &[String]) -> Result<Vec<ToolSpec>> {
    let mut out: Vec<ToolSpec> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if !is_memory_tool(n) {
            return Err(Error::config(
                &format!("memory.tools[{i}]"),
                format!("must be one of {}, got {n:?}", NAMES.join(", ")),
            ));
        }
        if out.iter().any(|s| s.name == *n) {
            return Err(Error::config(
                &format!("memory.tools[{i}]"),
                format!("{n} is named twice"),
            ));
        }
        out.push(spec(n));
    }
    Ok(out)
}

/// Every memory tool's name, for `memory.tools: true`.
pub fn all() -> Vec<String> {
    NAMES.iter().map(|n| (*n).to_owned()).collect()
}
