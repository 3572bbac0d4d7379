//! The agent: one instance, many users. Every call takes the user as an argument; there is
//! no "current user" field to race on.
//!
//! A run is: take a ticket for (user, session) at call time, wait for our turn, make the
//! user resident (loading from storage if needed) and pin them, build the prompt from that
//! user's state only, call the model with no borrow held, write the new session through to
//! storage, then commit the user message and the reply together in RAM. Any failure before
//! the commit leaves memory exactly as it was.

use crate::budget::{Actual, BudgetError, Ledger, PlanId, Pseudonym, Reservation, UsageReport};
use crate::cancel::Cancellation;
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::events::{EventPart, RunEvent};
use crate::ids::{SessionId, UserKey};
use crate::limits::MAX_INPUT_BYTES;
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
use futures_util::future::{self, Either};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::HashSet;
use std::future::Future;
use std::rc::Rc;

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
    /// The key of the pseudonyms that name counters in storage and erased users' counters
    /// in RAM: read from (or first written to) storage, else random per agent. Made on
    /// first use, never at construction (Workers refuse randomness at module scope).
    secret: RefCell<Option<Rc<[u8; 32]>>>,
}

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
            secret: RefCell::new(None),
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
        // behind other runs of the session), on the user's real counters: when they are
        // only in storage (a restart, an eviction), once they are read back.
        let deferred =
            self.storage.is_some() && self.budgets_persisted() && !self.ledger.borrow().has(&user);
        let checked = check_input(&input)
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
            if result.is_err() {
                // A failed run may still have taken a rate token or been charged for a
                // model call: those counters must survive a restart too.
                this.persist_counters(&user).await;
            }
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
        self.ensure_account(user).await?;
        let loaded = self.load_if_absent(user).await?;
        let now = self.now();
        let mut m = self.memory.borrow_mut();
        match loaded {
            Some(state) => m.install_loaded(user, state, now),
            None => m.touch(user, now),
        }
        let incarnation = m.pin(user).ok_or_else(|| Error::Internal {
            message: "a user vanished between install and pin".into(),
        })?;
        let evicted = m.sweep(now);
        drop(m);
        if !evicted.is_empty() {
            // Their counters leave RAM too when that loosens nothing (see Ledger::evict).
            let stored = self.storage.is_some();
            let mut ledger = self.ledger.borrow_mut();
            for gone in &evicted {
                ledger.evict(gone, stored, now);
            }
        }
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

    /// With storage and a non-resident user: their stored state (empty if none).
    async fn load_if_absent(&self, user: &UserKey) -> Result<Option<UserState>> {
        let Some(storage) = &self.storage else {
            return Ok(None);
        };
        if self.memory.borrow().is_resident(user) {
            return Ok(None);
        }
        let limits = self.config.memory.limits();
        let state = storage::load_user(storage.as_ref(), user, &limits).await?;
        Ok(Some(state.unwrap_or_default()))
    }

    /// Takes one request from the user's rate bucket (their account must be in RAM).
    fn check_rate(&self, user: &UserKey) -> Result<()> {
        if !self.ledger.borrow().has(user) {
            self.revive(user);
            self.make_room(user)?;
        }
        let now = self.now();
        self.ledger
            .borrow_mut()
            .check_rate(user, now)
            .map_err(|e| Error::from(BudgetError::RateLimited(e)))
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

    /// Puts the user's counters in RAM before anything reads or changes them: retained
    /// ones of an erased id, or, with storage, what was stored (a restart or an eviction
    /// must never refill a budget or a rate bucket).
    pub(crate) async fn ensure_account(&self, user: &UserKey) -> Result<()> {
        if self.ledger.borrow().has(user) {
            return Ok(());
        }
        let storage = match &self.storage {
            Some(s) if self.budgets_persisted() => s,
            _ => {
                self.revive(user);
                return self.make_room(user);
            }
        };
        let pseudonym = self.pseudonym(user).await?;
        if self.ledger.borrow_mut().revive(user, &pseudonym) {
            return Ok(());
        }
        let doc = storage::get_budget(storage.as_ref(), &storage::budget_key(&pseudonym)).await?;
        // Another call may have loaded the account while this one awaited: its counters
        // are at least as new as what storage held.
        if self.ledger.borrow().has(user) {
            return Ok(());
        }
        self.make_room(user)?;
        let now = self.now();
        let mut ledger = self.ledger.borrow_mut();
        match doc {
            Some(doc) => ledger.import_user(user, &doc, now)?,
            None => ledger.open(user),
        }
        if let Some(v) = ledger.version(user) {
            ledger.saved(user, v);
        }
        Ok(())
    }

    /// Without storage: an erased id's retained counters back under the id (a sync path:
    /// the secret is made here if need be).
    fn revive(&self, user: &UserKey) {
        if self.ledger.borrow().has(user) || !self.ledger.borrow().has_retained() {
            return;
        }
        if let Some(secret) = self.secret_now() {
            let p = pseudonym_of(&secret, user);
            self.ledger.borrow_mut().revive(user, &p);
        }
    }

    /// Refuses a new account when the ledger is full of accounts that cannot be dropped
    /// without loosening a limit (spend in open windows, with no storage to keep it in).
    fn make_room(&self, user: &UserKey) -> Result<()> {
        let cap = self.ledger_capacity();
        let mut ledger = self.ledger.borrow_mut();
        if ledger.has(user) || ledger.len() < cap {
            return Ok(());
        }
        ledger.sweep(self.now());
        if ledger.len() < cap {
            return Ok(());
        }
        Err(Error::Capacity {
            accounts: ledger.len(),
        })
    }

    /// The most budget accounts held in RAM.
    pub fn ledger_capacity(&self) -> usize {
        self.config.memory.max_users.max(MIN_LEDGER_CAPACITY)
    }

    /// The pseudonym key, if this agent has one already (made now when there is no storage).
    fn secret_now(&self) -> Option<Rc<[u8; 32]>> {
        if let Some(s) = self.secret.borrow().as_ref() {
            return Some(s.clone());
        }
        if self.storage.is_some() {
            return None;
        }
        let fresh = Rc::new(random_key().ok()?);
        *self.secret.borrow_mut() = Some(fresh.clone());
        Some(fresh)
    }

    /// The pseudonym key: with storage, the stored one (written on first use), so that a
    /// restarted agent finds the same counters.
    async fn secret(&self) -> Result<Rc<[u8; 32]>> {
        if let Some(s) = self.secret_now() {
            return Ok(s);
        }
        let Some(storage) = &self.storage else {
            return Err(Error::Internal {
                message: "no randomness for the pseudonym key".into(),
            });
        };
        let stored = storage.get(storage::SECRET_KEY).await?;
        let key = match stored {
            Some(hex) => parse_key(&hex).ok_or_else(|| {
                Error::storage(
                    "load",
                    format!("record {:?} is not a key", storage::SECRET_KEY),
                )
            })?,
            None => {
                let key = random_key()?;
                storage.put(storage::SECRET_KEY, hex_key(&key)).await?;
                key
            }
        };
        // A concurrent first use may have set it meanwhile; the first one wins.
        let mut slot = self.secret.borrow_mut();
        Ok(slot.get_or_insert_with(|| Rc::new(key)).clone())
    }

    async fn pseudonym(&self, user: &UserKey) -> Result<Pseudonym> {
        let secret = self.secret().await?;
        Ok(pseudonym_of(&secret, user))
    }

    /// Writes the user's (and the global) budget counters through, when limits read them.
    async fn persist_budget(&self, storage: &dyn Storage, user: &UserKey) -> Result<()> {
        // One writer at a time, each exporting after it gets its turn: concurrent runs of
        // one user (other sessions) then write counters in order, never an older over a
        // newer one.
        let _one_writer = self.budget_writes.ticket(user.clone()).await;
        if self.budgets_persisted() {
            let pseudonym = self.pseudonym(user).await?;
            let now = self.now();
            let exported = {
                let ledger = self.ledger.borrow();
                ledger.export_user(user, now).zip(ledger.version(user))
            };
            if let Some((doc, version)) = exported {
                storage::put_budget(storage, &storage::budget_key(&pseudonym), &doc).await?;
                self.ledger.borrow_mut().saved(user, version);
            }
        }
        if !self.config.budget.global.is_empty() {
            let doc = self.ledger.borrow().export_global(self.now());
            storage::put_budget(storage, storage::GLOBAL_BUDGET_KEY, &doc).await?;
        }
        Ok(())
    }

    /// After a failed run: the counters it changed, written through if they are not yet.
    /// A failure here keeps them in RAM (an unsaved account is never evicted) for the
    /// next write.
    async fn persist_counters(&self, user: &UserKey) {
        let Some(storage) = &self.storage else {
            return;
        };
        let unsaved = !self.ledger.borrow().is_saved(user);
        if unsaved || !self.config.budget.global.is_empty() {
            let _ = self.persist_budget(storage.as_ref(), user).await;
        }
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
        let (next, generation) = {
            let m = self.memory.borrow();
            // The state this run loaded, not one an import or forget put in its place:
            // writing the run's turn into a replacement (and then taking it back) would
            // overwrite and delete what the replacement stored.
            let state = m
                .get(user)
                .filter(|s| s.incarnation == incarnation)
                .ok_or(Error::Conflict)?;
            (
                state.session_with(&session, turn, m.limits().max_messages_per_session),
                state.generation,
            )
        };
        if let Some(storage) = &self.storage {
            // Counters first: the model's charge stands whether or not the turn commits, so
            // a failure after this point keeps a true charge, while the other order could
            // leave a stored turn for a run that reported failure.
            self.persist_budget(storage.as_ref(), user).await?;
            let doc = user_doc::session_doc(user, &session, &next);
            storage::put_session(storage.as_ref(), user, generation, &doc).await?;
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
                storage
                    .delete(&storage::session_key(user, generation, &old))
                    .await
            }
            (None, storage) => {
                // Forgotten or replaced while in flight: take back what we just wrote, so
                // a forget is never undone by a late run.
                if let Some(storage) = storage {
                    let _ = storage
                        .delete(&storage::session_key(user, generation, &session))
                        .await;
                }
                Err(Error::Conflict)
            }
        }
    }

    /// The user's budget plan: `planOf(userId)` when configured, else the default
    /// (`perUser`). Only the host decides: nothing the user can write (profile properties,
    /// an imported document) picks their plan. An unknown plan name is the default.
    pub(crate) fn plan(&self, user: &UserKey) -> PlanId {
        let name = self.plan_of.as_ref().and_then(|f| f(user.as_option()));
        name.and_then(|n| self.ledger.borrow().plan(&n))
            .unwrap_or(PlanId::DEFAULT)
    }

    /// Spend and limits of one user, per window, with what remains. With storage, counters
    /// of a user not in RAM are read by `load` (or any run) first.
    pub fn usage(&self, user: &UserKey) -> UsageReport {
        self.revive(user);
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

    /// Sizes of every per-user table: resident memory, budget accounts (with erased users'
    /// retained counters) and the tool cache.
    pub fn stats(&self) -> Stats {
        let mut st = self.memory.borrow().stats();
        let ledger = self.ledger.borrow();
        st.budget_accounts = ledger.len();
        st.retained_accounts = ledger.retained();
        st.budget_capacity = self.ledger_capacity();
        st.audit_content_keys = self.observer.content_keys();
        if let Some(t) = &self.tools {
            let cache = t.cache.borrow();
            st.tool_cache_entries = cache.len();
            st.tool_cache_users = cache.users();
        }
        st
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
            let generation = self.memory.borrow().get(user).map_or(0, |u| u.generation);
            storage::put_working(
                storage.as_ref(),
                user,
                generation,
                &user_doc::working_doc(user, &next),
            )
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
    /// Runs in flight for the user fail with `conflict` and keep nothing. What the user
    /// spent inside windows still open keeps counting, under a pseudonym (see
    /// `Ledger::forget`): erasure is not a way around a limit.
    pub async fn forget(&self, user: &UserKey) -> Result<()> {
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        // The pseudonym first: it may need storage, and a failure here changes nothing.
        // With storage but no per-user limit there is nothing a pseudonym would keep.
        let pseudonym = match (self.storage.is_some(), self.budgets_persisted()) {
            (true, true) => Some(self.pseudonym(user).await?),
            (true, false) => None,
            (false, _) => {
                let secret = self.secret_now().ok_or_else(|| Error::Internal {
                    message: "no randomness for the pseudonym key: nothing was forgotten".into(),
                })?;
                Some(pseudonym_of(&secret, user))
            }
        };
        self.replacing.borrow_mut().insert(user.clone());
        // RAM goes first so a run finishing meanwhile sees its user gone and takes back
        // its own write.
        self.memory.borrow_mut().remove(user);
        let now = self.now();
        self.ledger.borrow_mut().forget(user, pseudonym, now);
        self.observer.forget_user(user);
        if let Some(t) = &self.tools {
            t.cache.borrow_mut().forget(user);
        }
        let result = match &self.storage {
            Some(s) => erase_user(s.as_ref(), user).await,
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

    /// Replaces one user's data with a document's, after checking all of it: all of it
    /// applies or none of it, in RAM and in storage (see storage.rs on generations). The
    /// document's budget counters are merged in, never lowering what the user spent; a
    /// document without them leaves the counters as they are.
    pub async fn import(&self, doc: UserDoc) -> Result<UserKey> {
        let limits = self.config.memory.limits();
        let budget = doc.budget.clone();
        let (user, mut state) = user_doc::user_from_doc(doc, &limits)?;
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        if let Some(b) = &budget {
            self.ledger.borrow().check_user_doc(b, self.now())?;
        }
        // The merge is with the user's real counters, stored ones included.
        self.ensure_account(&user).await?;
        if let Some(s) = &self.storage {
            self.replacing.borrow_mut().insert(user.clone());
            let written = self
                .write_generation(s.as_ref(), &user, &mut state, budget.as_ref())
                .await;
            self.replacing.borrow_mut().remove(&user);
            written?;
        }
        let now = self.now();
        if let Some(b) = &budget {
            let mut ledger = self.ledger.borrow_mut();
            ledger.import_user(&user, b, now)?;
            if let (true, Some(v)) = (self.storage.is_some(), ledger.version(&user)) {
                ledger.saved(&user, v);
            }
        }
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

    /// Writes `state` as the user's next storage generation and switches to it; merged
    /// counters go in just before the switch and are put back if the switch fails. On
    /// error, what loads see is what they saw before.
    async fn write_generation(
        &self,
        s: &dyn Storage,
        user: &UserKey,
        state: &mut UserState,
        budget: Option<&crate::budget::AccountDoc>,
    ) -> Result<()> {
        // Past every generation present, not just the live one: a failed import may have
        // left keys of `live + 1`, which must not become part of this one.
        let current = storage::get_generation(s, user).await?;
        let highest = storage::highest_generation(s, user).await?.max(current);
        let next = highest
            .checked_add(1)
            .ok_or_else(|| Error::storage("put", "the user's storage generation is exhausted"))?;
        for (id, session) in state.sessions() {
            storage::put_session(s, user, next, &user_doc::session_doc(user, id, session)).await?;
        }
        if !state.working().is_empty() {
            storage::put_working(s, user, next, &user_doc::working_doc(user, state.working()))
                .await?;
        }
        let mut undo = None;
        if let (Some(b), true) = (budget, self.budgets_persisted()) {
            let now = self.now();
            let key = storage::budget_key(&self.pseudonym(user).await?);
            let merged = self.ledger.borrow().merged_doc(user, b, now)?;
            let before = self.ledger.borrow().export_user(user, now);
            storage::put_budget(s, &key, &merged).await?;
            undo = Some((key, before));
        }
        if let Err(e) = storage::put_generation(s, user, next).await {
            if let Some((key, before)) = undo {
                let _ = match before {
                    Some(doc) => storage::put_budget(s, &key, &doc).await,
                    None => s.delete(&key).await,
                };
            }
            return Err(e);
        }
        state.generation = next;
        // What the old generation held is invisible now; a failure to delete it only
        // leaves garbage that the next import or forget removes.
        let _ = storage::delete_other_generations(s, user, next).await;
        Ok(())
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
        let now = self.now();
        for doc in &snapshot.users {
            let (user, _) = user_doc::user_from_doc(doc.clone(), &limits)?;
            if !seen.insert(user.clone()) {
                return Err(Error::InvalidImport {
                    reason: format!("user {user} appears twice in the snapshot"),
                });
            }
            if let Some(b) = &doc.budget {
                self.ledger.borrow().check_user_doc(b, now)?;
            }
        }
        if let Some(g) = &snapshot.global_budget {
            self.ledger.borrow().check_global_doc(g, now)?;
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
        *self.secret.borrow_mut() = None;
        self.observer.forget_all_users();
        if let Some(s) = &self.storage {
            storage::delete_prefix(s.as_ref(), storage::ROOT_PREFIX).await?;
        }
        Ok(())
    }
}

/// Erases a user's keys: first an empty generation becomes the live one (one put, after
/// which a load finds nothing), then every key goes. A failure part-way leaves only keys no
/// load reads, and running it again finishes.
async fn erase_user(s: &dyn Storage, user: &UserKey) -> Result<()> {
    let prefix = storage::user_prefix(user);
    let keys = s.list(&prefix).await?;
    if keys.is_empty() {
        return Ok(());
    }
    let current = storage::get_generation(s, user).await?;
    storage::put_generation(s, user, current.saturating_add(1)).await?;
    let generation_key = storage::generation_key(user);
    for key in keys
        .iter()
        .filter(|k| k.starts_with(&prefix) && **k != generation_key)
    {
        s.delete(key).await?;
    }
    s.delete(&generation_key).await
}

/// HMAC-SHA256 of the user's storage name under the agent's secret.
fn pseudonym_of(secret: &[u8; 32], user: &UserKey) -> Pseudonym {
    use hmac::{Hmac, Mac};
    const DOMAIN: &[u8] = b"tenantry.pseudonym\0";
    match <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(DOMAIN);
            mac.update(user.storage_name().as_bytes());
            mac.finalize().into_bytes().into()
        }
        // HMAC takes keys of any length: not reached, but no panic path either.
        Err(_) => {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(secret);
            h.update(DOMAIN);
            h.update(user.storage_name().as_bytes());
            h.finalize().into()
        }
    }
}

fn random_key() -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::Internal {
        message: format!("no randomness for the pseudonym key: {e}"),
    })?;
    Ok(key)
}

fn hex_key(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_key(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// A floor under the ledger's capacity, so a tiny `maxUsers` does not refuse new users
/// while a handful of accounts wait for their windows to close.
const MIN_LEDGER_CAPACITY: usize = 1024;

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
