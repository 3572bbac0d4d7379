//! The ledger: the one object the agent holds for budgets. It owns the compiled policy,
//! the resident accounts and the global account, keeps time monotonic, and routes each
//! operation to the part that does the work: `reservation` for holding and charging a
//! call, `table` for which accounts stay in RAM, `account_doc` for persistence.
//!
//! Time is passed in (ms since the epoch) and made monotonic here, so a clock stepping
//! back or a NaN can neither panic nor shorten a window.

mod org_accounts;
mod reservation;
mod table;

pub use reservation::{Actual, CallKind, Charge, Estimate, Reservation};
pub use table::Pseudonym;

use super::account::Account;
use super::account_doc::{self, AccountDoc};
use super::config::{BudgetConfig, RateLimitConfig};
use super::error::{BudgetError, RateLimited, Scope};
use super::policy::{Plan, Policy};
use super::price::UnitPrice;
use super::report::UsageReport;
use crate::ids::{OrgId, UserKey};
use table::Table;

/// A plan resolved by name once (`Ledger::plan`), so the hot path hashes no plan names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlanId(u32);

impl PlanId {
    /// The `perUser` limits (for an org plan, the `perOrg` ones).
    pub const DEFAULT: PlanId = PlanId(0);
}

/// The org a call also answers to, with the org's plan (from `Ledger::org_plan`).
pub type OrgLevel<'a> = Option<(&'a OrgId, PlanId)>;

#[derive(Debug)]
pub struct Ledger {
    policy: Policy,
    table: Table<UserKey>,
    /// One account per org under org limits, all of its users' calls together.
    orgs: Table<OrgId>,
    /// Never replaced, so its reservations need no epoch check.
    global: Account,
    /// The latest time seen: every operation uses max(now, this).
    now: f64,
}

impl Ledger {
    /// Validates both configs; errors name the JS field path.
    pub fn new(budget: &BudgetConfig, rate: &RateLimitConfig) -> Result<Ledger, BudgetError> {
        let policy = Policy::new(budget, rate)?;
        let global = Account::new(&policy.global, 0);
        Ok(Ledger {
            policy,
            table: Table::default(),
            orgs: Table::default(),
            global,
            now: 0.0,
        })
    }

    /// Every user's counters and the global ones back to zero. Reservations in flight stay
    /// consistent: theirs never settle into an account opened since, and the global
    /// account keeps what they hold until they settle or release.
    pub fn clear(&mut self) {
        self.table.clear();
        self.orgs.clear();
        let reserved = self.global.reserved;
        self.global = Account::new(&self.policy.global, 0);
        self.global.reserved = reserved;
    }

    /// A plan by name; `None` if the config has no such plan (the caller decides whether
    /// that means `PlanId::DEFAULT` or an error).
    pub fn plan(&self, name: &str) -> Option<PlanId> {
        let i = *self.policy.plan_names.get(name)?;
        u32::try_from(i).ok().map(PlanId)
    }

    /// Accounts held: users with any state, and erased users' retained counters. Bounded
    /// by `sweep`, `evict` and the agent's capacity check.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Erased users' accounts still held for their open windows.
    pub fn retained(&self) -> usize {
        self.table.retained()
    }

    pub fn has_retained(&self) -> bool {
        self.retained() > 0
    }

    pub fn has(&self, user: &UserKey) -> bool {
        self.table.has(user)
    }

    /// An empty account for the user (after the caller found nothing stored for them).
    pub fn open(&mut self, user: &UserKey) {
        self.table.open(user, &self.policy.user);
    }

    /// Gives an erased user's retained counters back to their id. Whether there were any.
    pub fn revive(&mut self, user: &UserKey, pseudonym: &Pseudonym) -> bool {
        self.table.revive(user, pseudonym)
    }

    /// The user's account version, for `saved` after a successful write.
    pub fn version(&self, user: &UserKey) -> Option<u64> {
        self.table.get(user).map(Account::version)
    }

    /// Records that `version` of the user's account is in storage.
    pub fn saved(&mut self, user: &UserKey, version: u64) {
        if let Some(a) = self.table.get_mut(user) {
            a.mark_saved(version);
        }
    }

    /// Whether the user's latest counters are in storage (or there is nothing to store).
    pub fn is_saved(&self, user: &UserKey) -> bool {
        self.table.get(user).is_none_or(Account::is_saved)
    }

    /// Drops the account of a user leaving RAM when that loosens no limit: it holds nothing
    /// a limit reads, or (`stored`) its latest counters are in storage, where the next
    /// `ensure` finds them. A reservation in flight always keeps it.
    pub fn evict(&mut self, user: &UserKey, stored: bool, now: f64) -> bool {
        let now = self.tick(now);
        let policy = &self.policy;
        self.table.remove_if(user, |a| {
            a.advance(&policy.user, now);
            !a.is_busy()
                && (!a.holds_anything(&policy.user, policy.rate.as_ref(), now)
                    || (stored && a.is_saved()))
        })
    }

    /// Drops accounts that hold nothing a limit could still read (see
    /// `Account::holds_anything`); a capped user is kept however long they are idle.
    /// Unlimited users' reporting totals go with them. Returns how many were dropped.
    pub fn sweep(&mut self, now: f64) -> usize {
        let now = self.tick(now);
        self.table.retain(binding(&self.policy, now))
    }

    /// Erases one user's id from the ledger (GDPR). What they spent inside windows still
    /// open, and lifetime spend, stays under `pseudonym` and counts again if the id comes
    /// back (`revive`); an account that holds nothing a limit reads goes entirely. Calls in
    /// flight settle into the retained account. Without a pseudonym (no per-user limit can
    /// read the account) it goes entirely.
    pub fn forget(&mut self, user: &UserKey, pseudonym: Option<Pseudonym>, now: f64) {
        let now = self.tick(now);
        self.table
            .forget(user, pseudonym, binding(&self.policy, now));
    }

    fn peek(&self, now: f64) -> f64 {
        if now.is_finite() && now > self.now {
            now
        } else {
            self.now
        }
    }

    fn tick(&mut self, now: f64) -> f64 {
        self.now = self.peek(now);
        self.now
    }

    /// Takes one request from the user's token bucket, before any other work.
    #[cfg(test)]
    pub fn check_rate(&mut self, user: &UserKey, now: f64) -> Result<(), RateLimited> {
        self.check_rate_in(user, None, now)
    }

    /// Takes one request from the user's token bucket and from their org's (`org`, when
    /// org rate limits apply to them), or from neither: a refusal by one takes nothing
    /// from the other.
    pub fn check_rate_in(
        &mut self,
        user: &UserKey,
        org: Option<&OrgId>,
        now: f64,
    ) -> Result<(), RateLimited> {
        let org = org.zip(self.policy.org.rate);
        let user_rule = self.policy.rate;
        if user_rule.is_none() && org.is_none() {
            return Ok(());
        }
        let now = self.tick(now);
        if let Some((org, rule)) = org {
            let (_, acct) = self.orgs.open(org, &self.policy.org.layout);
            acct.check_request(&rule, now).map_err(|e| RateLimited {
                scope: Scope::Org,
                ..e
            })?;
        }
        if let Some(rule) = user_rule {
            let (_, acct) = self.table.open(user, &self.policy.user);
            acct.take_request(&rule, now)?;
        }
        if let Some((org, rule)) = org {
            let (_, acct) = self.orgs.open(org, &self.policy.org.layout);
            acct.take_request(&rule, now).map_err(|e| RateLimited {
                scope: Scope::Org,
                ..e
            })?;
        }
        Ok(())
    }

    /// Checks every limit of the user's plan and every global limit, and holds what the
    /// call may consume: the estimated input plus the granted output, which is
    /// `max_output_tokens` capped to what all budgets still allow. Refused when not even
    /// one output token fits. Returns the reservation and the granted output cap.
    #[cfg(test)]
    pub fn reserve(
        &mut self,
        user: &UserKey,
        plan: PlanId,
        now: f64,
        est: Estimate<'_>,
    ) -> Result<(Reservation, u64), BudgetError> {
        self.reserve_in(user, plan, None, now, est)
    }

    /// `reserve`, also under the limits of the user's org (`org`): the call must fit the
    /// user's, the org's and the global limits, and is held in all three accounts at once.
    pub fn reserve_in(
        &mut self,
        user: &UserKey,
        plan: PlanId,
        org: OrgLevel<'_>,
        now: f64,
        est: Estimate<'_>,
    ) -> Result<(Reservation, u64), BudgetError> {
        let now = self.tick(now);
        let policy = &self.policy;
        let Some(user_plan) = policy.plans.get(plan.0 as usize) else {
            return Err(BudgetError::config(
                "plan",
                "unknown plan id: resolve plans with Ledger::plan on this ledger",
            ));
        };
        let org_plan = match org {
            Some((id, p)) => match policy.org.plans.get(p.0 as usize) {
                Some(plan) => Some((id, plan)),
                None => return Err(BudgetError::config(
                    "orgPlan",
                    "unknown org plan id: resolve org plans with Ledger::org_plan on this ledger",
                )),
            },
            None => None,
        };
        let org_needs_price = org_plan.is_some_and(|(_, p)| p.needs_price);
        let price = match policy.prices.lookup(est.model) {
            Some(p) => p,
            None if user_plan.needs_price || org_needs_price || policy.global_plan.needs_price => {
                return Err(BudgetError::MissingPrice {
                    model: est.model.to_owned(),
                })
            }
            None => UnitPrice::FREE,
        };
        let (handle, acct) = self.table.open(user, &policy.user);
        acct.advance(&policy.user, now);
        let org = org_plan.map(|(id, plan)| {
            let (h, a) = self.orgs.open(id, &policy.org.layout);
            a.advance(&policy.org.layout, now);
            (h, a, plan)
        });
        self.global.advance(&policy.global, now);
        Reservation::hold(
            handle,
            acct,
            user_plan,
            org,
            &mut self.global,
            &policy.global_plan,
            est,
            price,
        )
    }

    /// Replaces the reservation with the actual charge. Unusable figures are replaced by
    /// the reserved ones (never credited); figures above the reservation are charged.
    pub fn settle(&mut self, r: Reservation, actual: Actual, now: f64) -> Charge {
        let now = self.tick(now);
        r.settle(
            actual,
            &self.policy,
            &mut self.table,
            &mut self.orgs,
            &mut self.global,
            now,
        )
    }

    /// Returns the reservation without charging anything (no tokens were consumed).
    pub fn release(&mut self, r: Reservation) {
        r.release(&mut self.table, &mut self.orgs, &mut self.global);
    }

    /// Each limit of the user's plan with its standing, plus the user's lifetime totals.
    pub fn usage(&self, user: &UserKey, plan: PlanId, now: f64) -> UsageReport {
        let empty = Plan::default();
        let caps = self.policy.plans.get(plan.0 as usize).unwrap_or(&empty);
        UsageReport::of(
            Scope::User,
            caps,
            &self.policy.user,
            self.table.get(user),
            self.peek(now),
        )
    }

    pub fn global_usage(&self, now: f64) -> UsageReport {
        let p = &self.policy;
        UsageReport::of(
            Scope::Global,
            &p.global_plan,
            &p.global,
            Some(&self.global),
            self.peek(now),
        )
    }

    /// `None` when the ledger holds nothing for the user.
    pub fn export_user(&self, user: &UserKey, now: f64) -> Option<AccountDoc> {
        let acct = self.table.get(user)?;
        Some(account_doc::export(acct, &self.policy.user, self.peek(now)))
    }

    /// Folds a document's counters into the user's (validated first; nothing changes on
    /// error): each figure becomes the larger of the two, so a document can add spend but
    /// never take any away. Reservations of calls in flight here are kept.
    pub fn import_user(
        &mut self,
        user: &UserKey,
        d: &AccountDoc,
        now: f64,
    ) -> Result<(), BudgetError> {
        let now = self.tick(now);
        let policy = &self.policy;
        let incoming = account_doc::import(d, &policy.user, policy.rate.as_ref(), now, 0)?;
        let (_, acct) = self.table.open(user, &policy.user);
        acct.merge_max(&incoming, &policy.user, policy.rate.as_ref(), now);
        Ok(())
    }

    /// Checks a user's budget document without applying it.
    pub fn check_user_doc(&self, d: &AccountDoc, now: f64) -> Result<(), BudgetError> {
        let policy = &self.policy;
        account_doc::import(d, &policy.user, policy.rate.as_ref(), self.peek(now), 0).map(|_| ())
    }

    /// Checks a global budget document without applying it.
    pub fn check_global_doc(&self, d: &AccountDoc, now: f64) -> Result<(), BudgetError> {
        account_doc::import(d, &self.policy.global, None, self.peek(now), 0).map(|_| ())
    }

    /// The user's counters merged with a document's, as a document, without applying it.
    pub fn merged_doc(
        &self,
        user: &UserKey,
        d: &AccountDoc,
        now: f64,
    ) -> Result<AccountDoc, BudgetError> {
        let now = self.peek(now);
        let policy = &self.policy;
        let incoming = account_doc::import(d, &policy.user, policy.rate.as_ref(), now, 0)?;
        let mut acct = match self.table.get(user) {
            Some(a) => a.clone(),
            None => Account::new(&policy.user, 0),
        };
        acct.merge_max(&incoming, &policy.user, policy.rate.as_ref(), now);
        Ok(account_doc::export(&acct, &policy.user, now))
    }

    pub fn export_global(&self, now: f64) -> AccountDoc {
        account_doc::export(&self.global, &self.policy.global, self.peek(now))
    }

    pub fn import_global(&mut self, d: &AccountDoc, now: f64) -> Result<(), BudgetError> {
        let now = self.tick(now);
        let incoming = account_doc::import(d, &self.policy.global, None, now, 0)?;
        self.global
            .merge_max(&incoming, &self.policy.global, None, now);
        Ok(())
    }
}

/// Whether a user account still holds something a limit could read at `now` (advancing
/// its windows first), so dropping it would loosen a limit.
fn binding(policy: &Policy, now: f64) -> impl FnMut(&mut Account) -> bool + '_ {
    move |a| {
        a.advance(&policy.user, now);
        a.holds_anything(&policy.user, policy.rate.as_ref(), now)
    }
}

/// `binding` for an org account.
fn org_binding(policy: &Policy, now: f64) -> impl FnMut(&mut Account) -> bool + '_ {
    move |a| {
        a.advance(&policy.org.layout, now);
        a.holds_anything(&policy.org.layout, policy.org.rate.as_ref(), now)
    }
}

#[cfg(test)]
mod tests;
