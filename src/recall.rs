//! Recall: rank one user's past messages by lexical relevance (Okapi BM25).
//!
//! The corpus is that user's messages and nothing else: the function takes one `UserState`,
//! so another user's message cannot be ranked, returned, or even counted. Term statistics
//! (IDF, average length) come from the same corpus for the same reason: global statistics
//! would let one tenant's data shift another's scores.

use crate::error::{Error, Result};
use crate::ids::SessionId;
use crate::limits::{DEFAULT_RECALL_LIMIT, MAX_RECALL_LIMIT};
use crate::memory::UserState;
use crate::message::Role;
use serde::Serialize;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// The `limit` of a recall call, for every host: `None` is `DEFAULT_RECALL_LIMIT`, and a
/// limit outside 1 to `MAX_RECALL_LIMIT` is refused with `invalid_input`, never clamped.
pub fn check_limit(limit: Option<usize>) -> Result<usize> {
    match limit.unwrap_or(DEFAULT_RECALL_LIMIT) {
        n @ 1..=MAX_RECALL_LIMIT => Ok(n),
        n => Err(Error::InvalidInput {
            reason: format!(
                "options.limit must be a whole number from 1 to {MAX_RECALL_LIMIT}, got {n}"
            ),
        }),
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Hit {
    pub session_id: String,
    pub role: Role,
    pub content: String,
    pub score: f64,
    /// When the turn holding this message was committed (ms since the epoch).
    pub at: f64,
}

/// Lowercased alphanumeric runs: "What's my plan?" -> ["what", "s", "my", "plan"].
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

/// Where a message sits: (session, turn index within the session).
pub type Position<'a> = (&'a SessionId, usize);

/// The user's messages that best match `query`, best first, skipping any `skip` says to
/// (e.g. the turns already in the prompt). Messages with no query term score nothing and
/// are never returned. `limit` is a checked one (`check_limit`) or `memory.recall.topK`.
pub fn recall(
    user: &UserState,
    query: &str,
    limit: usize,
    skip: &dyn Fn(Position<'_>) -> bool,
) -> Vec<Hit> {
    if limit == 0 {
        return Vec::new();
    }
    let mut scored = ranked(user, query, skip);
    scored.truncate(limit);
    scored.into_iter().map(Ranked::into_hit).collect()
}

/// Where a message sits, for fusing rankings: (session index in `UserState::sessions`
/// order, turn index, message index within the turn).
pub type MessageKey = (usize, usize, usize);

/// One scored message, borrowed from the user's state.
pub struct Ranked<'a> {
    pub score: f64,
    pub key: MessageKey,
    pub session: &'a SessionId,
    pub role: Role,
    pub content: &'a str,
    pub at: f64,
}

impl Ranked<'_> {
    pub fn into_hit(self) -> Hit {
        Hit {
            session_id: self.session.as_str().to_owned(),
            role: self.role,
            content: self.content.to_owned(),
            score: self.score,
            at: self.at,
        }
    }
}

/// Every message with a query term, BM25-scored, best first (ties to the newer).
pub fn ranked<'a>(
    user: &'a UserState,
    query: &str,
    skip: &dyn Fn(Position<'_>) -> bool,
) -> Vec<Ranked<'a>> {
    let mut query_terms: Vec<String> = tokens(query).collect();
    query_terms.sort();
    query_terms.dedup();
    if query_terms.is_empty() {
        return Vec::new();
    }
    // One pass over the user's messages: per document, its length and query-term counts.
    struct Doc<'a> {
        key: MessageKey,
        session: &'a SessionId,
        role: Role,
        content: &'a str,
        at: f64,
        len: usize,
        tf: Vec<u32>,
    }
    let mut docs = Vec::new();
    let mut df = vec![0u32; query_terms.len()];
    let mut total_len = 0usize;
    for (si, (sid, session)) in user.sessions().enumerate() {
        for (ti, turn) in session.turns().enumerate() {
            for (mi, m) in turn.messages().enumerate() {
                let (role, content) = (m.role, m.text);
                // Tool plumbing (calls, results) is JSON, not something the user said.
                if role == Role::System || role == Role::Tool || m.structured {
                    continue;
                }
                let mut tf = vec![0u32; query_terms.len()];
                let mut len = 0;
                for t in tokens(content) {
                    len += 1;
                    if let Ok(i) = query_terms.binary_search(&t) {
                        tf[i] += 1;
                    }
                }
                total_len += len;
                for (d, &f) in df.iter_mut().zip(&tf) {
                    *d += u32::from(f > 0);
                }
                if !skip((sid, ti)) && tf.iter().any(|&f| f > 0) {
                    docs.push(Doc {
                        key: (si, ti, mi),
                        session: sid,
                        role,
                        content,
                        at: turn.at(),
                        len,
                        tf,
                    });
                }
            }
        }
    }
    let n = user.message_count().max(1) as f64;
    let avg_len = (total_len as f64 / n).max(1.0);
    let idf: Vec<f64> = df
        .iter()
        .map(|&d| ((n - d as f64 + 0.5) / (d as f64 + 0.5) + 1.0).ln())
        .collect();
    let mut scored: Vec<Ranked> = docs
        .into_iter()
        .map(|d| {
            let norm = K1 * (1.0 - B + B * d.len as f64 / avg_len);
            let score =
                d.tf.iter()
                    .zip(&idf)
                    .map(|(&f, idf)| {
                        let f = f as f64;
                        idf * f * (K1 + 1.0) / (f + norm)
                    })
                    .sum();
            Ranked {
                score,
                key: d.key,
                session: d.session,
                role: d.role,
                content: d.content,
                at: d.at,
            }
        })
        .collect();
    // Best first; ties go to the newer message, which is what a conversation means by "last".
    sort_best_first(&mut scored);
    scored
}

pub fn sort_best_first(scored: &mut [Ranked<'_>]) {
    // Past score and time, ties fall by what the message is (its session's id, then its
    // place in the session, the user's words before the answer), never by where the
    // session sits in memory: a restart must rank alike.
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.at.total_cmp(&a.at))
            .then_with(|| a.session.cmp(b.session))
            .then(a.key.1.cmp(&b.key.1))
            .then(a.key.2.cmp(&b.key.2))
    });
}

/// Frequency of each token in a text, for tests of the tokenizer.
#[cfg(test)]
fn term_counts(text: &str) -> crate::keyed::KeyedMap<String, usize> {
    let mut m = crate::keyed::KeyedMap::default();
    for t in tokens(text) {
        *m.entry(t).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use crate::ids::UserKey;
    use crate::memory::{Limits, Memory, Turn};
    use crate::message::Message;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn memory_with(lines: &[(&str, &str, &str)]) -> Memory {
        let mut m = Memory::new(Limits {
            max_messages_per_session: 1000,
            max_sessions_per_user: 100,
            max_users: 100,
            idle_ttl_ms: 1e12,
        });
        for (i, (u, s, text)) in lines.iter().enumerate() {
            let u = UserKey::parse(Some(u)).unwrap();
            let s = SessionId::parse(Some(s)).unwrap();
            m.touch(&u, i as f64);
            let inc = m.get(&u).unwrap().incarnation;
            let t = Turn {
                at: i as f64,
                messages: vec![Message::user(*text), Message::assistant("ok")],
                vectors: Vec::new(),
            };
            let session = m.get(&u).unwrap().session_with(&s, t, 1000);
            m.put_session(&u, inc, s, session).unwrap();
        }
        m
    }

    #[test]
    fn ranks_by_relevance_across_sessions() {
        let m = memory_with(&[
            ("alice", "s1", "I love hiking in the Alps"),
            ("alice", "s2", "My cat is called Miso"),
            ("alice", "s2", "The weather is nice"),
            ("alice", "s3", "Miso the cat hates baths; Miso is a cat"),
        ]);
        let a = m.get(&UserKey::parse(Some("alice")).unwrap()).unwrap();
        let hits = recall(a, "what is my cat called", 10, &|_| false);
        assert_eq!(hits.len(), 3, "{hits:?}");
        assert!(hits[0].content.contains("Miso"));
        assert!(hits.iter().all(|h| h.content != "ok"));
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        assert_eq!(recall(a, "cat", 1, &|_| false).len(), 1);
        assert!(recall(a, "zebra", 10, &|_| false).is_empty());
        assert!(recall(a, "  ?! ", 10, &|_| false).is_empty());
    }

    #[test]
    fn never_returns_another_users_message_even_a_better_match() {
        let m = memory_with(&[
            ("alice", "s", "my order number is 1234"),
            (
                "bob",
                "s",
                "order order order number number 9999 refund order",
            ),
        ]);
        let a = m.get(&UserKey::parse(Some("alice")).unwrap()).unwrap();
        let hits = recall(a, "order number refund 9999", 10, &|_| false);
        assert_eq!(hits.len(), 1);
        assert!(hits[0].content.contains("1234"));
        assert!(hits.iter().all(|h| !h.content.contains("9999")));
    }

    #[test]
    fn skip_excludes_positions() {
        let m = memory_with(&[("a", "s", "apples"), ("a", "s", "more apples")]);
        let a = m.get(&UserKey::parse(Some("a")).unwrap()).unwrap();
        let hits = recall(a, "apples", 10, &|(_, turn)| turn == 1);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].content, "apples");
    }

    #[test]
    fn a_limit_outside_1_to_100_is_refused() {
        for bad in [0, 101, usize::MAX] {
            let e = check_limit(Some(bad)).unwrap_err();
            assert_eq!(e.code(), "invalid_input");
            assert!(e.to_string().contains("from 1 to 100"), "{e}");
        }
        assert_eq!(check_limit(Some(100)).unwrap(), 100);
        assert_eq!(check_limit(None).unwrap(), 10);
    }

    #[test]
    fn tokenizer_is_case_and_punctuation_blind() {
        let c = term_counts("Miso! miso, MISO? café");
        assert_eq!(c["miso"], 3);
        assert_eq!(c["café"], 1);
    }
}
