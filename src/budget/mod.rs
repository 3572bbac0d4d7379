//! Per-user and global budgets (tokens, cost, requests) and per-user rate limits.
//!
//! Plain Rust with no JS or async: the agent loop and the JS API are wired on top. The
//! ledger is its own table, independent of the memory LRU, so evicting a user's
//! conversation never refills their budget. Every figure is an integer (cost in
//! nano-USD) so that sums are exact and a limit check never depends on float rounding.
//!
//! Flow per model call: `check_rate` before any work, `reserve` (which caps the output
//! tokens to what the budgets still allow), then exactly one of `settle` or `release`.
//!
//! Each file imports only from files listed before it here, always from the file that
//! defines the item and never from this one, so no two files depend on each other:
//! `field`, `rolling` (leaves) · `units` · `error` · `price` · `config` · `rate` ·
//! `policy` · `account` · `account_doc`, `report` · `ledger`.

mod account;
mod account_doc;
mod config;
mod error;
mod field;
mod ledger;
mod policy;
mod price;
mod rate;
mod report;
mod rolling;
#[cfg(test)]
mod test_util;
mod units;

pub use account_doc::{
    AccountDoc, AmountsDoc, BucketDoc, RateDoc, WindowDoc, BUDGET_DOC_VERSION, BUDGET_FORMAT,
};
pub use config::{BudgetConfig, LimitSet, OrgBudget, RateLimitConfig, RateSpec};
pub use error::{BudgetError, RateLimited, Refusal, Scope};
pub use ledger::{Actual, CallKind, Charge, Estimate, Ledger, PlanId, Pseudonym, Reservation};
pub use price::{Price, DEFAULT_PRICES};
pub use report::{LimitUsage, Totals, UsageReport};
pub use rolling::BUCKETS_PER_WINDOW;
pub use units::{Metric, Window};
