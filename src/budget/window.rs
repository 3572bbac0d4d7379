//! Rolling-window accounting in a fixed ring of sub-buckets.
//!
//! A window of length W is cut into N buckets of width W/N. A charge lands in the
//! bucket of the time it was made and leaves only once that whole bucket is older than
//! W, so a charge is counted for between W and W + W/N: never less than the window (the
//! ceiling holds), at most one bucket longer. State is N + 1 cells per metric, whatever
//! the traffic.

/// Sub-buckets per rolling window: the over-count is at most 1/8 of the window.
pub const BUCKETS_PER_WINDOW: usize = 8;

/// The ring keeps the current bucket and the N before it.
const SLOTS: usize = BUCKETS_PER_WINDOW + 1;

/// Bucket width for a window, such that N buckets cover at least the window.
pub(crate) fn bucket_width(window_ms: f64) -> f64 {
    window_ms / BUCKETS_PER_WINDOW as f64
}

/// The bucket a time falls in. Float-to-int `as` saturates and maps NaN to 0, so no time
/// can panic here; the ledger also keeps time monotonic before calling.
pub(crate) fn bucket_of(now: f64, width: f64) -> i64 {
    (now / width).floor() as i64
}

/// `k` metrics over one window: `SLOTS` rows of `k` cells, then a row of running sums so
/// reading the used amount is O(1).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rolling {
    /// Index of the newest bucket; `i64::MIN` while nothing was ever recorded.
    head: i64,
    cells: Box<[u64]>,
}

impl Rolling {
    pub fn new(k: usize) -> Self {
        Rolling {
            head: i64::MIN,
            cells: vec![0; (SLOTS + 1) * k].into_boxed_slice(),
        }
    }

    fn k(&self) -> usize {
        self.cells.len() / (SLOTS + 1)
    }

    fn row(b: i64) -> usize {
        b.rem_euclid(SLOTS as i64) as usize
    }

    /// Moves the newest bucket to `b`, dropping buckets that left the window. Never moves
    /// backwards: a late time is counted in the newest bucket, which expires last.
    pub fn advance(&mut self, b: i64) {
        if b <= self.head {
            return;
        }
        let k = self.k();
        let gap = b.saturating_sub(self.head);
        if gap >= SLOTS as i64 {
            self.cells.fill(0);
        } else {
            for old in self.head + 1..=b {
                let r = Self::row(old) * k;
                for j in 0..k {
                    let v = std::mem::take(&mut self.cells[r + j]);
                    let s = SLOTS * k + j;
                    self.cells[s] = self.cells[s].saturating_sub(v);
                }
            }
        }
        self.head = b;
    }

    /// Adds one figure per metric slot to bucket `b` (advancing to it if newer). A bucket
    /// already out of the ring is dropped: it has left the window.
    pub fn add(&mut self, b: i64, amounts: impl Iterator<Item = (usize, u64)>) {
        self.advance(b);
        if b <= self.head.saturating_sub(SLOTS as i64) {
            return;
        }
        let k = self.k();
        let r = Self::row(b) * k;
        for (slot, v) in amounts {
            if slot < k {
                self.cells[r + slot] = self.cells[r + slot].saturating_add(v);
                let s = SLOTS * k + slot;
                self.cells[s] = self.cells[s].saturating_add(v);
            }
        }
    }

    /// Used amount in `slot` as of the last `advance`.
    pub fn sum(&self, slot: usize) -> u64 {
        self.cells
            .get(SLOTS * self.k() + slot)
            .copied()
            .unwrap_or(0)
    }

    /// Used amount in `slot` as of bucket `b`, without advancing (for read-only reports).
    pub fn sum_at(&self, b: i64, slot: usize) -> u64 {
        if b <= self.head {
            return self.sum(slot);
        }
        let k = self.k();
        if slot >= k {
            return 0;
        }
        self.live(b).map(|(_, row)| row[slot]).sum()
    }

    /// The buckets still in the window at bucket `b`, oldest first, as (index, cells).
    pub fn live(&self, b: i64) -> impl Iterator<Item = (i64, &[u64])> {
        let k = self.k();
        let newest = self.head;
        // Live at `b`: buckets after b - N, and only those the ring still holds.
        let oldest = b.max(newest).saturating_sub(BUCKETS_PER_WINDOW as i64);
        let nothing_recorded = newest == i64::MIN;
        let range = (oldest..=newest).take(if nothing_recorded { 0 } else { SLOTS });
        range.map(move |i| {
            let r = Self::row(i) * k;
            (i, &self.cells[r..r + k])
        })
    }

    pub fn is_empty(&self) -> bool {
        self.cells.iter().all(|&v| v == 0)
    }

    /// Each bucket becomes the larger of the two figures (per metric): merging two records
    /// of one user's spend never lowers either.
    pub fn merge_max(&mut self, other: &Rolling) {
        if other.head == i64::MIN || other.k() != self.k() {
            return;
        }
        let mut other = other.clone();
        let head = self.head.max(other.head);
        self.advance(head);
        other.advance(head);
        let k = self.k();
        for (mine, theirs) in self.cells[..SLOTS * k]
            .iter_mut()
            .zip(&other.cells[..SLOTS * k])
        {
            *mine = (*mine).max(*theirs);
        }
        for j in 0..k {
            let sum = (0..SLOTS).fold(0u64, |acc, r| acc.saturating_add(self.cells[r * k + j]));
            self.cells[SLOTS * k + j] = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const W: f64 = 8000.0; // buckets of 1000 ms

    fn at(t: f64) -> i64 {
        bucket_of(t, bucket_width(W))
    }

    #[test]
    fn a_charge_counts_for_at_least_the_window_and_at_most_one_bucket_more() {
        let mut r = Rolling::new(1);
        r.add(at(1500.0), [(0, 7)].into_iter());
        for t in [1500.0, 5000.0, 1500.0 + W - 1.0, 9999.0] {
            r.advance(at(t));
            assert_eq!(r.sum(0), 7, "still in the window at {t}");
        }
        // Its bucket [1000, 2000) has wholly left the window (t - W >= 2000).
        r.advance(at(10_000.0));
        assert_eq!(r.sum(0), 0);
        assert!(r.is_empty());
    }

    #[test]
    fn buckets_expire_one_by_one_and_sums_track_them() {
        let mut r = Rolling::new(2);
        for i in 0..20 {
            r.add(at(i as f64 * 1000.0), [(0, 1), (1, 10)].into_iter());
            // Nine buckets live at most: the current one and the eight before it.
            let live = (i + 1).min(9) as u64;
            assert_eq!((r.sum(0), r.sum(1)), (live, 10 * live), "at {i}");
        }
        // A long gap clears everything in one step.
        r.advance(at(1e9));
        assert_eq!(r.sum(0), 0);
    }

    #[test]
    fn read_only_sums_agree_with_advancing() {
        let mut r = Rolling::new(1);
        for i in [0, 1, 2, 5, 6] {
            r.add(i, [(0, 1 << i)].into_iter());
        }
        for b in 6..20 {
            let peek = r.sum_at(b, 0);
            let mut c = r.clone();
            c.advance(b);
            assert_eq!(peek, c.sum(0), "at bucket {b}");
        }
    }

    #[test]
    fn late_and_out_of_ring_charges_never_go_below_the_window() {
        let mut r = Rolling::new(1);
        r.add(100, [(0, 1)].into_iter());
        // An older bucket still in the ring is kept where it belongs.
        r.add(95, [(0, 2)].into_iter());
        assert_eq!(r.sum(0), 3);
        // One already out of the window is dropped.
        r.add(80, [(0, 4)].into_iter());
        assert_eq!(r.sum(0), 3);
        // Bogus times cannot panic.
        r.add(bucket_of(f64::NAN, 1.0), [(0, 1)].into_iter());
        r.add(bucket_of(f64::INFINITY, 1.0), [(0, 1)].into_iter());
        r.advance(i64::MAX);
        assert_eq!(r.sum(0), 1);
    }
}
