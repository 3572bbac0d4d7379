//! How a figure the host wrote is read and how its field is named in an error. Kept apart
//! from every type it serves, so the config, the price table and the documents can all
//! read figures the same way without depending on one another.
//!
//! Figures are read leniently on purpose: a wrong value must reach validation, which can
//! name its field, instead of failing inside serde with a message that names no path.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

/// JS `Number.MAX_SAFE_INTEGER`: larger counts would not survive a round trip through JS.
pub(crate) const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

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

/// A required number that is absent becomes NaN, so validation reports it by path.
pub(crate) fn missing() -> f64 {
    f64::NAN
}

/// Any number is kept as is (NaN and infinities included, so validation can name the
/// field); any other value becomes NaN for the same reason. JSON has no `Infinity`: the
/// JS layer sends it as the string "Infinity".
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

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

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
