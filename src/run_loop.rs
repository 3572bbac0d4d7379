//! The agent loop of one run, once its (user, session) turn has come and the user is
//! pinned: model call, then (while the model asks for tools and `maxSteps` allows) the
//! tool calls, all at once, their results back to the model in order; finally the whole
//! turn — input, tool calls, tool results, answer — commits together or not at all.
//!
//! Every model call reserves its budget first and settles after, so a tool loop's later
//! calls are charged to the same user and held to the same ceilings.

use crate::agent::{Agent, Call, Hold, RunOutput};
use crate::budget::{Actual, Estimate};
use crate::context::{self, ContextOptions};
use crate::error::{Error, Result};
use crate::events::EventPart;
use crate::ids::{SessionId, UserKey};
use crate::memory::Turn;
use crate::message::Message;
use crate::model::{CallContext, ModelRequest, ModelResponse, Usage};
use crate::observe::About;
use crate::tools::cache::CacheHandle;
use crate::tools::ToolContext;
use futures_util::future::{self, join_all, Either};
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;

impl Agent {
    pub(crate) async fn run_pinned(
        &self,
        input: String,
        user: &UserKey,
        call: Call,
    ) -> Result<RunOutput> {
        let visible = self
            .tools
            .as_ref()
            .map(|t| t.visible(user))
            .unwrap_or_default();
        let max_steps = self.config.max_steps.max(1);
        let mut current = vec![Message::user(input)];
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
                let turn = Turn {
                    at: self.now(),
                    messages: current,
                };
                self.commit(user, call.incarnation, call.session.clone(), turn)
                    .await?;
                return Ok(RunOutput {
                    text: response.text,
                    usage,
                    steps: step,
                    run_id: call.run_id.clone(),
                    finish_reason: response.finish_reason,
                    user_id: user.as_option().map(str::to_owned),
                    session_id: call.session.as_str().to_owned(),
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
            self.run_tools(user, &call, step, &calls, &mut current)
                .await?;
        }
    }

    /// Runs one step's tool calls concurrently; their results go back in call order.
    async fn run_tools(
        &self,
        user: &UserKey,
        call: &Call,
        step: u32,
        calls: &[crate::message::ToolCall],
        current: &mut Vec<Message>,
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
                session_id: call.session.as_str().to_owned(),
                run_id: call.run_id.clone(),
                step,
                cancellation: call.cancel.clone(),
                cache: cache.0.clone(),
            };
            tools.call(c, user, ctx)
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
                Some(crate::audit::types::TOOL_CALL),
                "tool.call",
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

    fn clock_fn(&self) -> Rc<dyn Fn() -> f64> {
        let clock = self.clock.clone();
        Rc::new(move || clock.now_ms())
    }

    /// One model call: prompt from this user's state, budget reserved and settled.
    async fn model_step(
        &self,
        user: &UserKey,
        call: &Call,
        step: u32,
        current: &[Message],
        tools: &[serde_json::Value],
    ) -> Result<ModelResponse> {
        let session: &SessionId = &call.session;
        let built = {
            let m = self.memory.borrow();
            let opts = ContextOptions {
                instructions: &self.config.instructions,
                max_context_tokens: self.config.memory.max_context_tokens,
                recall_top_k: self.config.memory.recall_top_k,
            };
            context::build(m.get(user), session, current, &opts)?
        };
        // Everything sent counts: the tool definitions too.
        let input_estimate = built.input_tokens + context::json_tokens(tools);
        let plan = self.plan(user);
        let (reservation, granted) = self.ledger.borrow_mut().reserve(
            user,
            plan,
            self.now(),
            Estimate {
                input_tokens: input_estimate,
                max_output_tokens: u64::from(self.config.max_output_tokens),
                model: &self.config.model_name,
            },
        )?;
        let mut hold = Hold {
            ledger: &self.ledger,
            reservation: Some(reservation),
        };
        let request = ModelRequest {
            prompt: built.prompt,
            tools: tools.to_vec(),
            max_output_tokens: u32::try_from(granted).unwrap_or(u32::MAX),
            user_id: user.as_option().map(str::to_owned),
            session_id: session.as_str().to_owned(),
            run_id: call.run_id.clone(),
        };
        // Text that reached the host, so a call that dies mid-stream is charged for it.
        let streamed = Rc::new(Cell::new(0usize));
        let seen = streamed.clone();
        let emit = call.emit.clone();
        let ctx = CallContext {
            cancellation: call.cancel.clone(),
            on_text: Some(Rc::new(move |text: &str| {
                seen.set(seen.get() + text.len());
                if let Some(emit) = &emit {
                    emit(EventPart::TextDelta {
                        text: text.to_owned(),
                    })
                }
            })),
        };
        // Charges an interrupted call what it visibly consumed: the prompt, and the text
        // streamed so far (estimated). A call that produced nothing releases its hold.
        let interrupted = |hold: &mut Hold<'_>| {
            let out = streamed.get() as u64;
            if out > 0 {
                hold.settle(
                    Actual {
                        input_tokens: input_estimate as f64,
                        output_tokens: out.div_ceil(4) as f64,
                        estimated: true,
                    },
                    self.now(),
                );
            }
        };
        // No RefCell borrow is alive here: the host may re-enter this agent while we wait.
        let called_at = self.start_timer();
        let pending = self.model.generate(request, ctx);
        let raw = match &call.cancel {
            Some(c) => match future::select(pending, c.cancelled()).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => {
                    interrupted(&mut hold);
                    return Err(Error::Aborted);
                }
            },
            None => pending.await,
        };
        // Checked before the model's own error: a fetch that rejects because of the abort
        // is an abort, not a model failure.
        if call.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            interrupted(&mut hold);
            return Err(Error::Aborted);
        }
        let parsed =
            raw.and_then(|raw| ModelResponse::from_raw(raw, input_estimate, self.tools.is_some()));
        let mut response = match parsed {
            Ok(r) => r,
            Err(e) => {
                interrupted(&mut hold);
                return Err(e);
            }
        };
        // The model answered: it consumed tokens whether or not the turn commits.
        let reserved_output = hold.reservation.as_ref().map(|r| r.max_output_tokens());
        if let Some(charge) = hold.settle(Actual::from(response.usage), self.now()) {
            response.usage.cost_usd = charge.cost_usd;
            response.usage.estimated |= charge.estimated || charge.clamped;
            // The model's own excess: output past what it was granted. (An input above the
            // estimate is charged too, but is the estimate's error, not the model's.)
            response.usage.overrun = charge.output_tokens > reserved_output.unwrap_or(u64::MAX);
        }
        let about = About {
            user,
            session: Some(session.as_str()),
            run: Some(&call.run_id),
        };
        if response.usage.overrun {
            self.observe(
                Some(crate::audit::types::BUDGET_OVERRUN),
                "budget.overrun",
                &about,
                || {
                    json!({
                        "step": step,
                        "reservedInputTokens": input_estimate,
                        "reservedOutputTokens": reserved_output,
                        "inputTokens": response.usage.input_tokens,
                        "outputTokens": response.usage.output_tokens,
                    })
                },
                Some(response.usage),
                None,
            );
        }
        self.observe(
            Some(crate::audit::types::MODEL_CALL),
            "model.call",
            &about,
            || {
                json!({
                    "step": step,
                    "finishReason": response.finish_reason,
                    "toolCalls": response.tool_calls.len(),
                    "model": self.config.model_name,
                })
            },
            Some(response.usage),
            called_at,
        );
        Ok(response)
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
