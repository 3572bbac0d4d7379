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
        (user, org): (Option<&str>, Option<&str>),
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
            org_id: org.map(str::to_owned),
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
    #[cfg(test)]
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The MAC the next entry will link to (`GENESIS_PREV` before the first).
    #[cfg(test)]
    pub fn prev(&self) -> &str {
        &self.prev
    }
}

#[cfg(test)]
mod tests;
