//! Fan-out of what happened: one call records an audit entry and a telemetry event about
//! one user, building nothing when nobody listens.

use super::Agent;
use crate::model::Usage;
use crate::observe::{About, Kind, Telemetry};
use serde_json::Value;

impl Agent {
    /// Records one thing that happened: an audit entry (when auditing) and a telemetry
    /// event (when observed), both about one user. `since` is when a timed thing started;
    /// its duration is taken here, so an unobserved agent reads no clock for it.
    pub(super) fn observe(
        &self,
        kind: Kind,
        about: &About<'_>,
        data: impl FnOnce() -> Value,
        usage: Option<Usage>,
        since: Option<f64>,
    ) {
        // Nothing is built (no hashing, no JSON) for an agent nobody observes.
        let observed = self.observer.observing();
        let audited = kind.audited() && self.observer.auditing();
        if !observed && !audited {
            return;
        }
        let data = data();
        let now = self.now();
        if audited {
            let mut d = data.clone();
            if let (Some(u), Some(obj)) = (usage, d.as_object_mut()) {
                obj.insert(
                    "usage".into(),
                    serde_json::to_value(u).unwrap_or(Value::Null),
                );
            }
            self.observer.audit(now, kind, about, d);
        }
        if observed {
            let mut t = Telemetry::new(kind, about, now, data);
            t.usage = usage;
            t.duration_ms = since.map(|t0| now - t0);
            self.observer.emit(t);
        }
    }

    /// The start of something whose duration telemetry reports; no clock read when no one
    /// observes.
    pub(super) fn start_timer(&self) -> Option<f64> {
        self.observer.observing().then(|| self.now())
    }
}
