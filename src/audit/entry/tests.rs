// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn sample() -> Entry {
    Entry {
        seq: 3,
        ts: 1_700_000_000_123.5,
        kind: "model.call".into(),
        user_id: Some("alice".into()),
        org_id: None,
        session_id: None,
        run_id: Some("r1".into()),
        data: json!({ "model": "m", "tokens": 12, "cost": 0.1 })
            .as_object()
            .cloned()
            .unwrap(),
        prev: GENESIS_PREV.into(),
        mac: "ab".repeat(32),
    }
}

#[test]
fn the_signed_text_is_every_field_but_mac_sorted() {
    assert_eq!(
        sample().signing_input().unwrap(),
        format!(
            r#"{{"data":{{"cost":0.1,"model":"m","tokens":12}},"prev":"{GENESIS_PREV}","runId":"r1","seq":3,"sessionId":null,"ts":1700000000123.5,"type":"model.call","userId":"alice"}}"#
        )
    );
}

#[test]
fn lines_round_trip_and_serde_uses_the_wire_names() {
    let e = sample();
    let line = e.to_json_line().unwrap();
    assert!(line.contains(r#""mac":"abab"#) && !line.contains('\n'));
    assert_eq!(Entry::from_json_line(&line).unwrap(), e);
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["userId"].as_str()),
        (Some("model.call"), Some("alice"))
    );
    assert_eq!(serde_json::from_value::<Entry>(v).unwrap(), e);
    // Deserializing validates too.
    assert!(serde_json::from_value::<Entry>(json!({ "seq": 1 })).is_err());
}

#[test]
fn an_entry_naming_a_key_twice_is_refused_by_every_reader() {
    let line = sample().to_json_line().unwrap();
    // The forged value first (what a first-wins reader acts on), the signed one last
    // (what `JSON.parse` keeps): at the top level and inside `data`.
    let forged = [
        line.replacen(
            r#""userId":"alice""#,
            r#""userId":"mallory","userId":"alice""#,
            1,
        ),
        line.replacen(r#""model":"m""#, r#""model":"x","model":"m""#, 1),
        line.replacen(r#""cost":0.1"#, r#""cost":9,"\u0063ost":0.1"#, 1),
    ];
    for text in &forged {
        assert_ne!(text, &line);
        let err = Entry::from_json_line(text).unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert!(
            err.to_string()
                .starts_with("invalid input: malformed entry: duplicate key \""),
            "{err}"
        );
        let err = serde_json::from_str::<Entry>(text).unwrap_err();
        assert!(err.to_string().contains("duplicate key"), "{err}");
    }
    assert_eq!(serde_json::from_str::<Entry>(&line).unwrap(), sample());
}

#[test]
fn malformed_lines_are_refused_with_a_reason() {
    let good: Value = serde_json::from_str(&sample().to_json_line().unwrap()).unwrap();
    let with = |k: &str, v: Value| {
        let mut o = good.clone();
        o[k] = v;
        o.to_string()
    };
    let without = |k: &str| {
        let mut o = good.clone();
        o.as_object_mut().unwrap().remove(k);
        o.to_string()
    };
    let cases = [
        ("not json".to_owned(), "not JSON"),
        ("[1]".to_owned(), "not a JSON object"),
        (with("extra", json!(1)), "unknown field \"extra\""),
        (without("prev"), "missing field \"prev\""),
        (with("seq", json!(-1)), "\"seq\""),
        (with("seq", json!(1.5)), "\"seq\""),
        (with("seq", json!(9_007_199_254_740_992u64)), "\"seq\""),
        (with("seq", json!("1")), "\"seq\""),
        (with("ts", json!(null)), "\"ts\""),
        (with("type", json!("")), "\"type\""),
        (with("userId", json!(7)), "\"userId\""),
        (with("data", json!([])), "\"data\""),
        (with("mac", json!(null)), "\"mac\""),
    ];
    for (line, want) in cases {
        let err = Entry::from_json_line(&line).unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert!(err.to_string().contains(want), "{line}: {err}");
    }
    let mut v = good.clone();
    v["data"]["n"] = json!(9_007_199_254_740_993u64);
    let err = Entry::from_value(v).unwrap_err();
    assert!(
        err.to_string().contains("not exactly representable"),
        "{err}"
    );
    // `1.0` is a whole number, as in JS.
    let e = Entry::from_json_line(&with("seq", json!(1.0))).unwrap();
    assert_eq!(e.seq, 1);
}

#[test]
fn unsignable_entries_say_why() {
    for e in [
        Entry {
            ts: f64::NAN,
            ..sample()
        },
        Entry {
            seq: MAX_SEQ + 1,
            ..sample()
        },
        Entry {
            kind: String::new(),
            ..sample()
        },
    ] {
        assert_eq!(e.signing_input().unwrap_err().code(), "invalid_input");
        assert!(e.to_json_line().is_err());
    }
}
