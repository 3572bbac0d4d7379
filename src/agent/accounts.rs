//! Budget and rate accounts as the agent keeps them: read back from storage before anything
//! touches them, written through after every change a limit reads, and reported.

use super::pseudonym::pseudonym_of;
use super::Agent;
use crate::budget::{BudgetError, PlanId, UsageReport};
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::persist::{keys, records, Storage};

/// A floor under the ledger's capacity, so a tiny `maxUsers` does not refuse new users
/// while a handful of accounts wait for their windows to close.
const MIN_LEDGER_CAPACITY: usize = 1024;

impl Agent {
    /// Takes one request from the user's rate bucket and their org's (their accounts must
    /// be in RAM).
    pub(super) fn check_rate(&self, user: &UserKey) -> Result<()> {
        if !self.ledger.borrow().has(user) {
            self.revive(user);
            self.make_room(user)?;
        }
        let org = self.resident_org(user)?;
        let now = self.now();
        self.ledger
            .borrow_mut()
            .check_rate_in(user, org, now)
            .map_err(|e| Error::from(BudgetError::RateLimited(e)))
    }

    /// Puts the user's counters, and their org's when org limits apply, in RAM before
    /// anything reads or changes them.
    pub(super) async fn ensure_account(&self, user: &UserKey) -> Result<()> {
        self.ensure_user_account(user).await?;
        self.ensure_org_account(user).await
    }

    /// The user's counters: retained ones of an erased id, or, with storage, what was
    /// stored (a restart or an eviction must never refill a budget or a rate bucket).
    async fn ensure_user_account(&self, user: &UserKey) -> Result<()> {
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
        let doc = records::get_budget(storage.as_ref(), &keys::budget_key(&pseudonym)).await?;
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
    pub(super) fn revive(&self, user: &UserKey) {
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
    pub(super) fn make_room(&self, user: &UserKey) -> Result<()> {
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

    /// Writes the user's (and the global) budget counters through, when limits read them.
    pub(super) async fn persist_budget(&self, storage: &dyn Storage, user: &UserKey) -> Result<()> {
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
                records::put_budget(storage, &keys::budget_key(&pseudonym), &doc).await?;
                self.ledger.borrow_mut().saved(user, version);
            }
        }
        if !self.org_saved(user) {
            self.persist_org_budget(storage, user).await?;
        }
        if !self.config.budget.global.is_empty() {
            let doc = self.ledger.borrow().export_global(self.now());
            records::put_budget(storage, keys::GLOBAL_BUDGET_KEY, &doc).await?;
        }
        Ok(())
    }

    /// After a failed run: the counters it changed, written through if they are not yet.
    /// A failure here keeps them in RAM (an unsaved account is never evicted) for the
    /// next write.
    pub(super) async fn persist_counters(&self, user: &UserKey) {
        let Some(storage) = &self.storage else {
            return;
        };
        let unsaved = !self.ledger.borrow().is_saved(user) || !self.org_saved(user);
        if unsaved || !self.config.budget.global.is_empty() {
            let _ = self.persist_budget(storage.as_ref(), user).await;
        }
    }

    /// After work that charged the user past the last write of their counters (a search's
    /// embedding, the summary or extraction after a commit): written through, so a restart
    /// cannot refill them. A failure keeps them in RAM (an unsaved account is never
    /// evicted) for the next write, as `persist_counters` does.
    pub(super) async fn persist_unsaved(&self, user: &UserKey) {
        let Some(storage) = &self.storage else {
            return;
        };
        if !self.ledger.borrow().is_saved(user) || !self.org_saved(user) {
            let _ = self.persist_budget(storage.as_ref(), user).await;
        }
    }

    pub(super) async fn load_global_budget(&self) -> Result<()> {
        let Some(storage) = &self.storage else {
            return Ok(());
        };
        if self.global_loaded.get() || self.config.budget.global.is_empty() {
            return Ok(());
        }
        let doc = records::get_budget(storage.as_ref(), keys::GLOBAL_BUDGET_KEY).await?;
        // Another run may have loaded it while this one awaited.
        if !self.global_loaded.replace(true) {
            if let Some(doc) = doc {
                self.ledger.borrow_mut().import_global(&doc, self.now())?;
            }
        }
        Ok(())
    }

    /// Budget counters are written to storage only when some limit reads them.
    pub(super) fn budgets_persisted(&self) -> bool {
        let b = &self.config.budget;
        !b.per_user.is_empty()
            || !b.plans.is_empty()
            || b.org_budgets.values().any(|o| !o.per_user.is_empty())
            || self.config.rate_limit.per_user.is_some()
    }

    /// The user's budget plan: `planOf(userId)` when configured, else the limits the
    /// user's org gives its users (`orgs[orgId].budget.perUser`), else the default
    /// (`perUser`). Only the host decides: nothing the user can write (profile properties,
    /// an imported document) picks their plan. An unknown plan name is the default.
    pub(super) fn plan(&self, user: &UserKey) -> PlanId {
        let name = self
            .plan_of
            .as_ref()
            .and_then(|f| f(user.as_option(), user.org()));
        let ledger = self.ledger.borrow();
        name.and_then(|n| ledger.plan(&n))
            .or_else(|| user.org_id().and_then(|o| ledger.org_user_plan(o)))
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
}
