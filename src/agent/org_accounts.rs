//! The org level of budgets and rate limits as the agent keeps it: which org a call also
//! answers to, the org's counters read back from storage before anything touches them,
//! written through after every change, bounded in RAM, and reported.
//!
//! A default-org user, or any user when no org limit is configured, never reaches past
//! `limited_org`: no org account is looked up, no pseudonym is computed.

use super::pseudonym::org_pseudonym_of;
use super::Agent;
use crate::budget::{AccountDoc, PlanId, UsageReport};
use crate::error::{Error, Result};
use crate::ids::{OrgId, UserKey};
use crate::keyed::KeyedSet;
use crate::persist::{keys, records, Storage};
use std::collections::BTreeMap;

impl Agent {
    /// The org whose limits a call of `user` answers to: `None` for the default org's users
    /// and when no org limit is configured.
    pub(super) fn limited_org<'u>(&self, user: &'u UserKey) -> Option<&'u OrgId> {
        let org = user.org_id()?;
        self.ledger.borrow().orgs_limited().then_some(org)
    }

    /// The org's budget plan: its settings' own limits or `plan` (the `orgs` map, or
    /// `orgConfig`'s answer), else `orgPlanOf(orgId)` when configured, else the default
    /// (`perOrg`); an unknown name is the default too. Only the host decides.
    pub(super) fn org_plan(&self, org: &OrgId) -> PlanId {
        if let Some(own) = self.ledger.borrow().org_own_plan(org) {
            return own;
        }
        let name = self
            .org_configs
            .plan(org)
            .or_else(|| self.org_plan_of.as_ref().and_then(|f| f(org.as_str())));
        name.and_then(|n| self.ledger.borrow().org_plan(&n))
            .unwrap_or(PlanId::DEFAULT)
    }

    /// Whether a run of `user` must read the org's counters back from storage before its
    /// rate check.
    pub(super) fn org_account_absent(&self, user: &UserKey) -> bool {
        self.limited_org(user)
            .is_some_and(|org| !self.ledger.borrow().has_org(org))
    }

    /// Puts the org's counters in RAM before anything reads or changes them: retained ones
    /// of an erased org, or, with storage, what was stored (a restart or an eviction must
    /// never refill an org budget or rate bucket).
    pub(super) async fn ensure_org_account(&self, user: &UserKey) -> Result<()> {
        let Some(org) = self.limited_org(user) else {
            return Ok(());
        };
        if self.ledger.borrow().has_org(org) {
            return Ok(());
        }
        let Some(storage) = &self.storage else {
            self.revive_org(org);
            return self.make_org_room(org);
        };
        let pseudonym = self.org_pseudonym(org).await?;
        if self.ledger.borrow_mut().revive_org(org, &pseudonym) {
            return Ok(());
        }
        let doc = records::get_budget(storage.as_ref(), &keys::org_budget_key(&pseudonym)).await?;
        // Another run of the org may have loaded it while this one awaited: its counters
        // are at least as new as what storage held.
        if self.ledger.borrow().has_org(org) {
            return Ok(());
        }
        self.make_org_room(org)?;
        let now = self.now();
        let mut ledger = self.ledger.borrow_mut();
        match doc {
            Some(doc) => ledger.import_org(org, &doc, now)?,
            None => ledger.open_org(org),
        }
        if let Some(v) = ledger.org_version(org) {
            ledger.org_saved(org, v);
        }
        Ok(())
    }

    /// The org a call of `user` answers to, with its account in RAM, for the synchronous
    /// paths (rate check, reservation). With storage the account was read by
    /// `ensure_org_account` and is kept while a user of the org is pinned; finding it
    /// absent refuses the call rather than open an empty account (never fail open).
    pub(super) fn resident_org<'u>(&self, user: &'u UserKey) -> Result<Option<&'u OrgId>> {
        let Some(org) = self.limited_org(user) else {
            return Ok(None);
        };
        if self.ledger.borrow().has_org(org) {
            return Ok(Some(org));
        }
        if self.storage.is_some() {
            return Err(Error::Internal {
                message: "the org's budget counters are not loaded: retry the run".into(),
            });
        }
        self.revive_org(org);
        self.make_org_room(org)?;
        Ok(Some(org))
    }

    /// Without storage: an erased org's retained counters back under its id.
    fn revive_org(&self, org: &OrgId) {
        let ledger = self.ledger.borrow();
        if ledger.has_org(org) || ledger.org_retained() == 0 {
            return;
        }
        drop(ledger);
        if let Some(secret) = self.secret_now() {
            let p = org_pseudonym_of(&secret, org);
            self.ledger.borrow_mut().revive_org(org, &p);
        }
    }

    /// Refuses a new org account when the table is full of accounts that cannot leave
    /// RAM: first those holding nothing a limit reads go, then, with storage, idle ones
    /// whose latest counters are stored and none of whose users is in a run (they are
    /// read back on the org's next run).
    fn make_org_room(&self, org: &OrgId) -> Result<()> {
        let cap = self.ledger_capacity();
        if self.ledger.borrow().has_org(org) || self.ledger.borrow().org_len() < cap {
            return Ok(());
        }
        let in_use: KeyedSet<OrgId> = match self.storage.is_some() {
            true => self
                .memory
                .borrow()
                .users()
                .filter(|(_, u)| u.pins > 0)
                .filter_map(|(k, _)| k.org_id().cloned())
                .collect(),
            false => KeyedSet::default(),
        };
        let now = self.now();
        let mut ledger = self.ledger.borrow_mut();
        ledger.sweep_orgs(self.storage.is_some(), &in_use, now);
        if ledger.org_len() < cap {
            return Ok(());
        }
        Err(Error::Capacity {
            accounts: ledger.org_len(),
        })
    }

    /// Writes the org's counters through (after a change to them), one writer per org at
    /// a time so that an older export never lands over a newer one.
    pub(super) async fn persist_org_budget(
        &self,
        storage: &dyn Storage,
        user: &UserKey,
    ) -> Result<()> {
        let Some(org) = self.limited_org(user) else {
            return Ok(());
        };
        let _one_writer = self.org_budget_writes.ticket(org.clone()).await;
        let pseudonym = self.org_pseudonym(org).await?;
        let exported = {
            let ledger = self.ledger.borrow();
            ledger
                .export_org(org, self.now())
                .zip(ledger.org_version(org))
        };
        if let Some((doc, version)) = exported {
            records::put_budget(storage, &keys::org_budget_key(&pseudonym), &doc).await?;
            self.ledger.borrow_mut().org_saved(org, version);
        }
        Ok(())
    }

    /// Whether the org's latest counters are in storage (or there is nothing to store).
    pub(super) fn org_saved(&self, user: &UserKey) -> bool {
        self.limited_org(user)
            .is_none_or(|org| self.ledger.borrow().is_org_saved(org))
    }

    /// `forgetOrg` for the org's own counters: written through first (with storage), then
    /// the id comes off them. What the org spent in windows still open keeps counting under
    /// its pseudonym, in RAM and in storage, and counts again if the org comes back: the
    /// org's users are erased, its limit is not lifted.
    pub(super) async fn forget_org_account(&self, org: &OrgId) -> Result<()> {
        if !self.ledger.borrow().orgs_limited() {
            return Ok(());
        }
        let pseudonym = match &self.storage {
            Some(storage) => {
                let p = self.org_pseudonym(org).await?;
                let _one_writer = self.org_budget_writes.ticket(org.clone()).await;
                let exported = self.ledger.borrow().export_org(org, self.now());
                if let Some(doc) = exported {
                    records::put_budget(storage.as_ref(), &keys::org_budget_key(&p), &doc).await?;
                }
                p
            }
            None => {
                let secret = self.secret_now().ok_or_else(|| Error::Internal {
                    message: "no randomness for the pseudonym key: the org's counters were kept"
                        .into(),
                })?;
                org_pseudonym_of(&secret, org)
            }
        };
        let now = self.now();
        self.ledger
            .borrow_mut()
            .forget_org(org, Some(pseudonym), now);
        Ok(())
    }

    /// A snapshot's org counters, every one checked (org id and document) before any is
    /// applied.
    pub(super) fn check_org_budgets(
        &self,
        docs: &BTreeMap<String, AccountDoc>,
    ) -> Result<Vec<(OrgId, AccountDoc)>> {
        let now = self.now();
        let mut checked = Vec::with_capacity(docs.len());
        for (id, doc) in docs {
            let org = OrgId::parse(Some(id))?.ok_or_else(|| Error::InvalidImport {
                reason: "an org budget without an org id".into(),
            })?;
            self.ledger.borrow().check_org_doc(doc, now)?;
            checked.push((org, doc.clone()));
        }
        Ok(checked)
    }

    /// Merges a snapshot's org counters in (each figure the larger of the two, so a
    /// snapshot can add spend but never remove it), written through with storage.
    pub(super) async fn restore_org_budgets(&self, orgs: Vec<(OrgId, AccountDoc)>) -> Result<()> {
        if !self.ledger.borrow().orgs_limited() {
            return Ok(());
        }
        for (org, doc) in orgs {
            let user = UserKey::parse_in(Some(org.as_str()), None)?;
            self.ensure_org_account(&user).await?;
            self.ledger
                .borrow_mut()
                .import_org(&org, &doc, self.now())?;
            if let Some(s) = &self.storage {
                self.persist_org_budget(s.as_ref(), &user).await?;
            }
        }
        Ok(())
    }

    /// Spend and limits of one org (all its users together), per window, with what
    /// remains. With storage, counters of an org not in RAM are read by any run of one of
    /// its users first.
    pub fn org_usage(&self, org: &OrgId) -> UsageReport {
        self.revive_org(org);
        let plan = self.org_plan(org);
        self.ledger.borrow().org_usage(org, plan, self.now())
    }
}
