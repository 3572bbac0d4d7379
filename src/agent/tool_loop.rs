//! The loop of one run, once its (user, session) turn has come and the user is
//! pinned: model call, then (while the model asks for tools and `maxSteps` allows) the
//! tool calls, all at once, their results back to the model in order; finally the whole
//! turn — input, tool calls, tool results, answer — commits together or not at all.
//!
//! Every model call reserves its budget first and settles after, so a tool loop's later
//! calls are charged to the same user and held to the same ceilings.

use super::run::{Call, RunOutput};
use super::Agent;
use crate::error::{Error, Result};
use crate::events::EventPart;
use crate::ids::UserKey;
use crate::mcp::McpTool;
use crate::memory::Turn;
use crate::message::Message;
use crate::model::Usage;
use crate::observe::{About, Kind};
use crate::tools::cache::CacheHandle;
use crate::tools::permissions::Access;
use crate::tools::ToolContext;
use futures_util::future::{self, join_all, Either};
use serde_json::json;

impl Agent {
    pub(super) async fn run_pinned(
        &self,
        input: Message,
        user: &UserKey,
        mut call: Call,
    ) -> Result<RunOutput> {
        let scope = org_scope(&call);
        let mut visible = self
            .tools
            .as_ref()
            .map(|t| t.visible(user, &scope))
            .unwrap_or_default();
        let mcp_tools = self.mcp_tools(user, &call).await;
        if let Some(tools) = &self.tools {
            visible.extend(
                mcp_tools
                    .iter()
                    .filter(|t| tools.permissions.access(user, &t.spec.name, &scope) != Access::Denied)
                    .map(|t| json!({ "name": t.spec.name, "description": t.spec.description, "parameters": t.spec.parameters })),
            );
        }
        // A provider offers the output as a tool of that name: it must not be one of ours.
        if let Some(output) = &call.output {
            if visible.iter().any(|t| t["name"] == output.name.as_str()) {
                return Err(Error::InvalidInput {
                    reason: format!(
                        "output.name {:?} is the name of one of the agent's tools",
                        output.name
                    ),
                });
            }
        }
        call.recall_vector = self.recall_vector(user, &call, &input.content).await?;
        let max_steps = self.config.max_steps;
        let mut current = vec![input];
        let mut usage = Usage::default();
        let mut step = 0;
        loop {
            step += 1;
            let response = self
                .model_step(user, &call, step, &current, &visible)
                .await?;
            add_usage(&mut usage, &response.usage);
            if response.tool_calls.is_empty() {
                current.push(Message::assistant(response.text.clone()));
                // Aborted before the commit (a stream left early, a signal): nothing is
                // kept, even though the model already answered (and was charged).
                if call.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                    return Err(Error::Aborted);
                }
                // Checked before anything commits: an answer that is not the requested
                // output fails the run like a failed model call.
                let object = match &call.output {
                    Some(output) => Some(output.read(&response.text)?),
                    None => None,
                };
                let mut turn = Turn {
                    at: self.now(),
                    messages: current,
                    vectors: Vec::new(),
                };
                // Before the commit, so a failed embedding keeps nothing.
                self.embed_turn(user, &call, &mut turn).await?;
                let extracting = self.config.memory.fact_extraction.is_some();
                let input = extracting.then(|| turn.messages[0].content.clone());
                self.commit(user, call.incarnation, call.session.clone(), turn)
                    .await?;
                if let Some(input) = input {
                    self.extract_facts_if_on(user, &call, &input, &response.text)
                        .await;
                }
                self.compact_if_due(user, &call).await;
                return Ok(RunOutput {
                    text: response.text,
                    usage,
                    steps: step,
                    run_id: call.run_id.clone(),
                    finish_reason: response.finish_reason,
                    user_id: user.as_option().map(str::to_owned),
                    org_id: user.org().map(str::to_owned),
                    session_id: call.session.as_str().to_owned(),
                    object,
                });
            }
            if step >= max_steps {
                return Err(Error::MaxSteps {
                    steps: step,
                    text: response.text,
                });
            }
            let calls = response.tool_calls.clone();
            current.push(Message::assistant_with_tools(
                response.text,
                response.tool_calls,
            ));
            self.run_tools(user, &call, step, &calls, &mut current, &mcp_tools)
                .await?;
        }
    }

    /// Runs one step's tool calls concurrently; their results go back in call order.
    pub(super) async fn run_tools(
        &self,
        user: &UserKey,
        call: &Call,
        step: u32,
        calls: &[crate::message::ToolCall],
        current: &mut Vec<Message>,
        mcp_tools: &[McpTool],
    ) -> Result<()> {
        let Some(tools) = &self.tools else {
            return Err(Error::Internal {
                message: "tool calls accepted by an agent without tools".into(),
            });
        };
        let emit = |part: EventPart| {
            if let Some(e) = &call.emit {
                e(part)
            }
        };
        for c in calls {
            emit(EventPart::ToolCall {
                tool_call_id: c.id.clone(),
                tool_name: c.name.clone(),
                args: c.arguments.clone(),
                step,
            });
        }
        let clock = self.clock_fn();
        // One `ctx.cache` for this step's calls, retired however the step ends.
        let cache = Retire(CacheHandle::new(tools.cache.clone(), user.clone(), clock));
        let outcomes = join_all(calls.iter().map(|c| {
            let ctx = ToolContext {
                user_id: user.as_option().map(str::to_owned),
                org_id: user.org().map(str::to_owned),
                session_id: call.session.as_str().to_owned(),
                run_id: call.run_id.clone(),
                step,
                cancellation: call.cancel.clone(),
                cache: cache.0.clone(),
                scope: org_scope(call),
            };
            self.call_tool(tools, c, user, ctx, mcp_tools)
        }));
        let outcomes = match &call.cancel {
            Some(cancel) => match future::select(Box::pin(outcomes), cancel.cancelled()).await {
                Either::Left((o, _)) => o,
                Either::Right(_) => return Err(Error::Aborted),
            },
            None => outcomes.await,
        };
        for (c, o) in calls.iter().zip(outcomes) {
            let about = About {
                user,
                session: Some(call.session.as_str()),
                run: Some(&call.run_id),
            };
            self.observe(
                Kind::ToolCall,
                &about,
                || {
                    json!({
                        "step": step,
                        "tool": c.name,
                        "toolCallId": c.id,
                        "decision": o.decision,
                        "args": self.observer.content(&c.arguments),
                        "error": o.error,
                    })
                },
                None,
                None,
            );
            emit(EventPart::ToolResult {
                tool_call_id: c.id.clone(),
                tool_name: c.name.clone(),
                decision: o.decision,
                result: o.result,
                error: o.error,
                step,
            });
            current.push(Message::tool_result(c.id.clone(), o.content));
        }
        Ok(())
    }
}

/// Retires a step's cache handle when the step ends, so a tool that kept `ctx.cache` can
/// no longer write through it.
struct Retire(CacheHandle);

impl Drop for Retire {
    fn drop(&mut self) {
        self.0.retire();
    }
}

fn add_usage(total: &mut Usage, step: &Usage) {
    total.input_tokens += step.input_tokens;
    total.output_tokens += step.output_tokens;
    total.total_tokens += step.total_tokens;
    total.estimated |= step.estimated;
    total.cost_usd += step.cost_usd;
    total.overrun |= step.overrun;
}

/// The tool rules of the run's org, if it has any.
fn org_scope(call: &Call) -> crate::tools::permissions::ToolScope {
    call.org
        .as_ref()
        .map(|o| o.scope.clone())
        .unwrap_or_default()
}
