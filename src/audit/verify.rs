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
mod tests;
