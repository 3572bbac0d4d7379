//! The tool cache behind `ctx.cache`: every key is stored under the calling user, and the
//! handle a tool receives is bound to that user, so one tenant's cached value can never be
//! served to another (the cross-tenant tool-cache trap, impossible by construction).

use crate::ids::UserKey;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Entries kept across all users; beyond it the soonest-expiring go first.
pub const MAX_ENTRIES: usize = 10_000;
pub const MAX_KEY_BYTES: usize = 256;

#[derive(Default)]
pub struct ToolCache {
    entries: HashMap<(UserKey, String), (Value, f64)>,
}

impl ToolCache {
    fn get(&mut self, user: &UserKey, key: &str, now: f64) -> Option<Value> {
        let k = (user.clone(), key.to_owned());
        match self.entries.get(&k) {
            Some((_, expires)) if *expires <= now => {
                self.entries.remove(&k);
                None
            }
            Some((v, _)) => Some(v.clone()),
            None => None,
        }
    }

    fn set(&mut self, user: &UserKey, key: &str, value: Value, expires: f64) {
        if self.entries.len() >= MAX_ENTRIES {
            if let Some(victim) = self
                .entries
                .iter()
                .min_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&victim);
            }
        }
        self.entries
            .insert((user.clone(), key.to_owned()), (value, expires));
    }

    /// Drops every entry of one user (forget).
    pub fn forget(&mut self, user: &UserKey) {
        self.entries.retain(|(u, _), _| u != user);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `ctx.cache` for one call: the user is fixed when the handle is made.
#[derive(Clone)]
pub struct CacheHandle {
    cache: Rc<RefCell<ToolCache>>,
    user: UserKey,
    now: Rc<dyn Fn() -> f64>,
}

impl CacheHandle {
    pub fn new(cache: Rc<RefCell<ToolCache>>, user: UserKey, now: Rc<dyn Fn() -> f64>) -> Self {
        CacheHandle { cache, user, now }
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        let now = (self.now)();
        self.cache.borrow_mut().get(&self.user, key, now)
    }

    /// Stores `value` for `ttl_ms` (forever when `None`). Overlong keys are refused.
    pub fn set(&self, key: &str, value: Value, ttl_ms: Option<f64>) -> bool {
        if key.len() > MAX_KEY_BYTES {
            return false;
        }
        let expires = match ttl_ms {
            Some(t) if t.is_finite() && t > 0.0 => (self.now)() + t,
            Some(_) => return false,
            None => f64::INFINITY,
        };
        self.cache.borrow_mut().set(&self.user, key, value, expires);
        true
    }

    pub fn delete(&self, key: &str) {
        self.cache
            .borrow_mut()
            .entries
            .remove(&(self.user.clone(), key.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_same_key_is_a_different_entry_per_user() {
        let cache = Rc::new(RefCell::new(ToolCache::default()));
        let now = Rc::new(std::cell::Cell::new(0.0));
        let clock = now.clone();
        let handle = |u: &str| {
            let c = clock.clone();
            CacheHandle::new(
                cache.clone(),
                UserKey::parse(Some(u)).unwrap(),
                Rc::new(move || c.get()),
            )
        };
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
        assert_eq!(alice.get("balance"), None);
        assert!(!alice.set(&"k".repeat(MAX_KEY_BYTES + 1), json!(1), None));
    }
}
