//! One scope's state: the user's (or the global) totals, reservations held by calls in
//! flight, rolling windows and rate bucket.

use super::limit::Metric;
use super::policy::{Cap, Layout};
use super::rate::{RateRule, TokenBucket};
use super::window::{bucket_of, Rolling};
use super::Amounts;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Account {
    /// Unique per incarnation, so a reservation made before a `forget` cannot touch the
    /// account that replaces it.
    pub epoch: u64,
    pub totals: Amounts,
    pub reserved: Amounts,
    /// Parallel to `Layout::tracks`.
    pub windows: Vec<Rolling>,
    /// `None` until the first request: a bucket never used is full.
    pub rate: Option<TokenBucket>,
    /// Bumped by every change; `saved` is the version last written to storage, so an
    /// account whose latest change is not stored is never dropped from RAM.
    pub version: u64,
    pub saved: u64,
}

impl Account {
    pub fn new(layout: &Layout, epoch: u64) -> Self {
        Account {
            epoch,
            totals: [0; 5],
            reserved: [0; 5],
            windows: layout
                .tracks
                .iter()
                .map(|t| Rolling::new(t.metrics.len()))
                .collect(),
            rate: None,
            version: 0,
            saved: 0,
        }
    }

    pub fn changed(&mut self) {
        self.version += 1;
    }

    /// Folds another record of the same user's spend in: every total, window bucket and
    /// rate bucket becomes the tighter of the two, so a merge can only restrict.
    pub fn merge_max(
        &mut self,
        other: &Account,
        layout: &Layout,
        rule: Option<&RateRule>,
        now: f64,
    ) {
        for (t, o) in self.totals.iter_mut().zip(&other.totals) {
            *t = (*t).max(*o);
        }
        for (w, o) in self.windows.iter_mut().zip(&other.windows) {
            w.merge_max(o);
        }
        self.advance(layout, now);
        if let (Some(rule), Some(theirs)) = (rule, other.rate) {
            self.rate = Some(match self.rate {
                Some(mine) => mine.tighter(theirs, rule, now),
                None => theirs,
            });
        }
        self.changed();
    }

    pub fn advance(&mut self, layout: &Layout, now: f64) {
        for (w, t) in self.windows.iter_mut().zip(&layout.tracks) {
            w.advance(bucket_of(now, t.width));
        }
    }

    /// Settled usage under `cap` as of the last `advance`.
    pub fn used(&self, cap: &Cap) -> u64 {
        match cap.track {
            None => self.totals[cap.metric.index()],
            Some(t) => self.windows.get(t).map_or(0, |w| w.sum(cap.slot)),
        }
    }

    /// Settled usage under `cap` at `now`, without advancing.
    pub fn used_at(&self, cap: &Cap, layout: &Layout, now: f64) -> u64 {
        match cap.track {
            None => self.totals[cap.metric.index()],
            Some(t) => match (self.windows.get(t), layout.tracks.get(t)) {
                (Some(w), Some(track)) => w.sum_at(bucket_of(now, track.width), cap.slot),
                _ => 0,
            },
        }
    }

    pub fn charge(&mut self, layout: &Layout, now: f64, a: &Amounts) {
        self.changed();
        add(&mut self.totals, a);
        for (w, t) in self.windows.iter_mut().zip(&layout.tracks) {
            let figures = t
                .metrics
                .iter()
                .enumerate()
                .map(|(slot, m)| (slot, a[m.index()]));
            w.add(bucket_of(now, t.width), figures);
        }
    }

    pub fn reserve(&mut self, a: &Amounts) {
        add(&mut self.reserved, a);
    }

    pub fn unreserve(&mut self, a: &Amounts) {
        for (r, v) in self.reserved.iter_mut().zip(a) {
            *r = r.saturating_sub(*v);
        }
    }

    /// Whether dropping this account could loosen a limit (call after `advance`): a
    /// reservation in flight, lifetime usage a lifetime cap reads, usage still in a
    /// window, or a rate bucket not yet full.
    pub fn holds_anything(&self, layout: &Layout, rule: Option<&RateRule>, now: f64) -> bool {
        self.reserved.iter().any(|&v| v > 0)
            || layout
                .lifetime
                .iter()
                .any(|m: Metric| self.totals[m.index()] > 0)
            || self.windows.iter().any(|w| !w.is_empty())
            || match (self.rate, rule) {
                (Some(b), Some(r)) => !b.is_full_at(r, now),
                _ => false,
            }
    }
}

pub(crate) fn add(to: &mut Amounts, a: &Amounts) {
    for (t, v) in to.iter_mut().zip(a) {
        *t = t.saturating_add(*v);
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use crate::budget::limit::{BudgetConfig, RateLimitConfig, RateSpec};
    use crate::budget::policy::Policy;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn policy(budget: serde_json::Value) -> Policy {
        let b: BudgetConfig = serde_json::from_value(budget).unwrap();
        Policy::new(&b, &RateLimitConfig::default()).unwrap()
    }

    #[test]
    fn only_what_a_limit_reads_keeps_an_account() {
        let p = policy(
            json!({ "perUser": [{ "maxCostUsd": 1 }, { "maxRequests": 3, "window": "minute" }] }),
        );
        let mut a = Account::new(&p.user, 1);
        assert!(!a.holds_anything(&p.user, None, 0.0));
        // Lifetime tokens are only reporting here (the lifetime cap is on cost).
        a.totals[Metric::TotalTokens.index()] = 50;
        assert!(!a.holds_anything(&p.user, None, 0.0));
        a.totals[Metric::CostUsd.index()] = 1;
        assert!(a.holds_anything(&p.user, None, 0.0));

        let mut b = Account::new(&p.user, 2);
        b.reserve(&[0, 0, 0, 0, 1]);
        assert!(b.holds_anything(&p.user, None, 0.0));
        b.unreserve(&[0, 0, 0, 0, 5]);
        assert_eq!(b.reserved, [0; 5], "unreserve saturates at zero");
        b.charge(&p.user, 0.0, &[1, 1, 2, 0, 1]);
        assert!(b.holds_anything(&p.user, None, 0.0));
        b.advance(&p.user, 60_000.0 * 1.125);
        assert!(!b.holds_anything(&p.user, None, 60_000.0 * 1.125));

        let rule = RateRule::new(
            &RateSpec {
                requests: 1.0,
                per_ms: 1000.0,
                burst: None,
            },
            "r",
        )
        .unwrap();
        let mut c = Account::new(&p.user, 3);
        let mut bucket = TokenBucket::full(&rule, 0.0);
        bucket.take(&rule, 0.0).unwrap();
        c.rate = Some(bucket);
        assert!(c.holds_anything(&p.user, Some(&rule), 500.0));
        assert!(!c.holds_anything(&p.user, Some(&rule), 1000.0));
    }
}
