// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::budget::config::{BudgetConfig, RateLimitConfig, RateSpec};
use crate::budget::policy::Policy;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn policy(budget: serde_json::Value) -> Policy {
    let b: BudgetConfig = serde_json::from_value(budget).unwrap();
    Policy::new(&b, &RateLimitConfig::default()).unwrap()
}

#[test]
fn only_what_a_limit_reads_keeps_an_account() {
    let p = policy(
        json!({ "perUser": [{ "maxCostUsd": 1 }, { "maxRequests": 3, "window": "minute" }] }),
    );
    let mut a = Account::new(&p.user, 1);
    assert!(!a.holds_anything(&p.user, None, 0.0));
    // Lifetime tokens are only reporting here (the lifetime cap is on cost).
    a.totals[Metric::TotalTokens.index()] = 50;
    assert!(!a.holds_anything(&p.user, None, 0.0));
    a.totals[Metric::CostUsd.index()] = 1;
    assert!(a.holds_anything(&p.user, None, 0.0));

    let mut b = Account::new(&p.user, 2);
    b.reserve(&[0, 0, 0, 0, 1]);
    assert!(b.holds_anything(&p.user, None, 0.0));
    b.unreserve(&[0, 0, 0, 0, 5]);
    assert_eq!(b.reserved, [0; 5], "unreserve saturates at zero");
    b.charge(&p.user, 0.0, &[1, 1, 2, 0, 1]);
    assert!(b.holds_anything(&p.user, None, 0.0));
    b.advance(&p.user, 60_000.0 * 1.125);
    assert!(!b.holds_anything(&p.user, None, 60_000.0 * 1.125));

    let rule = RateRule::new(
        &RateSpec {
            requests: 1.0,
            per_ms: 1000.0,
            burst: None,
        },
        "r",
    )
    .unwrap();
    let mut c = Account::new(&p.user, 3);
    let mut bucket = TokenBucket::full(&rule, 0.0);
    bucket.take(&rule, 0.0).unwrap();
    c.rate = Some(bucket);
    assert!(c.holds_anything(&p.user, Some(&rule), 500.0));
    assert!(!c.holds_anything(&p.user, Some(&rule), 1000.0));
}
