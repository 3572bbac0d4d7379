// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::budget::config::{BudgetConfig, RateLimitConfig};
use crate::budget::ledger::{Actual, Estimate, Ledger, PlanId};
use crate::budget::test_util::user;
use serde_json::{json, Value};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: f64 = 1.7e12;

fn ledger() -> Ledger {
    let b: BudgetConfig = serde_json::from_value(json!({
        "perUser": [{ "maxTotalTokens": 1000, "window": "minute" }, { "maxRequests": 10 }]
    }))
    .unwrap();
    let r: RateLimitConfig =
        serde_json::from_value(json!({ "perUser": { "requests": 3, "perMs": 1000 } })).unwrap();
    Ledger::new(&b, &r).unwrap()
}

fn used_doc(l: &mut Ledger) -> Value {
    let u = user("u");
    l.check_rate(&u, T0).unwrap();
    let e = Estimate {
        input_tokens: 10,
        max_output_tokens: 20,
        model: "x",
        kind: Default::default(),
    };
    let (r, _) = l.reserve(&u, PlanId::DEFAULT, T0, e).unwrap();
    l.settle(
        r,
        Actual {
            input_tokens: 10.0,
            output_tokens: 20.0,
            estimated: false,
        },
        T0,
    );
    serde_json::to_value(l.export_user(&u, T0).unwrap()).unwrap()
}

#[test]
fn the_document_is_small_and_named_in_js_style() {
    let mut l = ledger();
    let d = used_doc(&mut l);
    assert_eq!(d["format"], BUDGET_FORMAT);
    assert_eq!(d["totals"]["totalTokens"], 30.0);
    assert_eq!(d["totals"]["requests"], 1.0);
    assert_eq!(d["windows"][0]["window"], "minute");
    assert_eq!(d["windows"][0]["buckets"].as_array().unwrap().len(), 1);
    assert_eq!(d["windows"][0]["buckets"][0]["used"]["totalTokens"], 30.0);
    assert_eq!(d["rate"]["tokens"], 2.0);
}

#[test]
fn import_refuses_negative_nan_and_non_numbers_and_changes_nothing() {
    let mut l = ledger();
    let good = used_doc(&mut l);
    let u = user("u");
    let before = l.usage(&u, PlanId::DEFAULT, T0);
    let cases: [(&str, Value, &str); 7] = [
        ("/totals/inputTokens", json!(-1), "totals.inputTokens"),
        ("/totals/costNanoUsd", json!(null), "totals.costNanoUsd"),
        ("/totals/requests", json!("5"), "totals.requests"),
        ("/totals/outputTokens", json!(1.5), "totals.outputTokens"),
        (
            "/windows/0/buckets/0/atMs",
            json!(null),
            "windows[0].buckets[0].atMs",
        ),
        (
            "/windows/0/buckets/0/used/totalTokens",
            json!(-3),
            "windows[0].buckets[0].used.totalTokens",
        ),
        ("/rate/tokens", json!(-1), "rate.tokens"),
    ];
    for (ptr, bad, path) in cases {
        let mut d = good.clone();
        *d.pointer_mut(ptr).unwrap() = bad;
        let doc: AccountDoc = serde_json::from_value(d).unwrap();
        let e = l.import_user(&u, &doc, T0).unwrap_err();
        assert_eq!(e.code(), "invalid_import");
        assert!(e.to_string().contains(path), "{e} should name {path}");
        assert_eq!(
            l.usage(&u, PlanId::DEFAULT, T0),
            before,
            "nothing changes on error"
        );
    }
    let mut d = good.clone();
    d["format"] = json!("tenantry.user");
    let doc: AccountDoc = serde_json::from_value(d).unwrap();
    assert!(l.import_user(&u, &doc, T0).is_err());
    let mut d = good.clone();
    d["windows"][0]["window"] = json!({ "ms": 0 });
    let doc: AccountDoc = serde_json::from_value(d).unwrap();
    assert!(l.import_user(&u, &doc, T0).is_err());
    let mut d = good;
    d["extra"] = json!(1);
    assert!(
        serde_json::from_value::<AccountDoc>(d).is_err(),
        "unknown fields are refused"
    );
}

#[test]
fn future_times_land_now_and_unknown_windows_are_dropped() {
    let mut l = ledger();
    let mut d = used_doc(&mut l);
    d["windows"][0]["buckets"][0]["atMs"] = json!(1e300);
    let mut other = d["windows"][0].clone();
    other["window"] = json!("day");
    d["windows"].as_array_mut().unwrap().push(other);
    let doc: AccountDoc = serde_json::from_value(d).unwrap();
    let mut m = ledger();
    let v = user("v");
    m.import_user(&v, &doc, T0).unwrap();
    assert_eq!(m.usage(&v, PlanId::DEFAULT, T0).limits[0].used, 30.0);
    // Counted from `now`, so it leaves the minute like any other charge.
    assert_eq!(
        m.usage(&v, PlanId::DEFAULT, T0 + 70_000.0).limits[0].used,
        0.0
    );
    let back = m.export_user(&v, T0).unwrap();
    assert_eq!(back.windows.len(), 1, "the day window is not configured");
    assert_eq!(back.totals.requests, 1.0);
}
