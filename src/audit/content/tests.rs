// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use crate::audit::hash::sha256_hex;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn contents_are_keyed_per_user_and_stable_until_forget() {
    let mut keys = ContentKeys::new(10);
    let pin = "4711";
    let a = keys.hash((Some("alice"), None), pin).unwrap();
    assert_eq!(a.len(), 64);
    assert!(a.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
    // Not the guessable plain hash, and not shared between users.
    assert_ne!(a, sha256_hex(pin));
    assert_eq!(keys.hash((Some("alice"), None), pin).unwrap(), a);
    assert_ne!(keys.hash((Some("alice"), None), "4712").unwrap(), a);
    assert_ne!(keys.hash((Some("bob"), None), pin).unwrap(), a);
    assert_ne!(keys.hash((None, None), pin).unwrap(), a);
    assert_ne!(keys.hash((Some("alice "), None), pin).unwrap(), a);
    assert_eq!(keys.len(), 4);
}

#[test]
fn forget_destroys_the_key_so_old_hashes_match_no_guess() {
    let mut keys = ContentKeys::new(10);
    let before = keys.hash((Some("alice"), None), "4711").unwrap();
    let bob = keys.hash((Some("bob"), None), "4711").unwrap();
    assert!(keys.forget((Some("alice"), None)));
    assert!(!keys.forget((Some("alice"), None)));
    assert_eq!(keys.len(), 1);
    // Every PIN tried under the key alice has now (a fresh one) misses the old hash.
    let guesses: Vec<String> = (0..10_000)
        .map(|n| {
            keys.hash((Some("alice"), None), &format!("{n:04}"))
                .unwrap()
        })
        .collect();
    assert!(!guesses.contains(&before));
    assert_eq!(
        keys.hash((Some("bob"), None), "4711").unwrap(),
        bob,
        "bob keeps his key"
    );
}

#[test]
fn the_table_is_bounded_and_evicts_the_least_recently_used() {
    let mut keys = ContentKeys::new(3);
    let users = ["a", "b", "c", "d"];
    let first: Vec<String> = users[..3]
        .iter()
        .map(|u| keys.hash((Some(u), None), "x").unwrap())
        .collect();
    // `a` is used again, so `b` is the least recently used when `d` arrives.
    assert_eq!(keys.hash((Some("a"), None), "x").unwrap(), first[0]);
    keys.hash((Some("d"), None), "x").unwrap();
    assert_eq!((keys.len(), keys.capacity()), (3, 3));
    assert_eq!(keys.hash((Some("a"), None), "x").unwrap(), first[0]);
    // `b` lost its key: its next content gets a new one (and `c`, now oldest, goes).
    assert_ne!(keys.hash((Some("b"), None), "x").unwrap(), first[1]);
    assert_eq!(keys.len(), 3);
    assert_ne!(keys.hash((Some("c"), None), "x").unwrap(), first[2]);
    for _ in 0..1000 {
        keys.hash((Some("a"), None), "y").unwrap();
    }
    assert_eq!(keys.len(), 3);
    assert_eq!(keys.by_use.len(), 3);
    assert_eq!(ContentKeys::new(0).capacity(), 1);
    assert_eq!(ContentKeys::default().capacity(), MAX_CONTENT_KEYS);
}

#[test]
fn debug_shows_no_key_and_no_user() {
    let mut keys = ContentKeys::new(5);
    keys.hash((Some("alice-secret-name"), None), "x").unwrap();
    let shown = format!("{keys:?}");
    assert_eq!(shown, "ContentKeys { len: 1, capacity: 5 }");
}
