//! The serialized form of one account (a user's or the global one), for the export
//! document and storage adapters. Reservations are not exported: they belong to calls in
//! flight in this process. Cost is carried in whole nano-USD so a round trip is exact.

use super::account::Account;
use super::config::check_window;
use super::error::BudgetError;
use super::field::{lenient_number, missing, show};
use super::policy::Layout;
use super::rate::{RateRule, TokenBucket};
use super::rolling::bucket_of;
use super::units::{Amounts, Metric, Window};
use serde::{Deserialize, Serialize};

pub const BUDGET_FORMAT: &str = "tenantry.budget";
pub const BUDGET_DOC_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountDoc {
    pub format: String,
    pub version: u32,
    pub totals: AmountsDoc,
    #[serde(default)]
    pub windows: Vec<WindowDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<RateDoc>,
}

/// Figures as JS numbers; absent ones are zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AmountsDoc {
    #[serde(default, deserialize_with = "lenient_number")]
    pub input_tokens: f64,
    #[serde(default, deserialize_with = "lenient_number")]
    pub output_tokens: f64,
    #[serde(default, deserialize_with = "lenient_number")]
    pub total_tokens: f64,
    #[serde(default, deserialize_with = "lenient_number")]
    pub cost_nano_usd: f64,
    #[serde(default, deserialize_with = "lenient_number")]
    pub requests: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WindowDoc {
    pub window: Window,
    pub buckets: Vec<BucketDoc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BucketDoc {
    /// A time inside the bucket (its middle, so float rounding cannot move it to a
    /// neighbour on import).
    #[serde(default = "missing", deserialize_with = "lenient_number")]
    pub at_ms: f64,
    pub used: AmountsDoc,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateDoc {
    #[serde(default = "missing", deserialize_with = "lenient_number")]
    pub tokens: f64,
    #[serde(default = "missing", deserialize_with = "lenient_number")]
    pub at_ms: f64,
}

impl AmountsDoc {
    fn from_amounts(a: &Amounts) -> Self {
        let f = |m: Metric| a[m.index()] as f64;
        AmountsDoc {
            input_tokens: f(Metric::InputTokens),
            output_tokens: f(Metric::OutputTokens),
            total_tokens: f(Metric::TotalTokens),
            cost_nano_usd: f(Metric::CostUsd),
            requests: f(Metric::Requests),
        }
    }

    fn to_amounts(&self, path: &str) -> Result<Amounts, BudgetError> {
        let mut a = [0; 5];
        for (m, v, name) in [
            (Metric::InputTokens, self.input_tokens, "inputTokens"),
            (Metric::OutputTokens, self.output_tokens, "outputTokens"),
            (Metric::TotalTokens, self.total_tokens, "totalTokens"),
            (Metric::CostUsd, self.cost_nano_usd, "costNanoUsd"),
            (Metric::Requests, self.requests, "requests"),
        ] {
            if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0) {
                return Err(BudgetError::import(format!(
                    "{path}.{name}: must be a whole non-negative number, got {}",
                    show(v)
                )));
            }
            // Saturating: a figure beyond u64 can only over-count.
            a[m.index()] = v as u64;
        }
        Ok(a)
    }
}

pub(crate) fn export(acct: &Account, layout: &Layout, now: f64) -> AccountDoc {
    let mut windows = Vec::new();
    for (w, t) in acct.windows.iter().zip(&layout.tracks) {
        let buckets: Vec<_> = w
            .live(bucket_of(now, t.width))
            .filter(|(_, cells)| cells.iter().any(|&v| v > 0))
            .map(|(b, cells)| {
                let mut a = [0; 5];
                for (slot, m) in t.metrics.iter().enumerate() {
                    a[m.index()] = cells.get(slot).copied().unwrap_or(0);
                }
                BucketDoc {
                    at_ms: (b as f64 + 0.5) * t.width,
                    used: AmountsDoc::from_amounts(&a),
                }
            })
            .collect();
        if !buckets.is_empty() {
            windows.push(WindowDoc {
                window: t.window,
                buckets,
            });
        }
    }
    AccountDoc {
        format: BUDGET_FORMAT.into(),
        version: BUDGET_DOC_VERSION,
        totals: AmountsDoc::from_amounts(&acct.totals),
        windows,
        rate: acct.rate.map(|b| RateDoc {
            tokens: b.tokens,
            at_ms: b.at,
        }),
    }
}

/// A fresh account (no reservations) from a document, every figure checked first.
/// Windows the config no longer has are dropped (nothing would read them); times in the
/// future are moved to `now` so a document cannot pin usage in a window forever.
pub(crate) fn import(
    doc: &AccountDoc,
    layout: &Layout,
    rule: Option<&RateRule>,
    now: f64,
    epoch: u64,
) -> Result<Account, BudgetError> {
    if doc.format != BUDGET_FORMAT || doc.version != BUDGET_DOC_VERSION {
        return Err(BudgetError::import(format!(
            "expected format {BUDGET_FORMAT:?} version {BUDGET_DOC_VERSION}, got {:?} version {}",
            doc.format, doc.version
        )));
    }
    let mut acct = Account::new(layout, epoch);
    acct.totals = doc.totals.to_amounts("totals")?;
    for (i, wd) in doc.windows.iter().enumerate() {
        let path = format!("windows[{i}]");
        check_window(wd.window, &format!("{path}.window"))
            .map_err(|e| BudgetError::import(e.to_string()))?;
        let length = wd.window.length_ms();
        let track = layout
            .tracks
            .iter()
            .position(|t| Some(t.length_ms) == length);
        for (j, bd) in wd.buckets.iter().enumerate() {
            let bpath = format!("{path}.buckets[{j}]");
            if !bd.at_ms.is_finite() {
                return Err(BudgetError::import(format!(
                    "{bpath}.atMs: must be a finite time in ms, got {}",
                    show(bd.at_ms)
                )));
            }
            let a = bd.used.to_amounts(&format!("{bpath}.used"))?;
            let Some(t) = track else { continue };
            if let (Some(w), Some(tr)) = (acct.windows.get_mut(t), layout.tracks.get(t)) {
                let figures = tr
                    .metrics
                    .iter()
                    .enumerate()
                    .map(|(s, m)| (s, a[m.index()]));
                w.add(bucket_of(bd.at_ms.min(now), tr.width), figures);
            }
        }
    }
    if let Some(rd) = &doc.rate {
        if !(rd.tokens.is_finite() && rd.tokens >= 0.0) {
            return Err(BudgetError::import(format!(
                "rate.tokens: must be a non-negative number, got {}",
                show(rd.tokens)
            )));
        }
        if !rd.at_ms.is_finite() {
            return Err(BudgetError::import(format!(
                "rate.atMs: must be a finite time in ms, got {}",
                show(rd.at_ms)
            )));
        }
        acct.rate = rule.map(|r| TokenBucket::restored(r, rd.tokens, rd.at_ms, now));
    }
    acct.advance(layout, now);
    Ok(acct)
}

#[cfg(test)]
mod tests;
