// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn canon(v: &Value) -> String {
    to_canonical(v).unwrap()
}

#[test]
fn key_order_does_not_matter_at_any_depth() {
    let a: Value =
        serde_json::from_str(r#"{"b":1,"a":{"y":[{"q":1,"p":2}],"x":null},"c":"s"}"#).unwrap();
    let b: Value =
        serde_json::from_str(r#"{"c":"s","a":{"x":null,"y":[{"p":2,"q":1}]},"b":1}"#).unwrap();
    assert_eq!(canon(&a), canon(&b));
    assert_eq!(
        canon(&a),
        r#"{"a":{"x":null,"y":[{"p":2,"q":1}]},"b":1,"c":"s"}"#
    );
    // Arrays keep their order: it is meaningful.
    assert_ne!(canon(&json!([1, 2])), canon(&json!([2, 1])));
}

#[test]
fn keys_sort_by_utf16_code_units_like_js() {
    // U+1F600 is D83D DE00 in UTF-16, below U+E000, although above it in UTF-8.
    let v = json!({ "\u{e000}": 1, "\u{1f600}": 2, "a": 3, "B": 4, "": 5, "é": 6 });
    assert_eq!(
        canon(&v),
        "{\"\":5,\"B\":4,\"a\":3,\"é\":6,\"😀\":2,\"\u{e000}\":1}"
    );
}

#[test]
fn strings_escape_exactly_like_json_stringify() {
    let s = "q\" b\\ \u{8}\t\n\u{c}\r \u{0}\u{1f} \u{7f} \u{2028} é 😀 /";
    assert_eq!(
        canon(&json!(s)),
        "\"q\\\" b\\\\ \\b\\t\\n\\f\\r \\u0000\\u001f \u{7f} \u{2028} é 😀 /\""
    );
    assert_eq!(canon(&json!({ "k\n": "" })), "{\"k\\n\":\"\"}");
}

#[test]
fn numbers_print_like_ecmascript() {
    // Expected strings are `String(x)` in Node.
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (100.0, "100"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (-2.5e25, "-2.5e+25"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (1_700_000_000_123.5, "1700000000123.5"),
        (9_007_199_254_740_992.0, "9007199254740992"),
        (0.000_123, "0.000123"),
        (1.0 / 3.0, "0.3333333333333333"),
        // Exactly halfway between two shortest candidates (…436.625, …522.25, …427.25):
        // ECMAScript takes the even one, where Rust's `{:e}` takes the odd one.
        (f64::from_bits(0x42e1_63af_150c_3794), "152958694613436.62"),
        (f64::from_bits(0x430b_beb5_f1b2_6d52), "976189128068522.2"),
        (f64::from_bits(0x4314_9b78_a2bc_f24d), "1450110490721427.2"),
    ];
    for (x, want) in cases {
        assert_eq!(format_f64(*x), *want, "{x:e}");
        assert_eq!(canon(&json!(x)), *want, "{x:e}");
    }
    // Integers print as the same double would, so 1 and 1.0 are one value.
    assert_eq!(canon(&json!(1)), canon(&json!(1.0)));
    assert_eq!(canon(&json!(-42)), "-42");
    assert_eq!(canon(&json!(1u64 << 60)), "1152921504606847000");
    assert_eq!(canon(&json!(1u64 << 63)), "9223372036854776000");
    assert_eq!(canon(&json!(i64::MIN)), "-9223372036854776000");
}

#[test]
fn integers_no_double_holds_are_refused() {
    for v in [
        json!(9_007_199_254_740_993u64),
        json!(u64::MAX),
        json!(-9_007_199_254_740_993i64),
        json!({ "a": [1, 9_007_199_254_740_993u64] }),
    ] {
        let err = canonical_json(&v).unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert!(
            err.to_string().contains("not exactly representable"),
            "{err}"
        );
    }
    assert!(canonical_json(&json!(9_007_199_254_740_992u64)).is_ok());
}

#[test]
fn nesting_is_bounded() {
    let mut v = json!(1);
    for _ in 0..MAX_DEPTH {
        v = json!([v]);
    }
    assert!(canonical_json(&v).is_ok());
    let deeper = json!({ "x": v });
    assert!(to_canonical(&deeper)
        .unwrap_err()
        .contains("deeper than 64"));
}
