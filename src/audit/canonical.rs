//! Canonical JSON: the exact bytes an entry's MAC covers. It is RFC 8785 (the JSON
//! Canonicalization Scheme), so any implementation can reproduce it; in JS it is
//! `JSON.stringify` with object keys sorted by `Array.prototype.sort()`.
//!
//! Rules, for a value that has passed the checks below:
//! - `null`, `true`, `false` as literals; no whitespace anywhere.
//! - Arrays: `[` elements separated by `,` `]`, in their order.
//! - Objects: `{` `"key":value` members separated by `,` `}`, sorted by key comparing the
//!   keys' UTF-16 code units (JS's default sort; it differs from UTF-8 byte order for
//!   characters above U+FFFF against U+E000..U+FFFF).
//! - Strings (keys too): `"`, then each character as itself in UTF-8 except `"` -> `\"`,
//!   `\` -> `\\`, U+0008 `\b`, U+0009 `\t`, U+000A `\n`, U+000C `\f`, U+000D `\r`, and the
//!   other characters below U+0020 as `\u00xx` (lowercase hex); then `"`. U+007F, U+2028
//!   and all non-ASCII are not escaped. Lone surrogates cannot occur (refused on input).
//! - Numbers: the value as an IEEE-754 double, written as ECMAScript's
//!   `Number.prototype.toString` does (= `JSON.stringify`): `-0` as `0`; otherwise the
//!   shortest digits that read back as the same double; plain notation for decimal
//!   exponents -7 < e < 21 (`100`, `0.5`, `0.000001`, `123456789012345680000`), else
//!   `d.ddde+N` / `de-N` (`1e+21`, `1.5e-7`).
//!
//! Numbers are therefore protected as doubles, the way every JS reader sees them: two
//! spellings of one double (`1`, `1.0`, `10e-1`) are the same value to the MAC.
//!
//! Checks (a failure makes the value unusable for a MAC rather than silently altered):
//! - An integer held as an integer (a Rust `u64`/`i64`) must be exactly a double:
//!   `9007199254740993` is refused, `2^60` is fine. (Text is read as JS reads it: see
//!   `parse`.)
//! - Containers nest at most `MAX_DEPTH` deep (the entry object itself is depth 1), which
//!   bounds recursion on untrusted input.

#[cfg(test)]
use super::error::AuditError;
use serde_json::{Map, Number, Value};
use std::fmt::Write;

/// Deepest accepted nesting of arrays and objects, counting the outermost as 1.
pub const MAX_DEPTH: usize = 64;

/// Canonical JSON of a value (see the module comment); `invalid_input` when it has none.
#[cfg(test)]
pub fn canonical_json(value: &Value) -> Result<String, AuditError> {
    to_canonical(value).map_err(AuditError::input)
}

pub(crate) fn to_canonical(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_value(&mut out, value, 1)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value, depth: usize) -> Result<(), String> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_number(n)?),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            check_depth(depth)?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            check_depth(depth)?;
            write_object(out, map, depth)?;
        }
    }
    Ok(())
}

fn check_depth(depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "arrays and objects nest deeper than {MAX_DEPTH} levels"
        ));
    }
    Ok(())
}

fn write_object(out: &mut String, map: &Map<String, Value>, depth: usize) -> Result<(), String> {
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    out.push('{');
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, key);
        out.push(':');
        write_value(out, value, depth + 1)?;
    }
    out.push('}');
    Ok(())
}

pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The number as its double, or an error when it is an integer no double holds exactly.
pub(crate) fn number_as_f64(n: &Number) -> Result<f64, String> {
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    if let Some(u) = n.as_u64() {
        let f = u as f64;
        // `as u64` saturates, so 2^64 (the rounding of u64::MAX) must be ruled out first.
        if f < TWO_POW_64 && f as u64 == u {
            return Ok(f);
        }
        return Err(format!(
            "the integer {u} is not exactly representable as a double"
        ));
    }
    if let Some(i) = n.as_i64() {
        let f = i as f64;
        // Only negatives reach here, and -2^63 is exact, so the cast back cannot saturate.
        if f as i64 == i {
            return Ok(f);
        }
        return Err(format!(
            "the integer {i} is not exactly representable as a double"
        ));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() => Ok(f),
        _ => Err("a number is not finite".into()),
    }
}

fn format_number(n: &Number) -> Result<String, String> {
    Ok(format_f64(number_as_f64(n)?))
}

/// ECMAScript `Number::toString(x)` for a finite double: the shortest digits that read
/// back as `x`, the closest to `x` among those, the even one on a tie (as V8 does).
pub(crate) fn format_f64(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        // -0 prints as 0; non-finite values never get here (refused above).
        return "0".into();
    }
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    let (digits, exp) = shortest_digits(x.abs());
    let k = digits.len() as i64;
    // ECMAScript's n: the value is 0.DIGITS x 10^n.
    let n = exp + 1;
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    out
}

/// Significant digits and the decimal exponent of the first one, for a finite `x > 0`.
fn shortest_digits(x: f64) -> (String, i64) {
    let (digits, exp) = split_sci(&format!("{x:e}"));
    // Rust's shortest digits match ECMAScript's except on exact ties, which only happen
    // at 16 or more digits (below that, a double's precision makes every candidate exact).
    if digits.len() >= 16 {
        if let Some(even) = even_of_tie(x, &digits, exp) {
            return (even, exp);
        }
    }
    (digits, exp)
}

fn split_sci(sci: &str) -> (String, i64) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.chars().filter(|c| *c != '.').collect();
    (digits, exp.parse().unwrap_or(0))
}

/// When `x` lies exactly halfway between `digits` and its neighbour of the same length,
/// and the neighbour is even and also reads back as `x`, the neighbour.
fn even_of_tie(x: f64, digits: &str, exp: i64) -> Option<String> {
    if digits.bytes().last().is_some_and(|d| (d - b'0') % 2 == 0) {
        return None;
    }
    // 800 digits hold every double's exact decimal expansion.
    let (exact, exact_exp) = split_sci(&format!("{x:.800e}"));
    let exact = exact.trim_end_matches('0');
    let k = digits.len();
    if exact_exp != exp || exact.len() != k + 1 || !exact.ends_with('5') {
        return None;
    }
    let down = &exact[..k];
    let other = if digits == down {
        increment(down)?
    } else {
        down.to_owned()
    };
    let reads_back = format!("{}.{}e{exp}", &other[..1], &other[1..]).parse::<f64>() == Ok(x);
    let even = other.bytes().last().is_some_and(|d| (d - b'0') % 2 == 0);
    (reads_back && even && !other.ends_with('0')).then_some(other)
}

/// The decimal digit string plus one, or `None` when it would gain a digit.
fn increment(digits: &str) -> Option<String> {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return String::from_utf8(bytes).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests;
