//! Per-user and global budgets (tokens, cost, requests) and per-user rate limits.
//!
//! Plain Rust with no JS or async: the agent loop and the JS API are wired on top. The
//! ledger is its own table, independent of the memory LRU, so evicting a user's
//! conversation never refills their budget. Every figure is an integer (cost in
//! nano-USD) so that sums are exact and a limit check never depends on float rounding.
//!
//! Flow per model call: `check_rate` before any work, `reserve` (which caps the output
//! tokens to what the budgets still allow), then exactly one of `settle` or `release`.

mod account;
mod doc;
mod error;
mod ledger;
mod limit;
mod policy;
mod price;
mod rate;
mod report;
mod window;

pub use doc::{
    AccountDoc, AmountsDoc, BucketDoc, RateDoc, WindowDoc, BUDGET_DOC_VERSION, BUDGET_FORMAT,
};
pub use error::{BudgetError, RateLimited, Refusal, Scope};
pub use ledger::{Actual, Charge, Estimate, Ledger, PlanId, Pseudonym, Reservation};
pub use limit::{BudgetConfig, LimitSet, Metric, RateLimitConfig, RateSpec, Window};
pub use price::{Price, PriceTable, DEFAULT_PRICES};
pub use report::{LimitUsage, Totals, UsageReport};
pub use window::BUCKETS_PER_WINDOW;

/// One figure per `Metric`, indexed by `Metric::index`.
pub(crate) type Amounts = [u64; 5];

/// Largest per-call token figure taken at face value (mirrors `model.rs`).
pub(crate) const MAX_REPORTED_TOKENS: f64 = 1e9;

/// JS `Number.MAX_SAFE_INTEGER`: larger counts would not survive a round trip through JS.
pub(crate) const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

pub(crate) const NANO_PER_USD: f64 = 1e9;

#[cfg(test)]
pub(crate) mod test_util {
    use crate::ids::UserKey;

    pub fn user(s: &str) -> UserKey {
        UserKey::parse(Some(s)).unwrap()
    }

    /// splitmix64: tiny, deterministic, and good enough to shuffle test interleavings.
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed)
        }
        pub fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        /// Uniform-enough in `0..n` for tests (n > 0).
        pub fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        pub fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }
    }
}
