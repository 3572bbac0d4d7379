//! The agent: one instance, many users. Every call takes the user as an argument; there is
//! no "current user" field to race on.
//!
//! A run is: take a ticket for (user, session) at call time, wait for our turn, make the
//! user resident (loading from storage if needed) and pin them, build the prompt from that
//! user's state only, call the model with no borrow held, write the new session through to
//! storage, then commit the user message and the reply together in RAM. Any failure before
//! the commit leaves memory exactly as it was.

use crate::budget::{AccountDoc, Actual, BudgetError, Ledger, PlanId, Reservation, UsageReport};
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::events::{EventPart, RunEvent};
use crate::ids::{SessionId, UserKey};
use crate::lock::{KeyedLock, Ticket};
use crate::memory::{Memory, Stats, Turn, UserState};
use crate::message::Message;
use crate::model::{FinishReason, Model, Usage};
use crate::observe::{About, Observer, Telemetry};
use crate::recall::{self, Hit};
use crate::run_id::new_run_id;
use crate::storage::{self, Storage};
use crate::tools::ToolSet;
use crate::user_doc::{self, BlockDoc, SnapshotDoc, UserDoc};
use futures_util::future::{self, Either, LocalBoxFuture};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::any::Any;
use std::cell::RefCell;
use std::collections::HashSet;
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
    /// Receives the run's events (text deltas as the model streams, then usage and finish,
    /// or an error). Called with no borrow of the agent held, so it may call back in.
    pub on_event: Option<Rc<dyn Fn(RunEvent)>>,
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
    pub session_id: String,
}

/// One row of `sessions(userId)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: String,
    pub message_count: usize,
    pub created_at: f64,
    pub last_activity: f64,
}

pub struct Agent {
    pub(crate) config: AgentConfig,
    pub(crate) model: Rc<dyn Model>,
    pub(crate) memory: RefCell<Memory>,
    locks: KeyedLock<(UserKey, SessionId)>,
    /// Serialises a user's whole-user writes (working memory, import, forget) so two of
    /// them never compute from the same old state and lose one update.
    user_locks: KeyedLock<UserKey>,
    /// Users whose forget or import is in progress: runs for them are refused meanwhile so
    /// none can load a half-deleted user from storage.
    replacing: RefCell<HashSet<UserKey>>,
    pub(crate) clock: Rc<dyn Clock>,
    storage: Option<Rc<dyn Storage>>,
    /// Budgets and rate limits: a table of its own, not part of the evictable memory, so
    /// evicting a user never refills what limits them.
    pub(crate) ledger: RefCell<Ledger>,
    plan_of: Option<PlanOf>,
    pub(crate) tools: Option<ToolSet>,
    pub(crate) observer: Observer,
    budget_writes: KeyedLock<UserKey>,
    /// Whether the global counters were read back from storage yet (once per agent).
    global_loaded: std::cell::Cell<bool>,
}

type Loaded = (UserState, Option<AccountDoc>);

/// Decides a user's budget plan by name (`budget.planOf` in JS).
pub type PlanOf = Rc<dyn Fn(Option<&str>) -> Option<String>>;

/// Budget held for one model call: released if the call ends without a settle (an early
/// return), so a hold never outlives its run.
pub(crate) struct Hold<'a> {
    pub(crate) ledger: &'a RefCell<Ledger>,
    pub(crate) reservation: Option<Reservation>,
}

impl Hold<'_> {
    pub(crate) fn settle(&mut self, actual: Actual, now: f64) -> Option<crate::budget::Charge> {
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

/// What a run carries from its start into the model call and the commit.
pub(crate) struct Call {
    pub(crate) session: SessionId,
    pub(crate) run_id: String,
    pub(crate) cancel: Option<Rc<dyn Cancellation>>,
    pub(crate) emit: Option<Rc<dyn Fn(EventPart)>>,
    pub(crate) incarnation: u64,
}

/// Releases a run's pin on its user however the run ends.
struct Pin<'a> {
    agent: &'a Agent,
    user: &'a UserKey,
    incarnation: u64,
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        self.agent
            .memory
            .borrow_mut()
            .unpin(self.user, self.incarnation);
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn default_clock() -> Rc<dyn Clock> {
    Rc::new(crate::clock::SystemClock)
}

/// wasm32 has no clock of its own: hosts pass one (the JS layer passes `Date.now`). Without
/// one, time stands still, so idle eviction never fires rather than firing wrongly.
#[cfg(target_arch = "wasm32")]
fn default_clock() -> Rc<dyn Clock> {
    Rc::new(crate::clock::ManualClock::new(0.0))
}

impl Agent {
    pub fn new(config: AgentConfig, model: Rc<dyn Model>) -> Result<Agent> {
        config.validate()?;
        let ledger = Ledger::new(&config.budget, &config.rate_limit)?;
        Ok(Agent {
            ledger: RefCell::new(ledger),
            plan_of: None,
            budget_writes: KeyedLock::default(),
            tools: None,
            observer: Observer::default(),
            global_loaded: std::cell::Cell::new(false),
            memory: RefCell::new(Memory::new(config.memory.limits())),
            config,
            model,
            locks: KeyedLock::default(),
            user_locks: KeyedLock::default(),
            replacing: RefCell::new(HashSet::new()),
            clock: default_clock(),
            storage: None,
        })
    }

    pub fn with_clock(mut self, clock: Rc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Tools the model may call (per user as `permissions` allow), run by the host.
    pub fn with_tools(mut self, tools: ToolSet) -> Result<Self> {
        let names: std::collections::BTreeSet<&str> =
            tools.specs.iter().map(|t| t.name.as_str()).collect();
        if names.len() != tools.specs.len() {
            return Err(Error::config("tools", "two tools share a name"));
        }
        tools.permissions.validate(&names)?;
        self.tools = Some(tools);
        Ok(self)
    }

    /// Audit log and telemetry sinks.
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = observer;
        self
    }

    pub fn observer(&self) -> &Observer {
        &self.observer
    }

    /// Records one thing that happened: an audit entry (when auditing) and a telemetry
    /// event (when observed), both about one user. `since` is when a timed thing started;
    /// its duration is taken here, so an unobserved agent reads no clock for it.
    pub(crate) fn observe(
        &self,
        audit_kind: Option<&str>,
        event: &'static str,
        about: &About<'_>,
        data: impl FnOnce() -> Value,
        usage: Option<Usage>,
        since: Option<f64>,
    ) {
        // Nothing is built (no hashing, no JSON) for an agent nobody observes.
        let observed = self.observer.observing();
        if !observed && (audit_kind.is_none() || !self.observer.auditing()) {
            return;
        }
        let data = data();
        let now = self.now();
        if let Some(kind) = audit_kind {
            let mut d = data.clone();
            if let (Some(u), Some(obj)) = (usage, d.as_object_mut()) {
                obj.insert(
                    "usage".into(),
                    serde_json::to_value(u).unwrap_or(Value::Null),
                );
            }
            self.observer.audit(now, kind, about, d);
        }
        if observed {
            let mut t = Telemetry::new(event, about, now, data);
            t.usage = usage;
            t.duration_ms = since.map(|t0| now - t0);
            self.observer.emit(t);
        }
    }

    /// The start of something whose duration telemetry reports; no clock read when no one
    /// observes.
    pub(crate) fn start_timer(&self) -> Option<f64> {
        self.observer.observing().then(|| self.now())
    }

    pub fn with_plan_of(mut self, plan_of: PlanOf) -> Self {
        self.plan_of = Some(plan_of);
        self
    }

    pub fn with_storage(mut self, storage: Rc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub(crate) fn now(&self) -> f64 {
        self.clock.now_ms()
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
        // The rate limit is checked at call time, before any work (and before waiting
        // behind other runs of the session).
        let checked = check_input(&input).and_then(|()| {
            let now = self.now();
            self.ledger
                .borrow_mut()
                .check_rate(&user, now)
                .map_err(|e| Error::from(BudgetError::RateLimited(e)))
        });
        let run_id = new_run_id();
        async move {
            let run_id = run_id?;
            let emit = opts.on_event.clone().map(|sink| {
                let (user_id, session_id, run_id) = (
                    user.as_option().map(str::to_owned),
                    opts.session.as_str().to_owned(),
                    run_id.clone(),
                );
                Rc::new(move |part: EventPart| {
                    sink(RunEvent {
                        part,
                        user_id: user_id.clone(),
                        session_id: session_id.clone(),
                        run_id: run_id.clone(),
                    })
                }) as Rc<dyn Fn(EventPart)>
            });
            // A refusal at call time (bad input, rate limit) still reaches a streaming host
            // as an `error` event.
            let started = this.start_timer();
            let session_id = opts.session.as_str().to_owned();
            let about = About {
                user: &user,
                session: Some(&session_id),
                run: Some(&run_id),
            };
            this.observe(
                Some(crate::audit::types::RUN_START),
                "run.start",
                &about,
                || json!({ "input": this.observer.content(&input) }),
                None,
                None,
            );
            let result = match checked {
                Ok(()) => {
                    this.run_started(ticket, input, &user, opts, run_id.clone(), emit.clone())
                        .await
                }
                Err(e) => Err(e),
            };
            let about = About {
                user: &user,
                session: Some(&session_id),
                run: Some(&run_id),
            };
            if let Err(Error::Budget(b)) = &result {
                this.observe(
                    Some(crate::audit::types::BUDGET_REFUSED),
                    "budget.refused",
                    &about,
                    || json!({ "code": b.code(), "details": b.details() }),
                    None,
                    None,
                );
            }
            let elapsed = started;
            match &result {
                Ok(out) => this.observe(
                    Some(crate::audit::types::RUN_FINISH),
                    "run.finish",
                    &about,
                    || json!({ "ok": true, "steps": out.steps, "finishReason": out.finish_reason, "output": this.observer.content(&out.text) }),
                    Some(out.usage),
                    elapsed,
                ),
                Err(e) => this.observe(
                    Some(crate::audit::types::RUN_FINISH),
                    "run.finish",
                    &about,
                    || json!({ "ok": false, "code": e.code() }),
                    None,
                    elapsed,
                ),
            }
            if let Some(emit) = emit {
                match &result {
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
            result
        }
    }

    async fn run_started(
        &self,
        ticket: Ticket<(UserKey, SessionId)>,
        input: String,
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
        let incarnation = self.enter(user).await?;
        let _pin = Pin {
            agent: self,
            user,
            incarnation,
        };
        let call = Call {
            session: opts.session,
            run_id,
            cancel,
            emit,
            incarnation,
        };
        self.run_pinned(input, user, call).await
    }

    /// Makes `user` resident (loading from storage when configured) and pins them.
    async fn enter(&self, user: &UserKey) -> Result<u64> {
        if self.replacing.borrow().contains(user) {
            return Err(Error::Conflict);
        }
        self.load_global_budget().await?;
        let loaded = self.load_if_absent(user).await?;
        let now = self.now();
        let mut m = self.memory.borrow_mut();
        if let Some((_, Some(budget))) = &loaded {
            // Counters from storage count only when this process holds none for the user
            // (a restart): RAM is never older than what it wrote.
            let mut ledger = self.ledger.borrow_mut();
            if ledger.export_user(user, now).is_none() {
                ledger.import_user(user, budget, now)?;
            }
        }
        let loaded = loaded.map(|(state, _)| state);
        match loaded {
            Some(state) => m.install_loaded(user, state, now),
            None => m.touch(user, now),
        }
        let incarnation = m.pin(user).ok_or_else(|| Error::Internal {
            message: "a user vanished between install and pin".into(),
        })?;
        let evicted = m.sweep(now);
        drop(m);
        for gone in &evicted {
            let about = About {
                user: gone,
                session: None,
                run: None,
            };
            self.observe(
                None,
                "eviction",
                &about,
                || json!({ "storage": self.storage.is_some() }),
                None,
                None,
            );
        }
        Ok(incarnation)
    }

    /// With storage and a non-resident user: their stored state (empty if none) and
    /// stored budget counters.
    async fn load_if_absent(&self, user: &UserKey) -> Result<Option<Loaded>> {
        let Some(storage) = &self.storage else {
            return Ok(None);
        };
        if self.memory.borrow().is_resident(user) {
            return Ok(None);
        }
        let limits = self.config.memory.limits();
        let state = storage::load_user(storage.as_ref(), user, &limits).await?;
        let budget = match self.budgets_persisted() {
            true => storage::get_budget(storage.as_ref(), &storage::budget_key(user)).await?,
            false => None,
        };
        Ok(Some((state.unwrap_or_default(), budget)))
    }

    /// Writes the user's (and the global) budget counters through, when limits read them.
    async fn persist_budget(&self, storage: &dyn Storage, user: &UserKey) -> Result<()> {
        // One writer at a time, each exporting after it gets its turn: concurrent runs of
        // one user (other sessions) then write counters in order, never an older over a
        // newer one.
        let _one_writer = self.budget_writes.ticket(user.clone()).await;
        let now = self.now();
        if self.budgets_persisted() {
            let doc = self.ledger.borrow().export_user(user, now);
            if let Some(doc) = doc {
                storage::put_budget(storage, &storage::budget_key(user), &doc).await?;
            }
        }
        if !self.config.budget.global.is_empty() {
            let doc = self.ledger.borrow().export_global(now);
            storage::put_budget(storage, storage::GLOBAL_BUDGET_KEY, &doc).await?;
        }
        Ok(())
    }

    async fn load_global_budget(&self) -> Result<()> {
        let Some(storage) = &self.storage else {
            return Ok(());
        };
        if self.global_loaded.get() || self.config.budget.global.is_empty() {
            return Ok(());
        }
        let doc = storage::get_budget(storage.as_ref(), storage::GLOBAL_BUDGET_KEY).await?;
        // Another run may have loaded it while this one awaited.
        if !self.global_loaded.replace(true) {
            if let Some(doc) = doc {
                self.ledger.borrow_mut().import_global(&doc, self.now())?;
            }
        }
        Ok(())
    }

    /// Budget counters are written to storage only when some limit reads them.
    fn budgets_persisted(&self) -> bool {
        let b = &self.config.budget;
        !b.per_user.is_empty() || !b.plans.is_empty() || self.config.rate_limit.per_user.is_some()
    }

    /// Storage first, then RAM: a failed write leaves both as they were.
    pub(crate) async fn commit(
        &self,
        user: &UserKey,
        incarnation: u64,
        session: SessionId,
        turn: Turn,
    ) -> Result<()> {
        let next = {
            let m = self.memory.borrow();
            let state = m.get(user).ok_or(Error::Conflict)?;
            state.session_with(&session, turn, m.limits().max_messages_per_session)
        };
        if let Some(storage) = &self.storage {
            let doc = user_doc::session_doc(user, &session, &next);
            storage::put_session(storage.as_ref(), user, &doc).await?;
            self.persist_budget(storage.as_ref(), user).await?;
        }
        let dropped =
            self.memory
                .borrow_mut()
                .put_session(user, incarnation, session.clone(), next);
        match (dropped, &self.storage) {
            (Some(None), _) | (Some(Some(_)), None) => Ok(()),
            (Some(Some(old)), Some(storage)) => {
                // Over maxSessionsPerUser: the least recently active session goes from
                // storage too, or it would come back on the next load.
                storage.delete(&storage::session_key(user, &old)).await
            }
            (None, storage) => {
                // Forgotten or replaced while in flight: take back what we just wrote, so
                // a forget is never undone by a late run.
                if let Some(storage) = storage {
                    let _ = storage.delete(&storage::session_key(user, &session)).await;
                }
                Err(Error::Conflict)
            }
        }
    }

    /// The user's budget plan: `planOf(userId)` when configured, else their `plan`
    /// property, else the default (`perUser`). An unknown plan name is the default.
    pub(crate) fn plan(&self, user: &UserKey) -> PlanId {
        let name = match &self.plan_of {
            Some(f) => f(user.as_option()),
            None => self.memory.borrow().get(user).and_then(|u| {
                u.working()
                    .properties()
                    .get("plan")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            }),
        };
        name.and_then(|n| self.ledger.borrow().plan(&n))
            .unwrap_or(PlanId::DEFAULT)
    }

    /// Spend and limits of one user, per window, with what remains.
    pub fn usage(&self, user: &UserKey) -> UsageReport {
        let plan = self.plan(user);
        self.ledger.borrow().usage(user, plan, self.now())
    }

    /// Spend and limits across all users (the `global` budget).
    pub fn global_usage(&self) -> UsageReport {
        self.ledger.borrow().global_usage(self.now())
    }

    /// Resident state for a synchronous read. With storage, a user who is not resident may
    /// still have data: refuse rather than answer "empty".
    fn read<T>(&self, user: &UserKey, f: impl FnOnce(Option<&UserState>) -> T) -> Result<T> {
        let m = self.memory.borrow();
        let state = m.get(user);
        if state.is_none() && self.storage.is_some() {
            return Err(Error::NotLoaded {
                user: user.as_option().map(str::to_owned),
            });
        }
        Ok(f(state))
    }

    pub fn history(&self, user: &UserKey, session: &SessionId) -> Result<Vec<Message>> {
        self.read(user, |u| u.map(|u| u.history(session)).unwrap_or_default())
    }

    pub fn sessions(&self, user: &UserKey) -> Result<Vec<SessionInfo>> {
        self.read(user, |u| {
            u.map(|u| {
                u.sessions()
                    .map(|(id, s)| SessionInfo {
                        id: id.as_str().to_owned(),
                        message_count: s.message_count(),
                        created_at: s.created_at(),
                        last_activity: s.last_activity(),
                    })
                    .collect()
            })
            .unwrap_or_default()
        })
    }

    pub fn size(&self, user: &UserKey) -> Result<usize> {
        self.read(user, |u| u.map_or(0, UserState::message_count))
    }

    pub fn blocks(&self, user: &UserKey) -> Result<Vec<BlockDoc>> {
        self.read(user, |u| {
            u.map(|u| user_doc::working_doc(user, u.working()).blocks)
                .unwrap_or_default()
        })
    }

    pub fn properties(&self, user: &UserKey) -> Result<Map<String, Value>> {
        self.read(user, |u| {
            u.map(|u| u.working().properties().clone())
                .unwrap_or_default()
        })
    }

    pub fn recall(&self, user: &UserKey, query: &str, limit: usize) -> Result<Vec<Hit>> {
        self.read(user, |u| {
            u.map(|u| recall::recall(u, query, limit, &|_| false))
                .unwrap_or_default()
        })
    }

    pub fn stats(&self) -> Stats {
        self.memory.borrow().stats()
    }

    pub fn is_resident(&self, user: &UserKey) -> bool {
        self.memory.borrow().is_resident(user)
    }

    /// Makes a user resident (from storage when configured) so synchronous reads work.
    pub async fn load(&self, user: &UserKey) -> Result<()> {
        let incarnation = self.enter(user).await?;
        self.memory.borrow_mut().unpin(user, incarnation);
        Ok(())
    }

    /// Changes one user's working memory: checked, written through, then applied.
    async fn update_working(
        &self,
        user: &UserKey,
        change: impl FnOnce(&mut crate::memory::WorkingMemory) -> Result<()>,
    ) -> Result<()> {
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        let incarnation = self.enter(user).await?;
        let _pin = Pin {
            agent: self,
            user,
            incarnation,
        };
        let next = {
            let m = self.memory.borrow();
            let mut w = m.get(user).ok_or(Error::Conflict)?.working().clone();
            change(&mut w)?;
            w
        };
        if let Some(storage) = &self.storage {
            storage::put_working(storage.as_ref(), user, &user_doc::working_doc(user, &next))
                .await?;
        }
        if self
            .memory
            .borrow_mut()
            .set_working(user, incarnation, next)
        {
            Ok(())
        } else {
            Err(Error::Conflict)
        }
    }

    pub async fn set_block(&self, user: &UserKey, label: &str, text: &str) -> Result<()> {
        self.update_working(user, |w| w.set_block(label, text))
            .await
    }

    pub async fn delete_block(&self, user: &UserKey, label: &str) -> Result<()> {
        self.update_working(user, |w| {
            w.delete_block(label);
            Ok(())
        })
        .await
    }

    pub async fn set_property(&self, user: &UserKey, key: &str, value: Value) -> Result<()> {
        self.update_working(user, |w| w.set_property(key, value))
            .await
    }

    /// Deletes everything of one user, in storage and in RAM, and nothing of anyone else.
    /// Runs in flight for the user fail with `conflict` and keep nothing.
    pub async fn forget(&self, user: &UserKey) -> Result<()> {
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        self.replacing.borrow_mut().insert(user.clone());
        // RAM goes first so a run finishing meanwhile sees its user gone and takes back
        // its own write.
        self.memory.borrow_mut().remove(user);
        self.ledger.borrow_mut().forget(user);
        if let Some(t) = &self.tools {
            t.cache.borrow_mut().forget(user);
        }
        let result = match &self.storage {
            Some(s) => storage::delete_prefix(s.as_ref(), &storage::user_prefix(user))
                .await
                .map(|_| ()),
            None => Ok(()),
        };
        self.replacing.borrow_mut().remove(user);
        let about = About {
            user,
            session: None,
            run: None,
        };
        self.observe(
            Some(crate::audit::types::FORGET),
            "forget",
            &about,
            || json!({ "ok": result.is_ok() }),
            None,
            None,
        );
        result
    }

    /// The versioned document of exactly this user's data.
    pub async fn export(&self, user: &UserKey) -> Result<UserDoc> {
        self.load(user).await?;
        let now = self.now();
        let m = self.memory.borrow();
        let state = m.get(user).ok_or(Error::Conflict)?;
        let mut doc = user_doc::export_user(user, state, now);
        doc.budget = self.ledger.borrow().export_user(user, now);
        drop(m);
        let about = About {
            user,
            session: None,
            run: None,
        };
        self.observe(
            Some(crate::audit::types::EXPORT),
            "export",
            &about,
            || json!({ "sessions": doc.sessions.len() }),
            None,
            None,
        );
        Ok(doc)
    }

    /// Replaces one user's data with a document's, after checking all of it. A refused
    /// document changes nothing.
    pub async fn import(&self, doc: UserDoc) -> Result<UserKey> {
        let limits = self.config.memory.limits();
        let budget = doc.budget.clone();
        let (user, state) = user_doc::user_from_doc(doc, &limits)?;
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        if let Some(b) = &budget {
            // Checked (and applied) before anything else changes: a refused budget
            // refuses the whole document.
            self.ledger.borrow_mut().import_user(&user, b, self.now())?;
        }
        if let Some(s) = &self.storage {
            self.replacing.borrow_mut().insert(user.clone());
            let mut written = write_user(s.as_ref(), &user, &state).await;
            if written.is_ok() && budget.is_some() {
                written = self.persist_budget(s.as_ref(), &user).await;
            }
            self.replacing.borrow_mut().remove(&user);
            written?;
        }
        let now = self.now();
        let sessions = state.session_count();
        {
            let mut m = self.memory.borrow_mut();
            m.replace(&user, state, now);
            m.sweep(now);
        }
        let about = About {
            user: &user,
            session: None,
            run: None,
        };
        self.observe(
            Some(crate::audit::types::IMPORT),
            "import",
            &about,
            || json!({ "sessions": sessions }),
            None,
            None,
        );
        Ok(user)
    }

    /// Every resident user's data in one document (with storage, the rest is in storage).
    pub fn snapshot(&self) -> SnapshotDoc {
        let now = self.now();
        let m = self.memory.borrow();
        let ledger = self.ledger.borrow();
        let mut users: Vec<UserDoc> = m
            .users()
            .map(|(k, s)| {
                let mut doc = user_doc::export_user(k, s, now);
                doc.budget = ledger.export_user(k, now);
                doc
            })
            .collect();
        // Stable output whatever the hash order: snapshots diff cleanly.
        users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        SnapshotDoc {
            format: user_doc::SNAPSHOT_FORMAT.into(),
            version: user_doc::DOC_VERSION,
            taken_at: now,
            users,
            global_budget: (!self.config.budget.global.is_empty())
                .then(|| ledger.export_global(now)),
        }
    }

    /// Loads a snapshot into this (fresh) agent: every user document is checked first, and
    /// nothing is applied unless all pass.
    pub async fn restore(&self, snapshot: SnapshotDoc) -> Result<usize> {
        if snapshot.format != user_doc::SNAPSHOT_FORMAT || snapshot.version != user_doc::DOC_VERSION
        {
            return Err(Error::InvalidImport {
                reason: format!(
                    "expected a {} document of version {}, got {:?} version {}",
                    user_doc::SNAPSHOT_FORMAT,
                    user_doc::DOC_VERSION,
                    snapshot.format,
                    snapshot.version
                ),
            });
        }
        let limits = self.config.memory.limits();
        let mut seen = HashSet::new();
        for doc in &snapshot.users {
            let (user, _) = user_doc::user_from_doc(doc.clone(), &limits)?;
            if !seen.insert(user.clone()) {
                return Err(Error::InvalidImport {
                    reason: format!("user {user} appears twice in the snapshot"),
                });
            }
        }
        if let Some(g) = &snapshot.global_budget {
            self.ledger.borrow_mut().import_global(g, self.now())?;
        }
        let n = snapshot.users.len();
        for doc in snapshot.users {
            self.import(doc).await?;
        }
        Ok(n)
    }

    /// Host-only: forgets every user, in storage too. Nothing reachable from a run or a
    /// tool calls this.
    pub async fn clear_all(&self) -> Result<()> {
        self.memory.borrow_mut().clear_all();
        // Every user's counters and the global ones: the ledger starts over.
        let fresh = Ledger::new(&self.config.budget, &self.config.rate_limit)?;
        *self.ledger.borrow_mut() = fresh;
        if let Some(s) = &self.storage {
            storage::delete_prefix(s.as_ref(), storage::ROOT_PREFIX).await?;
        }
        Ok(())
    }
}

/// Writes a user's whole state, replacing whatever storage held for them.
async fn write_user(s: &dyn Storage, user: &UserKey, state: &UserState) -> Result<()> {
    storage::delete_prefix(s, &storage::user_prefix(user)).await?;
    for (id, session) in state.sessions() {
        storage::put_session(s, user, &user_doc::session_doc(user, id, session)).await?;
    }
    if !state.working().is_empty() {
        storage::put_working(s, user, &user_doc::working_doc(user, state.working())).await?;
    }
    Ok(())
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
