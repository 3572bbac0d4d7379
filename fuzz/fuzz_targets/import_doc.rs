//! Import documents: any JSON is either refused with an error or builds a user whose
//! export re-imports to the same document.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tenantry::testing::Limits;
use tenantry::testing::{export_user, user_from_doc};
use tenantry::UserDoc;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<UserDoc>(data) else { return };
    let limits = Limits { max_messages_per_session: 100, max_sessions_per_user: 100, max_users: 10, idle_ttl_ms: 1e9 };
    if let Ok((user, state)) = user_from_doc(doc, &limits) {
        let again = export_user(&user, &state, 0.0);
        let (user2, state2) = user_from_doc(again.clone(), &limits).expect("an export re-imports");
        assert_eq!(user, user2);
        assert_eq!(export_user(&user2, &state2, 0.0), again);
    }
});
