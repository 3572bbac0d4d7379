//! What the agent tells its operator: audit entries (HMAC-chained, per user, contents
//! hashed unless the host asks for text) and telemetry events. Both carry the user, session
//! and run they are about at the top level, so nothing is ever attributed to the wrong
//! tenant. Host callbacks are called with no agent borrow held: the chain is borrowed only
//! to append, and the sinks run after.

use crate::audit::{content_hash, AuditChain, AuditRing, Entry};
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::model::Usage;
use serde::Serialize;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

pub const DEFAULT_RING: usize = 10_000;

pub struct AuditConfig {
    pub key: Vec<u8>,
    pub ring: usize,
    /// Keep message text in entries (default: SHA-256 hashes only, so `forget` can delete
    /// the text while the chain still verifies).
    pub include_content: bool,
    /// Continue a chain persisted before a restart: (last seq, last mac).
    pub resume: Option<(u64, String)>,
}

/// A telemetry event: one per run start and finish, model call, tool call, budget refusal
/// and eviction, shaped for a host to turn into spans and metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Telemetry {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub run_id: Option<String>,
    /// When it happened (ms since the epoch).
    pub ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    pub data: Value,
}

pub type AuditSink = Rc<dyn Fn(&Entry)>;
pub type TelemetrySink = Rc<dyn Fn(&Telemetry)>;

struct Audit {
    chain: AuditChain,
    ring: AuditRing,
    include_content: bool,
}

#[derive(Default)]
pub struct Observer {
    audit: Option<RefCell<Audit>>,
    audit_sink: Option<AuditSink>,
    telemetry: Option<TelemetrySink>,
}

/// Who and what an observation is about.
pub struct About<'a> {
    pub user: &'a UserKey,
    pub session: Option<&'a str>,
    pub run: Option<&'a str>,
}

impl Observer {
    pub fn new(
        audit: Option<AuditConfig>,
        audit_sink: Option<AuditSink>,
        telemetry: Option<TelemetrySink>,
    ) -> Result<Self> {
        let audit = match audit {
            None => {
                if audit_sink.is_some() {
                    return Err(Error::config(
                        "audit.key",
                        "is required: the audit log has no default key",
                    ));
                }
                None
            }
            Some(cfg) => {
                let chain = match &cfg.resume {
                    None => AuditChain::new(&cfg.key),
                    Some((seq, mac)) => AuditChain::resume(&cfg.key, *seq, mac),
                }
                .map_err(|e| Error::config("audit.key", e.to_string()))?;
                Some(RefCell::new(Audit {
                    chain,
                    ring: AuditRing::new(cfg.ring),
                    include_content: cfg.include_content,
                }))
            }
        };
        Ok(Observer {
            audit,
            audit_sink,
            telemetry,
        })
    }

    pub fn auditing(&self) -> bool {
        self.audit.is_some()
    }

    /// A message's text for an audit entry: its hash, or the text when the host opted in.
    pub fn content(&self, text: &str) -> Value {
        match &self.audit {
            Some(a) if a.borrow().include_content => json!({ "text": text }),
            _ => json!({ "sha256": content_hash(text), "bytes": text.len() }),
        }
    }

    /// Appends an audit entry and hands it to the sink.
    pub fn audit(&self, now: f64, kind: &str, about: &About<'_>, data: Value) {
        let Some(a) = &self.audit else { return };
        let entry = {
            let mut a = a.borrow_mut();
            let appended = a.chain.append(
                now,
                kind,
                about.user.as_option(),
                about.session,
                about.run,
                data,
            );
            match appended {
                Ok(e) => {
                    a.ring.push(e.clone());
                    e
                }
                // Only a full chain (2^53 entries) or a non-finite clock can get here: the
                // run goes on; the gap shows as a broken link when the log is verified.
                Err(_) => return,
            }
        };
        if let Some(sink) = &self.audit_sink {
            sink(&entry);
        }
    }

    pub fn emit(&self, event: Telemetry) {
        if let Some(sink) = &self.telemetry {
            sink(&event);
        }
    }

    pub fn observing(&self) -> bool {
        self.telemetry.is_some()
    }

    /// The retained entries of exactly this user.
    pub fn audit_log(&self, user: &UserKey) -> Vec<Entry> {
        self.audit
            .as_ref()
            .map(|a| a.borrow().ring.for_user(user.as_option()))
            .unwrap_or_default()
    }

    /// Every retained entry, in chain order (for verification).
    pub fn audit_entries(&self) -> Vec<Entry> {
        self.audit
            .as_ref()
            .map(|a| a.borrow().ring.entries())
            .unwrap_or_default()
    }
}

impl Telemetry {
    pub fn new(kind: &'static str, about: &About<'_>, ts: f64, data: Value) -> Telemetry {
        Telemetry {
            kind,
            user_id: about.user.as_option().map(str::to_owned),
            session_id: about.session.map(str::to_owned),
            run_id: about.run.map(str::to_owned),
            ts,
            duration_ms: None,
            usage: None,
            data,
        }
    }
}
