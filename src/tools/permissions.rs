//! Who may call which tool: a static policy per user (what the model is even told about,
//! and what needs a human's approval), before any host `policy` callback sees the call.

use crate::error::{Error, Result};
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
        self.validate_names(&|n| tools.contains(n))
    }

    /// `validate`, where `known` says whether a name is a tool's.
    pub fn validate_names(&self, known: &dyn Fn(&str) -> bool) -> Result<()> {
        let check = |field: String, names: &BTreeSet<String>| -> Result<()> {
            match names.iter().find(|n| !known(n.as_str())) {
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

    /// The static decision for `user` calling `tool` (`None` is the anonymous bucket,
    /// which only the defaults apply to).
    pub fn access(&self, user: Option<&str>, tool: &str) -> Access {
        let rules = user.and_then(|u| self.users.get(u));
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
        assert_eq!(p.access(Some("alice"), "search"), Access::Allowed);
        assert_eq!(p.access(Some("alice"), "refund"), Access::NeedsApproval);
        assert_eq!(p.access(Some("bob"), "refund"), Access::Denied);
        assert_eq!(p.access(Some("carol"), "search"), Access::NeedsApproval);
        assert_eq!(p.access(None, "search"), Access::Allowed);
        let closed: Permissions = serde_json::from_value(json!({
            "default": "deny", "users": { "admin": { "allow": ["refund"] } }
        }))
        .unwrap();
        assert_eq!(closed.access(Some("admin"), "refund"), Access::Allowed);
        assert_eq!(
            closed.access(Some("admin "), "refund"),
            Access::Denied,
            "ids match exactly"
        );
        let tools: BTreeSet<&str> = ["search"].into();
        assert!(closed.validate(&tools).is_err(), "`refund` is not a tool");
    }
}
