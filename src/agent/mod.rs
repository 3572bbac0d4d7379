//! The agent: one instance, many users. Every call takes the user as an argument; there is
//! no "current user" field to race on.
//!
//! A run is: take a ticket for (user, session) at call time, wait for our turn, make the
//! user resident (loading from storage if needed) and pin them, build the prompt from that
//! user's state only, call the model with no borrow held, write the new session through to
//! storage, then commit the user message and the reply together in RAM. Any failure before
//! the commit leaves memory exactly as it was.
//!
//! Each concern of `Agent` is a file of this folder; the fields stay private to it.

mod accounts;
mod commit;
mod compaction;
mod embedding;
mod extraction;
mod facts;
mod lifecycle;
mod memory_tools;
mod model_step;
mod observation;
mod org_accounts;
mod orgs;
mod pseudonym;
mod reads;
mod residency;
mod run;
mod search;
mod tool_loop;
mod user_write;
mod working;

pub use reads::SessionInfo;
pub use run::{Input, RunOptions, RunOutput};

use crate::budget::Ledger;
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::error::Result;
use crate::ids::{SessionId, UserKey};
use crate::lock::KeyedLock;
use crate::memory::Memory;
use crate::model::Model;
use crate::observe::Observer;
use crate::persist::Storage;
use crate::tools::ToolSet;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

pub struct Agent {
    pub(super) config: AgentConfig,
    pub(super) model: Rc<dyn Model>,
    pub(super) memory: RefCell<Memory>,
    locks: KeyedLock<(UserKey, SessionId)>,
    /// Serialises a user's whole-user writes (working memory, import, forget) so two of
    /// them never compute from the same old state and lose one update.
    user_locks: KeyedLock<UserKey>,
    /// Users whose forget or import is in progress: runs for them are refused meanwhile so
    /// none can load a half-deleted user from storage.
    replacing: RefCell<HashSet<UserKey>>,
    pub(super) clock: Rc<dyn Clock>,
    storage: Option<Rc<dyn Storage>>,
    /// Budgets and rate limits: a table of its own, not part of the evictable memory, so
    /// evicting a user never refills what limits them.
    pub(super) ledger: RefCell<Ledger>,
    plan_of: Option<PlanOf>,
    org_plan_of: Option<OrgPlanOf>,
    pub(super) tools: Option<ToolSet>,
    pub(super) observer: Observer,
    budget_writes: KeyedLock<UserKey>,
    /// Writers of one org's counters, in turn: runs of different users of one org write
    /// them concurrently, and an older export must never land over a newer one.
    org_budget_writes: KeyedLock<crate::ids::OrgId>,
    /// Whether the global counters were read back from storage yet (once per agent).
    global_loaded: Cell<bool>,
    /// The key of the pseudonyms that name counters in storage and erased users' counters
    /// in RAM: read from (or first written to) storage, else random per agent. Made on
    /// first use, never at construction (Workers refuse randomness at module scope).
    secret: RefCell<Option<Rc<[u8; 32]>>>,
    /// Embeds committed messages and search queries (`memory.embedder`), when set.
    embedder: Option<Rc<dyn crate::embed::Embedder>>,
    /// The size of this agent's vectors, fixed by the first embedding that passed, so
    /// every stored vector stays comparable with every query.
    dimensions: Cell<Option<usize>>,
}

/// Decides a user's budget plan by name (`budget.planOf` in JS).
/// `planOf(userId, orgId)`: the name of a user's plan.
pub type PlanOf = Rc<dyn Fn(Option<&str>, Option<&str>) -> Option<String>>;

/// Decides an org's budget plan by name (`budget.orgPlanOf(orgId)` in JS), among
/// `budget.orgPlans`.
pub type OrgPlanOf = Rc<dyn Fn(&str) -> Option<String>>;

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
        let memory_tools = crate::tools::memory::specs(&config.memory.tools)?;
        let tools = match memory_tools.is_empty() {
            true => None,
            false => Some(ToolSet::new(memory_tools, Default::default(), None, None)?),
        };
        Ok(Agent {
            ledger: RefCell::new(ledger),
            plan_of: None,
            org_plan_of: None,
            budget_writes: KeyedLock::default(),
            org_budget_writes: KeyedLock::default(),
            tools,
            observer: Observer::default(),
            global_loaded: Cell::new(false),
            secret: RefCell::new(None),
            embedder: None,
            dimensions: Cell::new(None),
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
    pub fn with_tools(mut self, mut tools: ToolSet) -> Result<Self> {
        tools
            .specs
            .extend(crate::tools::memory::specs(&self.config.memory.tools)?);
        tools.validate()?;
        self.tools = Some(tools);
        Ok(self)
    }

    /// Audit log and telemetry sinks.
    pub fn with_observer(mut self, observer: Observer) -> Self {
        self.observer = observer;
        self
    }

    pub fn with_plan_of(mut self, plan_of: PlanOf) -> Self {
        self.plan_of = Some(plan_of);
        self
    }

    pub fn with_org_plan_of(mut self, org_plan_of: OrgPlanOf) -> Self {
        self.org_plan_of = Some(org_plan_of);
        self
    }

    /// Embeds each committed message (user input, final answer) and semantic queries.
    pub fn with_embedder(mut self, embedder: Rc<dyn crate::embed::Embedder>) -> Self {
        self.embedder = Some(embedder);
        self
    }

    pub fn with_storage(mut self, storage: Rc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    pub fn observer(&self) -> &Observer {
        &self.observer
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub(super) fn now(&self) -> f64 {
        self.clock.now_ms()
    }

    fn clock_fn(&self) -> Rc<dyn Fn() -> f64> {
        let clock = self.clock.clone();
        Rc::new(move || clock.now_ms())
    }
}
