//! Who may call which tool: a static policy per user (what the model is even told about,
//! and what needs a human's approval), before any host `policy` callback sees the call.

use crate::error::{Error, Result};
use crate::ids::UserKey;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

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

/// What an org adds to the tool rules of its users: the tools it allows (none other is
/// even shown), and its own permissions in place of the agent's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolScope {
    pub allowed: Option<Rc<BTreeSet<String>>>,
    pub permissions: Option<Rc<Permissions>>,
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

    /// The static decision for `user` calling `tool` under the agent's rules and the
    /// user's org's `scope`. The agent's `users` names users of the default org: the
    /// anonymous bucket and every other org's users (who merely share an id with one of
    /// them) get only its defaults, unless their org brings its own rules, whose `users`
    /// name users of that org. An org's list of allowed tools denies every other.
    pub fn access(&self, user: &UserKey, tool: &str, scope: &ToolScope) -> Access {
        if scope.allowed.as_ref().is_some_and(|a| !a.contains(tool)) {
            return Access::Denied;
        }
        match (&scope.permissions, user.org()) {
            (Some(org_rules), _) => org_rules.rules_access(user.as_option(), tool),
            (None, None) => self.rules_access(user.as_option(), tool),
            (None, Some(_)) => self.rules_access(None, tool),
        }
    }

    /// The decision for the user these rules name `named` (`None`: the defaults only).
    fn rules_access(&self, named: Option<&str>, tool: &str) -> Access {
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

    impl Permissions {
        fn access_plain(&self, user: &UserKey, tool: &str) -> Access {
            self.access(user, tool, &ToolScope::default())
        }
    }

    #[test]
    fn defaults_user_rules_and_approvals() {
        let p: Permissions = serde_json::from_value(json!({
            "default": "allow",
            "users": { "bob": { "deny": ["refund"] }, "carol": { "requireApproval": ["search"] } },
            "requireApproval": ["refund"]
        }))
        .unwrap();
        let u = |id: &str| UserKey::parse(Some(id)).unwrap();
        assert_eq!(p.access_plain(&u("alice"), "search"), Access::Allowed);
        assert_eq!(p.access_plain(&u("alice"), "refund"), Access::NeedsApproval);
        assert_eq!(p.access_plain(&u("bob"), "refund"), Access::Denied);
        assert_eq!(p.access_plain(&u("carol"), "search"), Access::NeedsApproval);
        assert_eq!(
            p.access_plain(&UserKey::Anonymous, "search"),
            Access::Allowed
        );
        // Another org's bob is another person: bob's rules are not his.
        let acme_bob = UserKey::parse_in(Some("acme"), Some("bob")).unwrap();
        assert_eq!(p.access_plain(&acme_bob, "refund"), Access::NeedsApproval);
        let closed: Permissions = serde_json::from_value(json!({
            "default": "deny", "users": { "admin": { "allow": ["refund"] } }
        }))
        .unwrap();
        assert_eq!(closed.access_plain(&u("admin"), "refund"), Access::Allowed);
        let acme_admin = UserKey::parse_in(Some("acme"), Some("admin")).unwrap();
        assert_eq!(
            closed.access_plain(&acme_admin, "refund"),
            Access::Denied,
            "an org's admin is not the default org's"
        );
        assert_eq!(
            closed.access_plain(&u("admin "), "refund"),
            Access::Denied,
            "ids match exactly"
        );
        let tools: BTreeSet<&str> = ["search"].into();
        assert!(closed.validate(&tools).is_err(), "`refund` is not a tool");
    }

    #[test]
    fn an_orgs_scope_narrows_the_tools_and_brings_its_own_rules() {
        let agent: Permissions = serde_json::from_value(json!({
            "users": { "alice": { "deny": ["refund"] } }
        }))
        .unwrap();
        let acme_rules: Permissions = serde_json::from_value(json!({
            "default": "deny", "users": { "alice": { "allow": ["refund"] } }
        }))
        .unwrap();
        let acme = |id: &str| UserKey::parse_in(Some("acme"), Some(id)).unwrap();
        let scope = ToolScope {
            allowed: Some(Rc::new(["refund".to_owned()].into())),
            permissions: Some(Rc::new(acme_rules)),
        };
        assert_eq!(
            agent.access(&acme("alice"), "refund", &scope),
            Access::Allowed
        );
        assert_eq!(agent.access(&acme("bob"), "refund", &scope), Access::Denied);
        assert_eq!(
            agent.access(&acme("alice"), "search", &scope),
            Access::Denied,
            "not in the org's list"
        );
        let plain = UserKey::parse(Some("alice")).unwrap();
        assert_eq!(agent.access_plain(&plain, "refund"), Access::Denied);
        let listed_only = ToolScope {
            allowed: Some(Rc::new(["search".to_owned()].into())),
            permissions: None,
        };
        assert_eq!(
            agent.access(&acme("alice"), "search", &listed_only),
            Access::Allowed
        );
        assert_eq!(
            agent.access(&acme("alice"), "refund", &listed_only),
            Access::Denied
        );
    }
}
