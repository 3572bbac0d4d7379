// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn codes_and_details_are_stable() {
    let e = BudgetError::Exceeded(Refusal {
        scope: Scope::Global,
        metric: Metric::CostUsd,
        window: Window::Custom { ms: 5000.0 },
        limit: 2.0,
        used: 1.5,
        reserved: 0.5,
        remaining: 0.0,
    });
    assert_eq!(e.code(), "budget_exceeded");
    let d = e.details();
    assert_eq!(d["scope"], "global");
    assert_eq!(d["metric"], "costUsd");
    assert_eq!(d["window"]["ms"], 5000.0);
    assert_eq!(d["remaining"], 0.0);
    assert!(e.to_string().contains("global limit on costUsd"), "{e}");

    let e = BudgetError::from(RateLimited {
        retry_after_ms: 250,
        scope: Scope::User,
    });
    assert_eq!(e.code(), "rate_limited");
    assert_eq!(e.details()["retryAfterMs"], 250);
    let e = BudgetError::MissingPrice { model: "x".into() };
    assert_eq!(
        (e.code(), e.details()["model"].as_str()),
        ("missing_price", Some("x"))
    );
    assert!(e.to_string().contains("no price for model \"x\""), "{e}");
    // Without a name, the way to fix it is to give one.
    let e = BudgetError::MissingPrice {
        model: String::new(),
    };
    assert!(e.to_string().contains("set `modelName`"), "{e}");
    assert_eq!(BudgetError::config("a.b", "no").details()["field"], "a.b");
    assert_eq!(BudgetError::import("bad").code(), "invalid_import");
}
