//! Budget and rate-limit configuration in the shape the host writes it (JS names,
//! camelCase), and the checks on single figures. Bad values are refused with the field
//! path named, never clamped: a typo in a budget must not silently mean "no limit".

use super::error::BudgetError;
use super::field::{lenient_number, lenient_opt, missing, show, MAX_SAFE_INTEGER};
use super::price::Price;
use super::units::{Metric, Window, NANO_PER_USD};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One limits object: caps on any of the metrics over one window. Absent caps (and
/// `Infinity`) mean no cap on that metric.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitSet {
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_input_tokens: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_output_tokens: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_total_tokens: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_cost_usd: Option<f64>,
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_requests: Option<f64>,
    #[serde(default)]
    pub window: Window,
}

impl LimitSet {
    pub fn get(&self, m: Metric) -> Option<f64> {
        match m {
            Metric::InputTokens => self.max_input_tokens,
            Metric::OutputTokens => self.max_output_tokens,
            Metric::TotalTokens => self.max_total_tokens,
            Metric::CostUsd => self.max_cost_usd,
            Metric::Requests => self.max_requests,
        }
    }

    /// The caps as internal integers (cost in nano-USD), after checking every figure.
    /// `path` is the JS path of this object, e.g. `budget.plans["pro"]`.
    pub(crate) fn caps(&self, path: &str) -> Result<Vec<(Metric, u64)>, BudgetError> {
        check_window(self.window, &format!("{path}.window"))?;
        let mut caps = Vec::new();
        for m in Metric::ALL {
            let Some(v) = self.get(m) else { continue };
            let field = format!("{path}.{}", m.limit_field());
            if let Some(cap) = cap_figure(&field, m, v)? {
                caps.push((m, cap));
            }
        }
        Ok(caps)
    }
}

/// A custom window must be a whole, positive, JS-safe number of milliseconds.
pub(crate) fn check_window(window: Window, field: &str) -> Result<(), BudgetError> {
    if let Window::Custom { ms } = window {
        if !(ms.is_finite() && ms.fract() == 0.0 && (1.0..=MAX_SAFE_INTEGER).contains(&ms)) {
            return Err(BudgetError::config(
                format!("{field}.ms"),
                format!("must be a whole number of milliseconds, at least 1, got {ms} (use \"lifetime\" for a window that never expires)"),
            ));
        }
    }
    Ok(())
}

/// `None` for `+Infinity` (no cap), the integer cap otherwise.
fn cap_figure(field: &str, m: Metric, v: f64) -> Result<Option<u64>, BudgetError> {
    if v == f64::INFINITY {
        return Ok(None);
    }
    if !v.is_finite() || v < 0.0 {
        return Err(BudgetError::config(
            field,
            format!(
                "must be a non-negative number (or Infinity for no cap), got {}",
                show(v)
            ),
        ));
    }
    if m == Metric::CostUsd {
        // Floor: rounding must never let spending pass the configured amount.
        return Ok(Some((v * NANO_PER_USD).floor() as u64));
    }
    if v.fract() != 0.0 {
        return Err(BudgetError::config(
            field,
            format!("must be a whole number, got {v}"),
        ));
    }
    Ok(Some(v as u64))
}

/// `budget: { perUser, perOrg, global, plans, orgPlans, prices }`. Each limits entry is one
/// object or a list of objects (one per window). A plan's limits replace `perUser` for its
/// users; an org plan's replace `perOrg` for its org.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetConfig {
    #[serde(default, deserialize_with = "one_or_many")]
    pub per_user: Vec<LimitSet>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub global: Vec<LimitSet>,
    #[serde(default, deserialize_with = "plans")]
    pub plans: BTreeMap<String, Vec<LimitSet>>,
    /// Limits on all the users of one org together (each org but the default one).
    #[serde(default, deserialize_with = "one_or_many")]
    pub per_org: Vec<LimitSet>,
    #[serde(default, deserialize_with = "plans")]
    pub org_plans: BTreeMap<String, Vec<LimitSet>>,
    /// Merged over the built-in defaults (an entry here wins over a default of that name).
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
    /// Orgs' own limits, from their settings (`orgs[orgId].budget`), keyed by org id.
    #[serde(skip)]
    pub org_budgets: BTreeMap<String, OrgBudget>,
    /// Off: only `prices` are known, so a cost-limited call on an unlisted model is refused
    /// instead of priced from a default that may be stale.
    #[serde(default = "yes")]
    pub default_prices: bool,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            per_user: Vec::new(),
            global: Vec::new(),
            plans: BTreeMap::new(),
            per_org: Vec::new(),
            org_plans: BTreeMap::new(),
            prices: BTreeMap::new(),
            org_budgets: BTreeMap::new(),
            default_prices: true,
        }
    }
}

/// One org's own limits (`orgs[orgId].budget`): `perOrg` in place of `budget.perOrg` for
/// that org, `perUser` in place of `budget.perUser` for its users (a `planOf` answer still
/// picks a user's plan first).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrgBudget {
    #[serde(default, deserialize_with = "one_or_many")]
    pub per_org: Vec<LimitSet>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub per_user: Vec<LimitSet>,
}

/// `rateLimit: { perUser?, perOrg?: { requests, perMs, burst? } }`: `perOrg` is one bucket
/// shared by all the users of an org (each org but the default one).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_user: Option<RateSpec>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_org: Option<RateSpec>,
}

/// A key that is present must hold a value: `null` is refused rather than read as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A token bucket: `requests` per `perMs` sustained, up to `burst` at once (default
/// `requests`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateSpec {
    #[serde(default = "missing", deserialize_with = "lenient_number")]
    pub requests: f64,
    #[serde(default = "missing", deserialize_with = "lenient_number")]
    pub per_ms: f64,
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub burst: Option<f64>,
}

fn yes() -> bool {
    true
}

struct OneOrMany(Vec<LimitSet>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a limits object or an array of limits objects")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrMany, A::Error> {
                let one = LimitSet::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(OneOrMany(vec![one]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<OneOrMany, A::Error> {
                let many = Vec::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(OneOrMany(many))
            }
        }
        d.deserialize_any(V)
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<LimitSet>, D::Error> {
    OneOrMany::deserialize(d).map(|x| x.0)
}

fn plans<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<LimitSet>>, D::Error> {
    let m = BTreeMap::<String, OneOrMany>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, v.0)).collect())
}

#[cfg(test)]
mod tests;
