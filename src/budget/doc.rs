//! The serialized form of one account (a user's or the global one), for the export
//! document and storage adapters. Reservations are not exported: they belong to calls in
//! flight in this process. Cost is carried in whole nano-USD so a round trip is exact.

use super::account::Account;
use super::error::BudgetError;
use super::limit::{lenient_number, missing, show, Metric, Window};
use super::policy::Layout;
use super::rate::{RateRule, TokenBucket};
use super::window::bucket_of;
use super::Amounts;
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
        wd.window
            .validate(&format!("{path}.window"))
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
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use crate::budget::test_util::user;
    use crate::budget::{BudgetConfig, Estimate, Ledger, PlanId, RateLimitConfig};
    use serde_json::{json, Value};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const T0: f64 = 1.7e12;

    fn ledger() -> Ledger {
        let b: BudgetConfig = serde_json::from_value(json!({
            "perUser": [{ "maxTotalTokens": 1000, "window": "minute" }, { "maxRequests": 10 }]
        }))
        .unwrap();
        let r: RateLimitConfig =
            serde_json::from_value(json!({ "perUser": { "requests": 3, "perMs": 1000 } })).unwrap();
        Ledger::new(&b, &r).unwrap()
    }

    fn used_doc(l: &mut Ledger) -> Value {
        let u = user("u");
        l.check_rate(&u, T0).unwrap();
        let e = Estimate {
            input_tokens: 10,
            max_output_tokens: 20,
            model: "x",
        };
        let (r, _) = l.reserve(&u, PlanId::DEFAULT, T0, e).unwrap();
        l.settle(
            r,
            crate::budget::Actual {
                input_tokens: 10.0,
                output_tokens: 20.0,
                estimated: false,
            },
            T0,
        );
        serde_json::to_value(l.export_user(&u, T0).unwrap()).unwrap()
    }

    #[test]
    fn the_document_is_small_and_named_in_js_style() {
        let mut l = ledger();
        let d = used_doc(&mut l);
        assert_eq!(d["format"], BUDGET_FORMAT);
        assert_eq!(d["totals"]["totalTokens"], 30.0);
        assert_eq!(d["totals"]["requests"], 1.0);
        assert_eq!(d["windows"][0]["window"], "minute");
        assert_eq!(d["windows"][0]["buckets"].as_array().unwrap().len(), 1);
        assert_eq!(d["windows"][0]["buckets"][0]["used"]["totalTokens"], 30.0);
        assert_eq!(d["rate"]["tokens"], 2.0);
    }

    #[test]
    fn import_refuses_negative_nan_and_non_numbers_and_changes_nothing() {
        let mut l = ledger();
        let good = used_doc(&mut l);
        let u = user("u");
        let before = l.usage(&u, PlanId::DEFAULT, T0);
        let cases: [(&str, Value, &str); 7] = [
            ("/totals/inputTokens", json!(-1), "totals.inputTokens"),
            ("/totals/costNanoUsd", json!(null), "totals.costNanoUsd"),
            ("/totals/requests", json!("5"), "totals.requests"),
            ("/totals/outputTokens", json!(1.5), "totals.outputTokens"),
            (
                "/windows/0/buckets/0/atMs",
                json!(null),
                "windows[0].buckets[0].atMs",
            ),
            (
                "/windows/0/buckets/0/used/totalTokens",
                json!(-3),
                "windows[0].buckets[0].used.totalTokens",
            ),
            ("/rate/tokens", json!(-1), "rate.tokens"),
        ];
        for (ptr, bad, path) in cases {
            let mut d = good.clone();
            *d.pointer_mut(ptr).unwrap() = bad;
            let doc: AccountDoc = serde_json::from_value(d).unwrap();
            let e = l.import_user(&u, &doc, T0).unwrap_err();
            assert_eq!(e.code(), "invalid_import");
            assert!(e.to_string().contains(path), "{e} should name {path}");
            assert_eq!(
                l.usage(&u, PlanId::DEFAULT, T0),
                before,
                "nothing changes on error"
            );
        }
        let mut d = good.clone();
        d["format"] = json!("tenantry.user");
        let doc: AccountDoc = serde_json::from_value(d).unwrap();
        assert!(l.import_user(&u, &doc, T0).is_err());
        let mut d = good.clone();
        d["windows"][0]["window"] = json!({ "ms": 0 });
        let doc: AccountDoc = serde_json::from_value(d).unwrap();
        assert!(l.import_user(&u, &doc, T0).is_err());
        let mut d = good;
        d["extra"] = json!(1);
        assert!(
            serde_json::from_value::<AccountDoc>(d).is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn future_times_land_now_and_unknown_windows_are_dropped() {
        let mut l = ledger();
        let mut d = used_doc(&mut l);
        d["windows"][0]["buckets"][0]["atMs"] = json!(1e300);
        let mut other = d["windows"][0].clone();
        other["window"] = json!("day");
        d["windows"].as_array_mut().unwrap().push(other);
        let doc: AccountDoc = serde_json::from_value(d).unwrap();
        let mut m = ledger();
        let v = user("v");
        m.import_user(&v, &doc, T0).unwrap();
        assert_eq!(m.usage(&v, PlanId::DEFAULT, T0).limits[0].used, 30.0);
        // Counted from `now`, so it leaves the minute like any other charge.
        assert_eq!(
            m.usage(&v, PlanId::DEFAULT, T0 + 70_000.0).limits[0].used,
            0.0
        );
        let back = m.export_user(&v, T0).unwrap();
        assert_eq!(back.windows.len(), 1, "the day window is not configured");
        assert_eq!(back.totals.requests, 1.0);
    }
}
