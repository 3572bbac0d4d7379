//! The vocabulary every budget module shares: what a limit counts (`Metric`), over how
//! long (`Window`), and one integer figure per metric (`Amounts`). A leaf, so the error
//! type, the config and the accounting can all name these without importing each other.

use super::field::{lenient_number, missing};
use serde::de::{self, MapAccess, Unexpected, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One figure per `Metric`, indexed by `Metric::index`.
pub(crate) type Amounts = [u64; 5];

/// Cost is kept in whole nano-USD so sums are exact and a limit check never depends on
/// float rounding.
pub(crate) const NANO_PER_USD: f64 = 1e9;

/// What a limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Metric {
    InputTokens,
    OutputTokens,
    TotalTokens,
    CostUsd,
    Requests,
}

impl Metric {
    pub const ALL: [Metric; 5] = [
        Metric::InputTokens,
        Metric::OutputTokens,
        Metric::TotalTokens,
        Metric::CostUsd,
        Metric::Requests,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::InputTokens => "inputTokens",
            Metric::OutputTokens => "outputTokens",
            Metric::TotalTokens => "totalTokens",
            Metric::CostUsd => "costUsd",
            Metric::Requests => "requests",
        }
    }

    /// The config key that limits this metric.
    pub fn limit_field(self) -> &'static str {
        match self {
            Metric::InputTokens => "maxInputTokens",
            Metric::OutputTokens => "maxOutputTokens",
            Metric::TotalTokens => "maxTotalTokens",
            Metric::CostUsd => "maxCostUsd",
            Metric::Requests => "maxRequests",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// An internal integer figure as the host sees it (cost in USD, the rest as counts).
    pub(crate) fn to_public(self, v: u64) -> f64 {
        match self {
            Metric::CostUsd => v as f64 / NANO_PER_USD,
            _ => v as f64,
        }
    }
}

/// A small set of metrics; `slot` gives a metric's position among the members, so a
/// window stores only the metrics some limit actually needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MetricSet(u8);

impl MetricSet {
    pub fn insert(&mut self, m: Metric) {
        self.0 |= 1 << m.index();
    }
    pub fn contains(self, m: Metric) -> bool {
        self.0 & (1 << m.index()) != 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub fn slot(self, m: Metric) -> usize {
        (self.0 & ((1u8 << m.index()) - 1)).count_ones() as usize
    }
    pub fn iter(self) -> impl Iterator<Item = Metric> {
        Metric::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

/// How far back a limit looks. Rolling windows are approximated with fixed sub-buckets
/// that only ever count a charge for longer than the window, never shorter.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Window {
    #[default]
    Lifetime,
    Minute,
    Hour,
    Day,
    Custom {
        ms: f64,
    },
}

impl Window {
    /// The rolling length, `None` for a lifetime limit.
    pub fn length_ms(self) -> Option<f64> {
        match self {
            Window::Lifetime => None,
            Window::Minute => Some(60_000.0),
            Window::Hour => Some(3_600_000.0),
            Window::Day => Some(86_400_000.0),
            Window::Custom { ms } => Some(ms),
        }
    }

    pub fn describe(self) -> String {
        match self {
            Window::Lifetime => "lifetime".into(),
            Window::Minute => "rolling minute".into(),
            Window::Hour => "rolling hour".into(),
            Window::Day => "rolling day".into(),
            Window::Custom { ms } => format!("rolling {ms} ms"),
        }
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Window::Lifetime => s.serialize_str("lifetime"),
            Window::Minute => s.serialize_str("minute"),
            Window::Hour => s.serialize_str("hour"),
            Window::Day => s.serialize_str("day"),
            Window::Custom { ms } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("ms", ms)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Window {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Window;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#""lifetime", "minute", "hour", "day" or { ms: number }"#)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Window, E> {
                match s {
                    "lifetime" => Ok(Window::Lifetime),
                    "minute" => Ok(Window::Minute),
                    "hour" => Ok(Window::Hour),
                    "day" => Ok(Window::Day),
                    _ => Err(E::invalid_value(Unexpected::Str(s), &self)),
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Window, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Custom {
                    #[serde(default = "missing", deserialize_with = "lenient_number")]
                    ms: f64,
                }
                let c = Custom::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Window::Custom { ms: c.ms })
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn metric_sets_give_dense_slots() {
        let mut s = MetricSet::default();
        s.insert(Metric::Requests);
        s.insert(Metric::InputTokens);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s.slot(Metric::InputTokens), s.slot(Metric::Requests)),
            (0, 1)
        );
        assert!(!s.contains(Metric::CostUsd));
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [Metric::InputTokens, Metric::Requests]
        );
    }
}
