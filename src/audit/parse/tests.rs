// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn reads_json_like_json_parse() {
    let v = parse_json(
        " {\"a\":[1,-2,0.5,1e3,-0,true,false,null],\"s\":\"\\u00e9\\ud83d\\ude00\\n\\/\",\"o\":{},\"e\":[]} ",
    )
    .unwrap();
    assert_eq!(v["a"][5], json!(true));
    assert_eq!(v["s"], "é😀\n/");
    assert_eq!(v["o"], json!({}));
    let v = parse_json("[1,-2,0.5,1e3,-0]").unwrap();
    assert_eq!(v[0].as_u64(), Some(1));
    assert_eq!(v[1].as_i64(), Some(-2));
    assert_eq!(v[3].as_f64(), Some(1000.0));
    assert!(v[4].as_f64().unwrap().is_sign_negative());
}

#[test]
fn doubles_are_read_correctly_rounded() {
    // Values serde_json's default reader gets one unit in the last place wrong.
    for x in [
        1.0715660391465826e-75,
        -1.81996730402717e-179,
        0.1 + 0.2,
        5e-324,
    ] {
        let text = format!("{x:e}");
        assert_eq!(parse_json(&text).unwrap().as_f64(), Some(x), "{text}");
    }
}

#[test]
fn refuses_what_json_parse_refuses() {
    for bad in [
        "",
        "{",
        "{\"a\":1,}",
        "[1,]",
        "01",
        "1.",
        ".5",
        "+1",
        "1e",
        "NaN",
        "tru",
        "\"a\tb\"",
        "\"\\x\"",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "\"\\ud800\\u0041\"",
        "{\"a\" 1}",
        "{1:2}",
        "1 2",
        "1e400",
        "-1e400",
    ] {
        assert!(parse_json(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn integers_past_2_pow_53_read_as_their_nearest_double_like_js() {
    assert_eq!(
        parse_json("9007199254740991").unwrap().as_u64(),
        Some(9_007_199_254_740_991)
    );
    assert_eq!(
        parse_json("-9007199254740991").unwrap().as_i64(),
        Some(-9_007_199_254_740_991)
    );
    for (text, double) in [
        ("9007199254740993", 9_007_199_254_740_992.0),
        ("-9007199254740993", -9_007_199_254_740_992.0),
        ("1152921504606847000", (1u64 << 60) as f64),
        ("100000000000000000000001", 1.000_000_000_000_000_1e23),
        ("18446744073709551616", 18_446_744_073_709_551_616.0),
    ] {
        let v = parse_json(text).unwrap();
        assert!(v.is_f64(), "{text}");
        assert_eq!(v.as_f64(), Some(double), "{text}");
    }
}

#[test]
fn nesting_is_bounded() {
    let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(parse_json(&ok).is_ok());
    let deep = "[".repeat(100_000);
    assert!(parse_json(&deep)
        .unwrap_err()
        .to_string()
        .contains("deeper than 64"));
}

#[test]
fn duplicate_keys_are_refused_at_any_depth() {
    let dup = |key: &str| {
        Err(JsonError::DuplicateKey {
            key: key.to_owned(),
        })
    };
    assert_eq!(parse_json(r#"{"a":1,"a":1}"#), dup("a"));
    assert_eq!(parse_json(r#"{"a":1,"b":{"c":[{"d":1,"d":2}]}}"#), dup("d"));
    // Equal after unescaping is equal: `\u0061` is `a`, and a surrogate pair is its
    // character.
    assert_eq!(parse_json(r#"{"a":1,"\u0061":2}"#), dup("a"));
    assert_eq!(parse_json(r#"[{"😀":1,"\ud83d\ude00":2}]"#), dup("😀"));
    // The first repeat in text order is named, whatever its depth.
    assert_eq!(parse_json(r#"{"x":1,"x":{"y":1,"y":2}}"#), dup("x"));
    assert_eq!(parse_json(r#"{"x":{"y":1,"y":2},"x":1}"#), dup("y"));
    // A text that is not JSON says so first, as `JSON.parse` would.
    assert!(matches!(
        parse_json(r#"{"a":1,"a":2,}"#),
        Err(JsonError::Syntax(_))
    ));
    assert_eq!(
        JsonError::DuplicateKey {
            key: "q\"\n".into()
        }
        .to_string(),
        r#"duplicate key "q\"\n""#
    );
    // The same key in sibling or nested objects is no duplicate.
    assert!(parse_json(r#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#).is_ok());
    assert!(parse_json(r#"{"a":1,"A":2,"a ":3}"#).is_ok());
}
