//! The storage key layout (see the folder's doc). Ids are escaped so that a `/` inside an id
//! cannot forge another user's prefix ("alice/s" is not under "alice/").

use crate::ids::{OrgId, SessionId, UserKey};

pub const ROOT_PREFIX: &str = "tenantry/v1/";

fn escape(id: &str) -> String {
    id.replace('%', "%25").replace('/', "%2F")
}

/// The id `escape` made `text` from; `None` for text no escaped id spells.
pub fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(['%', '/']) {
        out.push_str(&rest[..i]);
        let (c, tail) = match rest[i..].get(..3) {
            Some("%25") => ('%', &rest[i + 3..]),
            Some("%2F") => ('/', &rest[i + 3..]),
            _ => return None,
        };
        out.push(c);
        rest = tail;
    }
    out.push_str(rest);
    Some(out)
}

/// The user whose key `key` is, if it is a key of a user of `org`.
pub fn org_user_of(org: &OrgId, key: &str) -> Option<UserKey> {
    let prefix = org_prefix(org);
    let rest = key.strip_prefix(&prefix)?.strip_prefix("u/")?;
    let (name, _) = rest.split_once('/')?;
    let name = unescape(name)?;
    let id = (name != crate::ids::ANONYMOUS_SENTINEL).then_some(name.as_str());
    UserKey::parse_in(Some(org.as_str()), id).ok()
}

pub fn user_prefix(user: &UserKey) -> String {
    // The anonymous bucket is stored under its sentinel, which no real id may take.
    let name = escape(user.storage_name());
    match user.org_id() {
        None => format!("{ROOT_PREFIX}u/{name}/"),
        Some(org) => format!("{}u/{name}/", org_prefix(org)),
    }
}

/// Every key of an org's users and of the org itself starts with it; the default org's
/// users live under `u/`, which no org prefix starts with.
pub fn org_prefix(org: &OrgId) -> String {
    format!("{ROOT_PREFIX}o/{}/", escape(org.as_str()))
}

/// An org's knowledge (its shared blocks), inside its prefix so `forgetOrg` takes it.
pub fn org_knowledge_key(org: &OrgId) -> String {
    format!("{}k", org_prefix(org))
}

/// The prefix under which every org's keys live.
pub const ORGS_PREFIX: &str = "tenantry/v1/o/";

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
    pseudonym_key("b/", pseudonym)
}

/// An org's own budget counters (the org level), under the org's pseudonym and outside
/// the org's prefix: `forgetOrg` erases the prefix, and the spend of the org's open
/// windows must outlive it (an erasure is never a way around a limit). `ob/` is not under
/// `o/`, so no listing of an org's keys sees these.
pub fn org_budget_key(pseudonym: &[u8; 32]) -> String {
    pseudonym_key("ob/", pseudonym)
}

fn pseudonym_key(dir: &str, pseudonym: &[u8; 32]) -> String {
    let mut key = String::with_capacity(ROOT_PREFIX.len() + dir.len() + 64);
    key.push_str(ROOT_PREFIX);
    key.push_str(dir);
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
