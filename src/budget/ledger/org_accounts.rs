//! The org level of the ledger: one account per org under org limits, counting every user
//! of that org together. Kept like the user accounts (open, revive, forget, sweep) but in
//! its own table, so an org's counters never share a slot, an epoch or a capacity with a
//! user's, and a default-org call never looks here.

use super::{org_binding, Ledger, PlanId, Pseudonym};
use crate::budget::account::Account;
use crate::budget::account_doc::{self, AccountDoc};
use crate::budget::error::{BudgetError, Scope};
use crate::budget::policy::Plan;
use crate::budget::report::UsageReport;
use crate::ids::OrgId;
use crate::keyed::KeyedSet;
use std::collections::BTreeMap;

impl Ledger {
    /// Whether any org limit (budget or rate) is configured. When not, no org account is
    /// ever opened or looked up.
    pub fn orgs_limited(&self) -> bool {
        self.policy.org.active
    }

    /// An org plan by name (`budget.orgPlans`); `None` if there is no such plan (the caller
    /// falls back to `PlanId::DEFAULT`, the `perOrg` limits).
    pub fn org_plan(&self, name: &str) -> Option<PlanId> {
        let i = *self.policy.org.plan_names.get(name)?;
        u32::try_from(i).ok().map(PlanId)
    }

    /// The org's own limits from its settings (`orgs[orgId].budget.perOrg`), if it has any.
    pub fn org_own_plan(&self, org: &OrgId) -> Option<PlanId> {
        let i = *self.policy.org.org_plans.get(org.as_str())?;
        u32::try_from(i).ok().map(PlanId)
    }

    /// The limits its settings give the org's users (`orgs[orgId].budget.perUser`), if any.
    pub fn org_user_plan(&self, org: &OrgId) -> Option<PlanId> {
        let i = *self.policy.org_user_plans.get(org.as_str())?;
        u32::try_from(i).ok().map(PlanId)
    }

    /// Org accounts held: orgs with any state, and erased orgs' retained counters.
    pub fn org_len(&self) -> usize {
        self.orgs.len()
    }

    pub fn org_retained(&self) -> usize {
        self.orgs.retained()
    }

    pub fn has_org(&self, org: &OrgId) -> bool {
        self.orgs.has(org)
    }

    /// An empty account for the org (after the caller found nothing stored for it).
    pub fn open_org(&mut self, org: &OrgId) {
        self.orgs.open(org, &self.policy.org.layout);
    }

    /// Gives an erased org's retained counters back to its id. Whether there were any.
    pub fn revive_org(&mut self, org: &OrgId, pseudonym: &Pseudonym) -> bool {
        self.orgs.revive(org, pseudonym)
    }

    pub fn org_version(&self, org: &OrgId) -> Option<u64> {
        self.orgs.get(org).map(Account::version)
    }

    pub fn org_saved(&mut self, org: &OrgId, version: u64) {
        if let Some(a) = self.orgs.get_mut(org) {
            a.mark_saved(version);
        }
    }

    pub fn is_org_saved(&self, org: &OrgId) -> bool {
        self.orgs.get(org).is_none_or(Account::is_saved)
    }

    /// Drops org accounts that hold nothing a limit reads, then (`stored`: their latest
    /// counters are in storage, where the next lookup finds them) every idle one whose
    /// latest change is stored, except those of orgs in `in_use` (a run of theirs read
    /// the account and will use it without reading storage again). An account with a call
    /// in flight or an unsaved change is always kept. Returns how many were dropped.
    pub fn sweep_orgs(&mut self, stored: bool, in_use: &KeyedSet<OrgId>, now: f64) -> usize {
        let now = self.tick(now);
        let mut dropped = self.orgs.retain(org_binding(&self.policy, now));
        if stored {
            let idle: Vec<OrgId> = self
                .orgs
                .keys()
                .filter(|k| !in_use.contains(*k))
                .cloned()
                .collect();
            for org in &idle {
                if self.orgs.remove_if(org, |a| !a.is_busy() && a.is_saved()) {
                    dropped += 1;
                }
            }
        }
        dropped
    }

    /// Takes the org's id off its account (`forgetOrg`). What its users spent inside
    /// windows still open, and lifetime spend, stays under `pseudonym` and counts again if
    /// the id comes back; calls in flight settle into the retained account. Without a
    /// pseudonym it goes entirely.
    pub fn forget_org(&mut self, org: &OrgId, pseudonym: Option<Pseudonym>, now: f64) {
        let now = self.tick(now);
        self.orgs
            .forget(org, pseudonym, org_binding(&self.policy, now));
    }

    /// Each limit of the org's plan with its standing, plus the org's lifetime totals.
    pub fn org_usage(&self, org: &OrgId, plan: PlanId, now: f64) -> UsageReport {
        let empty = Plan::default();
        let p = &self.policy.org;
        let caps = p.plans.get(plan.0 as usize).unwrap_or(&empty);
        UsageReport::of(
            Scope::Org,
            caps,
            &p.layout,
            self.orgs.get(org),
            self.peek(now),
        )
    }

    /// `None` when the ledger holds nothing for the org.
    pub fn export_org(&self, org: &OrgId, now: f64) -> Option<AccountDoc> {
        let acct = self.orgs.get(org)?;
        Some(account_doc::export(
            acct,
            &self.policy.org.layout,
            self.peek(now),
        ))
    }

    /// Every org account in RAM as a document, by org id (erased orgs' retained counters
    /// have no id and stay out).
    pub fn export_orgs(&self, now: f64) -> BTreeMap<String, AccountDoc> {
        let now = self.peek(now);
        let layout = &self.policy.org.layout;
        self.orgs
            .keys()
            .filter_map(|org| {
                let acct = self.orgs.get(org)?;
                Some((
                    org.as_str().to_owned(),
                    account_doc::export(acct, layout, now),
                ))
            })
            .collect()
    }

    /// Checks an org's budget document without applying it.
    pub fn check_org_doc(&self, d: &AccountDoc, now: f64) -> Result<(), BudgetError> {
        let p = &self.policy.org;
        account_doc::import(d, &p.layout, p.rate.as_ref(), self.peek(now), 0).map(|_| ())
    }

    /// Folds a stored document into the org's counters (validated first; nothing changes
    /// on error): each figure becomes the larger of the two, so it can only restrict.
    pub fn import_org(&mut self, org: &OrgId, d: &AccountDoc, now: f64) -> Result<(), BudgetError> {
        let now = self.tick(now);
        let p = &self.policy.org;
        let incoming = account_doc::import(d, &p.layout, p.rate.as_ref(), now, 0)?;
        let (_, acct) = self.orgs.open(org, &p.layout);
        acct.merge_max(&incoming, &p.layout, p.rate.as_ref(), now);
        Ok(())
    }
}
