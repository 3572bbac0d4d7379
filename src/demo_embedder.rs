//! The offline demo embedder: a toy that turns text into a fixed-size vector with no model,
//! no network and no randomness, so the demo can show semantic and hybrid search.
//!
//! It is not a language model. It knows a small table of synonyms (colour, hue and shade
//! are one concept; so are favourite, preferred and prefer; ...), drops a few function
//! words, and feature-hashes what is left (concepts, other words, and each word's
//! character trigrams) into `DIMENSIONS` slots with FNV-1a. Two texts come out close when
//! they share words, spellings or concepts from the table; "what hue do I prefer" finds
//! "my favourite colour is green" through the table, with no word in common. Anything the
//! table does not know is matched by spelling only.

use crate::embed::{EmbedContext, Embedder, RawEmbeddings};
use crate::error::Result;
use crate::model::estimate_tokens;
use futures_util::future::LocalBoxFuture;

/// The size of every vector: small enough to read in an export, large enough that the few
/// features of a short message rarely share a slot.
pub const DIMENSIONS: usize = 256;

/// Each row is one concept: any of its words counts as the concept itself. Plural forms
/// ending in "s" are found through the singular (see `concept_of`).
const SYNONYMS: &[&[&str]] = &[
    &["colour", "color", "hue", "shade", "tint"],
    &[
        "favourite",
        "favorite",
        "preferred",
        "prefer",
        "fave",
        "like",
        "love",
    ],
    &["car", "vehicle", "automobile", "auto", "drive", "driving"],
    &["dog", "puppy", "pet", "cat", "kitten", "hound"],
    &[
        "city", "town", "live", "lives", "living", "home", "hometown", "village", "reside",
    ],
    &[
        "job",
        "work",
        "occupation",
        "profession",
        "career",
        "employer",
        "employed",
    ],
    &[
        "food",
        "eat",
        "meal",
        "dish",
        "cuisine",
        "dinner",
        "lunch",
        "breakfast",
    ],
    &["name", "called", "named", "call"],
    &["drink", "beverage", "coffee", "tea"],
    &["music", "song", "band", "listen", "tune"],
    &["sport", "football", "soccer", "tennis", "exercise", "gym"],
    &["travel", "trip", "flight", "holiday", "vacation", "journey"],
    &[
        "family", "brother", "sister", "mother", "father", "parent", "kid", "child", "children",
    ],
    &["birthday", "born", "age", "old"],
    &["invoice", "bill", "refund", "payment", "pay", "price"],
    &["book", "novel", "read", "reading", "author"],
    &["weather", "rain", "sunny", "temperature", "forecast"],
];

/// Words that say nothing of a message's topic: left out, so that two unrelated questions
/// are not made close by their "what" and "my".
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "i", "me", "my", "mine", "you", "your", "we", "our", "it", "its", "is", "am",
    "are", "was", "were", "be", "been", "do", "does", "did", "what", "which", "who", "whats", "s",
    "t", "m", "d", "ll", "re", "ve", "to", "of", "in", "on", "at", "for", "and", "or", "that",
    "this", "with", "so", "very", "really", "please", "tell", "know", "about",
];

/// How much each kind of feature weighs: a concept most, so that synonyms outweigh
/// spelling; a word's trigrams together less than the word.
const CONCEPT_WEIGHT: f32 = 2.0;
const WORD_WEIGHT: f32 = 1.0;
const TRIGRAMS_WEIGHT: f32 = 0.5;

/// FNV-1a, 32 bits: fixed, simple and the same on every platform and run.
fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for &b in *part {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// Adds `weight` to the slot a feature hashes to. The sign comes from another bit of the
/// hash, so two features that share a slot cancel as often as they add up, and collisions
/// do not pull every pair of texts closer.
fn add(v: &mut [f32], kind: &[u8], feature: &str, weight: f32) {
    let h = fnv1a(&[kind, b":", feature.as_bytes()]);
    let slot = (h as usize) % DIMENSIONS;
    let sign = if h & (1 << 31) == 0 { 1.0 } else { -1.0 };
    v[slot] += sign * weight;
}

/// The row of `SYNONYMS` a word belongs to, trying its singular too ("colours").
fn concept_of(word: &str) -> Option<usize> {
    let find = |w: &str| SYNONYMS.iter().position(|row| row.contains(&w));
    find(word).or_else(|| {
        word.strip_suffix('s')
            .filter(|w| w.len() > 2 && !w.ends_with('s'))
            .and_then(find)
    })
}

/// The vector of one text: `DIMENSIONS` finite numbers, of length 1, or all zeros when no
/// word is left once function words are dropped (such a text has no direction, and search
/// never ranks it by meaning).
pub fn embed_text(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; DIMENSIONS];
    let lower = text.to_lowercase();
    for word in lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
    {
        match concept_of(word) {
            Some(row) => add(&mut v, b"concept", &row.to_string(), CONCEPT_WEIGHT),
            None => add(&mut v, b"word", word, WORD_WEIGHT),
        }
        let padded: Vec<char> = std::iter::once('^')
            .chain(word.chars())
            .chain(std::iter::once('$'))
            .collect();
        let trigrams: Vec<String> = padded.windows(3).map(|w| w.iter().collect()).collect();
        // Spread over the word's trigrams so a long word does not outweigh a short one.
        let each = TRIGRAMS_WEIGHT / (trigrams.len().max(1) as f32).sqrt();
        for t in &trigrams {
            add(&mut v, b"trigram", t, each);
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// The vectors of `texts`, in order, and the tokens they would cost a real embedding model
/// (estimated from their length, as everywhere else).
pub fn embed_texts(texts: &[String]) -> (Vec<Vec<f32>>, u64) {
    let vectors = texts.iter().map(|t| embed_text(t)).collect();
    let tokens = texts.iter().map(|t| estimate_tokens(t)).sum();
    (vectors, tokens)
}

/// The demo embedder as a native `Embedder`, for Rust hosts and tests. It answers at once
/// and the same for every user: it keeps nothing between calls.
pub struct DemoEmbedder;

impl Embedder for DemoEmbedder {
    fn embed(
        &self,
        texts: Vec<String>,
        _ctx: EmbedContext,
    ) -> LocalBoxFuture<'static, Result<RawEmbeddings>> {
        let (vectors, tokens) = embed_texts(&texts);
        Box::pin(futures_util::future::ready(Ok(RawEmbeddings {
            vectors: vectors
                .into_iter()
                .map(|v| v.into_iter().map(f64::from).collect())
                .collect(),
            tokens: Some(tokens as f64),
        })))
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use crate::embed::{check, cosine, norm};
    use futures_util::FutureExt;
    use std::cell::Cell;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn similarity(a: &str, b: &str) -> f32 {
        let (a, b) = (embed_text(a), embed_text(b));
        cosine(&a, norm(&a), b.into_iter()).unwrap()
    }

    #[test]
    fn the_same_text_gives_the_same_unit_vector_of_fixed_size() {
        for text in [
            "My favourite colour is green",
            "x",
            "Ünïcödé 🦀 text, with punctuation!",
            &"long ".repeat(5000),
        ] {
            let v = embed_text(text);
            assert_eq!(v.len(), DIMENSIONS, "{text}");
            assert_eq!(v, embed_text(text));
            assert!(v.iter().all(|x| x.is_finite()));
            assert!((norm(&v) - 1.0).abs() < 1e-5, "{text}: norm {}", norm(&v));
        }
    }

    #[test]
    fn case_and_punctuation_do_not_change_the_vector() {
        assert_eq!(
            embed_text("My favourite colour is GREEN!"),
            embed_text("my favourite colour is green")
        );
    }

    #[test]
    fn synonyms_land_closer_than_an_unrelated_sentence() {
        let stated = "my favourite colour is green";
        let synonym = similarity(stated, "what hue do I prefer");
        let unrelated = similarity(stated, "I drive my car to work");
        assert!(synonym > 0.5, "synonyms at {synonym}");
        assert!(
            synonym > unrelated + 0.3,
            "{synonym} vs unrelated {unrelated}"
        );
        let short = similarity("favourite colour", "preferred hue");
        let other = similarity("favourite colour", "the weather in Oslo");
        assert!(short > other + 0.5, "{short} vs {other}");
        // The same concept, plural or not.
        assert!(similarity("my dogs", "a puppy") > 0.5);
    }

    #[test]
    fn without_the_table_only_spelling_matches() {
        // Neither word is in the table: unrelated words are far apart, shared ones close.
        assert!(similarity("zebra", "quantum") < 0.3);
        assert!(similarity("green zebra", "zebra stripes") > 0.3);
    }

    #[test]
    fn a_text_of_function_words_only_is_all_zeros_which_the_agent_accepts_and_never_ranks() {
        let (vectors, tokens) = embed_texts(&["".into(), "what is it?".into(), "hue".into()]);
        assert!(vectors[0].iter().all(|x| *x == 0.0));
        assert!(vectors[1].iter().all(|x| *x == 0.0));
        // ceil(bytes / 4) each: 0, 11 bytes, 3 bytes.
        assert_eq!(tokens, 4);
        let raw = RawEmbeddings {
            vectors: vectors
                .iter()
                .map(|v| v.iter().map(|x| f64::from(*x)).collect())
                .collect(),
            tokens: Some(tokens as f64),
        };
        let dims = Cell::new(None);
        let (checked, reported) = check(raw, 3, &dims).expect("the agent's checks pass");
        assert_eq!(reported, Some(4));
        assert_eq!(dims.get(), Some(DIMENSIONS));
        // No direction: compared with anything, there is no score.
        let q = &checked[2];
        assert_eq!(cosine(q, norm(q), checked[0].iter().copied()), None);
        assert_eq!(cosine(&checked[0], 0.0, q.iter().copied()), None);
    }

    #[test]
    fn the_native_embedder_answers_what_embed_texts_computes() {
        let texts = vec!["my favourite colour is green".to_owned(), "hi".to_owned()];
        // Ready at once: it needs no executor, so the same test runs under wasm.
        let answer = DemoEmbedder
            .embed(texts.clone(), EmbedContext::default())
            .now_or_never()
            .expect("answers without waiting")
            .unwrap();
        let (vectors, tokens) = embed_texts(&texts);
        assert_eq!(answer.tokens, Some(tokens as f64));
        assert_eq!(answer.vectors.len(), 2);
        for (got, want) in answer.vectors.iter().zip(&vectors) {
            assert!(got.iter().zip(want).all(|(g, w)| *g == f64::from(*w)));
        }
    }
}
