// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn policy(v: serde_json::Value) -> Result<Policy, BudgetError> {
    Policy::new(
        &serde_json::from_value(v).unwrap(),
        &RateLimitConfig::default(),
    )
}

#[test]
fn plans_share_tracks_by_window_length() {
    let p = policy(json!({
        "perUser": [{ "maxTotalTokens": 10, "window": "minute" }, { "maxCostUsd": 1 }],
        "plans": { "pro": { "maxRequests": 5, "window": { "ms": 60000 } } }
    }))
    .unwrap();
    assert_eq!(p.user.tracks.len(), 1, "minute and 60000 ms are one track");
    let t = &p.user.tracks[0];
    assert!(t.metrics.contains(Metric::TotalTokens) && t.metrics.contains(Metric::Requests));
    assert!(p.user.lifetime.contains(Metric::CostUsd));
    assert!(p.plans[0].needs_price && !p.plans[1].needs_price);
    assert_eq!(p.plan_names["pro"], 1);
    let req = p.plans[1].caps[0];
    assert_eq!(
        (req.track, req.slot, req.limit),
        (Some(0), t.metrics.slot(Metric::Requests), 5)
    );
    assert_eq!(req.window, Window::Custom { ms: 60000.0 });
}

#[test]
fn errors_name_the_js_path() {
    let field = |v| policy(v).unwrap_err().details()["field"].clone();
    assert_eq!(
        field(json!({ "perUser": { "maxTotalTokens": -1 } })),
        "budget.perUser.maxTotalTokens"
    );
    assert_eq!(
        field(json!({ "global": [{}, { "maxCostUsd": "lots" }] })),
        "budget.global[1].maxCostUsd"
    );
    assert_eq!(
        field(json!({ "plans": { "pro": { "window": { "ms": 0 } } } })),
        r#"budget.plans["pro"].window.ms"#
    );
    assert_eq!(
        field(json!({ "prices": { "gpt-4o": { "inputPerMTok": -2, "outputPerMTok": 1 } } })),
        r#"budget.prices["gpt-4o"].inputPerMTok"#
    );
    let many: Vec<_> = (1..=MAX_WINDOWS + 1)
        .map(|i| json!({ "maxRequests": 1, "window": { "ms": i } }))
        .collect();
    assert!(policy(json!({ "perUser": many })).is_err());
}
