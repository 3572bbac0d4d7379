//! Model prices and call cost. Prices are USD per million tokens as providers publish
//! them; internally a per-token price in pico-USD and costs in nano-USD, both integers,
//! so a cost limit is never passed through float rounding.

use super::error::BudgetError;
use super::field::{key_path, lenient_number, missing, show};
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

/// Every known model's unit price, compiled once from the config.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PriceTable {
    map: HashMap<String, UnitPrice>,
}

impl PriceTable {
    /// `prices` over the built-in defaults (or alone), every figure validated.
    pub(crate) fn new(
        prices: &BTreeMap<String, Price>,
        with_defaults: bool,
    ) -> Result<Self, BudgetError> {
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
mod tests;
