//! One scope's state: the user's (or the global) totals, reservations held by calls in
//! flight, rolling windows and rate bucket, and whether its latest change is stored.

use super::error::RateLimited;
use super::policy::{Cap, Layout};
use super::rate::{RateRule, TokenBucket};
use super::rolling::{bucket_of, Rolling};
use super::units::{Amounts, Metric};

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Account {
    /// Unique per incarnation, so a reservation made before a `forget` cannot touch the
    /// account that replaces it.
    epoch: u64,
    pub totals: Amounts,
    pub reserved: Amounts,
    /// Parallel to `Layout::tracks`.
    pub windows: Vec<Rolling>,
    /// `None` until the first request: a bucket never used is full.
    pub rate: Option<TokenBucket>,
    /// Bumped by every change; `saved` is the version last written to storage, so an
    /// account whose latest change is not stored is never dropped from RAM.
    version: u64,
    saved: u64,
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

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn changed(&mut self) {
        self.version += 1;
    }

    /// The version a storage write of this account would record.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Records that `version` of this account is in storage.
    pub fn mark_saved(&mut self, version: u64) {
        self.saved = self.saved.max(version);
    }

    /// Whether the latest change is in storage.
    pub fn is_saved(&self) -> bool {
        self.saved >= self.version
    }

    /// A call in flight holds a reservation here.
    pub fn is_busy(&self) -> bool {
        self.reserved.iter().any(|&v| v > 0)
    }

    /// Takes one request from the rate bucket; a bucket never used starts full.
    pub fn take_request(&mut self, rule: &RateRule, now: f64) -> Result<(), RateLimited> {
        self.changed();
        self.rate
            .get_or_insert_with(|| TokenBucket::full(rule, now))
            .take(rule, now)
    }

    /// Whether `take_request` would pass at `now`, without taking anything.
    pub fn check_request(&self, rule: &RateRule, now: f64) -> Result<(), RateLimited> {
        match self.rate {
            Some(b) => b.check(rule, now),
            None => TokenBucket::full(rule, now).check(rule, now),
        }
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
        self.is_busy()
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
mod tests;
