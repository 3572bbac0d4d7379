//! Running the built-in memory tools: after the same checks as any tool (`ToolSet::admit`),
//! each acts on the run's own user through the agent's ordinary write paths (checked,
//! written through, then applied). Nothing here takes a user from the model.

use super::Agent;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::limits::DEFAULT_RECALL_LIMIT;
use crate::memory::NewFact;
use crate::message::ToolCall;
use crate::search::{SearchMode, SearchOptions};
use crate::tools::memory::{self, APPEND_BLOCK, FORGET_FACT, REMEMBER, SEARCH, UPDATE_BLOCK};
use crate::tools::{Decision, Outcome, ToolContext, ToolSet};
use serde_json::{json, Value};

fn text<'a>(args: &'a Value, key: &str) -> &'a str {
    // The schema (checked before this) requires these strings.
    args[key].as_str().unwrap_or_default()
}

impl Agent {
    /// One tool call of a run: a memory tool runs here, any other goes to the host.
    pub(super) async fn call_tool(
        &self,
        tools: &ToolSet,
        call: &ToolCall,
        user: &UserKey,
        ctx: ToolContext,
        mcp_tools: &[crate::mcp::McpTool],
    ) -> Outcome {
        if let Some(t) = mcp_tools.iter().find(|t| t.spec.name == call.name) {
            return self.call_mcp(tools, t, call, user, ctx).await;
        }
        if !memory::is_memory_tool(&call.name) || !tools.specs.iter().any(|s| s.name == call.name) {
            return tools.call(call, user, ctx).await;
        }
        let (args, decision) = match tools.admit(call, user, &ctx).await {
            Ok(admitted) => admitted,
            Err(refused) => return refused,
        };
        match self.memory_tool(user, &call.name, &args).await {
            Ok(result) => Outcome::ok(decision, result),
            Err(e) => Outcome::error(Decision::Failed, format!("the tool failed: {e}")),
        }
    }

    async fn memory_tool(&self, user: &UserKey, name: &str, args: &Value) -> Result<Value> {
        match name {
            UPDATE_BLOCK => {
                self.set_block(user, text(args, "label"), text(args, "text"))
                    .await?;
                Ok(json!({ "ok": true }))
            }
            APPEND_BLOCK => {
                let (label, line) = (text(args, "label"), text(args, "text"));
                self.append_block(user, label, line).await?;
                Ok(json!({ "ok": true }))
            }
            REMEMBER => {
                let fact = NewFact {
                    subject: text(args, "subject").to_owned(),
                    predicate: text(args, "predicate").to_owned(),
                    object: text(args, "object").to_owned(),
                    valid_from: None,
                    source: Some("model".into()),
                };
                let f = self.remember(user, fact).await?;
                Ok(json!({ "subject": f.subject, "predicate": f.predicate, "object": f.object }))
            }
            FORGET_FACT => {
                let withdrawn = self
                    .forget_fact(user, text(args, "subject"), text(args, "predicate"))
                    .await?;
                Ok(json!({ "withdrawn": withdrawn }))
            }
            SEARCH => {
                // By meaning too when the agent can embed; the same ranking `search` gives.
                let mode = match self.has_embedder() {
                    true => SearchMode::Hybrid,
                    false => SearchMode::Lexical,
                };
                let opts = SearchOptions {
                    limit: Some(
                        args["limit"]
                            .as_u64()
                            .map_or(DEFAULT_RECALL_LIMIT, |n| n as usize),
                    ),
                    mode,
                    session: None,
                };
                let hits = self.search(user, text(args, "query"), opts).await?;
                Ok(json!({ "hits": hits }))
            }
            other => Err(Error::Internal {
                message: format!("no memory tool `{other}`"),
            }),
        }
    }
}
