//! A strict JSON reader for entry lines.
//!
//! Why not `serde_json::from_str`: without its `float_roundtrip` feature (off in this
//! crate) serde_json reads some doubles one unit in the last place off, and a MAC over
//! such a number fails on an intact entry. `str::parse::<f64>` is correctly rounded, like
//! JS's `JSON.parse`, so this reader and the JS CLI see the same numbers. It also bounds
//! nesting, so untrusted files cannot overflow the stack.
//!
//! Duplicate object keys are refused at every depth. Readers disagree on them (`JSON.parse`
//! and serde keep the last, many streaming readers the first), so a line holding both the
//! signed value and a forged one would verify here while another reader acts on the forgery.

use super::canonical::{write_string, MAX_DEPTH};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Why a text is not an acceptable JSON value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON at all (RFC 8259), or beyond what a double or the nesting bound holds.
    Syntax(String),
    /// Valid JSON, but one object names `key` twice (after unescaping).
    DuplicateKey { key: String },
}

impl fmt::Display for JsonError {
    /// The words the JS CLI prints too (after `malformed entry: `).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax(detail) => write!(f, "not JSON: {detail}"),
            JsonError::DuplicateKey { key } => {
                let mut name = String::new();
                write_string(&mut name, key);
                write!(f, "duplicate key {name}")
            }
        }
    }
}

/// JS `Number.MAX_SAFE_INTEGER`.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Parses one JSON text (RFC 8259: no comments, no trailing commas, no lone surrogates,
/// no object naming a key twice).
pub(crate) fn parse_json(text: &str) -> Result<Value, JsonError> {
    let mut r = Reader {
        s: text,
        b: text.as_bytes(),
        i: 0,
        duplicate: None,
    };
    r.ws();
    let v = r.value(1)?;
    r.ws();
    if r.i != r.b.len() {
        return Err(r.err("unexpected text after the JSON value"));
    }
    // Reported only once the whole text is JSON, and naming the first repeat in text
    // order, so the JS CLI (`JSON.parse`, then a scan) names the same key for any line.
    match r.duplicate {
        Some(key) => Err(JsonError::DuplicateKey { key }),
        None => Ok(v),
    }
}

/// A JSON value read through serde that refuses duplicate keys at every depth, for
/// `Entry`'s `Deserialize`: `serde_json::Value` would keep the last of two silently.
pub(crate) struct StrictValue(pub(crate) Value);

impl<'de> serde::Deserialize<'de> for StrictValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let e = JsonError::DuplicateKey { key };
                return Err(serde::de::Error::custom(e));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// The first key found repeated in its object.
    duplicate: Option<String>,
}

impl Reader<'_> {
    fn err(&self, what: &str) -> JsonError {
        JsonError::Syntax(format!("{what} at byte {}", self.i + 1))
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &str) -> Result<(), JsonError> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.b[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(v);
                    }
                }
                Err(self.err(if self.i >= self.b.len() {
                    "unexpected end of JSON"
                } else {
                    "expected a JSON value"
                }))
            }
        }
    }

    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err(&format!(
                "arrays and objects nest deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(())
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.i += 1;
        let mut map = Map::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            if self.duplicate.is_none() && map.contains_key(&key) {
                self.duplicate = Some(key.clone());
            }
            self.ws();
            self.expect(b':', "expected `:`")?;
            self.ws();
            let v = self.value(depth + 1)?;
            map.insert(key, v);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        let mut start = self.i;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    // Slicing at ASCII bytes always lands on a char boundary.
                    out.push_str(&self.s[start..self.i]);
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(&self.s[start..self.i]);
                    self.i += 1;
                    out.push(self.escape()?);
                    start = self.i;
                }
                Some(c) if c < 0x20 => {
                    return Err(self.err("unescaped control character in a string"))
                }
                Some(_) => self.i += 1,
            }
        }
    }

    fn escape(&mut self) -> Result<char, JsonError> {
        let c = self.peek().ok_or_else(|| self.err("unterminated escape"))?;
        self.i += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                let code = match hi {
                    0xd800..=0xdbff => {
                        if !self.b[self.i..].starts_with(b"\\u") {
                            return Err(self.err("lone surrogate in a string"));
                        }
                        self.i += 2;
                        let lo = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&lo) {
                            return Err(self.err("lone surrogate in a string"));
                        }
                        0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                    }
                    0xdc00..=0xdfff => return Err(self.err("lone surrogate in a string")),
                    _ => hi,
                };
                char::from_u32(code).ok_or_else(|| self.err("invalid \\u escape"))?
            }
            _ => return Err(self.err("invalid escape")),
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("expected 4 hex digits after \\u")),
            };
            v = (v << 4) | u32::from(d);
            self.i += 1;
        }
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            integer = false;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        let lexeme = &self.s[start..self.i];
        let f: f64 = lexeme.parse().map_err(|_| self.err("invalid number"))?;
        if !f.is_finite() {
            return Err(self.err("number out of the range of a double"));
        }
        // Integers a double holds exactly stay integers (as serde_json would give them);
        // beyond, the number is its nearest double, as in JS: `JSON.stringify(2 ** 60)`
        // writes `1152921504606847000`, which is not 2^60 digit for digit.
        if integer && lexeme != "-0" {
            if let Ok(u) = lexeme.parse::<u64>() {
                if u <= MAX_SAFE_INTEGER {
                    return Ok(Value::from(u));
                }
            } else if let Ok(i) = lexeme.parse::<i64>() {
                if i >= -(MAX_SAFE_INTEGER as i64) {
                    return Ok(Value::from(i));
                }
            }
        }
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| self.err("invalid number"))
    }
}

#[cfg(test)]
mod tests;
