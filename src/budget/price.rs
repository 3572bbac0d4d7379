//! Model prices and call cost. Prices are USD per million tokens as providers publish
//! them; internally a per-token price in pico-USD and costs in nano-USD, both integers,
//! so a cost limit is never passed through float rounding.

use super::error::BudgetError;
use super::limit::{key_path, lenient_number, missing, show};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(
        rename = "inputPerMTok",
        default = "missing",
        deserialize_with = "lenient_number"
    )]
    pub input_per_mtok: f64,
    #[serde(
        rename = "outputPerMTok",
        default = "missing",
        deserialize_with = "lenient_number"
    )]
    pub output_per_mtok: f64,
}

/// Built-in prices (model, input, output in USD per million tokens). These are editable
/// defaults taken from public price lists at the time of writing, NOT authoritative:
/// providers change prices, and discounts, caching and batch rates are not modelled.
/// Override any entry with `budget.prices`, or turn them off with `defaultPrices: false`.
pub const DEFAULT_PRICES: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-opus-4", 15.00, 75.00),
];

/// A per-token price in pico-USD (exact for per-MTok prices with up to six decimals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UnitPrice {
    pub input: u64,
    pub output: u64,
}

impl UnitPrice {
    pub const FREE: UnitPrice = UnitPrice {
        input: 0,
        output: 0,
    };

    /// The cost of a call in nano-USD. Each part rounds up, so the figure is never below
    /// the true cost and is monotone in both token counts.
    pub fn cost(self, input: u64, output: u64) -> u64 {
        part(input, self.input).saturating_add(part(output, self.output))
    }

    pub fn input_cost(self, input: u64) -> u64 {
        part(input, self.input)
    }

    /// The most output tokens whose cost fits in `budget` nano-USD.
    pub fn max_output(self, budget: u64) -> u64 {
        if self.output == 0 {
            return u64::MAX;
        }
        let n = u128::from(budget) * 1000 / u128::from(self.output);
        u64::try_from(n).unwrap_or(u64::MAX)
    }
}

/// nano-USD for `tokens` at `pico` pico-USD each, rounded up.
fn part(tokens: u64, pico: u64) -> u64 {
    let n = (u128::from(tokens) * u128::from(pico)).div_ceil(1000);
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// USD per MTok to pico-USD per token; a price with more decimals than that rounds up.
fn to_pico(usd_per_mtok: f64) -> u64 {
    let x = usd_per_mtok * 1e6;
    let r = x.round();
    // Absorb float noise (0.15 * 1e6 is not exactly 150000) before rounding up.
    if (x - r).abs() < 1e-6 {
        r as u64
    } else {
        x.ceil() as u64
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PriceTable {
    map: HashMap<String, UnitPrice>,
}

impl PriceTable {
    /// `prices` over the built-in defaults (or alone), every figure validated.
    pub fn new(prices: &BTreeMap<String, Price>, with_defaults: bool) -> Result<Self, BudgetError> {
        let mut map = HashMap::new();
        if with_defaults {
            for (name, i, o) in DEFAULT_PRICES {
                map.insert(
                    (*name).to_owned(),
                    UnitPrice {
                        input: to_pico(*i),
                        output: to_pico(*o),
                    },
                );
            }
        }
        for (name, p) in prices {
            let path = key_path("budget.prices", name);
            if name.is_empty() {
                return Err(BudgetError::config(path, "model name must not be empty"));
            }
            let figure = |field: &str, v: f64| {
                if v.is_finite() && v >= 0.0 {
                    Ok(to_pico(v))
                } else {
                    Err(BudgetError::config(
                        format!("{path}.{field}"),
                        format!("must be a finite non-negative number of USD per million tokens, got {}", show(v)),
                    ))
                }
            };
            let unit = UnitPrice {
                input: figure("inputPerMTok", p.input_per_mtok)?,
                output: figure("outputPerMTok", p.output_per_mtok)?,
            };
            map.insert(name.clone(), unit);
        }
        Ok(PriceTable { map })
    }

    pub fn defaults() -> Self {
        // Built-in figures are constants known to be valid; an empty table is the safe
        // outcome should that ever change.
        PriceTable::new(&BTreeMap::new(), true).unwrap_or_default()
    }

    pub fn contains(&self, model: &str) -> bool {
        self.lookup(model).is_some()
    }

    /// The cost of a call in USD, `None` when the model has no price.
    pub fn cost_usd(&self, model: &str, input_tokens: u64, output_tokens: u64) -> Option<f64> {
        self.lookup(model)
            .map(|p| p.cost(input_tokens, output_tokens) as f64 / super::NANO_PER_USD)
    }

    /// Exact name first; else the longest entry the model extends by a dated snapshot or
    /// `-latest` suffix (`claude-sonnet-4-20250514`, `gpt-4o-2024-08-06`). Other suffixes
    /// name other models (`gpt-4o-mini`, `claude-sonnet-4-5`) and must not inherit a price.
    pub(crate) fn lookup(&self, model: &str) -> Option<UnitPrice> {
        if let Some(p) = self.map.get(model) {
            return Some(*p);
        }
        let mut best: Option<(usize, UnitPrice)> = None;
        for (name, p) in &self.map {
            let Some(rest) = model.strip_prefix(name.as_str()) else {
                continue;
            };
            if is_snapshot_suffix(rest) && best.is_none_or(|(len, _)| name.len() > len) {
                best = Some((name.len(), *p));
            }
        }
        best.map(|(_, p)| p)
    }
}

fn is_snapshot_suffix(rest: &str) -> bool {
    let Some(tail) = rest.strip_prefix('-').or_else(|| rest.strip_prefix('@')) else {
        return false;
    };
    let b = tail.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    tail == "latest"
        || (b.len() == 8 && digits(b))
        || (b.len() == 10
            && digits(&b[..4])
            && b[4] == b'-'
            && digits(&b[5..7])
            && b[7] == b'-'
            && digits(&b[8..]))
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn price(i: f64, o: f64) -> Price {
        Price {
            input_per_mtok: i,
            output_per_mtok: o,
        }
    }

    #[test]
    fn defaults_price_common_models_and_their_snapshots() {
        let t = PriceTable::defaults();
        // 1M input tokens of gpt-4o-mini cost $0.15.
        assert_eq!(t.cost_usd("gpt-4o-mini", 1_000_000, 0), Some(0.15));
        assert_eq!(t.cost_usd("gpt-4o", 0, 1_000_000), Some(10.0));
        assert_eq!(t.lookup("gpt-4o-2024-08-06"), t.lookup("gpt-4o"));
        assert_eq!(t.lookup("gpt-4o-mini-2024-07-18"), t.lookup("gpt-4o-mini"));
        assert_eq!(
            t.lookup("claude-sonnet-4-20250514"),
            t.lookup("claude-sonnet-4")
        );
        assert_eq!(
            t.lookup("claude-3-5-haiku-latest"),
            t.lookup("claude-3-5-haiku")
        );
        for unknown in [
            "gpt-5",
            "claude-sonnet-4-5",
            "claude-sonnet-4-5-20250929",
            "gpt-4o-audio",
            "",
        ] {
            assert!(!t.contains(unknown), "{unknown}");
        }
    }

    #[test]
    fn overrides_win_and_defaults_can_be_turned_off() {
        let mut m = BTreeMap::new();
        m.insert("gpt-4o".to_owned(), price(1.0, 1.0));
        m.insert("mine".to_owned(), price(0.0375, 0.0));
        let t = PriceTable::new(&m, true).unwrap();
        assert_eq!(t.cost_usd("gpt-4o", 1_000_000, 0), Some(1.0));
        assert!(t.contains("claude-opus-4"));
        assert_eq!(t.cost_usd("mine", 1_000_000, 5), Some(0.0375));
        let only = PriceTable::new(&m, false).unwrap();
        assert!(!only.contains("claude-opus-4"));
    }

    #[test]
    fn refuses_bad_prices_naming_the_path() {
        for (i, o, field) in [
            (-1.0, 1.0, r#"budget.prices["gpt-4o"].inputPerMTok"#),
            (1.0, f64::NAN, r#"budget.prices["gpt-4o"].outputPerMTok"#),
            (
                f64::INFINITY,
                1.0,
                r#"budget.prices["gpt-4o"].inputPerMTok"#,
            ),
        ] {
            let m = BTreeMap::from([("gpt-4o".to_owned(), price(i, o))]);
            let e = PriceTable::new(&m, true).unwrap_err();
            assert_eq!(e.details()["field"], field);
        }
        let m = BTreeMap::from([(String::new(), price(1.0, 1.0))]);
        assert!(PriceTable::new(&m, false).is_err());
        let p: Price = serde_json::from_str(r#"{"inputPerMTok":"3","outputPerMTok":1}"#).unwrap();
        assert!(
            p.input_per_mtok.is_nan(),
            "a string reaches validation as NaN"
        );
        let p: Price = serde_json::from_str(r#"{"outputPerMTok":1}"#).unwrap();
        assert!(
            p.input_per_mtok.is_nan(),
            "a missing figure reaches validation as NaN"
        );
    }

    #[test]
    fn cost_rounds_up_and_output_capping_inverts_it() {
        let p = UnitPrice {
            input: 150_000,
            output: 600_000,
        };
        assert_eq!(p.cost(1, 0), 150, "$0.15 per MTok is 150 nano-USD a token");
        let tiny = UnitPrice {
            input: 150,
            output: 0,
        };
        assert_eq!(tiny.cost(1, 0), 1, "0.15 nano-USD rounds up to 1");
        assert_eq!(
            tiny.cost(1000, 0),
            150,
            "rounding is per call, not per token"
        );
        assert_eq!(p.cost(1_000_000, 1_000_000), 750_000_000);
        for budget in [0, 1, 599, 600, 601, 12_345, 10u64.pow(12)] {
            let n = p.max_output(budget);
            assert!(p.cost(0, n) <= budget);
            assert!(p.cost(0, n + 1) > budget);
        }
        assert_eq!(UnitPrice::FREE.max_output(0), u64::MAX);
        assert_eq!(
            p.cost(u64::MAX, u64::MAX),
            u64::MAX,
            "saturates instead of wrapping"
        );
    }
}
