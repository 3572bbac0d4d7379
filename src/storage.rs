//! Persistence through a host storage adapter: an async key-value store (`get`, `put`,
//! `delete`, `list(prefix)`) that the host implements over Durable Object storage, KV,
//! IndexedDB or a file.
//!
//! Layout: every key of a user starts with that user's prefix, so `forget` is "delete the
//! prefix" and no key can be shared between users. Ids are escaped so that a `/` inside an
//! id cannot forge another user's prefix ("alice/s" is not under "alice/").
//!
//!   tenantry/v1/u/<user>/gen              the user's live generation (absent: 0)
//!   tenantry/v1/u/<user>/w                working memory (blocks, properties), generation 0
//!   tenantry/v1/u/<user>/s/<session>      one session, with all its turns, generation 0
//!   tenantry/v1/u/<user>/g<n>/w, g<n>/s/… the same in generation n
//!   tenantry/v1/b/<pseudonym>             a user's budget and rate counters
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

use crate::budget::AccountDoc;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserKey};
use crate::memory::{Limits, UserState};
use crate::user_doc::{self, SessionDoc, WorkingDoc};
use futures_util::future::LocalBoxFuture;
use std::cell::RefCell;
use std::collections::BTreeMap;

pub const ROOT_PREFIX: &str = "tenantry/v1/";

pub trait Storage {
    fn get(&self, key: &str) -> LocalBoxFuture<'static, Result<Option<String>>>;
    fn put(&self, key: &str, value: String) -> LocalBoxFuture<'static, Result<()>>;
    fn delete(&self, key: &str) -> LocalBoxFuture<'static, Result<()>>;
    /// Every key starting with `prefix`, in any order.
    fn list(&self, prefix: &str) -> LocalBoxFuture<'static, Result<Vec<String>>>;
}

/// `%` and `/` escaped, so the escaped id never contains the separator.
fn escape(id: &str) -> String {
    id.replace('%', "%25").replace('/', "%2F")
}

pub fn user_prefix(user: &UserKey) -> String {
    // The anonymous bucket is stored under its sentinel, which no real id may take.
    format!("{ROOT_PREFIX}u/{}/", escape(user.storage_name()))
}

/// Where a generation's keys start within the user's prefix.
fn generation_dir(generation: u32) -> String {
    match generation {
        0 => String::new(),
        n => format!("g{n}/"),
    }
}

pub fn session_key(user: &UserKey, generation: u32, session: &SessionId) -> String {
    format!(
        "{}{}s/{}",
        user_prefix(user),
        generation_dir(generation),
        escape(session.as_str())
    )
}

pub fn working_key(user: &UserKey, generation: u32) -> String {
    format!("{}{}w", user_prefix(user), generation_dir(generation))
}

pub fn generation_key(user: &UserKey) -> String {
    format!("{}gen", user_prefix(user))
}

/// A user's counters, under their pseudonym (hex), outside the user's prefix.
pub fn budget_key(pseudonym: &[u8; 32]) -> String {
    let mut key = String::with_capacity(ROOT_PREFIX.len() + 2 + 64);
    key.push_str(ROOT_PREFIX);
    key.push_str("b/");
    for b in pseudonym {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

/// The agent's pseudonym key (random, made on first use).
pub const SECRET_KEY: &str = "tenantry/v1/secret";

pub async fn get_generation(storage: &dyn Storage, user: &UserKey) -> Result<u32> {
    let key = generation_key(user);
    match storage.get(&key).await? {
        None => Ok(0),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .map_err(|e| Error::storage("load", format!("record {key:?}: {e}"))),
    }
}

pub async fn put_generation(storage: &dyn Storage, user: &UserKey, generation: u32) -> Result<()> {
    storage
        .put(&generation_key(user), generation.to_string())
        .await
}

/// The generation a key of the user's belongs to (`None` for the generation record).
fn key_generation(rest: &str) -> Option<(u32, &str)> {
    if rest == "gen" {
        return None;
    }
    match rest.strip_prefix('g') {
        Some(tail) => {
            let (n, rest) = tail.split_once('/')?;
            Some((n.parse().ok()?, rest))
        }
        None => Some((0, rest)),
    }
}

/// The highest generation any of the user's keys belongs to (0 when none).
pub async fn highest_generation(storage: &dyn Storage, user: &UserKey) -> Result<u32> {
    let prefix = user_prefix(user);
    Ok(storage
        .list(&prefix)
        .await?
        .iter()
        .filter_map(|k| k.strip_prefix(&prefix))
        .filter_map(key_generation)
        .map(|(g, _)| g)
        .max()
        .unwrap_or(0))
}

/// Deletes the user's keys of every generation but `live` (left behind by an import that
/// switched generations, or one that failed before it could). Stops at the first failure.
pub async fn delete_other_generations(
    storage: &dyn Storage,
    user: &UserKey,
    live: u32,
) -> Result<()> {
    let prefix = user_prefix(user);
    for key in storage.list(&prefix).await? {
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        if key_generation(rest).is_some_and(|(g, _)| g != live) {
            storage.delete(&key).await?;
        }
    }
    Ok(())
}

/// The global budget's counters.
pub const GLOBAL_BUDGET_KEY: &str = "tenantry/v1/global/b";

pub async fn put_budget(storage: &dyn Storage, key: &str, doc: &AccountDoc) -> Result<()> {
    storage.put(key, encode(doc)?).await
}

pub async fn get_budget(storage: &dyn Storage, key: &str) -> Result<Option<AccountDoc>> {
    match storage.get(key).await? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::storage("load", format!("record {key:?}: {e}"))),
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal {
        message: format!("could not encode a record: {e}"),
    })
}

pub async fn put_session(
    storage: &dyn Storage,
    user: &UserKey,
    generation: u32,
    doc: &SessionDoc,
) -> Result<()> {
    let id = SessionId::parse(Some(&doc.id))?;
    storage
        .put(&session_key(user, generation, &id), encode(doc)?)
        .await
}

pub async fn put_working(
    storage: &dyn Storage,
    user: &UserKey,
    generation: u32,
    doc: &WorkingDoc,
) -> Result<()> {
    storage
        .put(&working_key(user, generation), encode(doc)?)
        .await
}

/// Deletes every key under `prefix`. Stops at the first failure; running it again finishes.
pub async fn delete_prefix(storage: &dyn Storage, prefix: &str) -> Result<usize> {
    let keys = storage.list(prefix).await?;
    for key in &keys {
        // A host's list may over-match (a naive prefix scan): never delete outside the prefix.
        if key.starts_with(prefix) {
            storage.delete(key).await?;
        }
    }
    Ok(keys.len())
}

/// Reads one user back. `None` when storage holds nothing for them.
pub async fn load_user(
    storage: &dyn Storage,
    user: &UserKey,
    limits: &Limits,
) -> Result<Option<UserState>> {
    let prefix = user_prefix(user);
    let mut keys = storage.list(&prefix).await?;
    keys.retain(|k| k.starts_with(&prefix));
    if keys.is_empty() {
        return Ok(None);
    }
    let generation = get_generation(storage, user).await?;
    keys.sort();
    let unreadable = |key: &str, e: String| Error::storage("load", format!("record {key:?}: {e}"));
    let mut state = UserState::default();
    state.generation = generation;
    let mut sessions = Vec::new();
    for key in keys {
        let rest = match key_generation(&key[prefix.len()..]) {
            Some((g, rest)) if g == generation => rest,
            _ => continue,
        };
        let Some(text) = storage.get(&key).await? else {
            continue; // deleted between list and get
        };
        if rest == "w" {
            let doc: WorkingDoc =
                serde_json::from_str(&text).map_err(|e| unreadable(&key, e.to_string()))?;
            if UserKey::parse(doc.user_id.as_deref()).ok().as_ref() != Some(user) {
                return Err(unreadable(&key, "it belongs to another user".into()));
            }
            state.set_working(
                user_doc::working_from_parts(doc.blocks, doc.properties)
                    .map_err(|e| unreadable(&key, e.to_string()))?,
            );
        } else if rest.starts_with("s/") {
            let doc: SessionDoc =
                serde_json::from_str(&text).map_err(|e| unreadable(&key, e.to_string()))?;
            let (id, session) = user_doc::session_from_doc(user, doc, limits)
                .map_err(|e| unreadable(&key, e.to_string()))?;
            sessions.push((id, session));
        }
    }
    // Sessions come back in creation order, as they were listed before the restart.
    sessions.sort_by(|a, b| {
        a.1.created_at()
            .total_cmp(&b.1.created_at())
            .then(a.0.cmp(&b.0))
    });
    for (id, session) in sessions {
        state.last_active = state.last_active.max(session.last_activity());
        state.insert_session(id, session);
    }
    Ok(Some(state))
}

/// An in-memory adapter for native hosts and tests. `fail_writes` makes every put and
/// delete fail, to test that a failed write leaves RAM as it was.
#[derive(Default)]
pub struct MemoryStorage {
    pub map: RefCell<BTreeMap<String, String>>,
    pub fail_writes: std::cell::Cell<bool>,
}

impl MemoryStorage {
    fn check(&self, op: &str) -> Result<()> {
        if self.fail_writes.get() {
            Err(Error::storage(op, "injected failure"))
        } else {
            Ok(())
        }
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &str) -> LocalBoxFuture<'static, Result<Option<String>>> {
        let v = self.map.borrow().get(key).cloned();
        Box::pin(async move { Ok(v) })
    }
    fn put(&self, key: &str, value: String) -> LocalBoxFuture<'static, Result<()>> {
        let r = self.check("put").map(|()| {
            self.map.borrow_mut().insert(key.to_owned(), value);
        });
        Box::pin(async move { r })
    }
    fn delete(&self, key: &str) -> LocalBoxFuture<'static, Result<()>> {
        let r = self.check("delete").map(|()| {
            self.map.borrow_mut().remove(key);
        });
        Box::pin(async move { r })
    }
    fn list(&self, prefix: &str) -> LocalBoxFuture<'static, Result<Vec<String>>> {
        let keys = self
            .map
            .borrow()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        Box::pin(async move { Ok(keys) })
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn user(s: &str) -> UserKey {
        UserKey::parse(Some(s)).unwrap()
    }

    #[test]
    fn no_user_prefix_is_a_prefix_of_another_users_keys() {
        let ids = [
            "alice",
            "alice/",
            "alice/s",
            "alice%2F",
            "ali",
            "alice ",
            "__tenantry_anonymous__ ",
        ];
        let mut keys = Vec::new();
        for id in ids {
            let u = user(id);
            keys.push((
                id,
                session_key(&u, 0, &SessionId::parse(Some("s/x")).unwrap()),
            ));
            keys.push((
                id,
                session_key(&u, 3, &SessionId::parse(Some("g1/s")).unwrap()),
            ));
            keys.push((id, working_key(&u, 0)));
            keys.push((id, working_key(&u, 2)));
            keys.push((id, generation_key(&u)));
        }
        keys.push(("(anon)", working_key(&UserKey::Anonymous, 0)));
        for id in ids.iter().map(|s| Some(*s)).chain([None]) {
            let u = UserKey::parse(id).unwrap();
            let p = user_prefix(&u);
            let owner = id.unwrap_or("(anon)");
            for (other, key) in &keys {
                assert_eq!(key.starts_with(&p), owner == *other, "{p} vs {key}");
            }
        }
    }
}
