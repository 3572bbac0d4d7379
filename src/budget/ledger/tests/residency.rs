// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::budget::ledger::table::Pseudonym;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

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
    assert_eq!(l.len(), 3);
    for kept in [&busy, &capped, &limited] {
        assert!(l.has(kept), "{kept:?}");
    }
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
fn a_reservation_from_before_a_clear_never_lands_in_an_account_opened_after() {
    let mut l = ledger(
        json!({ "perUser": { "maxTotalTokens": 100 }, "global": { "maxTotalTokens": 1000 } }),
    );
    let (a, b) = (user("a"), user("b"));
    spend(&mut l, &a, T0, 10, 10).unwrap();
    let (in_flight, _) = l.reserve(&a, DEFAULT, T0, est(5, 5)).unwrap();
    l.clear();
    assert_eq!(l.len(), 0);
    assert_eq!(l.global_usage(T0).totals.total_tokens, 0);
    // b takes the slot a had.
    spend(&mut l, &b, T0, 1, 1).unwrap();
    l.settle(in_flight, actual(5.0, 5.0), T0);
    assert_eq!(l.usage(&b, DEFAULT, T0).totals.total_tokens, 2);
    assert_eq!(l.usage(&a, DEFAULT, T0).totals.total_tokens, 0);
    // The global hold is gone with the settle: nothing stays reserved.
    assert_eq!(l.global_usage(T0).reserved.total_tokens, 0);
}
