//! The ledger: per-user and global accounts, reserve/settle/release, rate checks,
//! reporting, sweep, export/import.
//!
//! Reservations count against every limit the moment they are made, so calls in flight
//! for one user can never together pass a limit; settling swaps the reservation for the
//! actual charge. Time is passed in (ms since the epoch) and made monotonic here, so a
//! clock stepping back or a NaN can neither panic nor shorten a window.

use super::account::Account;
use super::doc::{self, AccountDoc};
use super::error::{BudgetError, RateLimited, Refusal, Scope};
use super::limit::{BudgetConfig, Metric, RateLimitConfig};
use super::policy::{Cap, Layout, Plan, Policy};
use super::price::{PriceTable, UnitPrice};
use super::rate::TokenBucket;
use super::report::{LimitUsage, Totals, UsageReport};
use super::{Amounts, MAX_REPORTED_TOKENS};
use crate::ids::UserKey;
use crate::model::Usage;
use serde::Serialize;
use std::collections::HashMap;

/// A plan resolved by name once (`Ledger::plan`), so the hot path hashes no plan names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PlanId(u32);

impl PlanId {
    /// The `perUser` limits.
    pub const DEFAULT: PlanId = PlanId(0);
}

/// What a call may consume, known before it is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate<'a> {
    pub input_tokens: u64,
    /// The most output the caller wants; the grant may be lower, never higher. 0 asks
    /// for 1 (a call that may produce nothing still needs a token of room).
    pub max_output_tokens: u64,
    pub model: &'a str,
}

/// Usage as reported for a finished call: untrusted figures, checked in `settle`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Actual {
    pub input_tokens: f64,
    pub output_tokens: f64,
    /// The caller estimated these (the provider reported nothing); carried to the charge.
    pub estimated: bool,
}

impl From<Usage> for Actual {
    fn from(u: Usage) -> Self {
        Actual {
            input_tokens: u.input_tokens as f64,
            output_tokens: u.output_tokens as f64,
            estimated: u.estimated,
        }
    }
}

/// What `settle` charged.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Charge {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
    pub cost_nano_usd: u64,
    /// Estimated by the caller, or a reported figure was replaced (see `clamped`).
    pub estimated: bool,
    /// A reported figure was negative, NaN, infinite, absurd (replaced by the reserved
    /// figure) or fractional (rounded up).
    pub clamped: bool,
    /// More was charged than reserved (input under-estimated, or output past the grant
    /// because the host did not pass the cap to the model): charged in full, never hidden.
    pub overran: bool,
    /// False when the user was forgotten (or the slot reused) while the call was in flight:
    /// the charge is not written back into a forgotten user.
    pub user_charged: bool,
}

/// Budget held for one call in flight. Not `Clone`: settle or release consumes it, so it
/// cannot be returned twice. Dropping it without either leaks the hold until `forget`.
#[must_use = "a reservation holds budget until it is settled or released"]
#[derive(Debug, PartialEq, Eq)]
pub struct Reservation {
    slot: usize,
    user_epoch: u64,
    global_epoch: u64,
    amounts: Amounts,
    price: UnitPrice,
}

impl Reservation {
    pub fn input_tokens(&self) -> u64 {
        self.amounts[Metric::InputTokens.index()]
    }
    /// The output cap to pass to the model.
    pub fn max_output_tokens(&self) -> u64 {
        self.amounts[Metric::OutputTokens.index()]
    }
    pub fn cost_usd(&self) -> f64 {
        Metric::CostUsd.to_public(self.amounts[Metric::CostUsd.index()])
    }
}

/// A keyed hash of a user id (HMAC-SHA256 under the agent's secret): the only name an
/// erased user's counters keep.
pub type Pseudonym = [u8; 32];

/// Accounts in a slab, so a reservation finds its account again by index (no key clone,
/// no hashing on settle); an epoch check catches a slot reused after sweep.
#[derive(Debug, Default)]
struct Table {
    index: HashMap<UserKey, usize>,
    /// Boxed so the holes a sweep leaves cost a pointer each.
    slots: Vec<Option<Box<Account>>>,
    free: Vec<usize>,
    /// Accounts of erased users: what they spent in windows still open keeps counting (an
    /// erasure must not be a way around a limit), under a pseudonym instead of the id.
    /// Reservations in flight still settle here (the slot and epoch are unchanged).
    retained: HashMap<Pseudonym, usize>,
}

impl Table {
    fn get(&self, user: &UserKey) -> Option<&Account> {
        let slot = *self.index.get(user)?;
        self.slots.get(slot)?.as_deref()
    }

    fn get_or_insert(
        &mut self,
        user: &UserKey,
        make: impl FnOnce() -> Account,
    ) -> (usize, &mut Account) {
        let slot = match self.index.get(user) {
            Some(&s) => s,
            None => {
                let s = self.free.pop().unwrap_or(self.slots.len());
                self.index.insert(user.clone(), s);
                s
            }
        };
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, || None);
        }
        let entry = &mut self.slots[slot];
        (slot, entry.get_or_insert_with(|| Box::new(make())))
    }

    fn live(&mut self, slot: usize, epoch: u64) -> Option<&mut Account> {
        self.slots
            .get_mut(slot)?
            .as_deref_mut()
            .filter(|a| a.epoch == epoch)
    }

    fn remove(&mut self, user: &UserKey) -> bool {
        let Some(slot) = self.index.remove(user) else {
            return false;
        };
        self.free_slot(slot);
        self.trim();
        true
    }

    fn free_slot(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = None;
        }
        self.free.push(slot);
    }

    /// Gives back memory after a flood of ids has been swept.
    fn trim(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len();
        self.free.retain(|&s| s < len);
        if self.slots.capacity() > 2 * len + 64 {
            self.slots.shrink_to_fit();
            self.free.shrink_to_fit();
        }
    }
}

#[derive(Debug)]
pub struct Ledger {
    policy: Policy,
    table: Table,
    global: Account,
    epochs: u64,
    /// The latest time seen: every operation uses max(now, this).
    now: f64,
}

fn next_epoch(epochs: &mut u64) -> u64 {
    *epochs += 1;
    *epochs
}

impl Ledger {
    /// Validates both configs; errors name the JS field path.
    pub fn new(budget: &BudgetConfig, rate: &RateLimitConfig) -> Result<Ledger, BudgetError> {
        let policy = Policy::new(budget, rate)?;
        let global = Account::new(&policy.global, 1);
        Ok(Ledger {
            policy,
            table: Table::default(),
            global,
            epochs: 1,
            now: 0.0,
        })
    }

    /// A plan by name; `None` if the config has no such plan (the caller decides whether
    /// that means `PlanId::DEFAULT` or an error).
    pub fn plan(&self, name: &str) -> Option<PlanId> {
        let i = *self.policy.plan_names.get(name)?;
        u32::try_from(i).ok().map(PlanId)
    }

    pub fn prices(&self) -> &PriceTable {
        &self.policy.prices
    }

    /// Whether a call on this plan needs a price for its model.
    pub fn needs_price(&self, plan: PlanId) -> bool {
        self.policy.global_plan.needs_price
            || self
                .policy
                .plans
                .get(plan.0 as usize)
                .is_some_and(|p| p.needs_price)
    }

    pub fn has_rate_limit(&self) -> bool {
        self.policy.rate.is_some()
    }

    /// Accounts held: users with any state, and erased users' retained counters. Bounded
    /// by `sweep`, `evict` and the agent's capacity check.
    pub fn len(&self) -> usize {
        self.table.index.len() + self.table.retained.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Erased users' accounts still held for their open windows.
    pub fn retained(&self) -> usize {
        self.table.retained.len()
    }

    pub fn has(&self, user: &UserKey) -> bool {
        self.table.index.contains_key(user)
    }

    /// An empty account for the user (after the caller found nothing stored for them).
    pub fn open(&mut self, user: &UserKey) {
        let (layout, epochs) = (&self.policy.user, &mut self.epochs);
        self.table
            .get_or_insert(user, || Account::new(layout, next_epoch(epochs)));
    }

    /// Gives an erased user's retained counters back to their id. Whether there were any.
    pub fn revive(&mut self, user: &UserKey, pseudonym: &Pseudonym) -> bool {
        if self.table.index.contains_key(user) {
            return true;
        }
        match self.table.retained.remove(pseudonym) {
            Some(slot) => {
                self.table.index.insert(user.clone(), slot);
                true
            }
            None => false,
        }
    }

    pub fn has_retained(&self) -> bool {
        !self.table.retained.is_empty()
    }

    /// The user's account version, for `saved` after a successful write.
    pub fn version(&self, user: &UserKey) -> Option<u64> {
        self.table.get(user).map(|a| a.version)
    }

    /// Records that `version` of the user's account is in storage.
    pub fn saved(&mut self, user: &UserKey, version: u64) {
        if let Some(&slot) = self.table.index.get(user) {
            if let Some(a) = self
                .table
                .slots
                .get_mut(slot)
                .and_then(|s| s.as_deref_mut())
            {
                a.saved = a.saved.max(version);
            }
        }
    }

    /// Whether the user's latest counters are in storage (or there is nothing to store).
    pub fn is_saved(&self, user: &UserKey) -> bool {
        self.table.get(user).is_none_or(|a| a.saved >= a.version)
    }

    /// Drops the account of a user leaving RAM when that loosens no limit: it holds nothing
    /// a limit reads, or (`stored`) its latest counters are in storage, where the next
    /// `ensure` finds them. A reservation in flight always keeps it.
    pub fn evict(&mut self, user: &UserKey, stored: bool, now: f64) -> bool {
        let now = self.tick(now);
        let policy = &self.policy;
        let Some(&slot) = self.table.index.get(user) else {
            return false;
        };
        let Some(a) = self
            .table
            .slots
            .get_mut(slot)
            .and_then(|s| s.as_deref_mut())
        else {
            return false;
        };
        a.advance(&policy.user, now);
        let busy = a.reserved.iter().any(|&v| v > 0);
        let droppable = !busy
            && (!a.holds_anything(&policy.user, policy.rate.as_ref(), now)
                || (stored && a.saved >= a.version));
        if droppable {
            self.table.remove(user);
        }
        droppable
    }

    pub fn users(&self) -> impl Iterator<Item = &UserKey> {
        self.table.index.keys()
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
    pub fn check_rate(&mut self, user: &UserKey, now: f64) -> Result<(), RateLimited> {
        let Some(rule) = self.policy.rate else {
            return Ok(());
        };
        let now = self.tick(now);
        let (layout, epochs) = (&self.policy.user, &mut self.epochs);
        let (_, acct) = self
            .table
            .get_or_insert(user, || Account::new(layout, next_epoch(epochs)));
        acct.changed();
        acct.rate
            .get_or_insert_with(|| TokenBucket::full(&rule, now))
            .take(&rule, now)
    }

    /// Checks every limit of the user's plan and every global limit, and holds what the
    /// call may consume: the estimated input plus the granted output, which is
    /// `max_output_tokens` capped to what all budgets still allow. Refused when not even
    /// one output token fits. Returns the reservation and the granted output cap.
    pub fn reserve(
        &mut self,
        user: &UserKey,
        plan: PlanId,
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
        let price = match policy.prices.lookup(est.model) {
            Some(p) => p,
            None if user_plan.needs_price || policy.global_plan.needs_price => {
                return Err(BudgetError::MissingPrice {
                    model: est.model.to_owned(),
                })
            }
            None => UnitPrice::FREE,
        };
        let epochs = &mut self.epochs;
        let (slot, acct) = self
            .table
            .get_or_insert(user, || Account::new(&policy.user, next_epoch(epochs)));
        acct.advance(&policy.user, now);
        self.global.advance(&policy.global, now);

        let input = est.input_tokens;
        let mut out = est.max_output_tokens.max(1);
        fit(user_plan, acct, Scope::User, input, price, &mut out).map_err(BudgetError::Exceeded)?;
        fit(
            &policy.global_plan,
            &self.global,
            Scope::Global,
            input,
            price,
            &mut out,
        )
        .map_err(BudgetError::Exceeded)?;

        let amounts = call_amounts(input, out, price);
        acct.reserve(&amounts);
        self.global.reserve(&amounts);
        let r = Reservation {
            slot,
            user_epoch: acct.epoch,
            global_epoch: self.global.epoch,
            amounts,
            price,
        };
        Ok((r, out))
    }

    /// Replaces the reservation with the actual charge. Unusable figures are replaced by
    /// the reserved ones (never credited); figures above the reservation are charged.
    pub fn settle(&mut self, r: Reservation, actual: Actual, now: f64) -> Charge {
        let now = self.tick(now);
        let (input, in_clamped) = figure(actual.input_tokens, r.input_tokens());
        let (output, out_clamped) = figure(actual.output_tokens, r.max_output_tokens());
        let a = call_amounts(input, output, r.price);
        let overran = a.iter().zip(&r.amounts).any(|(x, y)| x > y);

        let user_charged = match self.table.live(r.slot, r.user_epoch) {
            Some(acct) => {
                acct.unreserve(&r.amounts);
                acct.charge(&self.policy.user, now, &a);
                true
            }
            None => false,
        };
        if self.global.epoch == r.global_epoch {
            self.global.unreserve(&r.amounts);
            self.global.charge(&self.policy.global, now, &a);
        }
        let clamped = in_clamped || out_clamped;
        let cost = a[Metric::CostUsd.index()];
        Charge {
            input_tokens: input,
            output_tokens: output,
            total_tokens: a[Metric::TotalTokens.index()],
            cost_usd: Metric::CostUsd.to_public(cost),
            cost_nano_usd: cost,
            estimated: actual.estimated || clamped,
            clamped,
            overran,
            user_charged,
        }
    }

    /// Returns the reservation without charging anything (no tokens were consumed).
    pub fn release(&mut self, r: Reservation) {
        if let Some(acct) = self.table.live(r.slot, r.user_epoch) {
            acct.unreserve(&r.amounts);
        }
        if self.global.epoch == r.global_epoch {
            self.global.unreserve(&r.amounts);
        }
    }

    /// Each limit of the user's plan with its standing, plus the user's lifetime totals.
    pub fn usage(&self, user: &UserKey, plan: PlanId, now: f64) -> UsageReport {
        let empty = Plan::default();
        let caps = self.policy.plans.get(plan.0 as usize).unwrap_or(&empty);
        report(
            Scope::User,
            caps,
            &self.policy.user,
            self.table.get(user),
            self.peek(now),
        )
    }

    pub fn global_usage(&self, now: f64) -> UsageReport {
        let p = &self.policy;
        report(
            Scope::Global,
            &p.global_plan,
            &p.global,
            Some(&self.global),
            self.peek(now),
        )
    }

    /// Drops accounts that hold nothing a limit could still read (see
    /// `Account::holds_anything`); a capped user is kept however long they are idle.
    /// Unlimited users' reporting totals go with them. Returns how many were dropped.
    pub fn sweep(&mut self, now: f64) -> usize {
        let now = self.tick(now);
        let policy = &self.policy;
        let Table {
            index,
            slots,
            free,
            retained,
        } = &mut self.table;
        let before = index.len() + retained.len();
        // Keeps a slot's account if it still holds anything, else frees the slot.
        let mut keep = |slot: &mut usize| {
            let held = slots
                .get_mut(*slot)
                .and_then(|s| s.as_deref_mut())
                .is_some_and(|a| {
                    a.advance(&policy.user, now);
                    a.holds_anything(&policy.user, policy.rate.as_ref(), now)
                });
            if !held {
                if let Some(s) = slots.get_mut(*slot) {
                    *s = None;
                }
                free.push(*slot);
            }
            held
        };
        retained.retain(|_, slot| keep(slot));
        index.retain(|_, slot| keep(slot));
        self.table.trim();
        before - self.len()
    }

    /// Erases one user's id from the ledger (GDPR). What they spent inside windows still
    /// open, and lifetime spend, stays under `pseudonym` and counts again if the id comes
    /// back (`revive`); an account that holds nothing a limit reads goes entirely. Calls in
    /// flight settle into the retained account. Without a pseudonym (no per-user limit can
    /// read the account) it goes entirely.
    pub fn forget(&mut self, user: &UserKey, pseudonym: Option<Pseudonym>, now: f64) {
        let now = self.tick(now);
        let policy = &self.policy;
        let Some(slot) = self.table.index.remove(user) else {
            return;
        };
        let keep = self
            .table
            .slots
            .get_mut(slot)
            .and_then(|s| s.as_deref_mut())
            .is_some_and(|a| {
                a.advance(&policy.user, now);
                a.reserved.iter().any(|&v| v > 0)
                    || a.holds_anything(&policy.user, policy.rate.as_ref(), now)
            });
        if let (true, Some(pseudonym)) = (keep, pseudonym) {
            if let Some(old) = self.table.retained.insert(pseudonym, slot) {
                self.table.free_slot(old);
            }
        } else {
            self.table.free_slot(slot);
            self.table.trim();
        }
    }

    /// Drops every trace of one user's counters, retained ones included: the host's own
    /// reset, never reachable from a run.
    pub fn reset_user(&mut self, user: &UserKey, pseudonym: &Pseudonym) {
        self.table.remove(user);
        if let Some(slot) = self.table.retained.remove(pseudonym) {
            self.table.free_slot(slot);
        }
        self.table.trim();
    }

    /// `None` when the ledger holds nothing for the user.
    pub fn export_user(&self, user: &UserKey, now: f64) -> Option<AccountDoc> {
        let acct = self.table.get(user)?;
        Some(doc::export(acct, &self.policy.user, self.peek(now)))
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
        let incoming = doc::import(d, &policy.user, policy.rate.as_ref(), now, 0)?;
        let epochs = &mut self.epochs;
        let (_, acct) = self
            .table
            .get_or_insert(user, || Account::new(&policy.user, next_epoch(epochs)));
        acct.merge_max(&incoming, &policy.user, policy.rate.as_ref(), now);
        Ok(())
    }

    /// Checks a user's budget document without applying it.
    pub fn check_user_doc(&self, d: &AccountDoc, now: f64) -> Result<(), BudgetError> {
        let policy = &self.policy;
        doc::import(d, &policy.user, policy.rate.as_ref(), self.peek(now), 0).map(|_| ())
    }

    /// Checks a global budget document without applying it.
    pub fn check_global_doc(&self, d: &AccountDoc, now: f64) -> Result<(), BudgetError> {
        doc::import(d, &self.policy.global, None, self.peek(now), 0).map(|_| ())
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
        let incoming = doc::import(d, &policy.user, policy.rate.as_ref(), now, 0)?;
        let mut acct = match self.table.get(user) {
            Some(a) => a.clone(),
            None => Account::new(&policy.user, 0),
        };
        acct.merge_max(&incoming, &policy.user, policy.rate.as_ref(), now);
        Ok(doc::export(&acct, &policy.user, now))
    }

    pub fn export_global(&self, now: f64) -> AccountDoc {
        doc::export(&self.global, &self.policy.global, self.peek(now))
    }

    pub fn import_global(&mut self, d: &AccountDoc, now: f64) -> Result<(), BudgetError> {
        let now = self.tick(now);
        let incoming = doc::import(d, &self.policy.global, None, now, self.global.epoch)?;
        self.global
            .merge_max(&incoming, &self.policy.global, None, now);
        Ok(())
    }

    /// Zeroes the global account. Calls in flight settle nothing globally afterwards.
    pub fn reset_global(&mut self) {
        self.global = Account::new(&self.policy.global, next_epoch(&mut self.epochs));
    }
}

/// The figures one call consumes.
fn call_amounts(input: u64, output: u64, price: UnitPrice) -> Amounts {
    let mut a = [0; 5];
    a[Metric::InputTokens.index()] = input;
    a[Metric::OutputTokens.index()] = output;
    a[Metric::TotalTokens.index()] = input.saturating_add(output);
    a[Metric::CostUsd.index()] = price.cost(input, output);
    a[Metric::Requests.index()] = 1;
    a
}

/// A reported token count if usable; otherwise the reserved figure, flagged.
fn figure(reported: f64, reserved: u64) -> (u64, bool) {
    if !(0.0..=MAX_REPORTED_TOKENS).contains(&reported) {
        (reserved, true)
    } else if reported.fract() != 0.0 {
        (reported.ceil() as u64, true)
    } else {
        (reported as u64, false)
    }
}

/// Lowers `out` to what this scope's caps allow, or refuses with the first cap that
/// leaves no room for the input plus one output token.
fn fit(
    plan: &Plan,
    acct: &Account,
    scope: Scope,
    input: u64,
    price: UnitPrice,
    out: &mut u64,
) -> Result<(), Refusal> {
    for cap in &plan.caps {
        let used = acct.used(cap);
        let reserved = acct.reserved[cap.metric.index()];
        let remaining = cap.limit.saturating_sub(used.saturating_add(reserved));
        let allowed = match cap.metric {
            Metric::Requests if remaining >= 1 => u64::MAX,
            Metric::InputTokens if input <= remaining => u64::MAX,
            Metric::Requests | Metric::InputTokens => 0,
            Metric::OutputTokens => remaining,
            Metric::TotalTokens => remaining.saturating_sub(input),
            Metric::CostUsd => remaining
                .checked_sub(price.input_cost(input))
                .map_or(0, |left| price.max_output(left)),
        };
        if allowed == 0 {
            return Err(refusal(scope, cap, used, reserved, remaining));
        }
        *out = (*out).min(allowed);
    }
    Ok(())
}

fn refusal(scope: Scope, cap: &Cap, used: u64, reserved: u64, remaining: u64) -> Refusal {
    let m = cap.metric;
    Refusal {
        scope,
        metric: m,
        window: cap.window,
        limit: m.to_public(cap.limit),
        used: m.to_public(used),
        reserved: m.to_public(reserved),
        remaining: m.to_public(remaining),
    }
}

fn report(
    scope: Scope,
    plan: &Plan,
    layout: &Layout,
    acct: Option<&Account>,
    now: f64,
) -> UsageReport {
    let limits = plan
        .caps
        .iter()
        .map(|cap| {
            let m = cap.metric;
            let (used, reserved) = acct.map_or((0, 0), |a| {
                (a.used_at(cap, layout, now), a.reserved[m.index()])
            });
            let remaining = cap.limit.saturating_sub(used.saturating_add(reserved));
            LimitUsage {
                scope,
                metric: m,
                window: cap.window,
                used: m.to_public(used),
                reserved: m.to_public(reserved),
                limit: m.to_public(cap.limit),
                remaining: m.to_public(remaining),
            }
        })
        .collect();
    UsageReport {
        limits,
        totals: acct.map(|a| Totals::from(&a.totals)).unwrap_or_default(),
        reserved: acct.map(|a| Totals::from(&a.reserved)).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use crate::budget::limit::LimitSet;
    use crate::budget::test_util::{user, Rng};
    use crate::budget::Window;
    use serde_json::{json, Map, Value};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const T0: f64 = 1.7e12;
    const HOUR: f64 = 3_600_000.0;
    const DEFAULT: PlanId = PlanId::DEFAULT;

    fn ledger_with(budget: Value, rate: Value) -> Ledger {
        let b: BudgetConfig = serde_json::from_value(budget).unwrap();
        let r: RateLimitConfig = serde_json::from_value(rate).unwrap();
        Ledger::new(&b, &r).unwrap()
    }
    fn ledger(budget: Value) -> Ledger {
        ledger_with(budget, json!({}))
    }
    fn est(input: u64, max_output: u64) -> Estimate<'static> {
        Estimate {
            input_tokens: input,
            max_output_tokens: max_output,
            model: "gpt-4o-mini",
        }
    }
    fn actual(input: f64, output: f64) -> Actual {
        Actual {
            input_tokens: input,
            output_tokens: output,
            estimated: false,
        }
    }
    fn refusal(e: BudgetError) -> Refusal {
        match e {
            BudgetError::Exceeded(r) => r,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    /// reserve + settle with the full grant; returns the grant.
    fn spend(
        l: &mut Ledger,
        u: &UserKey,
        now: f64,
        input: u64,
        out: u64,
    ) -> Result<u64, BudgetError> {
        let (r, granted) = l.reserve(u, DEFAULT, now, est(input, out))?;
        l.settle(r, actual(input as f64, granted as f64), now);
        Ok(granted)
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_limit() {
        let mut l = ledger(json!({ "perUser": { "maxTotalTokens": 1000 } }));
        let u = user("alice");
        // Ten calls in flight at once. Checked one by one against settled usage (still 0),
        // each would pass; reserved up front, together they get exactly the budget.
        let mut held = Vec::new();
        let mut refused = 0;
        for _ in 0..10 {
            match l.reserve(&u, DEFAULT, T0, est(50, 300)) {
                Ok((r, out)) => held.push((r, out)),
                Err(e) => {
                    let r = refusal(e);
                    assert_eq!(
                        (r.scope, r.metric, r.remaining),
                        (Scope::User, Metric::TotalTokens, 0.0)
                    );
                    refused += 1;
                }
            }
        }
        let grants: Vec<u64> = held.iter().map(|(r, out)| r.input_tokens() + out).collect();
        assert_eq!(
            grants,
            [350, 350, 300],
            "the last one is capped to what is left"
        );
        assert_eq!(grants.iter().sum::<u64>(), 1000);
        assert_eq!(refused, 7);
        for (r, out) in held {
            l.settle(r, actual(50.0, out as f64), T0 + 1.0);
        }
        let rep = l.usage(&u, DEFAULT, T0 + 1.0);
        assert_eq!(
            (
                rep.limits[0].used,
                rep.limits[0].reserved,
                rep.limits[0].remaining
            ),
            (1000.0, 0.0, 0.0)
        );
        assert_eq!(rep.totals.requests, 3);
    }

    #[test]
    fn output_is_capped_to_the_remaining_budget_and_refusals_name_the_limit() {
        let mut l = ledger(json!({ "perUser": [
            { "maxTotalTokens": 1000 },
            { "maxOutputTokens": 600, "window": "hour" }
        ] }));
        let u = user("u");
        let (r, out) = l.reserve(&u, DEFAULT, T0, est(300, 1024)).unwrap();
        assert_eq!(
            (out, r.max_output_tokens()),
            (600, 600),
            "the hourly output cap binds first"
        );
        l.settle(r, actual(300.0, 600.0), T0);
        let r = refusal(l.reserve(&u, DEFAULT, T0, est(50, 1024)).unwrap_err());
        assert_eq!(
            (r.metric, r.window, r.limit, r.used, r.remaining),
            (Metric::OutputTokens, Window::Hour, 600.0, 600.0, 0.0)
        );
        // Once the hour has passed (plus one sub-bucket), only the lifetime total binds.
        let later = T0 + HOUR + HOUR / 8.0;
        let (r, out) = l.reserve(&u, DEFAULT, later, est(50, 1024)).unwrap();
        assert_eq!(out, 50, "1000 - 900 used - 50 input");
        l.release(r);
        // Input alone using up what is left leaves no room for one output token.
        let r = refusal(l.reserve(&u, DEFAULT, later, est(100, 10)).unwrap_err());
        assert_eq!(
            (r.metric, r.window, r.remaining),
            (Metric::TotalTokens, Window::Lifetime, 100.0)
        );
        assert_eq!(spend(&mut l, &u, later, 99, 10).unwrap(), 1);
    }

    #[test]
    fn settle_charges_what_was_used_and_clamps_bogus_reports() {
        let mut l = ledger(json!({ "perUser": { "maxTotalTokens": 100000 } }));
        let u = user("u");
        let mut sum = 0;
        let mut settle = |l: &mut Ledger, a: Actual| {
            let (r, _) = l.reserve(&u, DEFAULT, T0, est(100, 500)).unwrap();
            let c = l.settle(r, a, T0);
            sum += c.total_tokens;
            c
        };
        let less = settle(&mut l, actual(80.0, 20.0));
        assert_eq!(
            (less.input_tokens, less.output_tokens, less.total_tokens),
            (80, 20, 100)
        );
        assert!(!less.clamped && !less.overran && !less.estimated && less.user_charged);
        let more = settle(&mut l, actual(150.0, 500.0));
        assert_eq!(more.total_tokens, 650);
        assert!(more.overran && !more.clamped, "charged in full and flagged");
        let bogus = settle(&mut l, actual(-5.0, f64::NAN));
        assert_eq!(
            (bogus.input_tokens, bogus.output_tokens),
            (100, 500),
            "the reservation, never a credit"
        );
        assert!(bogus.clamped && bogus.estimated && !bogus.overran);
        let absurd = settle(&mut l, actual(1e12, f64::INFINITY));
        assert_eq!((absurd.input_tokens, absurd.output_tokens), (100, 500));
        let frac = settle(&mut l, actual(10.5, 3.0));
        assert_eq!((frac.input_tokens, frac.clamped), (11, true));
        let est_flag = settle(
            &mut l,
            Actual {
                estimated: true,
                ..actual(10.0, 10.0)
            },
        );
        assert!(est_flag.estimated && !est_flag.clamped);
        let from_usage = Actual::from(Usage {
            input_tokens: 3,
            output_tokens: 4,
            total_tokens: 7,
            estimated: true,
            cost_usd: 0.0,
            overrun: false,
        });
        assert_eq!(
            from_usage,
            Actual {
                input_tokens: 3.0,
                output_tokens: 4.0,
                estimated: true
            }
        );

        let rep = l.usage(&u, DEFAULT, T0);
        assert_eq!(rep.totals.total_tokens, sum);
        assert_eq!(rep.limits[0].used, sum as f64);
        assert_eq!(rep.reserved, Totals::default());
    }

    #[test]
    fn release_returns_everything_and_charges_nothing() {
        let mut l =
            ledger(json!({ "perUser": { "maxRequests": 1 }, "global": { "maxTotalTokens": 500 } }));
        let u = user("u");
        let (r, out) = l.reserve(&u, DEFAULT, T0, est(100, 1000)).unwrap();
        assert_eq!(out, 400);
        assert_eq!(l.usage(&u, DEFAULT, T0).limits[0].reserved, 1.0);
        assert_eq!(l.global_usage(T0).limits[0].reserved, 500.0);
        assert!(
            l.reserve(&user("v"), DEFAULT, T0, est(1, 1)).is_err(),
            "global is held"
        );
        l.release(r);
        let rep = l.usage(&u, DEFAULT, T0);
        assert_eq!((rep.limits[0].used, rep.limits[0].reserved), (0.0, 0.0));
        assert_eq!(
            rep.totals,
            Totals::default(),
            "a released call is not a request"
        );
        assert_eq!(l.global_usage(T0).limits[0].remaining, 500.0);
        assert_eq!(
            spend(&mut l, &u, T0, 100, 1000).unwrap(),
            400,
            "the full budget is back"
        );
    }

    #[test]
    fn rolling_windows_expire_with_time_passed_in() {
        let mut l = ledger(json!({ "perUser": [
            { "maxTotalTokens": 1000, "window": "hour" },
            { "maxRequests": 2, "window": { "ms": 8000 } }
        ] }));
        let u = user("u");
        spend(&mut l, &u, T0, 500, 500).unwrap();
        let r = refusal(
            l.reserve(&u, DEFAULT, T0 + HOUR / 2.0, est(1, 1))
                .unwrap_err(),
        );
        assert_eq!((r.metric, r.window), (Metric::TotalTokens, Window::Hour));
        assert!(
            l.reserve(&u, DEFAULT, T0 + HOUR - 1.0, est(1, 1)).is_err(),
            "still inside the hour"
        );
        // Counted at least the window, at most one sub-bucket (1/8) longer.
        assert_eq!(
            l.usage(&u, DEFAULT, T0 + HOUR + HOUR / 8.0).limits[0].used,
            0.0
        );
        let t = T0 + HOUR + HOUR / 8.0;
        spend(&mut l, &u, t, 1, 1).unwrap();
        spend(&mut l, &u, t + 500.0, 1, 1).unwrap();
        let r = refusal(l.reserve(&u, DEFAULT, t + 1000.0, est(1, 1)).unwrap_err());
        assert_eq!(
            (r.metric, r.window),
            (Metric::Requests, Window::Custom { ms: 8000.0 })
        );
        spend(&mut l, &u, t + 9000.0, 1, 1).unwrap();
    }

    #[test]
    fn lifetime_limits_never_expire() {
        let mut l = ledger(json!({ "perUser": { "maxRequests": 2 } }));
        let u = user("u");
        spend(&mut l, &u, T0, 1, 1).unwrap();
        spend(&mut l, &u, T0, 1, 1).unwrap();
        let century = 100.0 * 365.0 * 24.0 * HOUR;
        let r = refusal(l.reserve(&u, DEFAULT, T0 + century, est(1, 1)).unwrap_err());
        assert_eq!(
            (r.metric, r.window, r.used),
            (Metric::Requests, Window::Lifetime, 2.0)
        );
        assert_eq!(l.sweep(T0 + century), 0, "a capped user is never swept");
    }

    #[test]
    fn plans_replace_the_default_limits_and_usage_follows_the_user() {
        let mut l = ledger(json!({
            "perUser": { "maxTotalTokens": 100, "window": "day" },
            "plans": { "pro": { "maxTotalTokens": 1000, "window": "day" } }
        }));
        let pro = l.plan("pro").unwrap();
        assert_eq!(l.plan("enterprise"), None);
        let (free_user, pro_user) = (user("f"), user("p"));
        spend(&mut l, &free_user, T0, 50, 50).unwrap();
        assert!(l.reserve(&free_user, DEFAULT, T0, est(1, 1)).is_err());
        let (r, out) = l.reserve(&pro_user, pro, T0, est(50, 2000)).unwrap();
        assert_eq!(out, 950);
        l.release(r);
        // The free user upgrades: what they already used still counts.
        let (r, out) = l.reserve(&free_user, pro, T0, est(0, 2000)).unwrap();
        assert_eq!(out, 900);
        l.release(r);
        let rep = l.usage(&free_user, pro, T0);
        assert_eq!(
            (rep.limits[0].limit, rep.limits[0].remaining),
            (1000.0, 900.0)
        );
        assert!(
            l.reserve(&pro_user, PlanId(99), T0, est(1, 1)).is_err(),
            "a foreign plan id is refused"
        );
    }

    #[test]
    fn global_limits_are_shared_across_users() {
        let mut l = ledger(json!({ "global": { "maxRequests": 3, "window": "minute" } }));
        for name in ["a", "b", "c"] {
            spend(&mut l, &user(name), T0, 1, 1).unwrap();
        }
        let r = refusal(l.reserve(&user("d"), DEFAULT, T0, est(1, 1)).unwrap_err());
        assert_eq!(
            (r.scope, r.metric, r.window, r.limit),
            (Scope::Global, Metric::Requests, Window::Minute, 3.0)
        );
        let g = l.global_usage(T0);
        assert_eq!((g.limits[0].used, g.totals.requests), (3.0, 3));
        assert!(
            l.usage(&user("d"), DEFAULT, T0).limits.is_empty(),
            "no per-user limits configured"
        );
        spend(&mut l, &user("d"), T0 + 60_000.0 * 1.125, 1, 1).unwrap();
    }

    #[test]
    fn cost_limits_cap_output_by_price_and_require_a_price() {
        let mut l = ledger(json!({
            "perUser": { "maxCostUsd": 0.01 },
            "prices": { "house-model": { "inputPerMTok": 0, "outputPerMTok": 0 } }
        }));
        let u = user("u");
        // gpt-4o-mini: 150 nano-USD per input token, 600 per output token.
        let (r, out) = l.reserve(&u, DEFAULT, T0, est(10_000, 100_000)).unwrap();
        assert_eq!(out, (10_000_000 - 1_500_000) / 600);
        assert!(r.cost_usd() <= 0.01 && r.cost_usd() > 0.0099);
        let c = l.settle(r, actual(10_000.0, 1000.0), T0);
        assert_eq!(c.cost_nano_usd, 1_500_000 + 600_000);
        assert!((c.cost_usd - 0.0021).abs() < 1e-12);
        let e = l
            .reserve(
                &u,
                DEFAULT,
                T0,
                Estimate {
                    model: "mystery-1",
                    ..est(1, 1)
                },
            )
            .unwrap_err();
        assert_eq!(
            e,
            BudgetError::MissingPrice {
                model: "mystery-1".into()
            }
        );
        assert!(e.to_string().contains("mystery-1"));
        assert!(l.needs_price(DEFAULT));
        // A free model passes a cost limit and costs nothing.
        let (r, _) = l
            .reserve(
                &u,
                DEFAULT,
                T0,
                Estimate {
                    model: "house-model",
                    ..est(5, 5)
                },
            )
            .unwrap();
        assert_eq!(l.settle(r, actual(5.0, 5.0), T0).cost_nano_usd, 0);

        // Without a cost limit an unpriced model is allowed, at cost 0.
        let mut l = ledger(json!({ "perUser": { "maxTotalTokens": 10 } }));
        let (r, _) = l
            .reserve(
                &u,
                DEFAULT,
                T0,
                Estimate {
                    model: "mystery-1",
                    ..est(1, 1)
                },
            )
            .unwrap();
        assert_eq!(l.settle(r, actual(1.0, 1.0), T0).cost_usd, 0.0);
        assert!(!l.needs_price(DEFAULT));
    }

    #[test]
    fn rate_limits_are_per_user_with_retry_after() {
        let mut l = ledger_with(
            json!({}),
            json!({ "perUser": { "requests": 2, "perMs": 1000 } }),
        );
        let (a, b) = (user("a"), user("b"));
        assert!(l.has_rate_limit());
        l.check_rate(&a, T0).unwrap();
        l.check_rate(&a, T0).unwrap();
        assert_eq!(
            l.check_rate(&a, T0),
            Err(RateLimited {
                retry_after_ms: 500
            })
        );
        assert_eq!(
            BudgetError::from(l.check_rate(&a, T0 + 100.0).unwrap_err()).code(),
            "rate_limited"
        );
        l.check_rate(&b, T0).unwrap();
        l.check_rate(&a, T0 + 500.0).unwrap();
        // No rate limit configured: always passes and keeps no state.
        let mut free = ledger(json!({}));
        for _ in 0..100 {
            free.check_rate(&a, T0).unwrap();
        }
        assert!(free.is_empty());
    }

    #[test]
    fn export_import_round_trip_keeps_every_limit_binding() {
        let budget = json!({
            "perUser": [{ "maxTotalTokens": 1000, "window": "hour" }, { "maxCostUsd": 1 }],
            "global": { "maxRequests": 100, "window": "day" }
        });
        let rate = json!({ "perUser": { "requests": 5, "perMs": 60000 } });
        let mut l = ledger_with(budget.clone(), rate.clone());
        let u = user("u");
        for i in 0..4 {
            l.check_rate(&u, T0 + i as f64 * 600_000.0).unwrap();
            spend(&mut l, &u, T0 + i as f64 * 600_000.0, 100, 100).unwrap();
        }
        let now = T0 + HOUR + HOUR / 8.0;
        let doc = l.export_user(&u, now).unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        let back: AccountDoc = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        let gdoc: AccountDoc =
            serde_json::from_str(&serde_json::to_string(&l.export_global(now)).unwrap()).unwrap();

        let mut m = ledger_with(budget, rate);
        m.import_user(&u, &back, now).unwrap();
        m.import_global(&gdoc, now).unwrap();
        for t in [now, now + HOUR / 2.0, now + 2.0 * HOUR] {
            assert_eq!(m.usage(&u, DEFAULT, t), l.usage(&u, DEFAULT, t), "at {t}");
            assert_eq!(m.global_usage(t), l.global_usage(t));
        }
        assert_eq!(m.export_user(&u, now), Some(doc));
        let (r1, o1) = l.reserve(&u, DEFAULT, now, est(0, 5000)).unwrap();
        let (r2, o2) = m.reserve(&u, DEFAULT, now, est(0, 5000)).unwrap();
        assert_eq!(o1, o2);
        assert_eq!(
            o1,
            1000 - 200 * 3,
            "the oldest call's bucket has left the hour"
        );
        l.release(r1);
        m.release(r2);
    }

    #[test]
    fn forget_erases_the_id_but_spend_keeps_counting_under_the_pseudonym() {
        let mut l = ledger(
            json!({ "perUser": { "maxTotalTokens": 100 }, "global": { "maxTotalTokens": 1000 } }),
        );
        let (a, b) = (user("a"), user("b"));
        let pa: Pseudonym = [7; 32];
        spend(&mut l, &a, T0, 50, 49).unwrap();
        spend(&mut l, &b, T0, 10, 10).unwrap();
        let (in_flight, out) = l.reserve(&a, DEFAULT, T0, est(0, 5)).unwrap();
        assert_eq!(out, 1);
        l.forget(&a, Some(pa), T0);
        assert!(!l.has(&a));
        assert_eq!(l.retained(), 1);
        assert_eq!(l.export_user(&a, T0), None);
        assert_eq!(l.usage(&b, DEFAULT, T0).totals.total_tokens, 20);
        // The call in flight settles into the retained account, not into thin air.
        let c = l.settle(in_flight, actual(0.0, 1.0), T0);
        assert!(c.user_charged);
        // Another pseudonym finds nothing; the right one gives the spend back to the id.
        assert!(!l.revive(&a, &[8; 32]));
        assert!(l.revive(&a, &pa));
        assert_eq!(l.usage(&a, DEFAULT, T0).totals.total_tokens, 100);
        let refused = l.reserve(&a, DEFAULT, T0, est(0, 1)).unwrap_err();
        assert_eq!(refusal(refused).used, 100.0);
        assert_eq!(l.global_usage(T0).totals.total_tokens, 99 + 20 + 1);
        // An account that holds nothing a limit reads goes entirely.
        let mut free = ledger(json!({}));
        spend(&mut free, &a, T0, 5, 5).unwrap();
        free.forget(&a, Some(pa), T0);
        assert_eq!(free.len(), 0);
        // The host's reset drops retained counters too.
        l.forget(&a, Some(pa), T0);
        l.reset_user(&a, &pa);
        assert!(!l.revive(&a, &pa));
        assert_eq!(l.usage(&b, DEFAULT, T0).totals.total_tokens, 20);
    }

    #[test]
    fn an_import_adds_spend_but_never_takes_any_away() {
        let mut l = ledger_with(
            json!({ "perUser": [{ "maxTotalTokens": 1000 }, { "maxTotalTokens": 500, "window": "hour" }] }),
            json!({ "perUser": { "requests": 2, "perMs": 60000 } }),
        );
        let u = user("u");
        spend(&mut l, &u, T0, 100, 100).unwrap();
        l.check_rate(&u, T0).unwrap();
        let high = l.export_user(&u, T0).unwrap();
        spend(&mut l, &u, T0 + 1.0, 50, 50).unwrap();
        l.check_rate(&u, T0 + 1.0).unwrap();
        let now = l.export_user(&u, T0 + 1.0).unwrap();
        // An older (lower) document changes nothing.
        l.import_user(&u, &high, T0 + 2.0).unwrap();
        assert_eq!(l.export_user(&u, T0 + 2.0).unwrap().totals, now.totals);
        assert!(
            l.check_rate(&u, T0 + 2.0).is_err(),
            "the drained bucket stays drained"
        );
        // A fresh ledger takes the document as it is.
        let mut m = ledger_with(
            json!({ "perUser": [{ "maxTotalTokens": 1000 }, { "maxTotalTokens": 500, "window": "hour" }] }),
            json!({ "perUser": { "requests": 2, "perMs": 60000 } }),
        );
        m.import_user(&u, &now, T0 + 2.0).unwrap();
        assert_eq!(
            m.usage(&u, DEFAULT, T0 + 2.0),
            l.usage(&u, DEFAULT, T0 + 2.0)
        );
    }

    #[test]
    fn sweep_drops_idle_ids_but_keeps_capped_and_busy_users() {
        let mut l = ledger_with(
            json!({ "perUser": [{ "maxTotalTokens": 1000 }, { "maxRequests": 5, "window": "minute" }], "global": { "maxRequests": 1000000 } }),
            json!({ "perUser": { "requests": 1, "perMs": 1000 } }),
        );
        let capped = user("capped");
        spend(&mut l, &capped, T0, 500, 500).unwrap();
        let busy = user("busy");
        let (held, _) = l.reserve(&busy, DEFAULT, T0, est(1, 1)).unwrap();
        let limited = user("limited");
        l.check_rate(&limited, T0).unwrap();
        // A flood of new ids that each made a request and then went idle.
        for i in 0..5000 {
            let id = user(&format!("flood-{i}"));
            let (r, _) = l.reserve(&id, DEFAULT, T0, est(0, 1)).unwrap();
            l.release(r);
        }
        assert_eq!(l.len(), 5003);
        assert_eq!(l.sweep(T0 + 1.0), 5000);
        let mut kept: Vec<_> = l.users().map(|u| u.storage_name().to_owned()).collect();
        kept.sort();
        assert_eq!(kept, ["busy", "capped", "limited"]);
        // Once its bucket has refilled the rate-limited user holds nothing.
        assert_eq!(l.sweep(T0 + 1000.0), 1);
        // The capped user is still capped: eviction refilled nothing.
        assert!(l.reserve(&capped, DEFAULT, T0 + 1e9, est(0, 1)).is_err());
        l.release(held);
        assert_eq!(l.sweep(T0 + 1e9), 1, "busy goes once its call is over");
        // A user with only rolling usage is dropped once it has expired, and not before.
        let mut l2 = ledger(json!({ "perUser": { "maxRequests": 5, "window": "minute" } }));
        spend(&mut l2, &user("roller"), T0, 1, 1).unwrap();
        assert_eq!(l2.sweep(T0 + 60_000.0), 0);
        assert_eq!(l2.sweep(T0 + 60_000.0 * 1.125), 1);
        assert!(l2.is_empty());
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn bogus_times_neither_panic_nor_reopen_a_window() {
        let mut l = ledger(json!({ "perUser": { "maxRequests": 1, "window": "minute" } }));
        let u = user("u");
        spend(&mut l, &u, T0, 1, 1).unwrap();
        for t in [f64::NAN, f64::NEG_INFINITY, -1.0, 0.0, T0 - HOUR] {
            assert!(l.reserve(&u, DEFAULT, t, est(1, 1)).is_err(), "{t}");
            l.usage(&u, DEFAULT, t);
            l.sweep(t);
        }
        let (r, _) = l
            .reserve(&user("v"), DEFAULT, f64::INFINITY, est(u64::MAX, u64::MAX))
            .unwrap();
        l.settle(r, actual(f64::MAX, -0.0), f64::NAN);
        assert!(l
            .reserve(&u, DEFAULT, T0 + 2.0 * 60_000.0, est(1, 1))
            .is_ok());
    }

    /// One configured cap, in a form the brute-force check can evaluate.
    struct SimCap {
        metric: Metric,
        window_ms: Option<f64>,
        limit: u64,
    }

    fn sim_caps(sets: &[LimitSet]) -> Vec<SimCap> {
        sets.iter()
            .flat_map(|s| {
                let w = s.window.length_ms();
                s.caps("x")
                    .unwrap()
                    .into_iter()
                    .map(move |(metric, limit)| SimCap {
                        metric,
                        window_ms: w,
                        limit,
                    })
            })
            .collect()
    }

    /// The true usage under a cap: every charge made less than a window ago.
    fn true_usage(charges: &[(f64, Amounts)], cap: &SimCap, now: f64) -> u64 {
        charges
            .iter()
            .filter(|(t, _)| cap.window_ms.is_none_or(|w| now - t < w))
            .map(|(_, a)| a[cap.metric.index()])
            .sum()
    }

    fn check(caps: &[SimCap], charges: &[(f64, Amounts)], rep: &UsageReport, now: f64, who: &str) {
        assert_eq!(rep.limits.len(), caps.len());
        for (cap, lim) in caps.iter().zip(&rep.limits) {
            let truth = true_usage(charges, cap, now);
            assert!(
                truth <= cap.limit,
                "{who}: overshoot of {:?} {:?}: {truth} > {}",
                cap.metric,
                cap.window_ms,
                cap.limit
            );
            assert!(
                cap.metric.to_public(truth) <= lim.used,
                "{who}: the window under-counts {:?}",
                cap.metric
            );
            assert!(
                lim.used + lim.reserved <= lim.limit * (1.0 + 1e-12),
                "{who}: {lim:?}"
            );
        }
    }

    fn amounts_of(c: &Charge) -> Amounts {
        [
            c.input_tokens,
            c.output_tokens,
            c.total_tokens,
            c.cost_nano_usd,
            1,
        ]
    }

    #[test]
    fn random_interleavings_never_overshoot_and_totals_reconcile() {
        let mut rng = Rng::new(0x5eed_b0d9);
        let windows = [
            json!("lifetime"),
            json!("minute"),
            json!("hour"),
            json!({ "ms": 7000 }),
        ];
        let mut plans = Map::new();
        for p in 0..6 {
            let sets: Vec<Value> = (0..1 + rng.below(3))
                .map(|_| {
                    let mut o = Map::new();
                    for m in Metric::ALL {
                        if rng.chance(50) {
                            let v = match m {
                                Metric::CostUsd => json!(rng.below(3000) as f64 / 100_000.0),
                                Metric::Requests => json!(rng.below(30)),
                                _ => json!(rng.below(20_000)),
                            };
                            o.insert(m.limit_field().into(), v);
                        }
                    }
                    o.insert("window".into(), windows[rng.below(4) as usize].clone());
                    Value::Object(o)
                })
                .collect();
            plans.insert(format!("p{p}"), Value::Array(sets));
        }
        let config = json!({
            "perUser": { "maxTotalTokens": 5000, "window": "minute" },
            "global": [{ "maxTotalTokens": 3_000_000, "window": "hour" }, { "maxCostUsd": 40 }],
            "plans": plans,
            "prices": { "m": { "inputPerMTok": 1.25, "outputPerMTok": 3.5 } }
        });
        let budget: BudgetConfig = serde_json::from_value(config).unwrap();
        let mut l = Ledger::new(&budget, &RateLimitConfig::default()).unwrap();
        let mut plan_ids = vec![DEFAULT];
        let mut plan_caps = vec![sim_caps(&budget.per_user)];
        for p in 0..6 {
            let name = format!("p{p}");
            plan_ids.push(l.plan(&name).unwrap());
            plan_caps.push(sim_caps(&budget.plans[&name]));
        }
        let global_caps = sim_caps(&budget.global);

        struct Sim {
            key: UserKey,
            plan: usize,
            charges: Vec<(f64, Amounts)>,
            settled: Amounts,
        }
        let mut users: Vec<Sim> = (0..1000)
            .map(|i| Sim {
                key: user(&format!("u{i}")),
                plan: rng.below(7) as usize,
                charges: Vec::new(),
                settled: [0; 5],
            })
            .collect();
        let mut global_charges: Vec<(f64, Amounts)> = Vec::new();
        let mut global_settled = [0u64; 5];
        let mut held: Vec<(usize, Reservation)> = Vec::new();
        let (mut granted, mut refused) = (0, 0);
        let mut now = T0;
        let steps = 40_000;
        for step in 0..=steps {
            now += rng.below(500) as f64;
            let op = rng.below(10);
            if step == steps || (op >= 5 && !held.is_empty()) {
                // Settle (or at the end, drain) one call in flight, chosen at random.
                let drain = step == steps;
                let n = if drain { held.len() } else { 1 };
                for _ in 0..n {
                    let (ui, r) = held.swap_remove(rng.below(held.len() as u64) as usize);
                    if !drain && op == 9 {
                        l.release(r);
                        continue;
                    }
                    let (ri, ro) = (r.input_tokens(), r.max_output_tokens());
                    let a = match rng.below(10) {
                        0 => actual(f64::NAN, -1.0),
                        1 => actual(ri as f64 * 0.5, ro as f64 * 0.25),
                        _ => actual(rng.below(ri + 1) as f64, rng.below(ro + 1) as f64),
                    };
                    let c = l.settle(r, a, now);
                    assert!(!c.overran && c.user_charged, "{c:?}");
                    let sim = &mut users[ui];
                    sim.charges.push((now, amounts_of(&c)));
                    crate::budget::account::add(&mut sim.settled, &amounts_of(&c));
                    global_charges.push((now, amounts_of(&c)));
                    crate::budget::account::add(&mut global_settled, &amounts_of(&c));
                    let rep = l.usage(&sim.key, plan_ids[sim.plan], now);
                    assert_eq!(
                        rep.totals,
                        Totals::from(&sim.settled),
                        "user {ui}: totals != sum of charges"
                    );
                    check(
                        &plan_caps[sim.plan],
                        &sim.charges,
                        &rep,
                        now,
                        &format!("user {ui}"),
                    );
                }
            } else {
                let ui = rng.below(users.len() as u64) as usize;
                let sim = &users[ui];
                let model = if rng.chance(3) { "unpriced" } else { "m" };
                let e = Estimate {
                    input_tokens: rng.below(400),
                    max_output_tokens: 1 + rng.below(800),
                    model,
                };
                match l.reserve(&sim.key, plan_ids[sim.plan], now, e) {
                    Ok((r, out)) => {
                        assert!(out >= 1 && out <= e.max_output_tokens);
                        granted += 1;
                        held.push((ui, r));
                    }
                    Err(BudgetError::Exceeded(_)) => refused += 1,
                    Err(BudgetError::MissingPrice { .. }) => assert_eq!(model, "unpriced"),
                    Err(other) => panic!("{other:?}"),
                }
                let rep = l.usage(&sim.key, plan_ids[sim.plan], now);
                check(
                    &plan_caps[sim.plan],
                    &sim.charges,
                    &rep,
                    now,
                    &format!("user {ui}"),
                );
            }
            if step % 2000 == 0 || step == steps {
                let g = l.global_usage(now);
                assert_eq!(g.totals, Totals::from(&global_settled));
                check(&global_caps, &global_charges, &g, now, "global");
            }
        }
        assert!(held.is_empty());
        for (ui, sim) in users.iter().enumerate() {
            let rep = l.usage(&sim.key, plan_ids[sim.plan], now);
            assert_eq!(rep.totals, Totals::from(&sim.settled), "user {ui}");
            assert_eq!(rep.reserved, Totals::default(), "user {ui}");
        }
        assert_eq!(l.global_usage(now).reserved, Totals::default());
        // The run must have exercised both outcomes, or it proves little.
        assert!(
            granted > 5000 && refused > 1000,
            "granted {granted}, refused {refused}"
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    #[ignore = "timing only: cargo test --release --lib bench_reserve_settle -- --ignored --nocapture"]
    fn bench_reserve_settle() {
        let mut l = ledger(json!({
            "perUser": [{ "maxTotalTokens": 1e15, "window": "hour" }, { "maxCostUsd": 1e9 }, { "maxRequests": 1e12, "window": "minute" }],
            "global": { "maxCostUsd": 1e12, "window": "day" }
        }));
        let users: Vec<_> = (0..1000).map(|i| user(&format!("user-{i}"))).collect();
        let n = 2_000_000;
        let start = std::time::Instant::now();
        for i in 0..n {
            let now = T0 + i as f64;
            let (r, _) = l
                .reserve(&users[i % users.len()], DEFAULT, now, est(500, 1000))
                .unwrap();
            std::hint::black_box(l.settle(r, actual(480.0, 200.0), now));
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!("reserve+settle: {ns:.0} ns per call (1000 users, 3 user limits, 1 global)");
    }
}
