// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn parse(v: serde_json::Value) -> BudgetConfig {
    serde_json::from_value(v).unwrap()
}

#[test]
fn parses_the_documented_shape_with_one_object_or_a_list() {
    let c = parse(json!({
        "perUser": { "maxTotalTokens": 1000, "window": "hour" },
        "global": [{ "maxCostUsd": 5.5 }, { "maxRequests": 10, "window": { "ms": 500 } }],
        "plans": { "pro": { "maxTotalTokens": 1e6, "window": "day" } },
        "prices": { "m": { "inputPerMTok": 1, "outputPerMTok": 2 } }
    }));
    assert_eq!(c.per_user.len(), 1);
    assert_eq!(c.per_user[0].max_total_tokens, Some(1000.0));
    assert_eq!(c.per_user[0].window, Window::Hour);
    assert_eq!(c.global[0].window, Window::Lifetime);
    assert_eq!(c.global[1].window, Window::Custom { ms: 500.0 });
    assert_eq!(c.plans["pro"][0].window, Window::Day);
    assert_eq!(c.prices["m"].output_per_mtok, 2.0);
    assert!(c.default_prices);
    // Round trip through the serialized form.
    let back: BudgetConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn non_numbers_reach_validation_instead_of_failing_without_a_path() {
    let c = parse(json!({ "perUser": { "maxTotalTokens": "1000" } }));
    let e = c.per_user[0].caps("budget.perUser").unwrap_err();
    assert_eq!(e.details()["field"], "budget.perUser.maxTotalTokens");
    // A limit is absent only when its key is: `null` (what JSON makes of NaN and
    // functions) is a figure to refuse, never "no cap".
    let c = parse(json!({ "perUser": { "maxTotalTokens": null } }));
    let e = c.per_user[0].caps("budget.perUser").unwrap_err();
    assert_eq!(e.details()["field"], "budget.perUser.maxTotalTokens");
    let c = parse(json!({ "perUser": { "maxTotalTokens": "Infinity" } }));
    assert_eq!(c.per_user[0].caps("budget.perUser").unwrap(), vec![]);
    let c = parse(json!({ "perUser": { "window": "day" } }));
    assert_eq!(c.per_user[0].max_total_tokens, None);
    assert!(serde_json::from_value::<RateLimitConfig>(json!({ "perUser": null })).is_err());
}

#[test]
fn unknown_keys_and_windows_are_refused() {
    assert!(
        serde_json::from_value::<BudgetConfig>(json!({ "perUser": { "maxTokens": 5 } })).is_err()
    );
    assert!(
        serde_json::from_value::<BudgetConfig>(json!({ "perUser": { "window": "week" } })).is_err()
    );
    assert!(serde_json::from_value::<BudgetConfig>(json!({ "perUser": 5 })).is_err());
}

#[test]
fn caps_refuse_bad_figures_and_take_infinity_as_no_cap() {
    let bad = |s: LimitSet| s.caps("p").unwrap_err().details()["field"].clone();
    let set = |m: f64| LimitSet {
        max_total_tokens: Some(m),
        ..Default::default()
    };
    for v in [-1.0, f64::NAN, f64::NEG_INFINITY, 2.5] {
        assert_eq!(bad(set(v)), "p.maxTotalTokens", "{v}");
    }
    assert_eq!(set(f64::INFINITY).caps("p").unwrap(), vec![]);
    assert_eq!(set(0.0).caps("p").unwrap(), vec![(Metric::TotalTokens, 0)]);
    let cost = LimitSet {
        max_cost_usd: Some(0.000_000_001_9),
        ..Default::default()
    };
    // Floored to whole nano-dollars: never above the configured amount.
    assert_eq!(cost.caps("p").unwrap(), vec![(Metric::CostUsd, 1)]);
    for ms in [0.0, -5.0, 1.5, f64::NAN, f64::INFINITY] {
        let s = LimitSet {
            window: Window::Custom { ms },
            ..Default::default()
        };
        assert_eq!(bad(s), "p.window.ms", "{ms}");
    }
}
