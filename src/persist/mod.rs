//! Persistence: the host's storage adapter, the key layout, the versioned user document,
//! and the reads and writes between them, in one place.
//!
//! Layout: every key of a user starts with that user's prefix, so `forget` is "delete the
//! prefix" and no key can be shared between users. Ids are escaped so that a `/` inside an
//! id cannot forge another user's prefix ("alice/s" is not under "alice/").
//!
//!   tenantry/v1/u/<user>/gen              the user's live generation (absent: 0)
//!   tenantry/v1/u/<user>/w                working memory (blocks, properties), generation 0
//!   tenantry/v1/u/<user>/f                facts (every record, superseded ones too), generation 0
//!   tenantry/v1/u/<user>/s/<session>      one session, with all its turns, generation 0
//!   tenantry/v1/u/<user>/g<n>/w, g<n>/f, g<n>/s/…  the same in generation n
//!   tenantry/v1/o/<org>/u/<user>/…        the same for a user of an org other than the default
//!   tenantry/v1/o/<org>/k                 the org's knowledge (blocks its users share)
//!   tenantry/v1/b/<pseudonym>             a user's budget and rate counters
//!   tenantry/v1/global/b                  the global budget's counters
//!   tenantry/v1/secret                    the key of the pseudonyms
//!
//! Generations make a whole-user write atomic on a store without transactions: an import
//! writes the new generation's keys (invisible to loads), then switches `gen` with one put,
//! then deletes the old generation. A failure before the switch leaves only invisible keys;
//! a late write by a run that loaded the old generation lands in the old one.
//!
//! Counters live outside the user's prefix, under a keyed hash of the id: `forget` deletes
//! the prefix (every message, block and property) while what the user spent in windows
//! still open keeps counting, with no id or content kept beside it.

mod adapter;
pub mod keys;
pub mod org_doc;
pub mod records;
pub mod user_doc;

pub use adapter::{MemoryStorage, Storage};
