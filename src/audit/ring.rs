//! A bounded in-memory ring of recent entries, for "what happened lately" queries without
//! reading the host's storage. Memory is bounded by count; the oldest entries fall out.

use super::content::Owner;
use super::entry::Entry;
use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub struct AuditRing {
    capacity: usize,
    entries: VecDeque<Entry>,
}

impl AuditRing {
    /// Keeps at most `capacity` entries (0 keeps none). Nothing is allocated up front, so
    /// a large capacity from config costs memory only as entries arrive.
    pub fn new(capacity: usize) -> AuditRing {
        AuditRing {
            capacity,
            entries: VecDeque::new(),
        }
    }

    pub fn push(&mut self, entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Oldest first. Consecutive chain entries, so `verify_from` can check them given the
    /// `prev` and `seq` of the first.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.iter().cloned().collect()
    }

    /// The entries whose top-level `userId` and `orgId` are exactly `user`'s (`None`:
    /// entries with no user, the default org), oldest first. No normalization: "alice "
    /// and "Alice" are other users, and so is "alice" of another org.
    pub fn for_user(&self, (user, org): Owner<'_>) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.user_id.as_deref() == user && e.org_id.as_deref() == org)
            .cloned()
            .collect()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use crate::audit::chain::AuditChain;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const USERS: [Option<&str>; 7] = [
        Some("alice"),
        Some("alice "),
        Some("Alice"),
        None,
        Some("bob"),
        Some("alice\u{200b}"),
        Some(""),
    ];

    fn ring_with(capacity: usize, n: usize) -> AuditRing {
        let mut chain = AuditChain::new(b"test-key-0123456789abcdef").unwrap();
        let mut ring = AuditRing::new(capacity);
        for i in 0..n {
            let user = USERS[i % USERS.len()];
            ring.push(
                chain
                    .append(
                        i as f64,
                        "tool.call",
                        (user, None),
                        None,
                        None,
                        json!({ "i": i }),
                    )
                    .unwrap(),
            );
        }
        ring
    }

    #[test]
    fn for_user_returns_exactly_that_users_entries() {
        let ring = ring_with(100, 70);
        let mut total = 0;
        for user in USERS {
            let mine = ring.for_user((user, None));
            assert_eq!(mine.len(), 10, "{user:?}");
            assert!(
                mine.iter().all(|e| e.user_id.as_deref() == user),
                "{user:?}"
            );
            assert!(mine.windows(2).all(|w| w[0].seq < w[1].seq));
            total += mine.len();
        }
        assert_eq!(total, ring.len());
        assert!(ring.for_user((Some("carol"), None)).is_empty());
        assert!(ring.for_user((Some("ALICE"), None)).is_empty());
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_fall_out() {
        let ring = ring_with(5, 12);
        assert_eq!((ring.len(), ring.capacity()), (5, 5));
        let seqs: Vec<u64> = ring.entries().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [7, 8, 9, 10, 11]);
        // What is left is one contiguous stretch of the chain.
        let e = ring.entries();
        assert!(
            super::super::verify::verify_from(&e[1..], b"test-key-0123456789abcdef", &e[0].mac, 8)
                .ok
        );
        let empty = ring_with(0, 3);
        assert!(empty.is_empty() && empty.entries().is_empty());
    }
}
