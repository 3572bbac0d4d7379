// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::budget::error::{RateLimited, Scope};
use crate::budget::report::Totals;
use crate::budget::units::{Metric, Window};
use crate::model::Usage;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

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
    let held = l.usage(&u, DEFAULT, T0).reserved.cost_usd;
    assert!(held <= 0.01 && held > 0.0099);
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
                kind: Default::default(),
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
    // A free model passes a cost limit and costs nothing.
    let (r, _) = l
        .reserve(
            &u,
            DEFAULT,
            T0,
            Estimate {
                model: "house-model",
                kind: Default::default(),
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
                kind: Default::default(),
                ..est(1, 1)
            },
        )
        .unwrap();
    assert_eq!(l.settle(r, actual(1.0, 1.0), T0).cost_usd, 0.0);
}

#[test]
fn rate_limits_are_per_user_with_retry_after() {
    let mut l = ledger_with(
        json!({}),
        json!({ "perUser": { "requests": 2, "perMs": 1000 } }),
    );
    let (a, b) = (user("a"), user("b"));
    l.check_rate(&a, T0).unwrap();
    l.check_rate(&a, T0).unwrap();
    assert_eq!(
        l.check_rate(&a, T0),
        Err(RateLimited {
            retry_after_ms: 500,
            scope: Scope::User,
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

fn embedding(input: u64) -> Estimate<'static> {
    Estimate {
        kind: CallKind::Embedding,
        ..est(input, 0)
    }
}

#[test]
fn an_embedding_answers_to_input_total_and_cost_limits_only() {
    let mut l = ledger(json!({ "perUser": [
        { "maxTotalTokens": 1000 },
        { "maxOutputTokens": 10 },
        { "maxRequests": 1 }
    ] }));
    let u = user("u");
    // The one model request and all output used up: an embedding still fits.
    spend(&mut l, &u, T0, 10, 10).unwrap();
    let (r, out) = l.reserve(&u, DEFAULT, T0, embedding(300)).unwrap();
    assert_eq!((r.input_tokens(), r.max_output_tokens(), out), (300, 0, 0));
    // Held like any call: what is in flight counts against the total at once.
    let e = refusal(l.reserve(&u, DEFAULT, T0, embedding(700)).unwrap_err());
    assert_eq!((e.metric, e.reserved), (Metric::TotalTokens, 300.0));
    // Output a hostile embedder claims is never charged; reported input is.
    let c = l.settle(r, actual(320.0, 5000.0), T0);
    assert_eq!((c.input_tokens, c.output_tokens, c.overran), (320, 0, true));
    let rep = l.usage(&u, DEFAULT, T0);
    assert_eq!(
        rep.totals.requests, 1,
        "an embedding is not a model request"
    );
    assert_eq!(rep.totals.input_tokens, 330);
    assert_eq!(rep.totals.output_tokens, 10);
    let e = refusal(l.reserve(&u, DEFAULT, T0, embedding(661)).unwrap_err());
    assert_eq!((e.metric, e.remaining), (Metric::TotalTokens, 660.0));
}

#[test]
fn an_embedding_is_priced_as_input_and_refused_past_the_cost_limit() {
    let mut l = ledger(json!({
        "perUser": { "maxCostUsd": 0.001 },
        "prices": { "emb": { "inputPerMTok": 1.0, "outputPerMTok": 1000.0 } },
        "defaultPrices": false
    }));
    let u = user("u");
    let est = |input| Estimate {
        model: "emb",
        ..embedding(input)
    };
    let (r, _) = l.reserve(&u, DEFAULT, T0, est(600)).unwrap();
    let c = l.settle(r, actual(600.0, 0.0), T0);
    assert!((c.cost_usd - 0.0006).abs() < 1e-12, "{c:?}");
    let e = refusal(l.reserve(&u, DEFAULT, T0, est(401)).unwrap_err());
    assert_eq!(e.metric, Metric::CostUsd);
    assert!(l.reserve(&u, DEFAULT, T0, est(400)).is_ok());
    let unpriced = Estimate {
        model: "nobody-priced-this",
        ..embedding(1)
    };
    assert!(matches!(
        l.reserve(&u, DEFAULT, T0, unpriced),
        Err(BudgetError::MissingPrice { .. })
    ));
}

#[test]
fn a_turns_embedding_is_charged_past_a_limit_and_the_next_call_is_refused() {
    let mut l = ledger(json!({ "perUser": { "maxTotalTokens": 100 } }));
    let u = user("u");
    spend(&mut l, &u, T0, 60, 30).unwrap();
    let turn = Estimate {
        kind: CallKind::TurnEmbedding,
        ..embedding(50)
    };
    // Only 10 tokens of room: a plain embedding is refused, the turn's is not.
    assert!(l.reserve(&u, DEFAULT, T0, embedding(50)).is_err());
    let (r, _) = l.reserve(&u, DEFAULT, T0, turn).unwrap();
    let c = l.settle(r, actual(50.0, 0.0), T0);
    assert_eq!((c.total_tokens, c.user_charged), (50, true));
    let rep = l.usage(&u, DEFAULT, T0);
    assert_eq!((rep.totals.total_tokens, rep.totals.requests), (140, 1));
    let e = refusal(l.reserve(&u, DEFAULT, T0, est(1, 1)).unwrap_err());
    assert_eq!((e.metric, e.remaining), (Metric::TotalTokens, 0.0));
}
