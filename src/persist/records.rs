//! Reading and writing a user's records: documents to keys and back, generations, budget
//! counters, and erasure. Everything here goes through the adapter and nothing else.

use super::adapter::Storage;
use super::keys::*;
use super::user_doc::{self, FactsDoc, SessionDoc, WorkingDoc};
use crate::budget::AccountDoc;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserKey};
use crate::memory::{Facts, Limits, UserState};

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

pub async fn put_facts(
    storage: &dyn Storage,
    user: &UserKey,
    generation: u32,
    doc: &FactsDoc,
) -> Result<()> {
    storage
        .put(&facts_key(user, generation), encode(doc)?)
        .await
}

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
            if UserKey::parse_in(doc.org_id.as_deref(), doc.user_id.as_deref())
                .ok()
                .as_ref()
                != Some(user)
            {
                return Err(unreadable(&key, "it belongs to another user".into()));
            }
            state.set_working(
                user_doc::working_from_parts(doc.blocks, doc.properties)
                    .map_err(|e| unreadable(&key, e.to_string()))?,
            );
        } else if rest == "f" {
            let doc: FactsDoc =
                serde_json::from_str(&text).map_err(|e| unreadable(&key, e.to_string()))?;
            if UserKey::parse_in(doc.org_id.as_deref(), doc.user_id.as_deref())
                .ok()
                .as_ref()
                != Some(user)
            {
                return Err(unreadable(&key, "it belongs to another user".into()));
            }
            state.set_facts(
                Facts::from_records(doc.facts).map_err(|e| unreadable(&key, e.to_string()))?,
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

/// Erases a user's keys: first an empty generation becomes the live one (one put, after
/// which a load finds nothing), then every key goes. A failure part-way leaves only keys no
/// load reads, and running it again finishes.
pub async fn erase_user(s: &dyn Storage, user: &UserKey) -> Result<()> {
    let prefix = user_prefix(user);
    let keys = s.list(&prefix).await?;
    if keys.is_empty() {
        return Ok(());
    }
    let current = get_generation(s, user).await?;
    put_generation(s, user, current.saturating_add(1)).await?;
    let generation_key = generation_key(user);
    for key in keys
        .iter()
        .filter(|k| k.starts_with(&prefix) && **k != generation_key)
    {
        s.delete(key).await?;
    }
    s.delete(&generation_key).await
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
