// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::budget::account;
use crate::budget::config::LimitSet;
use crate::budget::report::{Totals, UsageReport};
use crate::budget::test_util::Rng;
use crate::budget::units::{Amounts, Metric};
use serde_json::Map;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

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

fn amounts_of(c: &Charge, kind: CallKind) -> Amounts {
    [
        c.input_tokens,
        c.output_tokens,
        c.total_tokens,
        c.cost_nano_usd,
        u64::from(kind == CallKind::Generation),
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
    let mut held: Vec<(usize, CallKind, Reservation)> = Vec::new();
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
                let (ui, kind, r) = held.swap_remove(rng.below(held.len() as u64) as usize);
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
                sim.charges.push((now, amounts_of(&c, kind)));
                account::add(&mut sim.settled, &amounts_of(&c, kind));
                global_charges.push((now, amounts_of(&c, kind)));
                account::add(&mut global_settled, &amounts_of(&c, kind));
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
            let kind = match rng.chance(5) {
                true => CallKind::Embedding,
                false => CallKind::Generation,
            };
            let e = Estimate {
                input_tokens: rng.below(400),
                max_output_tokens: 1 + rng.below(800),
                model,
                kind,
            };
            match l.reserve(&sim.key, plan_ids[sim.plan], now, e) {
                Ok((r, out)) => {
                    match kind {
                        CallKind::Generation => assert!(out >= 1 && out <= e.max_output_tokens),
                        _ => assert_eq!(out, 0),
                    }
                    granted += 1;
                    held.push((ui, kind, r));
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
