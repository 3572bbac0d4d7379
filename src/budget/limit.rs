//! Budget and rate-limit configuration in the shape the host writes it (JS names,
//! camelCase), and the checks on single figures. Bad values are refused with the field
//! path named, never clamped: a typo in a budget must not silently mean "no limit".

use super::error::BudgetError;
use super::price::Price;
use super::{MAX_SAFE_INTEGER, NANO_PER_USD};
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

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

    pub(crate) fn validate(self, field: &str) -> Result<(), BudgetError> {
        if let Window::Custom { ms } = self {
            if !(ms.is_finite() && ms.fract() == 0.0 && (1.0..=MAX_SAFE_INTEGER).contains(&ms)) {
                return Err(BudgetError::config(
                    format!("{field}.ms"),
                    format!("must be a whole number of milliseconds, at least 1, got {ms} (use \"lifetime\" for a window that never expires)"),
                ));
            }
        }
        Ok(())
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
        self.window.validate(&format!("{path}.window"))?;
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

/// NaN is also what a non-number deserializes to, so say both.
pub(crate) fn show(v: f64) -> String {
    if v.is_nan() {
        "NaN or a non-number".into()
    } else {
        v.to_string()
    }
}

/// A JSON path segment for a map key, quoted as in `budget.prices["gpt-4o"]`.
pub(crate) fn key_path(base: &str, key: &str) -> String {
    let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("{key:?}"));
    format!("{base}[{quoted}]")
}

/// The path of the i-th object of a list that the host may have written as one object.
pub(crate) fn item_path(base: &str, i: usize, len: usize) -> String {
    if len > 1 {
        format!("{base}[{i}]")
    } else {
        base.to_owned()
    }
}

/// `budget: { perUser, global, plans, prices }`. Each limits entry is one object or a
/// list of objects (one per window). A plan's limits replace `perUser` for its users.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetConfig {
    #[serde(default, deserialize_with = "one_or_many")]
    pub per_user: Vec<LimitSet>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub global: Vec<LimitSet>,
    #[serde(default, deserialize_with = "plans")]
    pub plans: BTreeMap<String, Vec<LimitSet>>,
    /// Merged over the built-in defaults (an entry here wins over a default of that name).
    #[serde(default)]
    pub prices: BTreeMap<String, Price>,
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
            prices: BTreeMap::new(),
            default_prices: true,
        }
    }
}

/// `rateLimit: { perUser: { requests, perMs, burst? } }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitConfig {
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_user: Option<RateSpec>,
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

/// A required number that is absent becomes NaN, so validation reports it by path.
pub(crate) fn missing() -> f64 {
    f64::NAN
}

/// Any number is kept as is (NaN and infinities included, so validation can name the
/// field); any other value becomes NaN for the same reason. serde alone would refuse a
/// string with a message that names no path. JSON has no `Infinity`: the JS layer sends
/// it as the string "Infinity".
#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient {
    Num(f64),
    Text(String),
    Other(IgnoredAny),
}

impl Lenient {
    fn value(self) -> f64 {
        match self {
            Lenient::Num(v) => v,
            Lenient::Text(t) if t == "Infinity" => f64::INFINITY,
            Lenient::Text(_) | Lenient::Other(_) => f64::NAN,
        }
    }
}

/// An absent key is no figure; a present one, `null` included, is a figure to validate:
/// a limit fails closed, so only its absence means "no cap".
pub(crate) fn lenient_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Some(Lenient::deserialize(d)?.value()))
}

pub(crate) fn lenient_number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<Lenient>::deserialize(d)?.map_or(f64::NAN, Lenient::value))
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
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn parse(v: serde_json::Value) -> BudgetConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn parses_the_documented_shape_with_one_object_or_a_list() {
        let c = parse(json!({
            "perUser": { "maxTotalTokens": 1000, "window": "hour" },
            "global": [{ "maxCostUsd": 5.5 }, { "maxRequests": 10, "window": { "ms": 500 } }],
            "plans": { "pro": { "maxTotalTokens": 1e6, "window": "day" } },
            "prices": { "m": { "inputPerMTok": 1, "outputPerMTok": 2 } }
        }));
        assert_eq!(c.per_user.len(), 1);
        assert_eq!(c.per_user[0].max_total_tokens, Some(1000.0));
        assert_eq!(c.per_user[0].window, Window::Hour);
        assert_eq!(c.global[0].window, Window::Lifetime);
        assert_eq!(c.global[1].window, Window::Custom { ms: 500.0 });
        assert_eq!(c.plans["pro"][0].window, Window::Day);
        assert_eq!(c.prices["m"].output_per_mtok, 2.0);
        assert!(c.default_prices);
        // Round trip through the serialized form.
        let back: BudgetConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn non_numbers_reach_validation_instead_of_failing_without_a_path() {
        let c = parse(json!({ "perUser": { "maxTotalTokens": "1000" } }));
        let e = c.per_user[0].caps("budget.perUser").unwrap_err();
        assert_eq!(e.details()["field"], "budget.perUser.maxTotalTokens");
        // A limit is absent only when its key is: `null` (what JSON makes of NaN and
        // functions) is a figure to refuse, never "no cap".
        let c = parse(json!({ "perUser": { "maxTotalTokens": null } }));
        let e = c.per_user[0].caps("budget.perUser").unwrap_err();
        assert_eq!(e.details()["field"], "budget.perUser.maxTotalTokens");
        let c = parse(json!({ "perUser": { "maxTotalTokens": "Infinity" } }));
        assert_eq!(c.per_user[0].caps("budget.perUser").unwrap(), vec![]);
        let c = parse(json!({ "perUser": { "window": "day" } }));
        assert_eq!(c.per_user[0].max_total_tokens, None);
        assert!(serde_json::from_value::<RateLimitConfig>(json!({ "perUser": null })).is_err());
    }

    #[test]
    fn unknown_keys_and_windows_are_refused() {
        assert!(
            serde_json::from_value::<BudgetConfig>(json!({ "perUser": { "maxTokens": 5 } }))
                .is_err()
        );
        assert!(
            serde_json::from_value::<BudgetConfig>(json!({ "perUser": { "window": "week" } }))
                .is_err()
        );
        assert!(serde_json::from_value::<BudgetConfig>(json!({ "perUser": 5 })).is_err());
    }

    #[test]
    fn caps_refuse_bad_figures_and_take_infinity_as_no_cap() {
        let bad = |s: LimitSet| s.caps("p").unwrap_err().details()["field"].clone();
        let set = |m: f64| LimitSet {
            max_total_tokens: Some(m),
            ..Default::default()
        };
        for v in [-1.0, f64::NAN, f64::NEG_INFINITY, 2.5] {
            assert_eq!(bad(set(v)), "p.maxTotalTokens", "{v}");
        }
        assert_eq!(set(f64::INFINITY).caps("p").unwrap(), vec![]);
        assert_eq!(set(0.0).caps("p").unwrap(), vec![(Metric::TotalTokens, 0)]);
        let cost = LimitSet {
            max_cost_usd: Some(0.000_000_001_9),
            ..Default::default()
        };
        // Floored to whole nano-dollars: never above the configured amount.
        assert_eq!(cost.caps("p").unwrap(), vec![(Metric::CostUsd, 1)]);
        for ms in [0.0, -5.0, 1.5, f64::NAN, f64::INFINITY] {
            let s = LimitSet {
                window: Window::Custom { ms },
                ..Default::default()
            };
            assert_eq!(bad(s), "p.window.ms", "{ms}");
        }
    }

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

    #[test]
    fn paths_quote_keys_like_js() {
        assert_eq!(
            key_path("budget.prices", "gpt-4o"),
            r#"budget.prices["gpt-4o"]"#
        );
        assert_eq!(item_path("budget.perUser", 1, 2), "budget.perUser[1]");
        assert_eq!(item_path("budget.perUser", 0, 1), "budget.perUser");
    }
}
