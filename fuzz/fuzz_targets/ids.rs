//! User and session ids: whatever is accepted obeys the documented rules. Also the offline
//! demo model, which slices user text (and must never panic on it).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tenantry::{SessionId, UserKey, ANONYMOUS_SENTINEL};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(k) = UserKey::parse(Some(s)) {
        assert!(!s.is_empty() && s.len() <= 255);
        assert!(!s.chars().any(char::is_control));
        assert_ne!(s, ANONYMOUS_SENTINEL);
        assert_eq!(k.as_option(), Some(s));
        assert_ne!(k, UserKey::Anonymous);
    }
    if let Ok(id) = SessionId::parse(Some(s)) {
        assert_eq!(id.as_str(), s);
    }
    let convo = [tenantry::Message::user(s), tenantry::Message::assistant("ok"), tenantry::Message::user(s)];
    let _ = tenantry::testing::reply(&convo, &[], 64);
});
