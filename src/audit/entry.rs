//! One audit entry and its wire form (one JSON object per line).
//!
//! The MAC input is the canonical JSON (see `canonical`) of the object made of every field
//! but `mac`: `data`, `prev`, `runId`, `seq`, `sessionId`, `ts`, `type`, `userId`, with
//! `null` for an absent id, and `orgId` when the user belongs to an org other than the
//! default one (absent otherwise, so default-org entries keep their nine fields). It is
//! HMAC-SHA256'd as UTF-8 with the raw key bytes and
//! written as 64 lowercase hex digits. Because `prev` is inside, each MAC also covers the
//! whole chain before it.

use super::canonical::{to_canonical, write_string};
use super::error::AuditError;
use super::parse::{parse_json, StrictValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `prev` of the first entry of a chain.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Largest `seq` (and JS `Number.MAX_SAFE_INTEGER`): beyond it a JS reader would round.
pub const MAX_SEQ: u64 = (1 << 53) - 1;

const FIELDS: [&str; 9] = [
    "data",
    "mac",
    "prev",
    "runId",
    "seq",
    "sessionId",
    "ts",
    "type",
    "userId",
];

/// Present only on entries about a user of an org other than the default.
const ORG_FIELD: &str = "orgId";

/// Serializes to the wire shape (`type`, `userId`, ...). Deserializing validates like
/// `from_value` and refuses duplicate keys; to read *text*, use `from_json_line`, whose
/// number reading is exact (see `parse`), not `serde_json::from_str`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "StrictValue")]
pub struct Entry {
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub ts: f64,
    #[serde(rename = "type")]
    pub kind: String,
    /// The user the entry is about (`None`: the anonymous bucket, or no user at all).
    pub user_id: Option<String>,
    /// That user's org (`None`: the default org; the field is then absent on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    pub session_id: Option<String>,
    pub run_id: Option<String>,
    /// Event details. Keep message contents out: store `ContentKeys::hash` of them instead.
    pub data: Map<String, Value>,
    /// `mac` of the previous entry, or `GENESIS_PREV`.
    pub prev: String,
    pub mac: String,
}

impl Entry {
    /// The exact bytes the MAC covers, or why this entry has none (which no entry written
    /// by `AuditChain` lacks: it checks the same rules before signing).
    pub fn signing_input(&self) -> Result<String, AuditError> {
        self.signed_text().map_err(AuditError::input)
    }

    pub(crate) fn signed_text(&self) -> Result<String, String> {
        self.check_fields()?;
        to_canonical(&self.to_value(false))
    }

    fn check_fields(&self) -> Result<(), String> {
        if self.seq > MAX_SEQ {
            return Err(format!("`seq` {} is above {MAX_SEQ}", self.seq));
        }
        if !self.ts.is_finite() {
            return Err("`ts` must be a finite number".into());
        }
        if self.kind.is_empty() {
            return Err("`type` must not be empty".into());
        }
        Ok(())
    }

    fn to_value(&self, with_mac: bool) -> Value {
        let id = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        let mut m = Map::new();
        m.insert("seq".into(), Value::from(self.seq));
        m.insert("ts".into(), Value::from(self.ts));
        m.insert("type".into(), Value::String(self.kind.clone()));
        m.insert("userId".into(), id(&self.user_id));
        if let Some(org) = &self.org_id {
            m.insert(ORG_FIELD.into(), Value::String(org.clone()));
        }
        m.insert("sessionId".into(), id(&self.session_id));
        m.insert("runId".into(), id(&self.run_id));
        m.insert("data".into(), Value::Object(self.data.clone()));
        m.insert("prev".into(), Value::String(self.prev.clone()));
        if with_mac {
            m.insert("mac".into(), Value::String(self.mac.clone()));
        }
        Value::Object(m)
    }

    /// The entry as one line of JSON (canonical, `mac` included, no newline).
    pub fn to_json_line(&self) -> Result<String, AuditError> {
        self.check_fields().map_err(AuditError::input)?;
        to_canonical(&self.to_value(true)).map_err(AuditError::input)
    }

    /// Reads one line of an audit file (untrusted).
    pub fn from_json_line(line: &str) -> Result<Entry, AuditError> {
        Entry::parse_line(line).map_err(malformed)
    }

    pub(crate) fn parse_line(line: &str) -> Result<Entry, String> {
        let value = parse_json(line).map_err(|e| e.to_string())?;
        Entry::check_value(value)
    }

    /// Validates an entry object: exactly the nine fields (and `orgId`, a non-empty string,
    /// when the entry names an org) with their types, `seq` a whole
    /// number in 0..=MAX_SEQ (`1.0` counts, as in JS), `type` non-empty, numbers doubles,
    /// nesting bounded.
    pub fn from_value(value: Value) -> Result<Entry, AuditError> {
        Entry::check_value(value).map_err(malformed)
    }

    fn check_value(value: Value) -> Result<Entry, String> {
        let Value::Object(mut m) = value else {
            return Err("not a JSON object".into());
        };
        if let Some(k) = m
            .keys()
            .find(|k| !FIELDS.contains(&k.as_str()) && k.as_str() != ORG_FIELD)
        {
            let mut name = String::new();
            write_string(&mut name, k);
            return Err(format!("unknown field {name}"));
        }
        if let Some(k) = FIELDS.iter().find(|k| !m.contains_key(**k)) {
            return Err(format!("missing field \"{k}\""));
        }
        // Numbers and nesting first, so the field checks below see only valid values.
        to_canonical(&Value::Object(m.clone()))?;
        let org_id = match m.remove(ORG_FIELD) {
            None => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            Some(_) => {
                return Err(format!(
                    "\"{ORG_FIELD}\" must be a non-empty string when present"
                ))
            }
        };
        let mut take = |k: &str| m.remove(k).unwrap_or(Value::Null);
        let seq = match take("seq") {
            Value::Number(n) => seq_of(&n),
            _ => None,
        }
        .ok_or_else(|| format!("\"seq\" must be a whole number from 0 to {MAX_SEQ}"))?;
        let ts = take("ts").as_f64().ok_or("\"ts\" must be a number")?;
        let kind = match take("type") {
            Value::String(s) if !s.is_empty() => s,
            _ => return Err("\"type\" must be a non-empty string".into()),
        };
        let mut id = |k: &str| match take(k) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            _ => Err(format!("\"{k}\" must be a string or null")),
        };
        let user_id = id("userId")?;
        let session_id = id("sessionId")?;
        let run_id = id("runId")?;
        let Value::Object(data) = take("data") else {
            return Err("\"data\" must be an object".into());
        };
        let mut text = |k: &str| match take(k) {
            Value::String(s) => Ok(s),
            _ => Err(format!("\"{k}\" must be a string")),
        };
        let prev = text("prev")?;
        let mac = text("mac")?;
        Ok(Entry {
            seq,
            ts,
            kind,
            user_id,
            org_id,
            session_id,
            run_id,
            data,
            prev,
            mac,
        })
    }
}

fn malformed(reason: String) -> AuditError {
    AuditError::input(format!("malformed entry: {reason}"))
}

/// `seq` as JS sees it: any number whose value is a whole number in range.
pub(crate) fn seq_of(n: &serde_json::Number) -> Option<u64> {
    if let Some(u) = n.as_u64() {
        return (u <= MAX_SEQ).then_some(u);
    }
    if n.is_i64() {
        return None;
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && (0.0..=MAX_SEQ as f64).contains(&f)).then_some(f as u64)
}

impl TryFrom<Value> for Entry {
    type Error = AuditError;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        Entry::from_value(value)
    }
}

impl TryFrom<StrictValue> for Entry {
    type Error = AuditError;

    fn try_from(value: StrictValue) -> Result<Self, Self::Error> {
        Entry::from_value(value.0)
    }
}

#[cfg(test)]
mod tests;
