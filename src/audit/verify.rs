//! Verification: walks a chain and reports the first entry that breaks it.
//!
//! Per entry, in this order (the JS CLI applies the same order, so both name the same
//! entry and reason):
//! 1. the entry must be signable (`malformed` otherwise);
//! 2. its MAC must verify (`modified`: the entry was modified, or inserted by someone
//!    without the key; no one can tell which). Wrong-key heuristic: if the *first* entry
//!    fails and *no* entry of the input verifies, the reason is `wrong_key` instead. So a
//!    log whose every entry was altered also reads as `wrong_key`, and a one-entry log
//!    with a bad MAC always does; with any intact entry the key is known to be right;
//! 3. its `seq` must be the expected one: lower is `reordered` (moved back or replayed);
//!    higher is `reordered` when the expected `seq` appears later in the input, else
//!    `deleted` (a gap);
//! 4. its `prev` must equal the previous entry's MAC (or the expected start): otherwise
//!    `reordered` (an entry with the right `seq` signed for another chain under this key).
//!
//! A missing tail is not detectable from the entries alone: `ok` is true and `checked`
//! says how many entries verified; compare it (or the last `seq`) with what you expect.
//!
//! Per-user views: one user's entries are not contiguous in the chain, so a user's entries
//! cannot be verified on their own. Verify the full chain, then filter by `userId`.

use super::entry::{Entry, GENESIS_PREV};
use super::key::MacKey;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    /// No entry broke the chain (a truncated tail included: see `checked`).
    pub ok: bool,
    /// Entries that verified, from the first: all of them when `ok`, else the index of
    /// the first broken one.
    pub checked: usize,
    pub first_broken: Option<Broken>,
}

/// The first entry that breaks the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// 0-based position in the input (in a JSON-lines file, the line number minus 1).
    pub index: usize,
    /// The entry's `seq`, when it has a readable one.
    pub seq: Option<u64>,
    pub reason: BreakReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakReason {
    WrongKey,
    /// The MAC does not verify: modified, or inserted without the key.
    Modified,
    /// `seq` jumps past `expected_seq`, which appears nowhere later.
    Deleted {
        expected_seq: u64,
    },
    /// `seq` goes backwards, jumps past an `expected_seq` that appears later, or `prev`
    /// does not link (then `seq` is the expected one).
    Reordered {
        expected_seq: u64,
    },
    Malformed {
        detail: String,
    },
}

impl BreakReason {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BreakReason::WrongKey => "wrong_key",
            BreakReason::Modified => "modified",
            BreakReason::Deleted { .. } => "deleted",
            BreakReason::Reordered { .. } => "reordered",
            BreakReason::Malformed { .. } => "malformed",
        }
    }
}

impl fmt::Display for Broken {
    /// The human reason; the CLI prints the same words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = self.seq.unwrap_or(0);
        match &self.reason {
            BreakReason::WrongKey => f.write_str(
                "wrong key (the first entry's MAC fails and no entry verifies with this key)",
            ),
            BreakReason::Modified => f.write_str("inserted or modified entry (MAC mismatch)"),
            BreakReason::Deleted { expected_seq } => {
                write!(f, "deleted entry (seq gap: expected {expected_seq}, found {seq})")
            }
            BreakReason::Reordered { expected_seq } if seq < *expected_seq => write!(
                f,
                "reordered or replayed entry (expected seq {expected_seq}, found {seq})"
            ),
            BreakReason::Reordered { expected_seq } if seq > *expected_seq => write!(
                f,
                "reordered entry (expected seq {expected_seq}, found {seq}; seq {expected_seq} comes later)"
            ),
            BreakReason::Reordered { .. } => f.write_str(
                "reordered entry (prev does not link to the previous entry's MAC)",
            ),
            BreakReason::Malformed { detail } => write!(f, "malformed entry: {detail}"),
        }
    }
}

impl Serialize for Broken {
    /// `{ index, seq, reason: <code>, message }` for JS.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Broken", 4)?;
        st.serialize_field("index", &self.index)?;
        st.serialize_field("seq", &self.seq)?;
        st.serialize_field("reason", self.reason.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}

/// Verifies a whole chain: it must start at `seq` 0 with `prev` `GENESIS_PREV`.
pub fn verify(entries: &[Entry], key: &[u8]) -> VerifyReport {
    verify_from(entries, key, GENESIS_PREV, 0)
}

/// Verifies a contiguous segment that continues a known point: its first entry must have
/// `expected_seq` and link to `expected_prev` (the MAC of the entry before it).
pub fn verify_from(
    entries: &[Entry],
    key: &[u8],
    expected_prev: &str,
    expected_seq: u64,
) -> VerifyReport {
    let Some(key) = MacKey::any_length(key) else {
        return broken(0, entries.first().map(|e| e.seq), BreakReason::WrongKey);
    };
    let mut want_seq = expected_seq;
    let mut want_prev = expected_prev;
    for (i, e) in entries.iter().enumerate() {
        let seq = Some(e.seq);
        match mac_ok(&key, e) {
            Err(detail) => return broken(i, seq, BreakReason::Malformed { detail }),
            Ok(false) => {
                let reason = if i == 0 && !entries.iter().any(|x| mac_ok(&key, x) == Ok(true)) {
                    BreakReason::WrongKey
                } else {
                    BreakReason::Modified
                };
                return broken(i, seq, reason);
            }
            Ok(true) => {}
        }
        if e.seq < want_seq {
            return broken(
                i,
                seq,
                BreakReason::Reordered {
                    expected_seq: want_seq,
                },
            );
        }
        if e.seq > want_seq {
            let later = entries[i + 1..].iter().any(|x| x.seq == want_seq);
            let reason = if later {
                BreakReason::Reordered {
                    expected_seq: want_seq,
                }
            } else {
                BreakReason::Deleted {
                    expected_seq: want_seq,
                }
            };
            return broken(i, seq, reason);
        }
        if e.prev != want_prev {
            return broken(
                i,
                seq,
                BreakReason::Reordered {
                    expected_seq: want_seq,
                },
            );
        }
        want_seq = e.seq.saturating_add(1);
        want_prev = &e.mac;
    }
    VerifyReport {
        ok: true,
        checked: entries.len(),
        first_broken: None,
    }
}

fn mac_ok(key: &MacKey, e: &Entry) -> Result<bool, String> {
    Ok(key.verify(e.signed_text()?.as_bytes(), &e.mac))
}

pub(crate) fn broken(index: usize, seq: Option<u64>, reason: BreakReason) -> VerifyReport {
    VerifyReport {
        ok: false,
        checked: index,
        first_broken: Some(Broken { index, seq, reason }),
    }
}

#[cfg(test)]
mod tests {
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
                    *u,
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
                    .append(5.0, "x", None, None, None, json!({ "i": i }))
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
            .append(1.0, "permission", Some("mallory"), None, None, json!({}))
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
                    .append(i as f64, "run.start", Some("alice"), None, None, json!({}))
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
                        None,
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
        bad.push(wrong.append(1.0, "x", None, None, None, json!({})).unwrap());
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
}
