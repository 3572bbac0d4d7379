// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The cost of a call in nano-USD, `None` when the model has no price.
fn cost(t: &PriceTable, model: &str, input: u64, output: u64) -> Option<u64> {
    t.lookup(model).map(|p| p.cost(input, output))
}

fn price(i: f64, o: f64) -> Price {
    Price {
        input_per_mtok: i,
        output_per_mtok: o,
    }
}

#[test]
fn defaults_price_common_models_and_their_snapshots() {
    let t = PriceTable::new(&BTreeMap::new(), true).unwrap();
    // 1M input tokens of gpt-4o-mini cost $0.15.
    assert_eq!(cost(&t, "gpt-4o-mini", 1_000_000, 0), Some(150_000_000));
    assert_eq!(cost(&t, "gpt-4o", 0, 1_000_000), Some(10_000_000_000));
    assert_eq!(t.lookup("gpt-4o-2024-08-06"), t.lookup("gpt-4o"));
    assert_eq!(t.lookup("gpt-4o-mini-2024-07-18"), t.lookup("gpt-4o-mini"));
    assert_eq!(
        t.lookup("claude-sonnet-4-20250514"),
        t.lookup("claude-sonnet-4")
    );
    assert_eq!(
        t.lookup("claude-3-5-haiku-latest"),
        t.lookup("claude-3-5-haiku")
    );
    for unknown in [
        "gpt-5",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        "gpt-4o-audio",
        "",
    ] {
        assert_eq!(t.lookup(unknown), None, "{unknown}");
    }
}

#[test]
fn overrides_win_and_defaults_can_be_turned_off() {
    let mut m = BTreeMap::new();
    m.insert("gpt-4o".to_owned(), price(1.0, 1.0));
    m.insert("mine".to_owned(), price(0.0375, 0.0));
    let t = PriceTable::new(&m, true).unwrap();
    assert_eq!(cost(&t, "gpt-4o", 1_000_000, 0), Some(1_000_000_000));
    assert!(t.lookup("claude-opus-4").is_some());
    assert_eq!(cost(&t, "mine", 1_000_000, 5), Some(37_500_000));
    let only = PriceTable::new(&m, false).unwrap();
    assert_eq!(only.lookup("claude-opus-4"), None);
}

#[test]
fn refuses_bad_prices_naming_the_path() {
    for (i, o, field) in [
        (-1.0, 1.0, r#"budget.prices["gpt-4o"].inputPerMTok"#),
        (1.0, f64::NAN, r#"budget.prices["gpt-4o"].outputPerMTok"#),
        (
            f64::INFINITY,
            1.0,
            r#"budget.prices["gpt-4o"].inputPerMTok"#,
        ),
    ] {
        let m = BTreeMap::from([("gpt-4o".to_owned(), price(i, o))]);
        let e = PriceTable::new(&m, true).unwrap_err();
        assert_eq!(e.details()["field"], field);
    }
    let m = BTreeMap::from([(String::new(), price(1.0, 1.0))]);
    assert!(PriceTable::new(&m, false).is_err());
    let p: Price = serde_json::from_str(r#"{"inputPerMTok":"3","outputPerMTok":1}"#).unwrap();
    assert!(
        p.input_per_mtok.is_nan(),
        "a string reaches validation as NaN"
    );
    let p: Price = serde_json::from_str(r#"{"outputPerMTok":1}"#).unwrap();
    assert!(
        p.input_per_mtok.is_nan(),
        "a missing figure reaches validation as NaN"
    );
}

#[test]
fn cost_rounds_up_and_output_capping_inverts_it() {
    let p = UnitPrice {
        input: 150_000,
        output: 600_000,
    };
    assert_eq!(p.cost(1, 0), 150, "$0.15 per MTok is 150 nano-USD a token");
    let tiny = UnitPrice {
        input: 150,
        output: 0,
    };
    assert_eq!(tiny.cost(1, 0), 1, "0.15 nano-USD rounds up to 1");
    assert_eq!(
        tiny.cost(1000, 0),
        150,
        "rounding is per call, not per token"
    );
    assert_eq!(p.cost(1_000_000, 1_000_000), 750_000_000);
    for budget in [0, 1, 599, 600, 601, 12_345, 10u64.pow(12)] {
        let n = p.max_output(budget);
        assert!(p.cost(0, n) <= budget);
        assert!(p.cost(0, n + 1) > budget);
    }
    assert_eq!(UnitPrice::FREE.max_output(0), u64::MAX);
    assert_eq!(
        p.cost(u64::MAX, u64::MAX),
        u64::MAX,
        "saturates instead of wrapping"
    );
}
