//! What the agent tells its operator: audit entries (HMAC-chained, per user, contents
//! hashed unless the host asks for text) and telemetry events. Both carry the user, session
//! and run they are about at the top level, so nothing is ever attributed to the wrong
//! tenant. Host callbacks are called with no agent borrow held: the chain is borrowed only
//! to append, and the sinks run after.
//!
//! Contents are hashed under a key of the user's own (`ContentKeys`), which `forget_user`
//! destroys, so a forgotten user's hashes confirm no guess. `content` is called where the
//! user is not at hand, so it returns a placeholder that `audit` and `emit` (which know
//! whom an observation is about) turn into the hash before anything leaves the observer.

mod kind;

pub use kind::Kind;

use crate::audit::{AuditChain, AuditError, AuditRing, ContentKeys, Entry, Owner};
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::limits::{DEFAULT_AUDIT_RING, MAX_AUDIT_RING};
use crate::model::Usage;
use serde::Serialize;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

/// The audit log's settings, checked by `Observer::new` for every host.
pub struct AuditConfig {
    /// The HMAC key: no default; at least `MIN_AUDIT_KEY_BYTES` (empty means not given).
    pub key: Vec<u8>,
    /// Entries kept in memory, 0 to `MAX_AUDIT_RING`.
    pub ring: usize,
    /// Keep message text in entries (default: keyed hashes only, so `forget` can delete
    /// the text and make the hashes unconfirmable while the chain still verifies).
    pub include_content: bool,
    /// Continue a chain persisted before a restart: (last seq, last mac).
    pub resume: Option<(u64, String)>,
}

impl AuditConfig {
    /// An audit log under `key` with every other setting at its default.
    pub fn new(key: Vec<u8>) -> AuditConfig {
        AuditConfig {
            key,
            ring: DEFAULT_AUDIT_RING,
            include_content: false,
            resume: None,
        }
    }
}

/// A telemetry event: one per run start and finish, model call, tool call, budget refusal
/// and eviction, shaped for a host to turn into spans and metrics.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Telemetry {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub user_id: Option<String>,
    /// The user's org; absent for the default org.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
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
    /// Telemetry hashes contents too, with or without an audit log.
    content_keys: RefCell<ContentKeys>,
    audit_sink: Option<AuditSink>,
    telemetry: Option<TelemetrySink>,
}

/// The key of `content`'s placeholder object. No JSON the agent writes has a key starting
/// with NUL, so the placeholder cannot be mistaken for data.
const PENDING_CONTENT: &str = "\u{0}tenantry:content";

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
                crate::error::within("audit.ringSize", cfg.ring as u64, 0, MAX_AUDIT_RING as u64)?;
                let chain = match &cfg.resume {
                    None => AuditChain::new(&cfg.key).map_err(Error::from),
                    Some((seq, mac)) => {
                        AuditChain::resume(&cfg.key, *seq, mac).map_err(|e| match e {
                            AuditError::InvalidInput { reason } => {
                                Error::config("audit.resumeFrom", reason)
                            }
                            other => other.into(),
                        })
                    }
                }?;
                Some(RefCell::new(Audit {
                    chain,
                    ring: AuditRing::new(cfg.ring),
                    include_content: cfg.include_content,
                }))
            }
        };
        Ok(Observer {
            audit,
            content_keys: RefCell::default(),
            audit_sink,
            telemetry,
        })
    }

    pub fn auditing(&self) -> bool {
        self.audit.is_some()
    }

    /// A message's text for the `data` of an observation: `{ text }` when the host opted
    /// in, else a placeholder that `audit` and `emit` replace with `{ hmacSha256, bytes }`,
    /// the text keyed-hashed under the key of the user the observation is about. Put it
    /// only into data passed to `audit` or `emit`: elsewhere the placeholder holds the text.
    pub fn content(&self, text: &str) -> Value {
        match &self.audit {
            Some(a) if a.borrow().include_content => json!({ "text": text }),
            _ => json!({ PENDING_CONTENT: text }),
        }
    }

    /// Destroys `user`'s content key: hashes of their contents, in entries and events
    /// already written, can no longer be matched against a guess. The chain is untouched.
    pub fn forget_user(&self, user: &UserKey) {
        self.content_keys.borrow_mut().forget(owner(user));
    }

    /// `forget_user` for every user at once (for an agent erasing everyone).
    pub fn forget_all_users(&self) {
        self.content_keys.borrow_mut().clear();
    }

    /// Users holding a content key now (at most `MAX_CONTENT_KEYS`), for the agent's stats.
    pub fn content_keys(&self) -> usize {
        self.content_keys.borrow().len()
    }

    /// Replaces `content`'s placeholders in `data` with keyed hashes for `user`.
    fn hash_contents(&self, user: Owner<'_>, data: &mut Value) {
        let mut keys = self.content_keys.borrow_mut();
        resolve(&mut keys, user, data);
    }

    /// Appends an audit entry and hands it to the sink.
    pub fn audit(&self, now: f64, kind: Kind, about: &About<'_>, mut data: Value) {
        let Some(a) = &self.audit else { return };
        self.hash_contents(owner(about.user), &mut data);
        let entry = {
            let mut a = a.borrow_mut();
            let appended = a.chain.append(
                now,
                kind.name(),
                owner(about.user),
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

    pub fn emit(&self, mut event: Telemetry) {
        if let Some(sink) = &self.telemetry {
            self.hash_contents(
                (event.user_id.as_deref(), event.org_id.as_deref()),
                &mut event.data,
            );
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
            .map(|a| a.borrow().ring.for_user(owner(user)))
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

/// Replaces every placeholder in `data`, at any depth (iteratively: a placeholder left in
/// would hand the text to a sink).
/// The (user, org) pair entries and content keys are filed under.
fn owner(user: &UserKey) -> Owner<'_> {
    (user.as_option(), user.org())
}

fn resolve(keys: &mut ContentKeys, user: Owner<'_>, data: &mut Value) {
    let mut todo = vec![data];
    while let Some(v) = todo.pop() {
        if let Some(text) = placeholder_text(v) {
            *v = hashed(keys, user, &text);
            continue;
        }
        match v {
            Value::Object(map) => todo.extend(map.values_mut()),
            Value::Array(items) => todo.extend(items.iter_mut()),
            _ => {}
        }
    }
}

fn placeholder_text(v: &Value) -> Option<String> {
    let map = v.as_object()?;
    match (map.len(), map.get(PENDING_CONTENT)) {
        (1, Some(Value::String(text))) => Some(text.clone()),
        _ => None,
    }
}

fn hashed(keys: &mut ContentKeys, user: Owner<'_>, text: &str) -> Value {
    match keys.hash(user, text) {
        Ok(mac) => json!({ "hmacSha256": mac, "bytes": text.len() }),
        // No random source: the length alone, since neither the text nor an unkeyed hash
        // may be written.
        Err(_) => json!({ "bytes": text.len() }),
    }
}

impl Telemetry {
    pub fn new(kind: Kind, about: &About<'_>, ts: f64, data: Value) -> Telemetry {
        Telemetry {
            kind: kind.name(),
            user_id: about.user.as_option().map(str::to_owned),
            org_id: about.user.org().map(str::to_owned),
            session_id: about.session.map(str::to_owned),
            run_id: about.run.map(str::to_owned),
            ts,
            duration_ms: None,
            usage: None,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use crate::audit::verify;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const KEY: &[u8] = b"observer-key-0123456789";

    type Seen = (Rc<RefCell<Vec<Entry>>>, Rc<RefCell<Vec<Telemetry>>>);

    fn observer(include_content: bool) -> (Observer, Seen) {
        let entries = Rc::new(RefCell::new(Vec::new()));
        let events = Rc::new(RefCell::new(Vec::new()));
        let (e, t) = (entries.clone(), events.clone());
        let o = Observer::new(
            Some(AuditConfig {
                key: KEY.to_vec(),
                ring: 100,
                include_content,
                resume: None,
            }),
            Some(Rc::new(move |x: &Entry| e.borrow_mut().push(x.clone()))),
            Some(Rc::new(move |x: &Telemetry| t.borrow_mut().push(x.clone()))),
        )
        .unwrap();
        (o, (entries, events))
    }

    fn user(id: &str) -> UserKey {
        UserKey::parse(Some(id)).unwrap()
    }

    /// What the agent does for one run start: the same data to the log and to telemetry.
    /// Returns the logged entry's data.
    fn observe(o: &Observer, user: &UserKey, text: &str) -> Value {
        let about = About {
            user,
            session: Some("s"),
            run: Some("r"),
        };
        let data = json!({ "input": o.content(text), "nested": [{ "args": o.content(text) }] });
        o.audit(1.0, Kind::RunStart, &about, data.clone());
        o.emit(Telemetry::new(Kind::RunStart, &about, 1.0, data));
        Value::Object(o.audit_entries().last().unwrap().data.clone())
    }

    fn hash_of(data: &Value) -> String {
        data["input"]["hmacSha256"].as_str().unwrap().to_owned()
    }

    #[test]
    fn contents_are_keyed_hashes_that_forget_makes_unconfirmable() {
        let (o, (entries, events)) = observer(false);
        let (alice, bob) = (user("alice"), user("bob"));
        let first = observe(&o, &alice, "4711");
        let h = hash_of(&first);
        assert_eq!(first["input"], json!({ "hmacSha256": h, "bytes": 4 }));
        assert_eq!(first["nested"][0]["args"]["hmacSha256"], h.as_str());
        // Not the plain SHA-256 a guesser could recompute.
        use sha2::Digest;
        let plain: String = sha2::Sha256::digest(b"4711")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_ne!(h, plain);
        // Telemetry names the content by the same keyed hash, never by its text.
        assert_eq!(events.borrow()[0].data["input"]["hmacSha256"], h.as_str());
        // Equal contents of one user compare equal; another user's do not.
        assert_eq!(hash_of(&observe(&o, &alice, "4711")), h);
        let b = hash_of(&observe(&o, &bob, "4711"));
        assert_ne!(b, h);
        assert_eq!(o.content_keys(), 2);

        o.forget_user(&alice);
        assert_eq!(o.content_keys(), 1);
        // Alice's key is gone: the same PIN now hashes under a new key, so nothing the
        // observer holds can reproduce the old hash any more.
        assert_ne!(hash_of(&observe(&o, &alice, "4711")), h);
        assert_eq!(hash_of(&observe(&o, &bob, "4711")), b, "bob keeps his key");
        o.forget_user(&user("carol"));
        assert_eq!(o.content_keys(), 2);
        // The chain, old hashes included, still verifies.
        let all = entries.borrow();
        assert_eq!(all.len(), 5);
        assert_eq!(all[0].data["input"]["hmacSha256"], h.as_str());
        let r = verify(&all, KEY);
        assert!(r.ok && r.checked == 5, "{r:?}");
    }

    #[test]
    fn no_text_or_placeholder_reaches_a_sink() {
        let (o, (entries, events)) = observer(false);
        for who in [user("alice"), UserKey::parse(None).unwrap()] {
            observe(&o, &who, "My PIN is 4711");
        }
        // However deep it sits (too deep to sign, so only telemetry carries this one).
        let mut deep = json!({ "args": o.content("My PIN is 4711") });
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let alice = user("alice");
        let about = About {
            user: &alice,
            session: None,
            run: None,
        };
        o.audit(1.0, Kind::ToolCall, &about, json!({ "deep": deep.clone() }));
        o.emit(Telemetry::new(
            Kind::ToolCall,
            &about,
            1.0,
            json!({ "deep": deep }),
        ));
        assert_eq!(events.borrow().len(), 3);
        let shown = format!("{:?}{:?}", entries.borrow(), events.borrow());
        // As a whole string: "4711" alone can occur inside the hex of a hash or a MAC.
        assert!(!shown.contains("\"4711\""), "{shown}");
        assert!(!shown.contains(PENDING_CONTENT), "{shown}");
        assert_eq!(o.content_keys(), 2);
        // With includeContent the text itself is stored: forget cannot take it back.
        let (o, (entries, _)) = observer(true);
        let data = observe(&o, &user("alice"), "My PIN is 4711");
        assert_eq!(data["input"], json!({ "text": "My PIN is 4711" }));
        assert!(entries.borrow()[0].data["input"]["text"] == "My PIN is 4711");
        assert_eq!(o.content_keys(), 0);
    }

    #[test]
    fn telemetry_alone_hashes_contents_too() {
        let events = Rc::new(RefCell::new(Vec::new()));
        let t = events.clone();
        let o = Observer::new(
            None,
            None,
            Some(Rc::new(move |x: &Telemetry| t.borrow_mut().push(x.clone()))),
        )
        .unwrap();
        let alice = user("alice");
        let about = About {
            user: &alice,
            session: None,
            run: None,
        };
        o.emit(Telemetry::new(
            Kind::Export,
            &about,
            1.0,
            json!({ "input": o.content("4711") }),
        ));
        let data = events.borrow()[0].data.clone();
        assert_eq!(data["input"]["bytes"], 4);
        assert_eq!(data["input"]["hmacSha256"].as_str().unwrap().len(), 64);
        assert_eq!(o.content_keys(), 1);
        o.forget_user(&alice);
        assert_eq!(o.content_keys(), 0);
        o.emit(Telemetry::new(
            Kind::Export,
            &about,
            1.0,
            json!({ "input": o.content("4711") }),
        ));
        assert_eq!(o.content_keys(), 1);
        o.forget_all_users();
        assert_eq!(o.content_keys(), 0);
    }

    /// `Agent::forget` destroys the user's content key (the hook in `agent.rs`).
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn agent_forget_destroys_the_users_content_key() {
        use crate::{Agent, AgentConfig, RunOptions};
        let (o, (entries, _)) = observer(false);
        let agent = Rc::new(
            Agent::new(AgentConfig::default(), Rc::new(crate::demo::DemoModel))
                .unwrap()
                .with_observer(o),
        );
        let run = |who: &str| {
            let f = agent.run("My PIN is 4711".into(), user(who), RunOptions::default());
            futures_executor::block_on(f).unwrap();
            let e = entries.borrow();
            let start = e
                .iter()
                .rev()
                .find(|e| e.kind == "run.start" && e.user_id.as_deref() == Some(who))
                .unwrap();
            start.data["input"]["hmacSha256"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (a1, b1) = (run("alice"), run("bob"));
        assert_eq!(run("alice"), a1);
        assert_eq!(agent.observer().content_keys(), 2);
        futures_executor::block_on(agent.forget(&user("alice"))).unwrap();
        assert_eq!(agent.observer().content_keys(), 1);
        assert_ne!(run("alice"), a1);
        assert_eq!(run("bob"), b1);
        let all = entries.borrow();
        assert!(all.iter().any(|e| e.kind == "forget"));
        let r = verify(&all, KEY);
        assert!(r.ok && r.checked == all.len(), "{r:?}");
        let text: String = all.iter().map(|e| e.to_json_line().unwrap()).collect();
        // The whole phrase: "4711" alone can occur inside the hex of a hash or a MAC.
        assert!(!text.contains("PIN is 4711"));
    }
}
