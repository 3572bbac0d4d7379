// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::audit::chain::AuditChain;
use crate::audit::hash::sha256_hex;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const KEY: &[u8] = b"test-key-0123456789abcdef";

/// Six entries, three users (one anonymous), interleaved.
fn chain_of(key: &[u8]) -> Vec<Entry> {
    let mut c = AuditChain::new(key).unwrap();
    let users = [
        Some("alice"),
        Some("bob"),
        None,
        Some("alice"),
        Some("bob"),
        Some("alice"),
    ];
    users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            c.append(
                1000.0 + i as f64,
                "model.call",
                (*u, None),
                Some("s"),
                Some(&format!("r{i}")),
                json!({ "i": i, "prompt": sha256_hex("hi") }),
            )
            .unwrap()
        })
        .collect()
}

fn first(r: &VerifyReport) -> (usize, Option<u64>, &'static str, String) {
    let b = r.first_broken.as_ref().expect("expected a break");
    assert!(!r.ok);
    assert_eq!(r.checked, b.index);
    (b.index, b.seq, b.reason.code(), b.to_string())
}

fn brk(r: &VerifyReport) -> (usize, Option<u64>, &'static str) {
    let (i, seq, code, _) = first(r);
    (i, seq, code)
}

#[test]
fn an_intact_chain_verifies() {
    let entries = chain_of(KEY);
    let r = verify(&entries, KEY);
    assert_eq!((r.ok, r.checked, r.first_broken), (true, 6, None));
    assert!(verify(&[], KEY).ok);
}

#[test]
fn modified_data_or_user_is_caught_at_its_index() {
    let mut e = chain_of(KEY);
    e[2].data.insert("i".into(), json!(99));
    assert_eq!(first(&verify(&e, KEY)).0, 2);
    assert_eq!(first(&verify(&e, KEY)).2, "modified");

    let mut e = chain_of(KEY);
    e[3].user_id = Some("bob".into());
    let (i, seq, code, msg) = first(&verify(&e, KEY));
    assert_eq!((i, seq, code), (3, Some(3), "modified"));
    assert_eq!(msg, "inserted or modified entry (MAC mismatch)");

    // Anonymous to named, and a trailing space, are modifications too.
    for (idx, user) in [(2, Some("x")), (0, Some("alice ")), (0, None)] {
        let mut e = chain_of(KEY);
        e[idx].user_id = user.map(str::to_owned);
        assert_eq!(brk(&verify(&e, KEY)), (idx, Some(idx as u64), "modified"));
    }
    // Every field is covered, `prev` included.
    let mut e = chain_of(KEY);
    e[4].ts += 0.5;
    assert_eq!(first(&verify(&e, KEY)).0, 4);
    let mut e = chain_of(KEY);
    e[5].kind = "forget".into();
    assert_eq!(first(&verify(&e, KEY)).0, 5);
    let mut e = chain_of(KEY);
    e[1].prev = e[0].prev.clone();
    assert_eq!(first(&verify(&e, KEY)).2, "modified");
}

#[test]
fn a_deleted_entry_is_a_seq_gap() {
    let mut e = chain_of(KEY);
    e.remove(2);
    let (i, seq, code, msg) = first(&verify(&e, KEY));
    assert_eq!((i, seq, code), (2, Some(3), "deleted"));
    assert_eq!(msg, "deleted entry (seq gap: expected 2, found 3)");
    // A missing head is a gap at index 0.
    let e = chain_of(KEY);
    assert_eq!(brk(&verify(&e[2..], KEY)), (0, Some(2), "deleted"));
}

#[test]
fn reordered_and_replayed_entries_are_caught() {
    let mut e = chain_of(KEY);
    e.swap(2, 3);
    let (i, seq, code, msg) = first(&verify(&e, KEY));
    assert_eq!((i, seq, code), (2, Some(3), "reordered"));
    assert_eq!(
        msg,
        "reordered entry (expected seq 2, found 3; seq 2 comes later)"
    );

    let mut e = chain_of(KEY);
    let moved = e.remove(1);
    e.push(moved);
    assert_eq!(brk(&verify(&e, KEY)), (1, Some(2), "reordered"));

    let mut e = chain_of(KEY);
    e.insert(3, e[1].clone());
    let (i, seq, code, msg) = first(&verify(&e, KEY));
    assert_eq!((i, seq, code), (3, Some(1), "reordered"));
    assert_eq!(msg, "reordered or replayed entry (expected seq 3, found 1)");
}

#[test]
fn an_entry_from_another_chain_breaks_the_link() {
    let a = chain_of(KEY);
    let mut other = AuditChain::new(KEY).unwrap();
    let b: Vec<Entry> = (0..3)
        .map(|i| {
            other
                .append(5.0, "x", (None, None), None, None, json!({ "i": i }))
                .unwrap()
        })
        .collect();
    let mut e = a.clone();
    e[2] = b[2].clone();
    let (i, seq, code, msg) = first(&verify(&e, KEY));
    assert_eq!((i, seq, code), (2, Some(2), "reordered"));
    assert!(msg.contains("prev does not link"), "{msg}");
}

#[test]
fn an_inserted_forged_entry_is_caught_at_its_index() {
    let mut e = chain_of(KEY);
    let mut forged = e[2].clone();
    forged.user_id = Some("mallory".into());
    forged.seq = 2;
    forged.prev = e[1].mac.clone();
    forged.mac = "00".repeat(32);
    e.insert(2, forged.clone());
    assert_eq!(brk(&verify(&e, KEY)), (2, Some(2), "modified"));
    // Signed with a key the forger chose: still a MAC failure, at the same index.
    let mut fake = AuditChain::new(b"attacker-key-0123456789").unwrap();
    let mut e = chain_of(KEY);
    let f = fake
        .append(
            1.0,
            "permission",
            (Some("mallory"), None),
            None,
            None,
            json!({}),
        )
        .unwrap();
    e.insert(4, f);
    assert_eq!(brk(&verify(&e, KEY)), (4, Some(0), "modified"));
}

#[test]
fn a_wrong_key_is_named_as_such() {
    let e = chain_of(KEY);
    let (i, seq, code, msg) = first(&verify(&e, b"another-key-0123456789abcdef"));
    assert_eq!((i, seq, code), (0, Some(0), "wrong_key"));
    assert!(msg.starts_with("wrong key"), "{msg}");
    assert_eq!(brk(&verify(&e, b"")), (0, Some(0), "wrong_key"));
    // A bad first entry in an otherwise intact chain is a modification, not a key problem.
    let mut e = chain_of(KEY);
    e[0].data.insert("x".into(), json!(1));
    assert_eq!(brk(&verify(&e, KEY)), (0, Some(0), "modified"));
}

#[test]
fn a_truncated_tail_is_not_an_error_but_is_counted() {
    let e = chain_of(KEY);
    let r = verify(&e[..4], KEY);
    assert_eq!((r.ok, r.checked), (true, 4));
}

#[test]
fn a_segment_verifies_from_a_known_point() {
    let e = chain_of(KEY);
    assert!(verify_from(&e[3..], KEY, &e[2].mac, 3).ok);
    let (i, _, code, msg) = first(&verify_from(&e[3..], KEY, &e[1].mac, 3));
    assert_eq!((i, code), (0, "reordered"));
    assert!(msg.contains("prev does not link"), "{msg}");
    assert_eq!(
        brk(&verify_from(&e[3..], KEY, &e[2].mac, 2)),
        (0, Some(3), "deleted")
    );
}

#[test]
fn a_chain_resumed_after_a_restart_verifies_end_to_end() {
    let mut before = AuditChain::new(KEY).unwrap();
    let mut all: Vec<Entry> = (0..3)
        .map(|i| {
            before
                .append(
                    i as f64,
                    "run.start",
                    (Some("alice"), None),
                    None,
                    None,
                    json!({}),
                )
                .unwrap()
        })
        .collect();
    drop(before);
    let last = all.last().cloned().unwrap();
    let mut after = AuditChain::resume(KEY, last.seq, &last.mac).unwrap();
    for i in 0..2 {
        all.push(
            after
                .append(
                    10.0 + f64::from(i),
                    "run.finish",
                    (None, None),
                    None,
                    None,
                    json!({}),
                )
                .unwrap(),
        );
    }
    let r = verify(&all, KEY);
    assert_eq!((r.ok, r.checked), (true, 5));
    assert_eq!(all[3].seq, 3);
    // Resuming from the wrong point is caught where the two halves meet.
    let mut wrong = AuditChain::resume(KEY, last.seq, &all[1].mac).unwrap();
    let mut bad = all[..3].to_vec();
    bad.push(
        wrong
            .append(1.0, "x", (None, None), None, None, json!({}))
            .unwrap(),
    );
    assert_eq!(brk(&verify(&bad, KEY)), (3, Some(3), "reordered"));
}

#[test]
fn unsignable_entries_are_malformed_not_panics() {
    let mut e = chain_of(KEY);
    e[1].ts = f64::NAN;
    e[2].data.insert("n".into(), json!(u64::MAX));
    let (i, seq, code, msg) = first(&verify(&e, KEY));
    assert_eq!((i, seq, code), (1, Some(1), "malformed"));
    assert!(msg.starts_with("malformed entry: "), "{msg}");
}

#[test]
fn the_report_serializes_for_js() {
    let mut e = chain_of(KEY);
    e.remove(1);
    let v = serde_json::to_value(verify(&e, KEY)).unwrap();
    assert_eq!(
        v,
        json!({ "ok": false, "checked": 1, "firstBroken": {
            "index": 1, "seq": 2, "reason": "deleted",
            "message": "deleted entry (seq gap: expected 1, found 2)" } })
    );
}
