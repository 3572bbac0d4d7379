//! The tool cache behind `ctx.cache`: every key is stored under the calling user, and the
//! handle a tool receives is bound to that user, so one tenant's cached value can never be
//! served to another (the cross-tenant tool-cache trap, impossible by construction).
//!
//! Bounds are per user as well as overall, so one user's calls can only evict their own
//! entries while anyone else holds fewer; and a handle lives as long as the tool call it was
//! made for, so a handle a tool kept cannot write into a user's cache later (after a
//! `forget`, say).

use crate::ids::UserKey;
use crate::keyed::KeyedMap;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Entries kept across all users.
pub const MAX_ENTRIES: usize = 10_000;
/// Entries kept for one user: beyond it their own soonest-expiring go first.
pub const MAX_ENTRIES_PER_USER: usize = 100;
pub const MAX_KEY_BYTES: usize = 256;

type Entries = KeyedMap<String, (Value, f64)>;

#[derive(Default)]
pub struct ToolCache {
    users: KeyedMap<UserKey, Entries>,
    len: usize,
    /// Bumped by every `forget`: a handle made before one stops writing.
    forgets: u64,
}

fn soonest(entries: &Entries) -> Option<String> {
    entries
        .iter()
        .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .map(|(k, _)| k.clone())
}

impl ToolCache {
    fn get(&mut self, user: &UserKey, key: &str, now: f64) -> Option<Value> {
        let entries = self.users.get_mut(user)?;
        match entries.get(key) {
            Some((_, expires)) if *expires <= now => {
                entries.remove(key);
                self.len -= 1;
                if entries.is_empty() {
                    self.users.remove(user);
                }
                None
            }
            Some((v, _)) => Some(v.clone()),
            None => None,
        }
    }

    /// False when the cache is full of other users' entries that this user may not evict.
    fn set(&mut self, user: &UserKey, key: &str, value: Value, expires: f64) -> bool {
        let replacing = self.users.get(user).is_some_and(|e| e.contains_key(key));
        if !replacing {
            let own = self.users.get(user).map_or(0, KeyedMap::len);
            if own >= MAX_ENTRIES_PER_USER {
                self.evict_from(&user.clone());
            } else if self.len >= MAX_ENTRIES {
                // Only a user holding more than the caller would after this write pays;
                // otherwise the write is refused, so no caller evicts its equals.
                let heaviest = self
                    .users
                    .iter()
                    .filter(|(_, e)| e.len() > own + 1)
                    .max_by_key(|(_, e)| e.len())
                    .map(|(u, _)| u.clone());
                match heaviest {
                    Some(h) => self.evict_from(&h),
                    None => return false,
                }
            }
            self.len += 1;
        }
        self.users
            .entry(user.clone())
            .or_default()
            .insert(key.to_owned(), (value, expires));
        true
    }

    fn evict_from(&mut self, user: &UserKey) {
        if let Some(entries) = self.users.get_mut(user) {
            if let Some(victim) = soonest(entries) {
                entries.remove(&victim);
                self.len -= 1;
            }
            if entries.is_empty() {
                self.users.remove(user);
            }
        }
    }

    fn delete(&mut self, user: &UserKey, key: &str) {
        if let Some(entries) = self.users.get_mut(user) {
            if entries.remove(key).is_some() {
                self.len -= 1;
            }
            if entries.is_empty() {
                self.users.remove(user);
            }
        }
    }

    /// Drops every entry of one user (forget), and retires every handle made before.
    pub fn forget(&mut self, user: &UserKey) {
        if let Some(entries) = self.users.remove(user) {
            self.len -= entries.len();
        }
        self.forgets += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Users with at least one entry.
    pub fn users(&self) -> usize {
        self.users.len()
    }
}

/// `ctx.cache` for one call: the user is fixed when the handle is made, and the handle
/// stops working when the call ends (`retire`) or any user is forgotten meanwhile.
#[derive(Clone)]
pub struct CacheHandle {
    cache: Rc<RefCell<ToolCache>>,
    user: UserKey,
    now: Rc<dyn Fn() -> f64>,
    forgets: u64,
    live: Rc<Cell<bool>>,
}

impl CacheHandle {
    pub fn new(cache: Rc<RefCell<ToolCache>>, user: UserKey, now: Rc<dyn Fn() -> f64>) -> Self {
        let forgets = cache.borrow().forgets;
        CacheHandle {
            cache,
            user,
            now,
            forgets,
            live: Rc::new(Cell::new(true)),
        }
    }

    /// Ends this handle (and its clones): the call it was made for is over.
    pub fn retire(&self) {
        self.live.set(false);
    }

    fn usable(&self) -> bool {
        self.live.get() && self.cache.borrow().forgets == self.forgets
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        if !self.usable() {
            return None;
        }
        let now = (self.now)();
        self.cache.borrow_mut().get(&self.user, key, now)
    }

    /// Stores `value` for `ttl_ms` (forever when `None`). Overlong keys, bad time-outs and a
    /// retired handle are refused.
    pub fn set(&self, key: &str, value: Value, ttl_ms: Option<f64>) -> bool {
        if key.len() > MAX_KEY_BYTES || !self.usable() {
            return false;
        }
        let expires = match ttl_ms {
            Some(t) if t.is_finite() && t > 0.0 => (self.now)() + t,
            Some(_) => return false,
            None => f64::INFINITY,
        };
        self.cache.borrow_mut().set(&self.user, key, value, expires)
    }

    pub fn delete(&self, key: &str) {
        if self.usable() {
            self.cache.borrow_mut().delete(&self.user, key);
        }
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    type Shared = Rc<RefCell<ToolCache>>;

    fn setup() -> (Shared, Rc<Cell<f64>>, impl Fn(&str) -> CacheHandle) {
        let cache = Rc::new(RefCell::new(ToolCache::default()));
        let now = Rc::new(Cell::new(0.0));
        let (c, clock) = (cache.clone(), now.clone());
        let handle = move |u: &str| {
            let t = clock.clone();
            CacheHandle::new(
                c.clone(),
                UserKey::parse(Some(u)).unwrap(),
                Rc::new(move || t.get()),
            )
        };
        (cache, now, handle)
    }

    #[test]
    fn the_same_key_is_a_different_entry_per_user() {
        let (cache, now, handle) = setup();
        let (alice, bob) = (handle("alice"), handle("bob"));
        alice.set("balance", json!(100), None);
        assert_eq!(bob.get("balance"), None);
        bob.set("balance", json!(5), Some(1000.0));
        assert_eq!(alice.get("balance"), Some(json!(100)));
        now.set(1000.0);
        assert_eq!(bob.get("balance"), None, "expired");
        cache
            .borrow_mut()
            .forget(&UserKey::parse(Some("alice")).unwrap());
        let alice = handle("alice");
        assert_eq!(alice.get("balance"), None);
        assert!(!alice.set(&"k".repeat(MAX_KEY_BYTES + 1), json!(1), None));
    }

    #[test]
    fn a_kept_handle_writes_nothing_after_its_call_or_a_forget() {
        let (cache, _, handle) = setup();
        let kept = handle("alice");
        let retired = kept.clone();
        kept.retire();
        assert!(!retired.set("late", json!(1), None));
        let before_forget = handle("alice");
        cache
            .borrow_mut()
            .forget(&UserKey::parse(Some("bob")).unwrap());
        assert!(!before_forget.set("late", json!(1), None));
        assert_eq!(cache.borrow().len(), 0);
    }

    #[test]
    fn one_user_cannot_evict_another_users_entries() {
        let (cache, _, handle) = setup();
        let victim = handle("victim");
        victim.set("mine", json!("keep"), Some(10.0));
        let attacker = handle("attacker");
        for i in 0..(MAX_ENTRIES * 2) {
            attacker.set(&format!("k{i}"), json!(i), None);
        }
        assert_eq!(victim.get("mine"), Some(json!("keep")));
        assert_eq!(cache.borrow().len(), 1 + MAX_ENTRIES_PER_USER);
        // Many attacker ids fill the overall bound; the heaviest holders pay, not the victim.
        for u in 0..(MAX_ENTRIES + 10) {
            handle(&format!("flood-{u}")).set("k", json!(u), None);
        }
        assert!(cache.borrow().len() <= MAX_ENTRIES);
        assert_eq!(victim.get("mine"), Some(json!("keep")));
    }
}
