//! MCP tools in a run: listed for the run's user before the first model call, and called
//! after the same checks as any tool (`ToolSet::admit_as`). A server that cannot list for
//! this user is reported (`mcp.list`) and the run goes on without its tools; a failed call
//! is a tool error the model sees.

use super::run::Call;
use super::Agent;
use crate::ids::UserKey;
use crate::mcp::McpTool;
use crate::message::ToolCall;
use crate::observe::{About, Kind};
use crate::tools::{Decision, Outcome, ToolContext, ToolSet};
use serde_json::{json, Value};
use std::collections::BTreeSet;

impl Agent {
    /// This run's MCP tools for `user`: none without servers.
    pub(super) async fn mcp_tools(&self, user: &UserKey, call: &Call) -> Vec<McpTool> {
        let Some(mcp) = &self.mcp else {
            return Vec::new();
        };
        let taken: BTreeSet<&str> = self
            .tools
            .iter()
            .flat_map(|t| t.specs.iter().map(|s| s.name.as_str()))
            .collect();
        // An org whose tool list names none of a server's tools never reaches that server,
        // not even for its user's headers.
        let allowed = call.org.as_ref().and_then(|o| o.scope.allowed.clone());
        let wanted = |server: &str| match &allowed {
            None => true,
            Some(list) => list.iter().any(|t| {
                t.strip_prefix(server)
                    .is_some_and(|rest| rest.len() > 1 && rest.starts_with('_'))
            }),
        };
        let (tools, reports) = mcp.list(user, &taken, &wanted, call.cancel.clone()).await;
        let about = About {
            user,
            session: Some(call.session.as_str()),
            run: Some(&call.run_id),
        };
        for r in reports {
            // A list reused from the cache was reported when it was made, unless a clash
            // with another server's tool left something out this time.
            if !r.fresh && r.error.is_none() && r.skipped.is_empty() {
                continue;
            }
            self.observe(
                Kind::McpList,
                &about,
                || {
                    json!({
                        "server": r.server,
                        "ok": r.error.is_none(),
                        "error": r.error,
                        "tools": r.tools,
                        "skipped": r.skipped.iter().map(|(tool, reason)| json!({ "tool": tool, "reason": reason })).collect::<Vec<_>>(),
                        "truncated": r.truncated,
                        "cached": !r.fresh,
                    })
                },
                None,
                None,
            );
        }
        tools
    }

    pub(super) async fn call_mcp(
        &self,
        tools: &ToolSet,
        tool: &McpTool,
        call: &ToolCall,
        user: &UserKey,
        ctx: ToolContext,
    ) -> Outcome {
        let (args, decision) = match tools.admit_as(&tool.spec, call, user, &ctx).await {
            Ok(admitted) => admitted,
            Err(refused) => return refused,
        };
        let Some(mcp) = &self.mcp else {
            return Outcome::error(Decision::Invalid, format!("unknown tool `{}`", call.name));
        };
        match mcp.call(user, tool, args, ctx.cancellation.clone()).await {
            Ok(result) => Outcome {
                decision,
                content: match &result {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                result: Some(result),
                error: None,
            },
            Err(message) => Outcome::error(Decision::Failed, format!("the tool failed: {message}")),
        }
    }
}
