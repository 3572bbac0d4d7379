//! User and session identifiers, validated once at the boundary.
//!
//! A `UserKey` is the partition every piece of state is keyed by. Holding one proves the
//! id was validated, so the rest of the core never re-checks strings.

use crate::error::{Error, Result};
use std::fmt;
use std::rc::Rc;

/// The storage name of the anonymous partition. Refused as a real id so that no user can
/// read or write the anonymous bucket by naming it.
pub const ANONYMOUS_SENTINEL: &str = "__tenantry_anonymous__";

/// The session used when a call names none.
pub const DEFAULT_SESSION_ID: &str = "default";

/// Longest accepted id, in UTF-8 bytes (ids end up in storage keys and headers).
pub const MAX_ID_BYTES: usize = 255;

/// Shared text: a user id is a key in several tables (memory, LRU, budget, locks) and is
/// cloned on every run, so copies are a reference count, not an allocation each.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Rc<str>);

impl UserId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organisation: the scope above users. Its users share its knowledge and its ceilings,
/// never their own state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(Rc<str>);

impl OrgId {
    /// `None` is the default org (every call that names none); a string must be a valid id.
    pub fn parse(id: Option<&str>) -> Result<Option<OrgId>> {
        match id {
            None => Ok(None),
            Some(s) => {
                check_id(s).map_err(|reason| Error::InvalidOrgId { reason })?;
                Ok(Some(OrgId(Rc::from(s))))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whose state a call touches: a user of an org, both parts compared, so ("acme", "alice")
/// and ("globex", "alice") are two partitions that share nothing. Without an org, the
/// default org; without a user id, that org's anonymous bucket (a real partition).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey {
    org: Option<OrgId>,
    user: Option<UserId>,
}

impl UserKey {
    /// The anonymous bucket of the default org.
    #[allow(non_upper_case_globals)]
    pub const Anonymous: UserKey = UserKey {
        org: None,
        user: None,
    };

    /// A user of the default org: `None` is its anonymous bucket; a string must be a valid id.
    pub fn parse(id: Option<&str>) -> Result<UserKey> {
        UserKey::parse_in(None, id)
    }

    /// A user of `org` (`None`: the default org).
    pub fn parse_in(org: Option<&str>, id: Option<&str>) -> Result<UserKey> {
        let org = OrgId::parse(org)?;
        Ok(UserKey {
            org,
            user: UserId::parse(id)?,
        })
    }

    /// The same person's key in another org; for callers that hold a parsed org already.
    pub fn with_org(self, org: Option<OrgId>) -> UserKey {
        UserKey { org, ..self }
    }

    /// The id as the host sees it: `None` for the anonymous bucket.
    pub fn as_option(&self) -> Option<&str> {
        self.user.as_ref().map(UserId::as_str)
    }

    /// The org id as the host sees it: `None` for the default org.
    pub fn org(&self) -> Option<&str> {
        self.org.as_ref().map(OrgId::as_str)
    }

    pub fn org_id(&self) -> Option<&OrgId> {
        self.org.as_ref()
    }

    pub fn is_anonymous(&self) -> bool {
        self.user.is_none()
    }

    /// The user id as stored: the anonymous bucket under its reserved sentinel.
    pub fn storage_name(&self) -> &str {
        self.as_option().unwrap_or(ANONYMOUS_SENTINEL)
    }
}

impl UserId {
    fn parse(id: Option<&str>) -> Result<Option<UserId>> {
        let Some(s) = id else { return Ok(None) };
        check_id(s).map_err(|reason| Error::InvalidUserId { reason })?;
        if s == ANONYMOUS_SENTINEL {
            return Err(Error::InvalidUserId {
                reason: format!("`{ANONYMOUS_SENTINEL}` is reserved for the anonymous bucket; pass null or undefined instead"),
            });
        }
        Ok(Some(UserId(Rc::from(s))))
    }
}

impl fmt::Display for UserKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user {
            None => f.write_str("(anonymous)")?,
            Some(id) => write!(f, "{:?}", id.as_str())?,
        }
        match &self.org {
            None => Ok(()),
            Some(org) => write!(f, " of org {:?}", org.as_str()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Rc<str>);

impl SessionId {
    pub fn parse(id: Option<&str>) -> Result<SessionId> {
        let s = id.unwrap_or(DEFAULT_SESSION_ID);
        check_id(s).map_err(|reason| Error::InvalidSessionId { reason })?;
        Ok(SessionId(if s == DEFAULT_SESSION_ID {
            default_session_text()
        } else {
            Rc::from(s)
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for SessionId {
    fn default() -> Self {
        SessionId(default_session_text())
    }
}

/// Every user's default session shares one copy of its id.
fn default_session_text() -> Rc<str> {
    thread_local!(static DEFAULT: Rc<str> = Rc::from(DEFAULT_SESSION_ID));
    DEFAULT.with(Rc::clone)
}

/// Shared rules for user and session ids: non-empty, bounded, no control characters
/// (they hide in logs and break line-oriented audit files).
fn check_id(s: &str) -> std::result::Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > MAX_ID_BYTES {
        return Err(format!(
            "must be at most {MAX_ID_BYTES} bytes of UTF-8, got {}",
            s.len()
        ));
    }
    if let Some((i, c)) = s.char_indices().find(|(_, c)| c.is_control()) {
        return Err(format!(
            "must not contain control characters (found U+{:04X} at byte {i})",
            c as u32
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn none_is_the_anonymous_bucket() {
        assert_eq!(UserKey::parse(None).unwrap(), UserKey::Anonymous);
        assert_eq!(UserKey::Anonymous.as_option(), None);
        assert_eq!(UserKey::Anonymous.storage_name(), ANONYMOUS_SENTINEL);
    }

    #[test]
    fn refuses_bad_user_ids_with_a_reason() {
        for bad in ["", "a\u{0}b", "tab\there", "nl\n", "del\u{7f}", "c1\u{85}"] {
            let err = UserKey::parse(Some(bad)).unwrap_err();
            assert_eq!(err.code(), "invalid_user_id", "{bad:?}");
        }
        let long = "x".repeat(256);
        assert!(UserKey::parse(Some(&long)).is_err());
        // 255 bytes made of multi-byte chars: the limit is bytes, not chars.
        let ok = "é".repeat(127) + "x"; // 255 bytes
        assert_eq!(ok.len(), 255);
        assert!(UserKey::parse(Some(&ok)).is_ok());
        let over = "é".repeat(128); // 256 bytes, 128 chars
        assert!(UserKey::parse(Some(&over)).is_err());
    }

    #[test]
    fn the_sentinel_is_refused_but_lookalikes_are_distinct_users() {
        let err = UserKey::parse(Some(ANONYMOUS_SENTINEL)).unwrap_err();
        assert_eq!(err.code(), "invalid_user_id");
        let near = format!("{ANONYMOUS_SENTINEL} ");
        let k = UserKey::parse(Some(&near)).unwrap();
        assert_ne!(k, UserKey::Anonymous);
        let a = UserKey::parse(Some("alice")).unwrap();
        for other in ["Alice", "alice ", "alice\u{200b}"] {
            assert_ne!(UserKey::parse(Some(other)).unwrap(), a);
        }
    }

    #[test]
    fn session_ids_default_and_validate() {
        assert_eq!(SessionId::parse(None).unwrap().as_str(), DEFAULT_SESSION_ID);
        assert_eq!(
            SessionId::parse(Some("")).unwrap_err().code(),
            "invalid_session_id"
        );
        assert_eq!(SessionId::parse(Some("conv-1")).unwrap().as_str(), "conv-1");
    }
}
