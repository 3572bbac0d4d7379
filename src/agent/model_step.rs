//! One model call of a run: the prompt from this user's state only, the budget reserved
//! before and settled after, and what an interrupted call is charged.

use super::run::Call;
use super::Agent;
use crate::budget::{Actual, CallKind, Estimate, Ledger, Reservation};
use crate::error::{Error, Result};
use crate::events::EventPart;
use crate::ids::{SessionId, UserKey};
use crate::message::Message;
use crate::model::{CallContext, ModelRequest, ModelResponse};
use crate::observe::{About, Kind};
use crate::prompt::build::{self, BuildOptions};
use crate::prompt::Prompt;
use futures_util::future::{self, Either};
use serde_json::json;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Budget held for one model call: released if the call ends without a settle (an early
/// return), so a hold never outlives its run.
pub(super) struct Hold<'a> {
    pub(super) ledger: &'a RefCell<Ledger>,
    pub(super) reservation: Option<Reservation>,
}

impl Hold<'_> {
    pub(super) fn settle(&mut self, actual: Actual, now: f64) -> Option<crate::budget::Charge> {
        let r = self.reservation.take()?;
        Some(self.ledger.borrow_mut().settle(r, actual, now))
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.reservation.take() {
            self.ledger.borrow_mut().release(r);
        }
    }
}

/// A model call ready to go: what to send and the budget held for it.
struct Prepared<'a> {
    prompt: Prompt,
    input_estimate: u64,
    hold: Hold<'a>,
    granted: u64,
}

impl Agent {
    /// The model that answers this run: its org's, else the agent's.
    fn model_of(&self, call: &Call) -> Rc<dyn crate::model::Model> {
        match call.org.as_ref().and_then(|o| o.model.as_ref()) {
            Some((model, _)) => model.clone(),
            None => self.model.clone(),
        }
    }

    /// The name this run's model is priced and reported under.
    fn model_name<'c>(&'c self, call: &'c Call) -> &'c str {
        match call.org.as_ref().and_then(|o| o.model.as_ref()) {
            Some((_, name)) => name,
            None => &self.config.model_name,
        }
    }

    /// Reserves one model call of `user` with `input_estimate` tokens in, at most the
    /// agent's output bound out: the hold, and the output tokens granted.
    pub(super) fn hold(
        &self,
        user: &UserKey,
        call: &Call,
        input_estimate: u64,
    ) -> Result<(Hold<'_>, u64)> {
        self.hold_estimate(
            user,
            Estimate {
                input_tokens: input_estimate,
                max_output_tokens: u64::from(self.config.max_output_tokens),
                model: self.model_name(call),
                kind: CallKind::Generation,
            },
        )
    }

    /// Reserves one call of `user` under the user's plan: the hold, and the output tokens
    /// granted.
    pub(super) fn hold_estimate(
        &self,
        user: &UserKey,
        estimate: Estimate<'_>,
    ) -> Result<(Hold<'_>, u64)> {
        let plan = self.plan(user);
        let org = self.resident_org(user)?.map(|o| (o, self.org_plan(o)));
        let (reservation, granted) =
            self.ledger
                .borrow_mut()
                .reserve_in(user, plan, org, self.now(), estimate)?;
        let hold = Hold {
            ledger: &self.ledger,
            reservation: Some(reservation),
        };
        Ok((hold, granted))
    }

    /// A model call a run makes to keep its user's memory (a summary, an extraction): the
    /// given messages only, no tools, not streamed, held and charged to that user like a
    /// step of the run.
    pub(super) async fn upkeep_call(
        &self,
        user: &UserKey,
        call: &Call,
        head: Vec<Message>,
        tail: Vec<Message>,
    ) -> Result<ModelResponse> {
        let input_estimate: u64 = head.iter().chain(&tail).map(build::message_tokens).sum();
        let (mut hold, granted) = self.hold(user, call, input_estimate)?;
        let request = ModelRequest {
            prompt: Prompt::new(head, Vec::new(), tail),
            tools: Vec::new(),
            max_output_tokens: u32::try_from(granted).unwrap_or(u32::MAX),
            user_id: user.as_option().map(str::to_owned),
            org_id: user.org().map(str::to_owned),
            session_id: call.session.as_str().to_owned(),
            run_id: call.run_id.clone(),
            output: None,
        };
        let ctx = CallContext {
            cancellation: call.cancel.clone(),
            on_text: None,
            streaming: false,
        };
        // No borrow is held across the model call.
        let raw = self.model_of(call).generate(request, ctx).await;
        let mut response = ModelResponse::from_raw(raw?, input_estimate, false)?;
        if let Some(charge) = hold.settle(Actual::from(response.usage), self.now()) {
            response.usage.cost_usd = charge.cost_usd;
        }
        Ok(response)
    }

    /// One model call: prompt from this user's state, budget reserved and settled.
    pub(super) async fn model_step(
        &self,
        user: &UserKey,
        call: &Call,
        step: u32,
        current: &[Message],
        tools: &[serde_json::Value],
    ) -> Result<ModelResponse> {
        let session: &SessionId = &call.session;
        let Prepared {
            prompt,
            input_estimate,
            mut hold,
            granted,
        } = self.prompt_and_hold(user, call, current, tools)?;
        let request = ModelRequest {
            prompt,
            tools: tools.to_vec(),
            max_output_tokens: u32::try_from(granted).unwrap_or(u32::MAX),
            user_id: user.as_option().map(str::to_owned),
            org_id: user.org().map(str::to_owned),
            session_id: session.as_str().to_owned(),
            run_id: call.run_id.clone(),
            output: call.output.clone(),
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
            streaming: call.emit.is_some(),
        };
        // Charges an interrupted call what it visibly consumed: the prompt, and the text
        // streamed so far (estimated). A call that produced nothing releases its hold.
        let interrupted = |hold: &mut Hold<'_>| {
            let out = streamed.get() as u64;
            if out > 0 {
                hold.settle(
                    Actual {
                        input_tokens: input_estimate as f64,
                        output_tokens: crate::model::estimate_tokens_of_bytes(out) as f64,
                        estimated: true,
                    },
                    self.now(),
                );
            }
        };
        // No RefCell borrow is alive here: the host may re-enter this agent while we wait.
        let called_at = self.start_timer();
        let pending = self.model_of(call).generate(request, ctx);
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
        self.record_model_call(
            user,
            call,
            step,
            &response,
            input_estimate,
            reserved_output,
            called_at,
        );
        Ok(response)
    }

    /// The prompt from this user's state only, its estimated input (tool definitions
    /// included: everything sent counts) and the budget held for the call.
    fn prompt_and_hold(
        &self,
        user: &UserKey,
        call: &Call,
        current: &[Message],
        tools: &[serde_json::Value],
    ) -> Result<Prepared<'_>> {
        let built = {
            let m = self.memory.borrow();
            let opts = BuildOptions {
                instructions: call
                    .org
                    .as_ref()
                    .map_or(&self.config.instructions, |o| &o.instructions),
                max_context_tokens: self.config.memory.max_context_tokens,
                recall_top_k: self.config.memory.recall_top_k,
                now: self.now(),
                recall_mode: self.config.memory.recall_mode,
                recall_vector: call.recall_vector.as_deref(),
                org_knowledge: call.org_knowledge.as_deref(),
            };
            build::assemble(m.get(user), &call.session, current, &opts)?
        };
        let input_estimate = built.input_tokens + build::json_tokens(tools);
        let (hold, granted) = self.hold(user, call, input_estimate)?;
        Ok(Prepared {
            prompt: built.prompt,
            input_estimate,
            hold,
            granted,
        })
    }

    /// The model call in the audit log and telemetry, and an overrun as its own entry.
    #[allow(clippy::too_many_arguments)]
    fn record_model_call(
        &self,
        user: &UserKey,
        call: &Call,
        step: u32,
        response: &ModelResponse,
        input_estimate: u64,
        reserved_output: Option<u64>,
        called_at: Option<f64>,
    ) {
        let about = About {
            user,
            session: Some(call.session.as_str()),
            run: Some(&call.run_id),
        };
        if response.usage.overrun {
            self.observe(
                Kind::BudgetOverrun,
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
            Kind::ModelCall,
            &about,
            || {
                json!({
                    "step": step,
                    "finishReason": response.finish_reason,
                    "toolCalls": response.tool_calls.len(),
                    "model": self.model_name(call),
                })
            },
            Some(response.usage),
            called_at,
        );
    }
}
