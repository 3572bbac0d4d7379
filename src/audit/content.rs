//! Keyed content hashes: how an entry names a message without holding it.
//!
//! An entry cannot drop its hash after a `forget` (the MAC covers it), so the hash must
//! become useless by other means. A plain SHA-256 never does: anyone holding the log can
//! confirm a guess, and a short secret (a PIN, a yes/no) falls to trying every candidate.
//! Here each content is HMAC-SHA256'd under a random key of its user's own, and `forget`
//! destroys that key: the old hashes still verify as part of the chain, but no one, the
//! operator included, can test a guess against them any more.
//!
//! Keys are per user so that forgetting one user leaves everyone else's hashes comparable
//! (equal hashes of one user still mean equal contents). The table is bounded; when a user
//! beyond the bound needs a key, the least recently used one is destroyed. That user's
//! next content gets a fresh key, so only the comparison of contents before and after is
//! lost, never privacy.

use super::error::AuditError;
use super::hash::to_hex;
use super::key::MacKey;
use crate::keyed::KeyedMap;
use std::collections::BTreeMap;
use std::fmt;

/// Most users holding a content key at once: about 100 bytes each, so at most ~10 MB.
pub const MAX_CONTENT_KEYS: usize = 100_000;

/// Bytes of a content key: the HMAC-SHA256 block is larger, but 32 random bytes are
/// already beyond any search.
pub const CONTENT_KEY_BYTES: usize = 32;

/// One user's content key. Boxed so that the table growing never leaves copies of the
/// key behind in freed memory, and wiped when dropped.
struct Slot {
    key: Box<[u8; CONTENT_KEY_BYTES]>,
    /// Position in `ContentKeys::by_use`.
    used: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.key.fill(0);
        // The wipe must not be optimized away as a store to memory about to be freed.
        std::hint::black_box(&self.key);
    }
}

/// Whose key: the entry's `userId` and `orgId` (`None`: the anonymous bucket, the default
/// org).
pub type Owner<'a> = (Option<&'a str>, Option<&'a str>);

type OwnerKey = (Option<String>, Option<String>);

fn owned((user, org): Owner<'_>) -> OwnerKey {
    (user.map(str::to_owned), org.map(str::to_owned))
}

/// Per-user content keys, by the entry's (`userId`, `orgId`), with least-recently-used
/// eviction at `capacity`.
pub struct ContentKeys {
    capacity: usize,
    keys: KeyedMap<OwnerKey, Slot>,
    /// Users by last use, oldest first, for eviction.
    by_use: BTreeMap<u64, OwnerKey>,
    clock: u64,
}

impl ContentKeys {
    /// Holds at most `capacity` keys (at least one: a hash needs a key). Nothing is
    /// allocated up front.
    pub fn new(capacity: usize) -> ContentKeys {
        ContentKeys {
            capacity: capacity.max(1),
            keys: KeyedMap::default(),
            by_use: BTreeMap::new(),
            clock: 0,
        }
    }

    /// Lowercase hex HMAC-SHA256 of the UTF-8 text under `user`'s content key, creating
    /// the key (32 bytes from the platform's random source) on the user's first content.
    /// Fails only when there is no random source; the table is then unchanged.
    pub fn hash(&mut self, user: Owner<'_>, text: &str) -> Result<String, AuditError> {
        let id = owned(user);
        self.clock += 1;
        let now = self.clock;
        let mac = match self.keys.get_mut(&id) {
            Some(slot) => {
                let mac = keyed(&slot.key, text)?;
                self.by_use.remove(&slot.used);
                slot.used = now;
                mac
            }
            None => {
                let mut key = Box::new([0u8; CONTENT_KEY_BYTES]);
                getrandom::fill(&mut key[..]).map_err(|e| AuditError::Internal {
                    message: format!("no random source for a content key: {e}"),
                })?;
                if self.keys.len() >= self.capacity {
                    self.evict_oldest();
                }
                let mac = keyed(&key, text)?;
                self.keys.insert(id.clone(), Slot { key, used: now });
                mac
            }
        };
        self.by_use.insert(now, id);
        Ok(mac)
    }

    /// Destroys `user`'s content key, so that no hash made with it can be confirmed by a
    /// guess any more. True when the user had one.
    pub fn forget(&mut self, user: Owner<'_>) -> bool {
        let id = owned(user);
        match self.keys.remove(&id) {
            Some(slot) => {
                self.by_use.remove(&slot.used);
                true
            }
            None => false,
        }
    }

    /// Destroys every user's content key (when every user is erased at once).
    pub fn clear(&mut self) {
        self.keys.clear();
        self.by_use.clear();
    }

    /// Users holding a content key now.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn evict_oldest(&mut self) {
        if let Some((_, id)) = self.by_use.pop_first() {
            self.keys.remove(&id);
        }
    }
}

impl Default for ContentKeys {
    fn default() -> Self {
        ContentKeys::new(MAX_CONTENT_KEYS)
    }
}

impl fmt::Debug for ContentKeys {
    /// Sizes only: neither keys nor the users holding them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentKeys")
            .field("len", &self.keys.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

fn keyed(key: &[u8; CONTENT_KEY_BYTES], text: &str) -> Result<String, AuditError> {
    let key = MacKey::any_length(&key[..]).ok_or_else(|| AuditError::Internal {
        message: "a content key could not be used for HMAC".into(),
    })?;
    Ok(to_hex(&key.mac(text.as_bytes())))
}

#[cfg(test)]
mod tests;
