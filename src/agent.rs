//! The agent: one instance, many users. Every call takes the user as an argument; there is
//! no "current user" field to race on.
//!
//! A run is: take a ticket for (user, session) at call time, wait for our turn, snapshot
//! that session's history, call the model with no borrow held, then commit the user message
//! and the reply together. Any failure between the ticket and the commit leaves memory
//! exactly as it was.

use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserKey};
use crate::lock::KeyedLock;
use crate::memory::{Memory, Turn};
use crate::message::Message;
use crate::model::{CallContext, FinishReason, Model, ModelRequest, ModelResponse, Usage};
use crate::run_id::new_run_id;
use futures_util::future::{self, Either, LocalBoxFuture};
use serde::Serialize;
use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

/// Longest accepted input, in bytes. Larger inputs are refused rather than sent to a model
/// that would bill for them and likely reject them anyway.
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// A host's cancellation source (an AbortSignal in JS).
pub trait Cancellation {
    fn is_cancelled(&self) -> bool;
    /// Resolves when cancelled. Dropped (and must clean up) when the run ends first.
    fn cancelled(&self) -> LocalBoxFuture<'static, ()>;
    /// Lets a host model adapter recover its native signal to pass on (e.g. to fetch).
    fn as_any(&self) -> &dyn Any;
}

#[derive(Default)]
pub struct RunOptions {
    pub session: SessionId,
    pub cancellation: Option<Rc<dyn Cancellation>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunOutput {
    pub text: String,
    pub usage: Usage,
    pub run_id: String,
    pub finish_reason: FinishReason,
    pub user_id: Option<String>,
    pub session_id: String,
}

pub struct Agent {
    config: AgentConfig,
    model: Rc<dyn Model>,
    memory: RefCell<Memory>,
    locks: KeyedLock<(UserKey, SessionId)>,
}

impl Agent {
    pub fn new(config: AgentConfig, model: Rc<dyn Model>) -> Result<Agent> {
        config.validate()?;
        Ok(Agent {
            memory: RefCell::new(Memory::new(config.memory.max_messages_per_session)),
            config,
            model,
            locks: KeyedLock::default(),
        })
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Starts a run. Not an `async fn` on purpose: the ticket for (user, session) is taken
    /// now, so runs of one session execute in the order `run` was called.
    pub fn run(
        self: &Rc<Self>,
        input: String,
        user: UserKey,
        opts: RunOptions,
    ) -> impl Future<Output = Result<RunOutput>> + 'static {
        let this = self.clone();
        let ticket = self.locks.ticket((user.clone(), opts.session.clone()));
        let checked = check_input(&input).and_then(|()| new_run_id());
        async move {
            let run_id = checked?;
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
            this.run_locked(input, user, opts.session, run_id, cancel)
                .await
        }
    }

    async fn run_locked(
        &self,
        input: String,
        user: UserKey,
        session: SessionId,
        run_id: String,
        cancel: Option<Rc<dyn Cancellation>>,
    ) -> Result<RunOutput> {
        let messages = self.prompt(&user, &session, &input);
        let request = ModelRequest {
            messages,
            tools: Vec::new(),
            max_output_tokens: self.config.max_output_tokens,
            user_id: user.as_option().map(str::to_owned),
            session_id: session.as_str().to_owned(),
            run_id: run_id.clone(),
        };
        let prompt = request.messages.clone();
        let ctx = CallContext {
            cancellation: cancel.as_deref().map(|c| c.as_any()),
        };
        // No RefCell borrow is alive here: the host may re-enter this agent while we wait.
        let call = self.model.generate(request, ctx);
        let raw = match &cancel {
            Some(c) => match future::select(call, c.cancelled()).await {
                Either::Left((r, _)) => r,
                Either::Right(_) => return Err(Error::Aborted),
            },
            None => call.await,
        };
        // Checked before the model's own error: a fetch that rejects because of the abort
        // is an abort, not a model failure.
        if cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            return Err(Error::Aborted);
        }
        let raw = raw?;
        let response = ModelResponse::from_raw(raw, &prompt)?;
        self.memory.borrow_mut().commit(
            &user,
            &session,
            Turn {
                messages: vec![
                    Message::user(input),
                    Message::assistant(response.text.clone()),
                ],
            },
        );
        Ok(RunOutput {
            text: response.text,
            usage: response.usage,
            run_id,
            finish_reason: response.finish_reason,
            user_id: user.as_option().map(str::to_owned),
            session_id: session.as_str().to_owned(),
        })
    }

    /// Instructions, then this user's history for this session, then the new input.
    fn prompt(&self, user: &UserKey, session: &SessionId, input: &str) -> Vec<Message> {
        let history = self.memory.borrow().history(user, session);
        let mut messages = Vec::with_capacity(history.len() + 2);
        if !self.config.instructions.is_empty() {
            messages.push(Message::system(self.config.instructions.clone()));
        }
        messages.extend(history);
        messages.push(Message::user(input));
        messages
    }

    pub fn history(&self, user: &UserKey, session: &SessionId) -> Vec<Message> {
        self.memory.borrow().history(user, session)
    }

    pub fn size(&self, user: &UserKey) -> usize {
        self.memory.borrow().size(user)
    }

    pub fn clear(&self, user: &UserKey) {
        self.memory.borrow_mut().clear(user)
    }

    pub fn clear_all(&self) {
        self.memory.borrow_mut().clear_all()
    }
}

fn check_input(input: &str) -> Result<()> {
    if input.trim().is_empty() {
        return Err(Error::InvalidInput {
            reason: "input must be a non-empty string".into(),
        });
    }
    if input.len() > MAX_INPUT_BYTES {
        return Err(Error::InvalidInput {
            reason: format!(
                "input is {} bytes; the limit is {MAX_INPUT_BYTES}",
                input.len()
            ),
        });
    }
    Ok(())
}
