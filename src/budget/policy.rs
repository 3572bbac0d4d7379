//! The validated config compiled into what the hot path needs: for each scope, the
//! distinct rolling windows to keep (and which metrics each must count), and for each plan
//! a flat list of caps pointing into them.

use super::config::{BudgetConfig, LimitSet, OrgBudget, RateLimitConfig};
use super::error::BudgetError;
use super::field::{item_path, key_path};
use super::price::PriceTable;
use super::rate::RateRule;
use super::rolling::bucket_width;
use super::units::{Metric, MetricSet, Window};
use std::collections::HashMap;

/// Distinct rolling window lengths per scope. Bounds per-user state whatever the config.
pub(crate) const MAX_WINDOWS: usize = 16;

/// One rolling window kept per account. Usage is a fact about the user, limits are policy:
/// tracks are shared by every plan with that window length, so a user who changes plan
/// keeps the usage they already have.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Track {
    pub window: Window,
    pub length_ms: f64,
    pub width: f64,
    pub metrics: MetricSet,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Layout {
    pub tracks: Vec<Track>,
    /// Metrics some lifetime cap limits: their totals must outlive a sweep.
    pub lifetime: MetricSet,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Cap {
    pub metric: Metric,
    pub window: Window,
    /// `None` reads the lifetime totals.
    pub track: Option<usize>,
    pub slot: usize,
    pub limit: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Plan {
    pub caps: Vec<Cap>,
    pub needs_price: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Policy {
    pub user: Layout,
    pub global: Layout,
    /// Index 0 is `perUser`, the default plan.
    pub plans: Vec<Plan>,
    pub plan_names: HashMap<String, usize>,
    /// Orgs whose settings give their users' limits (`orgs[orgId].budget.perUser`).
    pub org_user_plans: HashMap<String, usize>,
    pub global_plan: Plan,
    pub prices: PriceTable,
    pub rate: Option<RateRule>,
    pub org: OrgPolicy,
}

/// The org level: limits on all the users of one org together. Inactive (no org account
/// is ever looked up) when the config sets neither `perOrg`, `orgPlans` nor
/// `rateLimit.perOrg`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct OrgPolicy {
    pub layout: Layout,
    /// Index 0 is `perOrg`, the default org plan.
    pub plans: Vec<Plan>,
    pub plan_names: HashMap<String, usize>,
    /// Orgs whose settings give their own limits (`orgs[orgId].budget.perOrg`).
    pub org_plans: HashMap<String, usize>,
    pub rate: Option<RateRule>,
    pub active: bool,
}

type Checked = Vec<(Window, Vec<(Metric, u64)>)>;

impl Policy {
    pub fn new(
        budget: &BudgetConfig,
        rate_config: &RateLimitConfig,
    ) -> Result<Policy, BudgetError> {
        let prices = PriceTable::new(&budget.prices, budget.default_prices)?;
        let rate = match &rate_config.per_user {
            Some(spec) => Some(RateRule::new(spec, "rateLimit.perUser")?),
            None => None,
        };
        let mut user_sets = vec![checked(&budget.per_user, "budget.perUser")?];
        let plan_names = append_plans(&mut user_sets, &budget.plans, "budget.plans")?;
        let org_user_plans = append_org_limits(&mut user_sets, budget, "perUser", |b| &b.per_user)?;
        let global_sets = checked(&budget.global, "budget.global")?;
        let org = OrgPolicy::new(budget, rate_config)?;

        let mut user = Layout::default();
        for sets in &user_sets {
            user.note(
                sets,
                "budget.perUser, budget.plans and orgs[…].budget.perUser",
            )?;
        }
        let mut global = Layout::default();
        global.note(&global_sets, "budget.global")?;
        Ok(Policy {
            plans: user_sets.iter().map(|s| user.plan(s)).collect(),
            global_plan: global.plan(&global_sets),
            user,
            global,
            plan_names,
            org_user_plans,
            prices,
            rate,
            org,
        })
    }
}

impl OrgPolicy {
    fn new(budget: &BudgetConfig, rate: &RateLimitConfig) -> Result<OrgPolicy, BudgetError> {
        let rate = match &rate.per_org {
            Some(spec) => Some(RateRule::new(spec, "rateLimit.perOrg")?),
            None => None,
        };
        let mut sets = vec![checked(&budget.per_org, "budget.perOrg")?];
        let plan_names = append_plans(&mut sets, &budget.org_plans, "budget.orgPlans")?;
        let org_plans = append_org_limits(&mut sets, budget, "perOrg", |b| &b.per_org)?;
        let mut layout = Layout::default();
        for s in &sets {
            layout.note(
                s,
                "budget.perOrg, budget.orgPlans and orgs[…].budget.perOrg",
            )?;
        }
        let active = rate.is_some() || sets.iter().any(|s| !s.is_empty());
        Ok(OrgPolicy {
            plans: sets.iter().map(|s| layout.plan(s)).collect(),
            layout,
            plan_names,
            org_plans,
            rate,
            active,
        })
    }
}

/// Appends each named plan to `sets`; answers where each went, by name.
fn append_plans(
    sets: &mut Vec<Checked>,
    plans: &std::collections::BTreeMap<String, Vec<LimitSet>>,
    base: &str,
) -> Result<HashMap<String, usize>, BudgetError> {
    let mut names = HashMap::new();
    for (name, limits) in plans {
        let path = key_path(base, name);
        if name.is_empty() {
            return Err(BudgetError::config(path, "plan name must not be empty"));
        }
        names.insert(name.clone(), sets.len());
        sets.push(checked(limits, &path)?);
    }
    Ok(names)
}

/// Appends each org's own limits of one level (`orgs[orgId].budget.<field>`, those that
/// set any) to `sets`; answers where each went, by org id.
fn append_org_limits(
    sets: &mut Vec<Checked>,
    budget: &BudgetConfig,
    field: &str,
    limits: impl Fn(&OrgBudget) -> &Vec<LimitSet>,
) -> Result<HashMap<String, usize>, BudgetError> {
    let mut orgs = HashMap::new();
    for (org, b) in &budget.org_budgets {
        if limits(b).is_empty() {
            continue;
        }
        let path = format!("{}.budget.{field}", key_path("orgs", org));
        orgs.insert(org.clone(), sets.len());
        sets.push(checked(limits(b), &path)?);
    }
    Ok(orgs)
}

fn checked(sets: &[LimitSet], base: &str) -> Result<Checked, BudgetError> {
    sets.iter()
        .enumerate()
        .map(|(i, s)| Ok((s.window, s.caps(&item_path(base, i, sets.len()))?)))
        .collect()
}

impl Layout {
    fn note(&mut self, sets: &Checked, field: &str) -> Result<(), BudgetError> {
        for (window, caps) in sets {
            let Some(length_ms) = window.length_ms() else {
                caps.iter().for_each(|(m, _)| self.lifetime.insert(*m));
                continue;
            };
            if caps.is_empty() {
                continue;
            }
            let i = match self.track(length_ms) {
                Some(i) => i,
                None if self.tracks.len() >= MAX_WINDOWS => {
                    return Err(BudgetError::config(
                        field,
                        format!("at most {MAX_WINDOWS} distinct rolling windows per scope"),
                    ))
                }
                None => {
                    self.tracks.push(Track {
                        window: *window,
                        length_ms,
                        width: bucket_width(length_ms),
                        metrics: MetricSet::default(),
                    });
                    self.tracks.len() - 1
                }
            };
            if let Some(t) = self.tracks.get_mut(i) {
                caps.iter().for_each(|(m, _)| t.metrics.insert(*m));
            }
        }
        Ok(())
    }

    fn track(&self, length_ms: f64) -> Option<usize> {
        self.tracks.iter().position(|t| t.length_ms == length_ms)
    }

    fn plan(&self, sets: &Checked) -> Plan {
        let mut caps = Vec::new();
        for (window, cs) in sets {
            let track = window.length_ms().and_then(|l| self.track(l));
            for &(metric, limit) in cs {
                let slot = track
                    .and_then(|t| self.tracks.get(t))
                    .map_or(0, |t| t.metrics.slot(metric));
                caps.push(Cap {
                    metric,
                    window: *window,
                    track,
                    slot,
                    limit,
                });
            }
        }
        let needs_price = caps.iter().any(|c| c.metric == Metric::CostUsd);
        Plan { caps, needs_price }
    }
}

#[cfg(test)]
mod tests;
