//! What `usage` and `global_usage` return: each limit with its standing, and the totals,
//! read from an account without changing it.

use super::account::Account;
use super::error::Scope;
use super::policy::{Layout, Plan};
use super::units::{Amounts, Metric, Window, NANO_PER_USD};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitUsage {
    pub scope: Scope,
    pub metric: Metric,
    pub window: Window,
    /// Settled charges still in the window (cost in USD, the rest as counts).
    pub used: f64,
    /// Held by calls in flight.
    pub reserved: f64,
    pub limit: f64,
    pub remaining: f64,
}

/// Figures summed over every settled call (or held by calls in flight, for `reserved`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
    /// The exact figure behind `cost_usd`, for reconciliation.
    pub cost_nano_usd: u64,
    pub requests: u64,
}

impl From<&Amounts> for Totals {
    fn from(a: &Amounts) -> Self {
        let get = |m: Metric| a[m.index()];
        Totals {
            input_tokens: get(Metric::InputTokens),
            output_tokens: get(Metric::OutputTokens),
            total_tokens: get(Metric::TotalTokens),
            cost_usd: get(Metric::CostUsd) as f64 / NANO_PER_USD,
            cost_nano_usd: get(Metric::CostUsd),
            requests: get(Metric::Requests),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub limits: Vec<LimitUsage>,
    pub totals: Totals,
    pub reserved: Totals,
}

impl UsageReport {
    /// Each cap of `plan` with its standing in `acct` at `now` (read without advancing),
    /// and the account's totals; all zero when there is no account.
    pub(crate) fn of(
        scope: Scope,
        plan: &Plan,
        layout: &Layout,
        acct: Option<&Account>,
        now: f64,
    ) -> UsageReport {
        let limits = plan
            .caps
            .iter()
            .map(|cap| {
                let m = cap.metric;
                let (used, reserved) = acct.map_or((0, 0), |a| {
                    (a.used_at(cap, layout, now), a.reserved[m.index()])
                });
                let remaining = cap.limit.saturating_sub(used.saturating_add(reserved));
                LimitUsage {
                    scope,
                    metric: m,
                    window: cap.window,
                    used: m.to_public(used),
                    reserved: m.to_public(reserved),
                    limit: m.to_public(cap.limit),
                    remaining: m.to_public(remaining),
                }
            })
            .collect();
        UsageReport {
            limits,
            totals: acct.map(|a| Totals::from(&a.totals)).unwrap_or_default(),
            reserved: acct.map(|a| Totals::from(&a.reserved)).unwrap_or_default(),
        }
    }

    /// The standing of the first limit on `metric` over `window`, if one applies.
    pub fn limit(&self, metric: Metric, window: Window) -> Option<&LimitUsage> {
        self.limits
            .iter()
            .find(|l| l.metric == metric && l.window == window)
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn totals_convert_cost_and_serialize_in_js_names() {
        let t = Totals::from(&[1, 2, 3, 1_500_000_000, 4]);
        assert_eq!(
            (t.input_tokens, t.output_tokens, t.total_tokens, t.requests),
            (1, 2, 3, 4)
        );
        assert_eq!(t.cost_usd, 1.5);
        let v = serde_json::to_value(UsageReport {
            totals: t,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(v["totals"]["costNanoUsd"], 1_500_000_000u64);
        assert_eq!(v["totals"]["inputTokens"], 1);
    }
}
