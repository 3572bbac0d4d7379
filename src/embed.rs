//! Embeddings: the host's embedder contract, and the checks every answer passes before a
//! vector is stored or compared. The checks live here, in plain Rust, so a JS function and
//! a built-in client are held to the same rules.

use crate::cancel::Cancellation;
use crate::error::{Error, Result};
use crate::limits::{MAX_EMBEDDING_DIMENSIONS, MAX_REPORTED_TOKENS};
use futures_util::future::LocalBoxFuture;
use serde_json::Value;
use std::cell::Cell;
use std::rc::Rc;

/// Who the texts belong to: the embedder is only ever called for one user at a time.
#[derive(Clone, Default)]
pub struct EmbedContext {
    pub user_id: Option<String>,
    /// `None` for the default org.
    pub org_id: Option<String>,
    pub cancellation: Option<Rc<dyn Cancellation>>,
}

/// An embedder's answer before it is checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawEmbeddings {
    pub vectors: Vec<Vec<f64>>,
    /// Tokens the embedding call used, when the embedder reports them.
    pub tokens: Option<f64>,
}

/// Turns texts into vectors, one per text, in order.
pub trait Embedder {
    /// The name the budget's price table knows this embedder's model by; "" for none.
    fn model_id(&self) -> &str {
        ""
    }

    fn embed(
        &self,
        texts: Vec<String>,
        ctx: EmbedContext,
    ) -> LocalBoxFuture<'static, Result<RawEmbeddings>>;
}

fn bad(reason: impl Into<String>) -> Error {
    Error::Embedding {
        reason: reason.into(),
    }
}

impl RawEmbeddings {
    /// Either documented answer as JSON: `number[][]`, or
    /// `{ embeddings: number[][], usage?: { tokens? } }`.
    pub fn from_json(v: Value) -> Result<RawEmbeddings> {
        let (list, tokens) = match v {
            Value::Array(list) => (list, None),
            Value::Object(mut o) => {
                if let Some(k) = o.keys().find(|k| *k != "embeddings" && *k != "usage") {
                    return Err(bad(format!("unknown key `{k}` in the embedder's answer")));
                }
                let tokens = match o.remove("usage") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(u)) => match u.get("tokens") {
                        None | Some(Value::Null) => None,
                        Some(Value::Number(n)) => n.as_f64(),
                        Some(other) => {
                            return Err(bad(format!("usage.tokens must be a number, got {other}")))
                        }
                    },
                    Some(other) => {
                        return Err(bad(format!("usage must be an object, got {other}")))
                    }
                };
                match o.remove("embeddings") {
                    Some(Value::Array(list)) => (list, tokens),
                    _ => return Err(bad("`embeddings` must be an array of number arrays")),
                }
            }
            other => {
                return Err(bad(format!(
                    "expected number[][] or {{ embeddings, usage? }}, got {}",
                    kind(&other)
                )))
            }
        };
        let vectors = list
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Array(xs) => xs
                    .into_iter()
                    .enumerate()
                    .map(|(j, x)| {
                        x.as_f64().ok_or_else(|| {
                            bad(format!(
                                "embeddings[{i}][{j}] must be a number, got {}",
                                kind(&x)
                            ))
                        })
                    })
                    .collect(),
                other => Err(bad(format!(
                    "embeddings[{i}] must be an array of numbers, got {}",
                    kind(&other)
                ))),
            })
            .collect::<Result<_>>()?;
        Ok(RawEmbeddings { vectors, tokens })
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The checked vectors of an answer for `expected` texts, as f32. Every vector must have
/// the agent's dimensions (`dimensions`, fixed by the first answer that passes), so that
/// stored vectors stay comparable; a failure changes nothing.
pub fn check(
    raw: RawEmbeddings,
    expected: usize,
    dimensions: &Cell<Option<usize>>,
) -> Result<(Vec<Vec<f32>>, Option<u64>)> {
    if raw.vectors.len() != expected {
        return Err(bad(format!(
            "asked for {expected} vectors, got {}",
            raw.vectors.len()
        )));
    }
    let want = dimensions
        .get()
        .or_else(|| raw.vectors.first().map(Vec::len));
    let mut out = Vec::with_capacity(expected);
    for (i, v) in raw.vectors.iter().enumerate() {
        if v.is_empty() || v.len() > MAX_EMBEDDING_DIMENSIONS {
            return Err(bad(format!(
                "embeddings[{i}] has {} dimensions; 1 to {MAX_EMBEDDING_DIMENSIONS} are accepted",
                v.len()
            )));
        }
        if Some(v.len()) != want {
            return Err(bad(format!(
                "embeddings[{i}] has {} dimensions, not the {} of this agent's embeddings",
                v.len(),
                want.unwrap_or(0)
            )));
        }
        let mut f = Vec::with_capacity(v.len());
        for (j, &x) in v.iter().enumerate() {
            let y = x as f32;
            if !y.is_finite() {
                return Err(bad(format!(
                    "embeddings[{i}][{j}] is {x}, not a finite 32-bit number"
                )));
            }
            f.push(y);
        }
        out.push(f);
    }
    let tokens = match raw.tokens {
        None => None,
        Some(t) if t.is_finite() && t >= 0.0 && t.fract() == 0.0 && t <= MAX_REPORTED_TOKENS => {
            Some(t as u64)
        }
        Some(t) => return Err(bad(format!("usage.tokens is {t}, not a token count"))),
    };
    if want.is_some() {
        dimensions.set(want);
    }
    Ok((out, tokens))
}

/// The vectors of a stored or imported turn: none, or one slot per message, each within
/// the dimension bound and finite (a number too large for f32 reads as infinite).
pub fn check_stored(
    vectors: &[Option<Vec<f32>>],
    messages: usize,
) -> std::result::Result<(), String> {
    if !vectors.is_empty() && vectors.len() != messages {
        return Err(format!(
            "`vectors` has {} entries for {messages} messages",
            vectors.len()
        ));
    }
    for v in vectors.iter().flatten() {
        if v.is_empty() || v.len() > MAX_EMBEDDING_DIMENSIONS {
            return Err(format!(
                "a vector has {} dimensions; 1 to {MAX_EMBEDDING_DIMENSIONS} are accepted",
                v.len()
            ));
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err("a vector holds a number that is not a finite 32-bit float".into());
        }
    }
    Ok(())
}

/// Cosine similarity of a query with a stored vector; `None` when their sizes differ or
/// either is all zeros (no direction to compare).
pub fn cosine(query: &[f32], query_norm: f32, stored: impl Iterator<Item = f32>) -> Option<f32> {
    let (mut dot, mut norm, mut n) = (0f32, 0f32, 0usize);
    for (a, b) in query.iter().zip(stored) {
        dot += a * b;
        norm += b * b;
        n += 1;
    }
    (n == query.len() && norm > 0.0 && query_norm > 0.0).then(|| dot / (norm.sqrt() * query_norm))
}

pub fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn raw(v: Value) -> Result<RawEmbeddings> {
        RawEmbeddings::from_json(v)
    }

    #[test]
    fn both_answer_shapes_read() {
        let a = raw(json!([[1, 2], [3, 4.5]])).unwrap();
        assert_eq!(a.vectors, vec![vec![1.0, 2.0], vec![3.0, 4.5]]);
        assert_eq!(a.tokens, None);
        let b = raw(json!({ "embeddings": [[1]], "usage": { "tokens": 7 } })).unwrap();
        assert_eq!(b.tokens, Some(7.0));
        for v in [
            json!(null),
            json!("x"),
            json!([[1, "2"]]),
            json!([1, 2]),
            json!({ "vectors": [[1]] }),
            json!({ "embeddings": [[1]], "usage": 3 }),
        ] {
            assert_eq!(raw(v).unwrap_err().code(), "embedding_failed");
        }
    }

    #[test]
    fn wrong_count_size_or_value_is_refused_and_fixes_nothing() {
        let dims = Cell::new(None);
        let r = |v: Vec<Vec<f64>>| RawEmbeddings {
            vectors: v,
            tokens: None,
        };
        assert!(check(r(vec![vec![1.0]]), 2, &dims).is_err());
        assert!(check(r(vec![vec![1.0, 2.0], vec![1.0]]), 2, &dims).is_err());
        assert!(check(r(vec![vec![]]), 1, &dims).is_err());
        assert!(check(r(vec![vec![1e300]]), 1, &dims).is_err());
        assert!(check(r(vec![vec![0.0; MAX_EMBEDDING_DIMENSIONS + 1]]), 1, &dims).is_err());
        assert_eq!(dims.get(), None);
        let (v, _) = check(r(vec![vec![1.0, 2.0]]), 1, &dims).unwrap();
        assert_eq!(v, vec![vec![1.0f32, 2.0]]);
        assert_eq!(dims.get(), Some(2));
        let e = check(r(vec![vec![1.0, 2.0, 3.0]]), 1, &dims).unwrap_err();
        assert!(e.to_string().contains("not the 2"), "{e}");
        let bad_tokens = RawEmbeddings {
            vectors: vec![vec![1.0, 0.0]],
            tokens: Some(-1.0),
        };
        assert!(check(bad_tokens, 1, &dims).is_err());
    }

    #[test]
    fn cosine_compares_directions_of_equal_size() {
        let q = [1.0, 0.0];
        let n = norm(&q);
        assert_eq!(cosine(&q, n, [2.0, 0.0].into_iter()), Some(1.0));
        assert_eq!(cosine(&q, n, [0.0, 3.0].into_iter()), Some(0.0));
        assert_eq!(cosine(&q, n, [1.0].into_iter()), None);
        assert_eq!(cosine(&q, n, [0.0, 0.0].into_iter()), None);
    }
}
