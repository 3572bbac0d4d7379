//! One call's hold on the budget: what the call may consume, the output grant capped to
//! what every limit still allows, and the charge that replaces the hold once the call is
//! over. Reservations count against every limit the moment they are made, so calls in
//! flight for one user can never together pass a limit.

use super::table::{Handle, Table};
use crate::budget::account::Account;
use crate::budget::error::{BudgetError, Refusal, Scope};
use crate::budget::policy::{Cap, Plan, Policy};
use crate::budget::price::UnitPrice;
use crate::budget::units::{Amounts, Metric};
use crate::ids::{OrgId, UserKey};
use crate::model::{reported_tokens, ReportedTokens, Usage};
use serde::Serialize;

/// What a call may consume, known before it is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Estimate<'a> {
    pub input_tokens: u64,
    /// The most output the caller wants; the grant may be lower, never higher. 0 asks
    /// for 1 (a call that may produce nothing still needs a token of room).
    pub max_output_tokens: u64,
    pub model: &'a str,
    pub kind: CallKind,
}

/// What a call is for, which decides the limits it answers to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallKind {
    /// A model call: one request, and at least one output token of room.
    #[default]
    Generation,
    /// An embedding call: input tokens only. It produces no output and is not a model
    /// request, so output and request limits do not refuse it; its tokens count against
    /// the input, total and cost limits like any model input.
    Embedding,
    /// The embedding of a turn being committed: charged as `Embedding`, but no limit
    /// refuses it. Its run was admitted and its model has answered (and was charged), so
    /// refusing now would waste that spend and lose the turn; the overshoot is bounded by
    /// that turn's own input and answer, and the user's next call is refused instead.
    TurnEmbedding,
}

impl CallKind {
    fn is_embedding(self) -> bool {
        matches!(self, CallKind::Embedding | CallKind::TurnEmbedding)
    }
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
    user: Handle,
    /// The org account held too, for a user of an org under org limits.
    org: Option<Handle>,
    amounts: Amounts,
    price: UnitPrice,
    kind: CallKind,
}

impl Reservation {
    pub fn input_tokens(&self) -> u64 {
        self.amounts[Metric::InputTokens.index()]
    }

    /// The output cap to pass to the model.
    pub fn max_output_tokens(&self) -> u64 {
        self.amounts[Metric::OutputTokens.index()]
    }

    /// Checks every cap of the user's plan, of their org's plan (`org`) and every global
    /// cap, and holds in every one of those accounts what the call may consume: the
    /// estimated input plus the granted output, which is `max_output_tokens` capped to what
    /// all budgets still allow. Refused when not even one output token fits at some level,
    /// and then nothing is held anywhere. Every account must be advanced to now.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hold(
        user: Handle,
        acct: &mut Account,
        plan: &Plan,
        org: Option<(Handle, &mut Account, &Plan)>,
        global: &mut Account,
        global_plan: &Plan,
        est: Estimate<'_>,
        price: UnitPrice,
    ) -> Result<(Reservation, u64), BudgetError> {
        let input = est.input_tokens;
        let kind = est.kind;
        let mut out = match kind {
            CallKind::Generation => est.max_output_tokens.max(1),
            CallKind::Embedding | CallKind::TurnEmbedding => 0,
        };
        fit(plan, acct, Scope::User, kind, input, price, &mut out)
            .map_err(BudgetError::Exceeded)?;
        if let Some((_, org_acct, org_plan)) = &org {
            fit(org_plan, org_acct, Scope::Org, kind, input, price, &mut out)
                .map_err(BudgetError::Exceeded)?;
        }
        fit(
            global_plan,
            global,
            Scope::Global,
            kind,
            input,
            price,
            &mut out,
        )
        .map_err(BudgetError::Exceeded)?;
        let amounts = call_amounts(kind, input, out, price);
        acct.reserve(&amounts);
        let org = org.map(|(handle, org_acct, _)| {
            org_acct.reserve(&amounts);
            handle
        });
        global.reserve(&amounts);
        Ok((
            Reservation {
                user,
                org,
                amounts,
                price,
                kind,
            },
            out,
        ))
    }

    /// Swaps the hold for the actual charge. Unusable figures are replaced by the reserved
    /// ones (never credited); figures above the reservation are charged.
    pub(super) fn settle(
        self,
        actual: Actual,
        policy: &Policy,
        table: &mut Table<UserKey>,
        orgs: &mut Table<OrgId>,
        global: &mut Account,
        now: f64,
    ) -> Charge {
        let (input, in_clamped) = figure(actual.input_tokens, self.input_tokens());
        let (output, out_clamped) = match self.kind.is_embedding() {
            false => figure(actual.output_tokens, self.max_output_tokens()),
            true => (0, false),
        };
        let a = call_amounts(self.kind, input, output, self.price);
        let overran = a.iter().zip(&self.amounts).any(|(x, y)| x > y);

        let user_charged = match table.resolve(self.user) {
            Some(acct) => {
                acct.unreserve(&self.amounts);
                acct.charge(&policy.user, now, &a);
                true
            }
            None => false,
        };
        // An org account forgotten meanwhile (its org erased) is not written back into.
        if let Some(acct) = self.org.and_then(|h| orgs.resolve(h)) {
            acct.unreserve(&self.amounts);
            acct.charge(&policy.org.layout, now, &a);
        }
        global.unreserve(&self.amounts);
        global.charge(&policy.global, now, &a);
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

    /// Gives the hold back without charging anything.
    pub(super) fn release(
        self,
        table: &mut Table<UserKey>,
        orgs: &mut Table<OrgId>,
        global: &mut Account,
    ) {
        if let Some(acct) = table.resolve(self.user) {
            acct.unreserve(&self.amounts);
        }
        if let Some(acct) = self.org.and_then(|h| orgs.resolve(h)) {
            acct.unreserve(&self.amounts);
        }
        global.unreserve(&self.amounts);
    }
}

/// The figures one call consumes.
fn call_amounts(kind: CallKind, input: u64, output: u64, price: UnitPrice) -> Amounts {
    let mut a = [0; 5];
    a[Metric::InputTokens.index()] = input;
    a[Metric::OutputTokens.index()] = output;
    a[Metric::TotalTokens.index()] = input.saturating_add(output);
    a[Metric::CostUsd.index()] = price.cost(input, output);
    a[Metric::Requests.index()] = u64::from(kind == CallKind::Generation);
    a
}

/// A reported token count if usable; otherwise the reserved figure, flagged.
fn figure(reported: f64, reserved: u64) -> (u64, bool) {
    // Unlike a model answer's reading, a fractional figure is charged (rounded up, marked
    // estimated): this side never under-charges.
    match reported_tokens(reported) {
        ReportedTokens::Whole(n) => (n, false),
        ReportedTokens::Fractional(n) => (n, true),
        ReportedTokens::Unusable => (reserved, true),
    }
}

/// Lowers `out` to what this scope's caps allow, or refuses with the first cap that
/// leaves no room for the input plus one output token.
fn fit(
    plan: &Plan,
    acct: &Account,
    scope: Scope,
    kind: CallKind,
    input: u64,
    price: UnitPrice,
    out: &mut u64,
) -> Result<(), Refusal> {
    for cap in &plan.caps {
        let used = acct.used(cap);
        let reserved = acct.reserved[cap.metric.index()];
        let remaining = cap.limit.saturating_sub(used.saturating_add(reserved));
        let allowed = match (kind, cap.metric) {
            (CallKind::Generation, _) => generation_room(cap.metric, input, price, remaining),
            (CallKind::TurnEmbedding, _) => u64::MAX,
            (CallKind::Embedding, Metric::Requests | Metric::OutputTokens) => u64::MAX,
            (CallKind::Embedding, Metric::InputTokens | Metric::TotalTokens) => {
                if input <= remaining {
                    u64::MAX
                } else {
                    0
                }
            }
            (CallKind::Embedding, Metric::CostUsd) => {
                if price.input_cost(input) <= remaining {
                    u64::MAX
                } else {
                    0
                }
            }
        };
        if allowed == 0 {
            return Err(refusal(scope, cap, used, reserved, remaining));
        }
        *out = (*out).min(allowed);
    }
    Ok(())
}

/// The output a model call may be granted under one cap with `remaining` room; 0 refuses.
fn generation_room(metric: Metric, input: u64, price: UnitPrice, remaining: u64) -> u64 {
    match metric {
        Metric::Requests if remaining >= 1 => u64::MAX,
        Metric::InputTokens if input <= remaining => u64::MAX,
        Metric::Requests | Metric::InputTokens => 0,
        Metric::OutputTokens => remaining,
        Metric::TotalTokens => remaining.saturating_sub(input),
        Metric::CostUsd => remaining
            .checked_sub(price.input_cost(input))
            .map_or(0, |left| price.max_output(left)),
    }
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
