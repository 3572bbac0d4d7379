//! The tamper-evident audit log core: plain Rust, no JS, no async.
//!
//! Each entry records one event for one user (`userId` at the top level, `null` for the
//! anonymous bucket) and carries an HMAC-SHA256 over its canonical JSON, which includes
//! the previous entry's MAC (`prev`). Without the host's secret key nobody can modify,
//! insert, delete or reorder entries without `verify` naming the first broken one; the
//! key never appears in an entry, an error or a `Debug` output.
//!
//! - `AuditChain` writes entries (`new`, or `resume` after a restart).
//! - `verify` / `verify_from` / `verify_jsonl` check them; see `verify` for the reasons.
//! - `AuditRing` keeps the most recent entries in memory, with a per-user view.
//! - `ContentKeys` lets entries name message contents without holding them, by an HMAC
//!   under a per-user key that `forget` destroys: the content is gone and the old hashes
//!   can no longer confirm a guess, while the chain still verifies.
//!
//! Cross-implementation rules, shared with `pkg-template/cli/verify-audit.mjs`: canonical
//! JSON in `canonical`, the signed fields in `entry`, key text in `key`, file lines in
//! `jsonl`, and the verification order in `verify`.

mod canonical;
mod chain;
mod content;
mod entry;
mod error;
mod hash;
mod jsonl;
mod key;
mod parse;
mod ring;
mod verify;

pub use chain::AuditChain;
pub use content::{ContentKeys, Owner};
pub use entry::Entry;
pub use error::AuditError;
pub use jsonl::{parse_jsonl, verify_jsonl};
pub use key::{check_key, key_from_text};
pub use ring::AuditRing;
pub use verify::{verify, BreakReason, Broken, VerifyReport};
