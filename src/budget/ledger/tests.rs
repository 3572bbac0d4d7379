//! Ledger behaviour through its public operations, one file per area; the helpers here
//! are shared by all of them.

mod calls;
mod documents;
mod interleavings;
mod orgs;
mod residency;

use super::*;
use crate::budget::error::Refusal;
use crate::budget::test_util::user;
use serde_json::{json, Value};

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
        kind: Default::default(),
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
fn spend(l: &mut Ledger, u: &UserKey, now: f64, input: u64, out: u64) -> Result<u64, BudgetError> {
    let (r, granted) = l.reserve(u, DEFAULT, now, est(input, out))?;
    l.settle(r, actual(input as f64, granted as f64), now);
    Ok(granted)
}
