//! The entry of a run: checks made at call time (input, reentrancy, rate), the ticket that
//! orders runs of one session, and the report of how the run ended (audit, telemetry, the
//! stream's last events).

use super::Agent;
use crate::cancel::Cancellation;
use crate::error::{Error, Result};
use crate::events::{EventPart, RunEvent};
use crate::ids::{SessionId, UserKey};
use crate::limits::MAX_INPUT_BYTES;
use crate::lock::Ticket;
use crate::message::{Message, Part};
use crate::model::{FinishReason, Usage};
use crate::observe::{About, Kind};
use crate::org_config::ResolvedOrg;
use crate::output::OutputSpec;
use crate::run_id::new_run_id;
use futures_util::future::{self, Either};
use serde::Serialize;
use serde_json::json;
use std::future::Future;
use std::rc::Rc;

#[derive(Default)]
pub struct RunOptions {
    pub session: SessionId,
    pub cancellation: Option<Rc<dyn Cancellation>>,
    /// The run's stream: text deltas as the model streams, then usage and finish, or an
    /// error (JS `agent.stream`; telemetry is the observer's, not this). Called with no
    /// borrow of the agent held, so it may call back in.
    pub stream: Option<Rc<dyn Fn(RunEvent)>>,
    /// Structured output: the final answer must be JSON valid against this schema, and is
    /// returned parsed as `RunOutput::object`.
    pub output: Option<OutputSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOutput {
    pub text: String,
    /// Summed over every model call of the run.
    pub usage: Usage,
    /// Model calls made: 1 without tools, one more for each round of tool calls.
    pub steps: u32,
    pub run_id: String,
    pub finish_reason: FinishReason,
    pub user_id: Option<String>,
    /// The user's org; absent for the default org.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub session_id: String,
    /// The final answer parsed and checked, when the run asked for structured output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<serde_json::Value>,
}

/// What a run carries from its start into the model call and the commit.
pub(super) struct Call {
    pub(super) session: SessionId,
    pub(super) run_id: String,
    pub(super) cancel: Option<Rc<dyn Cancellation>>,
    pub(super) emit: Option<Rc<dyn Fn(EventPart)>>,
    pub(super) incarnation: u64,
    /// The input's embedding, when `memory.recall.mode` ranks by meaning: made once per
    /// run, before the first model call, and stored with the turn.
    pub(super) recall_vector: Option<Vec<f32>>,
    pub(super) output: Option<OutputSpec>,
    /// The user's org's knowledge as the run found it: every step's prompt carries the
    /// same.
    pub(super) org_knowledge: Option<Rc<str>>,
    /// The user's org's settings as the run found them.
    pub(super) org: Option<Rc<ResolvedOrg>>,
}

/// What a run is asked: a string, or parts (text with images and files).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    Text(String),
    Parts(Vec<Part>),
}

impl From<String> for Input {
    fn from(text: String) -> Self {
        Input::Text(text)
    }
}

impl From<Vec<Part>> for Input {
    fn from(parts: Vec<Part>) -> Self {
        Input::Parts(parts)
    }
}

/// The input as the turn's user message, once it meets the input rules.
fn check_input(input: Input) -> Result<Message> {
    let invalid = |reason: String| Error::InvalidInput { reason };
    match input {
        Input::Text(text) if text.trim().is_empty() => {
            Err(invalid("input must be a non-empty string".into()))
        }
        Input::Text(text) if text.len() > MAX_INPUT_BYTES => Err(invalid(format!(
            "input is {} bytes; the limit is {MAX_INPUT_BYTES}",
            text.len()
        ))),
        Input::Text(text) => Ok(Message::user(text)),
        Input::Parts(parts) => {
            if parts.is_empty() {
                return Err(invalid("input must hold at least one part".into()));
            }
            let parts: Vec<Part> = parts.into_iter().map(Part::normalized).collect();
            crate::parts::check(&parts).map_err(invalid)?;
            Ok(Message::user_parts(parts))
        }
    }
}

/// The host's event sink, with every event stamped with the run's ids.
fn stream_sink(
    sink: Rc<dyn Fn(RunEvent)>,
    user: &UserKey,
    session: &SessionId,
    run_id: &str,
) -> Rc<dyn Fn(EventPart)> {
    let (user_id, org_id, session_id, run_id) = (
        user.as_option().map(str::to_owned),
        user.org().map(str::to_owned),
        session.as_str().to_owned(),
        run_id.to_owned(),
    );
    Rc::new(move |part: EventPart| {
        sink(RunEvent {
            part,
            user_id: user_id.clone(),
            org_id: org_id.clone(),
            session_id: session_id.clone(),
            run_id: run_id.clone(),
        })
    })
}

impl Agent {
    /// Starts a run. Not an `async fn` on purpose: the ticket for (user, session) is taken
    /// now, so runs of one session execute in the order `run` was called.
    pub fn run(
        self: &Rc<Self>,
        input: String,
        user: UserKey,
        opts: RunOptions,
    ) -> impl Future<Output = Result<RunOutput>> + 'static {
        self.run_input(Input::Text(input), user, opts)
    }

    /// `run` of any `Input`: a string or parts.
    pub fn run_input(
        self: &Rc<Self>,
        input: Input,
        user: UserKey,
        opts: RunOptions,
    ) -> impl Future<Output = Result<RunOutput>> + 'static {
        let this = self.clone();
        let ticket = self.locks.ticket((user.clone(), opts.session.clone()));
        // The rate limit is checked at call time, before any work (and before waiting
        // behind other runs of the session), on the user's real counters: when they are
        // only in storage (a restart, an eviction), once they are read back.
        let deferred = self.storage.is_some()
            && ((self.budgets_persisted() && !self.ledger.borrow().has(&user))
                || self.org_account_absent(&user));
        // A refused input still reaches the report below, as an empty message.
        let (input, checked) = match self
            .config
            .admit_user(&user)
            .and_then(|()| check_input(input))
        {
            Ok(m) => (m, Ok(())),
            Err(e) => (Message::user(""), Err(e)),
        };
        let checked = checked
            .and_then(|()| self.reentrant(&user, &opts.session))
            .and_then(|()| match deferred {
                true => Ok(()),
                false => self.check_rate(&user),
            });
        let run_id = new_run_id();
        async move {
            let run_id = run_id?;
            let checked = match (checked, deferred) {
                (Ok(()), true) => match this.ensure_account(&user).await {
                    Ok(()) => this.check_rate(&user),
                    Err(e) => Err(e),
                },
                (c, _) => c,
            };
            let emit = opts
                .stream
                .clone()
                .map(|sink| stream_sink(sink, &user, &opts.session, &run_id));
            let started = this.start_timer();
            let session_id = opts.session.as_str().to_owned();
            let about = About {
                user: &user,
                session: Some(&session_id),
                run: Some(&run_id),
            };
            this.observe(
                Kind::RunStart,
                &about,
                || json!({ "input": this.observer.content(&input.content) }),
                None,
                None,
            );
            // A refusal at call time (bad input, rate limit) still reaches a streaming host
            // as an `error` event, and is reported like any other ending.
            let result = match checked {
                Ok(()) => {
                    this.run_started(ticket, input, &user, opts, run_id.clone(), emit.clone())
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                // A failed run may still have taken a rate token or been charged for a
                // model call: those counters must survive a restart too.
                Err(_) => this.persist_counters(&user).await,
                // The counters were written with the turn; a summary or an extraction
                // after it charged more.
                Ok(_) => this.persist_unsaved(&user).await,
            }
            this.report_end(&about, &result, started, emit.as_deref());
            result
        }
    }

    /// How the run ended: to the audit log and telemetry, and as the stream's last events.
    fn report_end(
        &self,
        about: &About<'_>,
        result: &Result<RunOutput>,
        started: Option<f64>,
        emit: Option<&dyn Fn(EventPart)>,
    ) {
        if let Err(Error::Budget(b)) = result {
            self.observe(
                Kind::BudgetRefused,
                about,
                || json!({ "code": b.code(), "details": b.details() }),
                None,
                None,
            );
        }
        match result {
            Ok(out) => self.observe(
                Kind::RunFinish,
                about,
                || json!({ "ok": true, "steps": out.steps, "finishReason": out.finish_reason, "output": self.observer.content(&out.text) }),
                Some(out.usage),
                started,
            ),
            Err(e) => self.observe(
                Kind::RunFinish,
                about,
                || json!({ "ok": false, "code": e.code() }),
                None,
                started,
            ),
        }
        let Some(emit) = emit else { return };
        match result {
            Ok(out) => {
                emit(EventPart::Usage { usage: out.usage });
                emit(EventPart::Finish {
                    text: out.text.clone(),
                    finish_reason: out.finish_reason,
                    usage: out.usage,
                });
            }
            Err(e) => emit(EventPart::error(e)),
        }
    }

    async fn run_started(
        &self,
        ticket: Ticket<(UserKey, SessionId)>,
        input: Message,
        user: &UserKey,
        opts: RunOptions,
        run_id: String,
        emit: Option<Rc<dyn Fn(EventPart)>>,
    ) -> Result<RunOutput> {
        let cancel = opts.cancellation;
        if cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            return Err(Error::Aborted);
        }
        let _turn = match &cancel {
            Some(c) => match future::select(ticket, c.cancelled()).await {
                Either::Left((guard, _)) => guard,
                Either::Right(_) => return Err(Error::Aborted),
            },
            None => ticket.await,
        };
        let pin = self.pin(user).await?;
        let incarnation = pin.incarnation;
        let org_knowledge = self.org_section(user).await?;
        let org = self.org_settings(user).await?;
        let call = Call {
            session: opts.session,
            run_id,
            cancel,
            emit,
            incarnation,
            recall_vector: None,
            output: opts.output,
            org_knowledge,
            org,
        };
        self.run_pinned(input, user, call).await
    }

    /// A run for a (user, session) whose own tool is executing right now would wait for
    /// that tool, which waits for it: refused at once instead of hanging forever.
    fn reentrant(&self, user: &UserKey, session: &SessionId) -> Result<()> {
        match &self.tools {
            Some(t) if t.executing(user, session) => Err(Error::Reentrant {
                session: session.as_str().to_owned(),
            }),
            _ => Ok(()),
        }
    }
}
