//! Per-org configuration: what an org changes for its own users and nobody else's. Its
//! instructions follow the agent's, its tool list and permissions narrow or replace the
//! agent's rules, and its model (say, on the org's own provider key) answers its users'
//! runs. Settings come from the agent's static `orgs` map first, then from the host's
//! lookup (`orgConfig`), whose answers are cached per org with a bound and a time to live.

use crate::budget::OrgBudget;
use crate::error::{Error, Result};
use crate::ids::OrgId;
use crate::keyed::KeyedMap;
use crate::limits::{MAX_ORG_CONFIG_CACHE, ORG_CONFIG_TTL_MS};
use crate::model::Model;
use crate::tools::permissions::{Permissions, ToolScope};
use futures_util::future::LocalBoxFuture;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// One org's settings, as the host gives them. Every field is optional.
#[derive(Clone, Default)]
pub struct OrgSettings {
    pub instructions: Option<String>,
    /// The only tools the org's users are offered (names of the agent's tools).
    pub tools: Option<BTreeSet<String>>,
    /// Rules for the org's users in place of the agent's; `users` names users of the org.
    pub permissions: Option<Permissions>,
    /// The model that answers the org's users, and the name it is priced under.
    pub model: Option<(Rc<dyn Model>, String)>,
    /// The org's budget plan: a name in `budget.orgPlans` (before `orgPlanOf`).
    pub plan: Option<String>,
    /// The org's own limits. Only in the static map: every rolling window an account keeps
    /// is fixed when the agent is built, so a lookup names a plan instead.
    pub budget: Option<OrgBudget>,
}

impl OrgSettings {
    /// Names only tools the agent has (`known`), rules that do too, and a plan of
    /// `plans`.
    pub fn validate(
        &self,
        path: &str,
        known: &dyn Fn(&str) -> bool,
        plans: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        if self.plan.is_some() && self.budget.as_ref().is_some_and(|b| !b.per_org.is_empty()) {
            return Err(Error::config(
                &format!("{path}.budget.perOrg"),
                "is set together with `plan`: give the org's limits one way",
            ));
        }
        if let Some(plan) = self.plan.as_deref().filter(|p| !plans(p)) {
            return Err(Error::config(
                &format!("{path}.plan"),
                format!("names no plan of budget.orgPlans: {plan:?}"),
            ));
        }
        if let Some(tools) = &self.tools {
            if let Some(t) = tools.iter().find(|t| !known(t.as_str())) {
                return Err(Error::config(
                    &format!("{path}.tools"),
                    format!("names an unknown tool `{t}`"),
                ));
            }
        }
        if let Some(p) = &self.permissions {
            p.validate_names(known).map_err(|e| match e {
                Error::InvalidConfig { field, reason } => Error::InvalidConfig {
                    field: format!("{path}.{field}"),
                    reason,
                },
                other => other,
            })?;
        }
        Ok(())
    }
}

/// An org's settings made ready for runs: the joined instructions and the tool scope are
/// built once per resolve, not per run.
pub struct ResolvedOrg {
    pub instructions: Rc<str>,
    pub scope: ToolScope,
    pub model: Option<(Rc<dyn Model>, String)>,
    pub plan: Option<String>,
}

impl ResolvedOrg {
    fn new(agent_instructions: &str, s: OrgSettings) -> ResolvedOrg {
        let instructions = match s.instructions.as_deref().filter(|i| !i.is_empty()) {
            None => Rc::from(agent_instructions),
            Some(org) if agent_instructions.is_empty() => Rc::from(org),
            Some(org) => Rc::from(format!("{agent_instructions}\n\n{org}")),
        };
        ResolvedOrg {
            instructions,
            scope: ToolScope {
                allowed: s.tools.map(Rc::new),
                permissions: s.permissions.map(Rc::new),
            },
            model: s.model,
            plan: s.plan,
        }
    }
}

/// The host's `orgConfig(orgId)`: `Ok(None)` when the org has no settings.
pub trait OrgLookup {
    fn lookup(&self, org: &OrgId) -> LocalBoxFuture<'static, Result<Option<OrgSettings>>>;
}

struct Cached {
    org: Option<Rc<ResolvedOrg>>,
    at: f64,
}

/// Where an org's settings come from, and the cache of the lookup's answers.
#[derive(Default)]
pub struct OrgConfigs {
    fixed: BTreeMap<OrgId, Rc<ResolvedOrg>>,
    lookup: Option<Rc<dyn OrgLookup>>,
    cache: RefCell<KeyedMap<OrgId, Cached>>,
}

impl OrgConfigs {
    pub fn new(
        instructions: &str,
        fixed: BTreeMap<OrgId, OrgSettings>,
        lookup: Option<Rc<dyn OrgLookup>>,
    ) -> OrgConfigs {
        OrgConfigs {
            fixed: fixed
                .into_iter()
                .map(|(org, s)| (org, Rc::new(ResolvedOrg::new(instructions, s))))
                .collect(),
            lookup,
            cache: RefCell::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fixed.is_empty() && self.lookup.is_none()
    }

    /// The settings of `org` at `now`, or `None` when it has none. A failed lookup fails:
    /// the run is refused rather than run without the org's rules.
    pub async fn resolve(
        &self,
        org: &OrgId,
        instructions: &str,
        known: &dyn Fn(&str) -> bool,
        plans: &dyn Fn(&str) -> bool,
        now: f64,
    ) -> Result<Option<Rc<ResolvedOrg>>> {
        if let Some(fixed) = self.fixed.get(org) {
            return Ok(Some(fixed.clone()));
        }
        let Some(lookup) = &self.lookup else {
            return Ok(None);
        };
        if let Some(hit) = self.cache.borrow().get(org) {
            if now - hit.at < ORG_CONFIG_TTL_MS && now >= hit.at {
                return Ok(hit.org.clone());
            }
        }
        let answer = lookup.lookup(org).await?;
        let path = format!("orgConfig({:?})", org.as_str());
        let resolved = match answer {
            None => None,
            Some(s) => {
                if s.budget.is_some() {
                    return Err(Error::config(
                        &format!("{path}.budget"),
                        "is for the `orgs` map only (an account's windows are fixed when the \
                         agent is built): answer with `plan`, a name in budget.orgPlans",
                    ));
                }
                s.validate(&path, known, plans)?;
                Some(Rc::new(ResolvedOrg::new(instructions, s)))
            }
        };
        let mut cache = self.cache.borrow_mut();
        if cache.len() >= MAX_ORG_CONFIG_CACHE && !cache.contains_key(org) {
            // The oldest answer goes: it is the next to expire anyway.
            let oldest = cache
                .iter()
                .min_by(|a, b| a.1.at.total_cmp(&b.1.at))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                cache.remove(&k);
            }
        }
        cache.insert(
            org.clone(),
            Cached {
                org: resolved.clone(),
                at: now,
            },
        );
        Ok(resolved)
    }

    /// The org's plan name as its settings give it now: the static map's, else the
    /// lookup's cached answer (resolved at the start of each of the org's runs).
    pub fn plan(&self, org: &OrgId) -> Option<String> {
        if let Some(fixed) = self.fixed.get(org) {
            return fixed.plan.clone();
        }
        self.cache
            .borrow()
            .get(org)
            .and_then(|c| c.org.as_ref())
            .and_then(|o| o.plan.clone())
    }

    /// Orgs whose lookup answer is cached now.
    pub fn cached(&self) -> usize {
        self.cache.borrow().len()
    }

    /// Forgets the cached answer for `org` (its users' next run asks again).
    pub fn forget(&self, org: &OrgId) {
        self.cache.borrow_mut().remove(org);
    }
}
