//! The writer: assigns `seq`, links each entry to the previous one's MAC and signs it.

use super::entry::{Entry, GENESIS_PREV, MAX_SEQ};
use super::error::AuditError;
use super::hash::{from_hex, to_hex};
use super::key::MacKey;
use serde_json::Value;

/// Appends to one chain. Not `Clone`: two writers continuing the same chain would fork
/// it (two entries with one `seq`), which verification reports as tampering.
#[derive(Debug)]
pub struct AuditChain {
    key: MacKey,
    next_seq: u64,
    prev: String,
}

impl AuditChain {
    /// A new chain; its first entry has `seq` 0 and `prev` `GENESIS_PREV`. The key has no
    /// default and must be at least `MIN_KEY_BYTES` long (`invalid_config` otherwise).
    pub fn new(key: &[u8]) -> Result<AuditChain, AuditError> {
        Ok(AuditChain {
            key: MacKey::new(key)?,
            next_seq: 0,
            prev: GENESIS_PREV.to_owned(),
        })
    }

    /// Continues a persisted chain after a restart, from its last entry's `seq` and `mac`,
    /// so the next entry links to it and the whole file still verifies as one chain.
    pub fn resume(key: &[u8], last_seq: u64, last_mac: &str) -> Result<AuditChain, AuditError> {
        let key = MacKey::new(key)?;
        if last_seq >= MAX_SEQ {
            return Err(AuditError::input(format!(
                "cannot resume after seq {last_seq}: the chain is full at {MAX_SEQ}"
            )));
        }
        match from_hex(last_mac, true) {
            Ok(bytes) if bytes.len() == 32 => {}
            _ => {
                return Err(AuditError::input(
                    "the last MAC to resume from must be 64 lowercase hex digits",
                ))
            }
        }
        Ok(AuditChain {
            key,
            next_seq: last_seq + 1,
            prev: last_mac.to_owned(),
        })
    }

    /// Signs and returns the next entry. `data` must be a JSON object whose integers are
    /// exact doubles, nested at most `MAX_DEPTH` deep; `kind` must not be empty and `ts`
    /// must be finite. On error the chain is unchanged.
    pub fn append(
        &mut self,
        ts: f64,
        kind: &str,
        user: Option<&str>,
        session: Option<&str>,
        run: Option<&str>,
        data: Value,
    ) -> Result<Entry, AuditError> {
        if self.next_seq > MAX_SEQ {
            return Err(AuditError::input(format!(
                "the chain is full: seq would pass {MAX_SEQ}"
            )));
        }
        let Value::Object(data) = data else {
            return Err(AuditError::input("audit entry data must be a JSON object"));
        };
        let mut entry = Entry {
            seq: self.next_seq,
            ts,
            kind: kind.to_owned(),
            user_id: user.map(str::to_owned),
            session_id: session.map(str::to_owned),
            run_id: run.map(str::to_owned),
            data,
            prev: self.prev.clone(),
            mac: String::new(),
        };
        let text = entry
            .signed_text()
            .map_err(|e| AuditError::input(format!("cannot sign audit entry: {e}")))?;
        entry.mac = to_hex(&self.key.mac(text.as_bytes()));
        self.next_seq += 1;
        self.prev.clone_from(&entry.mac);
        Ok(entry)
    }

    /// The `seq` the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The MAC the next entry will link to (`GENESIS_PREV` before the first).
    pub fn prev(&self) -> &str {
        &self.prev
    }
}

#[cfg(test)]
mod tests {
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
                Some("alice"),
                Some("s"),
                Some("r"),
                json!({}),
            )
            .unwrap();
        let b = chain
            .append(2.0, "run.finish", None, None, None, json!({ "n": 1 }))
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
            .append(1.0, "x", Some("u"), None, None, json!({ "a": "b" }))
            .unwrap();
        shown += &e.to_json_line().unwrap();
        shown += &format!("{e:?}{chain:?}");
        for bad in [json!(1), json!({ "n": u64::MAX })] {
            let err = chain.append(1.0, "x", None, None, None, bad).unwrap_err();
            shown += &format!("{err} {err:?} {}", err.details());
        }
        let err = chain
            .append(f64::NAN, "x", None, None, None, json!({}))
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
        chain.append(1.0, "a", None, None, None, json!({})).unwrap();
        let (seq, prev) = (chain.next_seq(), chain.prev().to_owned());
        for (ts, kind, data) in [
            (1.0, "a", json!([1])),
            (1.0, "a", json!(null)),
            (1.0, "", json!({})),
            (f64::INFINITY, "a", json!({})),
            (1.0, "a", json!({ "n": 9_007_199_254_740_993u64 })),
        ] {
            let err = chain.append(ts, kind, None, None, None, data).unwrap_err();
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
                .append(1.0, "a", None, None, None, json!({}))
                .unwrap()
                .seq,
            MAX_SEQ
        );
        let err = chain
            .append(1.0, "a", None, None, None, json!({}))
            .unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
    }
}
