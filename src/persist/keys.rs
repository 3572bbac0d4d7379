//! The storage key layout (see the folder's doc). Ids are escaped so that a `/` inside an id
//! cannot forge another user's prefix ("alice/s" is not under "alice/").

use crate::ids::{SessionId, UserKey};

pub const ROOT_PREFIX: &str = "tenantry/v1/";

fn escape(id: &str) -> String {
    id.replace('%', "%25").replace('/', "%2F")
}

pub fn user_prefix(user: &UserKey) -> String {
    // The anonymous bucket is stored under its sentinel, which no real id may take.
    format!("{ROOT_PREFIX}u/{}/", escape(user.storage_name()))
}

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

pub fn facts_key(user: &UserKey, generation: u32) -> String {
    format!("{}{}f", user_prefix(user), generation_dir(generation))
}

pub fn generation_key(user: &UserKey) -> String {
    format!("{}gen", user_prefix(user))
}

pub fn budget_key(pseudonym: &[u8; 32]) -> String {
    let mut key = String::with_capacity(ROOT_PREFIX.len() + 2 + 64);
    key.push_str(ROOT_PREFIX);
    key.push_str("b/");
    for b in pseudonym {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

pub const SECRET_KEY: &str = "tenantry/v1/secret";

pub(super) fn key_generation(rest: &str) -> Option<(u32, &str)> {
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

pub const GLOBAL_BUDGET_KEY: &str = "tenantry/v1/global/b";
