// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::budget::account_doc::AccountDoc;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn export_import_round_trip_keeps_every_limit_binding() {
    let budget = json!({
        "perUser": [{ "maxTotalTokens": 1000, "window": "hour" }, { "maxCostUsd": 1 }],
        "global": { "maxRequests": 100, "window": "day" }
    });
    let rate = json!({ "perUser": { "requests": 5, "perMs": 60000 } });
    let mut l = ledger_with(budget.clone(), rate.clone());
    let u = user("u");
    for i in 0..4 {
        l.check_rate(&u, T0 + i as f64 * 600_000.0).unwrap();
        spend(&mut l, &u, T0 + i as f64 * 600_000.0, 100, 100).unwrap();
    }
    let now = T0 + HOUR + HOUR / 8.0;
    let doc = l.export_user(&u, now).unwrap();
    let text = serde_json::to_string(&doc).unwrap();
    let back: AccountDoc = serde_json::from_str(&text).unwrap();
    assert_eq!(back, doc);
    let gdoc: AccountDoc =
        serde_json::from_str(&serde_json::to_string(&l.export_global(now)).unwrap()).unwrap();

    let mut m = ledger_with(budget, rate);
    m.import_user(&u, &back, now).unwrap();
    m.import_global(&gdoc, now).unwrap();
    for t in [now, now + HOUR / 2.0, now + 2.0 * HOUR] {
        assert_eq!(m.usage(&u, DEFAULT, t), l.usage(&u, DEFAULT, t), "at {t}");
        assert_eq!(m.global_usage(t), l.global_usage(t));
    }
    assert_eq!(m.export_user(&u, now), Some(doc));
    let (r1, o1) = l.reserve(&u, DEFAULT, now, est(0, 5000)).unwrap();
    let (r2, o2) = m.reserve(&u, DEFAULT, now, est(0, 5000)).unwrap();
    assert_eq!(o1, o2);
    assert_eq!(
        o1,
        1000 - 200 * 3,
        "the oldest call's bucket has left the hour"
    );
    l.release(r1);
    m.release(r2);
}

#[test]
fn an_import_adds_spend_but_never_takes_any_away() {
    let mut l = ledger_with(
        json!({ "perUser": [{ "maxTotalTokens": 1000 }, { "maxTotalTokens": 500, "window": "hour" }] }),
        json!({ "perUser": { "requests": 2, "perMs": 60000 } }),
    );
    let u = user("u");
    spend(&mut l, &u, T0, 100, 100).unwrap();
    l.check_rate(&u, T0).unwrap();
    let high = l.export_user(&u, T0).unwrap();
    spend(&mut l, &u, T0 + 1.0, 50, 50).unwrap();
    l.check_rate(&u, T0 + 1.0).unwrap();
    let now = l.export_user(&u, T0 + 1.0).unwrap();
    // An older (lower) document changes nothing.
    l.import_user(&u, &high, T0 + 2.0).unwrap();
    assert_eq!(l.export_user(&u, T0 + 2.0).unwrap().totals, now.totals);
    assert!(
        l.check_rate(&u, T0 + 2.0).is_err(),
        "the drained bucket stays drained"
    );
    // A fresh ledger takes the document as it is.
    let mut m = ledger_with(
        json!({ "perUser": [{ "maxTotalTokens": 1000 }, { "maxTotalTokens": 500, "window": "hour" }] }),
        json!({ "perUser": { "requests": 2, "perMs": 60000 } }),
    );
    m.import_user(&u, &now, T0 + 2.0).unwrap();
    assert_eq!(
        m.usage(&u, DEFAULT, T0 + 2.0),
        l.usage(&u, DEFAULT, T0 + 2.0)
    );
}
