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
mod mcp_tools;
mod memory_tools;
mod model_step;
mod observation;
mod org_accounts;
mod org_knowledge;
mod org_settings;
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

use crate::budget::{Ledger, OrgBudget};
use crate::clock::Clock;
use crate::config::AgentConfig;
use crate::error::Result;
use crate::ids::{OrgId, SessionId, UserKey};
use crate::keyed::KeyedSet;
use crate::lock::KeyedLock;
use crate::memory::{Memory, OrgTable};
use crate::model::Model;
use crate::observe::Observer;
use crate::org_config::{OrgConfigs, OrgLookup, OrgSettings};
use crate::persist::Storage;
use crate::tools::ToolSet;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

pub struct Agent {
    pub(super) config: AgentConfig,
    pub(super) model: Rc<dyn Model>,
    pub(super) memory: RefCell<Memory>,
    locks: KeyedLock<(UserKey, SessionId)>,
    /// Serialises a user's whole-user writes (working memory, import, forget) so two of
    /// them never compute from the same old state and lose one update.
    user_locks: KeyedLock<UserKey>,
    /// Knowledge of the resident orgs, and the turns its writers and loaders take.
    orgs: RefCell<OrgTable>,
    org_locks: KeyedLock<OrgId>,
    /// Each org's own settings (`orgs`, `orgConfig`).
    org_configs: OrgConfigs,
    /// Users whose forget or import is in progress: runs for them are refused meanwhile so
    /// none can load a half-deleted user from storage.
    replacing: RefCell<KeyedSet<UserKey>>,
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
    /// MCP servers whose tools each run lists for its user, when configured.
    mcp: Option<Rc<crate::mcp::Mcp>>,
}

/// Decides a user's budget plan by name (`budget.planOf(userId, { orgId })` in JS).
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
            mcp: None,
            memory: RefCell::new(Memory::new(config.memory.limits())),
            config,
            model,
            locks: KeyedLock::default(),
            user_locks: KeyedLock::default(),
            orgs: RefCell::new(OrgTable::new(crate::limits::MAX_RESIDENT_ORGS)),
            org_locks: KeyedLock::default(),
            org_configs: OrgConfigs::default(),
            replacing: RefCell::new(KeyedSet::default()),
            clock: default_clock(),
            storage: None,
        })
    }

    pub fn with_clock(mut self, clock: Rc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Tools the model may call (per user as `permissions` allow), run by the host.
    /// Per-org settings: a static map, a host lookup, or both (the map first). Checked
    /// against the agent's tools, so set the tools first.
    pub fn with_orgs(
        mut self,
        fixed: BTreeMap<OrgId, OrgSettings>,
        lookup: Option<Rc<dyn OrgLookup>>,
    ) -> Result<Self> {
        for (org, settings) in &fixed {
            let path = format!("orgs[{:?}]", org.as_str());
            settings.validate(&path, &|t| self.knows_tool(t), &|p| self.knows_org_plan(p))?;
        }
        let budgets: BTreeMap<String, OrgBudget> = fixed
            .iter()
            .filter_map(|(org, s)| Some((org.as_str().to_owned(), s.budget.clone()?)))
            .collect();
        if !budgets.is_empty() {
            // No account exists yet, so the ledger is rebuilt with the orgs' limits in it.
            self.config.budget.org_budgets = budgets;
            *self.ledger.get_mut() = Ledger::new(&self.config.budget, &self.config.rate_limit)?;
        }
        self.org_configs = OrgConfigs::new(&self.config.instructions, fixed, lookup);
        Ok(self)
    }

    /// Whether `name` is one of the agent's tools: a host tool, a built-in memory tool, or
    /// a tool an MCP server may list (by its server's prefix).
    fn knows_tool(&self, name: &str) -> bool {
        match &self.tools {
            Some(t) => t.knows(name),
            None => crate::tools::memory::NAMES.contains(&name),
        }
    }

    /// Whether `name` is a plan of `budget.orgPlans`.
    fn knows_org_plan(&self, name: &str) -> bool {
        self.ledger.borrow().org_plan(name).is_some()
    }

    pub fn with_tools(mut self, mut tools: ToolSet) -> Result<Self> {
        tools
            .specs
            .extend(crate::tools::memory::specs(&self.config.memory.tools)?);
        if let Some(mcp) = &self.mcp {
            tools.run_time_prefixes = mcp.prefixes();
        }
        tools.validate()?;
        self.tools = Some(tools);
        Ok(self)
    }

    /// MCP servers' tools, listed per run for its user and called with that user's
    /// headers. Rules in `permissions` may name them (by `${server}_${tool}`) once this is
    /// set, whether `with_tools` comes before or after.
    pub fn with_mcp(mut self, mcp: crate::mcp::Mcp) -> Result<Self> {
        let tools = match self.tools.take() {
            Some(mut t) => {
                t.run_time_prefixes = mcp.prefixes();
                t.validate()?;
                t
            }
            None => ToolSet::with_run_time_tools(
                Vec::new(),
                Default::default(),
                None,
                None,
                mcp.prefixes(),
            )?,
        };
        self.tools = Some(tools);
        self.mcp = Some(Rc::new(mcp));
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
