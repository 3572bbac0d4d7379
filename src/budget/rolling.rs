//! Rolling-window accounting in a fixed ring of sub-buckets, so a window costs the same
//! few cells per metric however much traffic it sees.
//!
//! A window of length W is cut into N buckets of width W/N. A charge lands in the
//! bucket of the time it was made and leaves only once that whole bucket is older than
//! W, so a charge is counted for between W and W + W/N: never less than the window (the
//! ceiling holds), at most one bucket longer. State is N + 1 cells per metric.

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
mod tests;
