//! The hasher of every table keyed by something a user or a caller chooses (user, org and
//! session ids, search terms): SipHash-1-3 under keys drawn once from the host's random
//! source, so no one can compute ahead of time a set of ids that collide and turn a table
//! into a list. std's `RandomState` is keyed that way natively, but on
//! wasm32-unknown-unknown it is keyed by memory addresses, which are the same in every
//! instance of the module.
//!
//! The keys are drawn on the first hash, not at module load or construction: Workers refuse
//! randomness outside a request, and an agent may be built at global scope. Should even
//! the first hash find no random source, the keys fall back to addresses (std's own keying
//! there) and stay fixed: a table must hash the same way for its whole life.

use siphasher::sip::SipHasher13;
use std::cell::OnceCell;
use std::hash::BuildHasher;

thread_local! {
    static KEYS: OnceCell<(u64, u64, bool)> = const { OnceCell::new() };
}

fn keys() -> (u64, u64, bool) {
    KEYS.with(|k| {
        *k.get_or_init(|| {
            let mut b = [0u8; 16];
            match getrandom::fill(&mut b) {
                Ok(()) => {
                    let (k0, k1) = b.split_at(8);
                    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
                    (word(k0), word(k1), true)
                }
                Err(_) => {
                    let stack = 0u8;
                    let heap = Box::new(0u8);
                    (
                        std::ptr::from_ref(&stack).addr() as u64,
                        std::ptr::from_ref(&*heap).addr() as u64,
                        false,
                    )
                }
            }
        })
    })
}

/// Whether the keys came from the host's random source (tests check that they do).
#[cfg(test)]
fn keys_are_random() -> bool {
    keys().2
}

/// The `BuildHasher` of those tables: zero-sized, every table shares the process's keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keyed;

impl BuildHasher for Keyed {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        let (k0, k1, _) = keys();
        SipHasher13::new_with_keys(k0, k1)
    }
}

pub type KeyedMap<K, V> = std::collections::HashMap<K, V, Keyed>;
pub type KeyedSet<K> = std::collections::HashSet<K, Keyed>;

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test (Node and Chrome).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_keys_come_from_the_random_source() {
        assert!(super::keys_are_random());
        let (k0, k1, _) = super::keys();
        assert_ne!((k0, k1), (0, 0));
    }

    #[test]
    fn a_table_hashes_the_same_way_for_its_life() {
        let mut m = super::KeyedMap::default();
        for i in 0..1000 {
            m.insert(format!("user-{i}"), i);
        }
        assert!((0..1000).all(|i| m.get(&format!("user-{i}")) == Some(&i)));
    }
}
