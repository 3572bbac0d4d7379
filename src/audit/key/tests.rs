// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const KEY: &str = "test-key-0123456789abcdef";

#[test]
fn text_keys_decode_as_utf8_hex_or_base64() {
    let raw = KEY.as_bytes().to_vec();
    assert_eq!(key_from_text(KEY).unwrap(), raw);
    let hex = format!("hex:{}", super::super::hash::to_hex(&raw));
    assert_eq!(key_from_text(&hex).unwrap(), raw);
    assert_eq!(
        key_from_text(&hex.to_uppercase().replace("HEX:", "hex:")).unwrap(),
        raw
    );
    // `printf %s test-key-0123456789abcdef | base64`
    assert_eq!(
        key_from_text("base64:dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==").unwrap(),
        raw
    );
    assert_eq!(
        key_from_text("base64:AAECAwQFBgcICQoLDA0ODxAREhM=").unwrap(),
        (0u8..20).collect::<Vec<_>>()
    );
    // Whitespace is part of a UTF-8 key: nothing is trimmed silently.
    assert_eq!(
        key_from_text(&format!("{KEY}\n")).unwrap().len(),
        KEY.len() + 1
    );
}

#[test]
fn short_empty_and_undecodable_keys_are_refused_without_echoing_them() {
    let secret = "hunter2-secret";
    for text in [
        "",
        secret,
        "hex:",
        "hex:0011",
        "hex:zz00112233445566778899aabbccddeeff",
        "base64:",
        "base64:aGVsbG8=",
        "base64:aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ",
        "base64:aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ?=",
        "base64:a===",
    ] {
        let err = key_from_text(text).unwrap_err();
        assert_eq!(err.code(), "invalid_config", "{text:?}");
        assert_eq!(err.details()["field"], "audit.key");
        let shown = format!("{err} {err:?} {}", err.details());
        assert!(!shown.contains(secret), "{shown}");
        assert!(!shown.contains("aGVsbG8"), "{shown}");
    }
    assert!(MacKey::new(&[7u8; 15]).is_err());
    assert!(MacKey::new(&[7u8; 16]).is_ok());
}

#[test]
fn debug_is_redacted_and_verify_wants_exact_lowercase_hex() {
    let key = MacKey::new(KEY.as_bytes()).unwrap();
    assert_eq!(format!("{key:?}"), "MacKey(<redacted>)");
    let tag = super::super::hash::to_hex(&key.mac(b"m"));
    assert!(key.verify(b"m", &tag));
    assert!(!key.verify(b"n", &tag));
    assert!(!key.verify(b"m", &tag.to_uppercase()));
    assert!(!key.verify(b"m", &tag[..62]));
    assert!(!key.verify(b"m", "not hex"));
    // A wrong key is a verification outcome, not an error.
    assert!(!MacKey::any_length(b"").unwrap().verify(b"m", &tag));
}
