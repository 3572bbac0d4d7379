// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::audit::verify::verify;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const KEY: &[u8] = b"test-key-0123456789abcdef";

#[test]
fn entries_are_numbered_linked_and_signed() {
    let mut chain = AuditChain::new(KEY).unwrap();
    let a = chain
        .append(
            1.0,
            "run.start",
            (Some("alice"), None),
            Some("s"),
            Some("r"),
            json!({}),
        )
        .unwrap();
    let b = chain
        .append(
            2.0,
            "run.finish",
            (None, None),
            None,
            None,
            json!({ "n": 1 }),
        )
        .unwrap();
    assert_eq!((a.seq, b.seq, chain.next_seq()), (0, 1, 2));
    assert_eq!(a.prev, GENESIS_PREV);
    assert_eq!(b.prev, a.mac);
    assert_eq!(chain.prev(), b.mac);
    assert_eq!(a.mac.len(), 64);
    assert!(a
        .mac
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(b.user_id, None);
    assert!(verify(&[a, b], KEY).ok);
}

#[test]
fn no_key_short_key_is_refused_and_never_shown() {
    let secret = b"short-secret";
    for key in [&b""[..], &secret[..], &[0u8; 15][..]] {
        let err = AuditChain::new(key).unwrap_err();
        assert_eq!(err.code(), "invalid_config");
        assert_eq!(err.details()["field"], "audit.key");
        let shown = format!("{err} {err:?} {}", err.details());
        assert!(!shown.contains("short-secret"), "{shown}");
    }
    let err = AuditChain::resume(secret, 1, &"0".repeat(64)).unwrap_err();
    assert_eq!(err.code(), "invalid_config");
}

#[test]
fn the_key_appears_in_no_entry_error_or_debug_output() {
    let key = b"SECRET-KEY-do-not-leak-0123456789";
    let texts = [
        String::from_utf8_lossy(key).into_owned(),
        crate::audit::hash::to_hex(key),
        "SECRET".to_owned(),
    ];
    let mut chain = AuditChain::new(key).unwrap();
    let mut shown = format!("{chain:?}");
    let e = chain
        .append(1.0, "x", (Some("u"), None), None, None, json!({ "a": "b" }))
        .unwrap();
    shown += &e.to_json_line().unwrap();
    shown += &format!("{e:?}{chain:?}");
    for bad in [json!(1), json!({ "n": u64::MAX })] {
        let err = chain
            .append(1.0, "x", (None, None), None, None, bad)
            .unwrap_err();
        shown += &format!("{err} {err:?} {}", err.details());
    }
    let err = chain
        .append(f64::NAN, "x", (None, None), None, None, json!({}))
        .unwrap_err();
    shown += &format!("{err} {err:?}");
    let err = AuditChain::resume(key, 1, "nope").unwrap_err();
    shown += &format!("{err} {err:?}");
    for t in &texts {
        assert!(!shown.contains(t.as_str()), "{t} leaked: {shown}");
    }
}

#[test]
fn bad_appends_are_refused_and_leave_the_chain_as_it_was() {
    let mut chain = AuditChain::new(KEY).unwrap();
    chain
        .append(1.0, "a", (None, None), None, None, json!({}))
        .unwrap();
    let (seq, prev) = (chain.next_seq(), chain.prev().to_owned());
    for (ts, kind, data) in [
        (1.0, "a", json!([1])),
        (1.0, "a", json!(null)),
        (1.0, "", json!({})),
        (f64::INFINITY, "a", json!({})),
        (1.0, "a", json!({ "n": 9_007_199_254_740_993u64 })),
    ] {
        let err = chain
            .append(ts, kind, (None, None), None, None, data)
            .unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{err}");
    }
    assert_eq!((chain.next_seq(), chain.prev()), (seq, prev.as_str()));
}

#[test]
fn resume_checks_its_arguments() {
    let mac = "ab".repeat(32);
    assert!(AuditChain::resume(KEY, 5, &mac).is_ok());
    for bad in [
        "",
        "ab",
        &"AB".repeat(32),
        &"zz".repeat(32),
        &"ab".repeat(33),
    ] {
        let err = AuditChain::resume(KEY, 5, bad).unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{bad}");
    }
    let err = AuditChain::resume(KEY, MAX_SEQ, &mac).unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    let mut chain = AuditChain::resume(KEY, MAX_SEQ - 1, &mac).unwrap();
    assert_eq!(
        chain
            .append(1.0, "a", (None, None), None, None, json!({}))
            .unwrap()
            .seq,
        MAX_SEQ
    );
    let err = chain
        .append(1.0, "a", (None, None), None, None, json!({}))
        .unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
}
