//! Who may call which tool: a static policy per user (what the model is even told about,
//! and what needs a human's approval), before any host `policy` callback sees the call.

use crate::error::{Error, Result};
use crate::ids::UserKey;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultAccess {
    #[default]
    Allow,
    Deny,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserRules {
    #[serde(default)]
    pub allow: BTreeSet<String>,
    #[serde(default)]
    pub deny: BTreeSet<String>,
    #[serde(default)]
    pub require_approval: BTreeSet<String>,
}

/// `permissions: { default, users: { [userId]: { allow, deny, requireApproval } }, requireApproval }`
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permissions {
    #[serde(default)]
    pub default: DefaultAccess,
    #[serde(default)]
    pub users: BTreeMap<String, UserRules>,
    #[serde(default)]
    pub require_approval: BTreeSet<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Allowed,
    NeedsApproval,
    Denied,
}

impl Permissions {
    /// Rules naming tools that do not exist are almost always typos that would silently
    /// leave a tool open: refuse them.
    pub fn validate(&self, tools: &BTreeSet<&str>) -> Result<()> {
        let check = |field: String, names: &BTreeSet<String>| -> Result<()> {
            match names.iter().find(|n| !tools.contains(n.as_str())) {
                Some(n) => Err(Error::config(
                    &field,
                    format!("names an unknown tool `{n}`"),
                )),
                None => Ok(()),
            }
        };
        check("permissions.requireApproval".into(), &self.require_approval)?;
        for (user, r) in &self.users {
            check(format!("permissions.users.{user}.allow"), &r.allow)?;
            check(format!("permissions.users.{user}.deny"), &r.deny)?;
            check(
                format!("permissions.users.{user}.requireApproval"),
                &r.require_approval,
            )?;
        }
        Ok(())
    }

    /// The static decision for `user` calling `tool`. `users` names users of the default
    /// org: the anonymous bucket and every other org's users (who merely share an id with
    /// one of them) get only the defaults.
    pub fn access(&self, user: &UserKey, tool: &str) -> Access {
        let named = match user.org() {
            None => user.as_option(),
            Some(_) => None,
        };
        let rules = named.and_then(|u| self.users.get(u));
        let denied = match rules {
            Some(r) if r.deny.contains(tool) => true,
            Some(r) if r.allow.contains(tool) => false,
            _ => self.default == DefaultAccess::Deny,
        };
        if denied {
            Access::Denied
        } else if self.require_approval.contains(tool)
            || rules.is_some_and(|r| r.require_approval.contains(tool))
        {
            Access::NeedsApproval
        } else {
            Access::Allowed
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

    #[test]
    fn defaults_user_rules_and_approvals() {
        let p: Permissions = serde_json::from_value(json!({
            "default": "allow",
            "users": { "bob": { "deny": ["refund"] }, "carol": { "requireApproval": ["search"] } },
            "requireApproval": ["refund"]
        }))
        .unwrap();
        let u = |id: &str| UserKey::parse(Some(id)).unwrap();
        assert_eq!(p.access(&u("alice"), "search"), Access::Allowed);
        assert_eq!(p.access(&u("alice"), "refund"), Access::NeedsApproval);
        assert_eq!(p.access(&u("bob"), "refund"), Access::Denied);
        assert_eq!(p.access(&u("carol"), "search"), Access::NeedsApproval);
        assert_eq!(p.access(&UserKey::Anonymous, "search"), Access::Allowed);
        // Another org's bob is another person: bob's rules are not his.
        let acme_bob = UserKey::parse_in(Some("acme"), Some("bob")).unwrap();
        assert_eq!(p.access(&acme_bob, "refund"), Access::NeedsApproval);
        let closed: Permissions = serde_json::from_value(json!({
            "default": "deny", "users": { "admin": { "allow": ["refund"] } }
        }))
        .unwrap();
        assert_eq!(closed.access(&u("admin"), "refund"), Access::Allowed);
        let acme_admin = UserKey::parse_in(Some("acme"), Some("admin")).unwrap();
        assert_eq!(
            closed.access(&acme_admin, "refund"),
            Access::Denied,
            "an org's admin is not the default org's"
        );
        assert_eq!(
            closed.access(&u("admin "), "refund"),
            Access::Denied,
            "ids match exactly"
        );
        let tools: BTreeSet<&str> = ["search"].into();
        assert!(closed.validate(&tools).is_err(), "`refund` is not a tool");
    }
}
