// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::budget::error::Scope;
use crate::budget::test_util::Rng;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn member(org: &str, u: &str) -> UserKey {
    UserKey::parse_in(Some(org), Some(u)).unwrap()
}

fn org(id: &str) -> OrgId {
    OrgId::parse(Some(id)).unwrap().unwrap()
}

fn reserved_total(rep: &UsageReport) -> u64 {
    rep.reserved.total_tokens
}

#[test]
fn a_hold_is_taken_at_every_level_or_at_none() {
    let mut l = ledger(json!({
        "perUser": { "maxTotalTokens": 1000 },
        "perOrg": { "maxTotalTokens": 500 },
        "global": { "maxTotalTokens": 700 }
    }));
    let acme = org("acme");
    let (a, b, c) = (
        member("acme", "a"),
        member("acme", "b"),
        member("beta", "c"),
    );
    let (r1, out) = l
        .reserve_in(&a, DEFAULT, Some((&acme, DEFAULT)), T0, est(100, 300))
        .unwrap();
    assert_eq!(out, 300);
    // b fits its own limit but only 100 are left in the org: the grant is capped there.
    let (r2, out) = l
        .reserve_in(&b, DEFAULT, Some((&acme, DEFAULT)), T0, est(50, 300))
        .unwrap();
    assert_eq!(out, 50);
    // Nothing left in the org: refused, and nothing is held for b or globally.
    let before = l.global_usage(T0).reserved.total_tokens;
    let e = l
        .reserve_in(&b, DEFAULT, Some((&acme, DEFAULT)), T0, est(10, 10))
        .unwrap_err();
    assert_eq!(refusal(e).scope, Scope::Org);
    assert_eq!(l.global_usage(T0).reserved.total_tokens, before);
    assert_eq!(reserved_total(&l.usage(&b, DEFAULT, T0)), 100);
    // The global ceiling refuses a user of another org: nothing held in that org either.
    let beta = org("beta");
    let (r3, out) = l
        .reserve_in(&c, DEFAULT, Some((&beta, DEFAULT)), T0, est(100, 300))
        .unwrap();
    assert_eq!(out, 100, "capped by the 200 left globally");
    let e = l
        .reserve_in(&c, DEFAULT, Some((&beta, DEFAULT)), T0, est(1, 1))
        .unwrap_err();
    assert_eq!(refusal(e).scope, Scope::Global);
    assert_eq!(reserved_total(&l.org_usage(&beta, DEFAULT, T0)), 200);
    // Settle and release reach every level.
    l.settle(r1, actual(100.0, 20.0), T0);
    l.release(r2);
    l.release(r3);
    let rep = l.org_usage(&acme, DEFAULT, T0);
    assert_eq!((rep.totals.total_tokens, reserved_total(&rep)), (120, 0));
    assert_eq!(rep.limits[0].scope, Scope::Org);
    assert_eq!(rep.limits[0].remaining, 380.0);
    assert_eq!(reserved_total(&l.org_usage(&beta, DEFAULT, T0)), 0);
    assert_eq!(l.global_usage(T0).reserved.total_tokens, 0);
    assert_eq!(l.usage(&b, DEFAULT, T0).reserved.total_tokens, 0);
}

#[test]
fn random_interleavings_of_many_users_never_pass_the_org_ceiling() {
    for seed in 0..50 {
        let mut rng = Rng::new(seed);
        let cap = 200 + rng.below(2000);
        let mut l = ledger(json!({ "perOrg": { "maxTotalTokens": cap } }));
        let acme = org("acme");
        let users: Vec<UserKey> = (0..1 + rng.below(9))
            .map(|i| member("acme", &format!("u{i}")))
            .collect();
        let mut held = Vec::new();
        for _ in 0..200 {
            if !held.is_empty() && rng.chance(40) {
                let (r, out): (Reservation, u64) =
                    held.swap_remove(rng.below(held.len() as u64) as usize);
                match rng.chance(20) {
                    true => l.release(r),
                    false => {
                        let used = rng.below(out + 1);
                        l.settle(r, actual(10.0, used as f64), T0);
                    }
                }
            } else {
                let u = &users[rng.below(users.len() as u64) as usize];
                if let Ok(h) = l.reserve_in(
                    u,
                    DEFAULT,
                    Some((&acme, DEFAULT)),
                    T0,
                    est(10, 1 + rng.below(200)),
                ) {
                    held.push(h);
                }
            }
            let rep = l.org_usage(&acme, DEFAULT, T0);
            let sum: u64 = users
                .iter()
                .map(|u| l.usage(u, DEFAULT, T0).totals.total_tokens)
                .sum();
            assert_eq!(rep.totals.total_tokens, sum, "seed {seed}");
            assert!(
                rep.totals.total_tokens + reserved_total(&rep) <= cap,
                "seed {seed}"
            );
        }
        for (r, _) in held {
            l.release(r);
        }
        // Drained one call at a time, the org stops with less than one call's need left.
        let u = &users[0];
        while spend_in(&mut l, u, &acme, 10, 5).is_ok() {}
        let rep = l.org_usage(&acme, DEFAULT, T0);
        assert!(cap - rep.totals.total_tokens < 11, "seed {seed}");
    }
}

fn spend_in(
    l: &mut Ledger,
    u: &UserKey,
    o: &OrgId,
    input: u64,
    out: u64,
) -> Result<u64, BudgetError> {
    let (r, granted) = l.reserve_in(u, DEFAULT, Some((o, DEFAULT)), T0, est(input, out))?;
    l.settle(r, actual(input as f64, granted as f64), T0);
    Ok(granted)
}

#[test]
fn forgetting_an_org_keeps_its_spend_under_the_pseudonym() {
    let mut l = ledger(json!({ "perOrg": { "maxTotalTokens": 100, "window": "hour" } }));
    let acme = org("acme");
    let u = member("acme", "a");
    spend_in(&mut l, &u, &acme, 50, 40).unwrap();
    // A call in flight while the org is forgotten settles into the retained account.
    let (r, _) = l
        .reserve_in(&u, DEFAULT, Some((&acme, DEFAULT)), T0, est(1, 1))
        .unwrap();
    l.forget_org(&acme, Some([7; 32]), T0);
    assert_eq!((l.has_org(&acme), l.org_retained()), (false, 1));
    l.settle(r, actual(1.0, 1.0), T0);
    assert!(l.revive_org(&acme, &[7; 32]));
    assert_eq!(l.org_usage(&acme, DEFAULT, T0).totals.total_tokens, 92);
    // Once the window closes the retained account holds nothing and a sweep drops it.
    l.forget_org(&acme, Some([7; 32]), T0);
    assert_eq!(l.sweep_orgs(false, &Default::default(), T0 + 2.0 * HOUR), 1);
    assert_eq!(l.org_len(), 0);
}

#[test]
fn the_org_bucket_refuses_without_taking_the_users_token() {
    let mut l = ledger_with(
        json!({}),
        json!({
            "perUser": { "requests": 1, "perMs": 1000 },
            "perOrg": { "requests": 2, "perMs": 1000 }
        }),
    );
    let acme = org("acme");
    let (a, b, c) = (
        member("acme", "a"),
        member("acme", "b"),
        member("acme", "c"),
    );
    l.check_rate_in(&a, Some(&acme), T0).unwrap();
    l.check_rate_in(&b, Some(&acme), T0).unwrap();
    let e = l.check_rate_in(&c, Some(&acme), T0).unwrap_err();
    assert_eq!((e.scope, e.retry_after_ms), (Scope::Org, 500));
    // c's own token was not taken: once the org refills one, c passes.
    l.check_rate_in(&c, Some(&acme), T0 + 500.0).unwrap();
    // A user refusal takes nothing from the org.
    let e = l.check_rate_in(&c, Some(&acme), T0 + 1000.0).unwrap_err();
    assert_eq!(e.scope, Scope::User);
    l.check_rate_in(&a, Some(&acme), T0 + 1000.0).unwrap();
    // Without an org (the default org) only the user's bucket counts.
    let d = user("d");
    l.check_rate_in(&d, None, T0).unwrap();
    assert_eq!(l.org_len(), 1);
}
