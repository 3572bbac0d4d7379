//! Search over one user's messages: lexical (BM25, as `recall`), semantic (exact cosine
//! against the user's stored vectors) and hybrid (reciprocal rank fusion of the two).
//!
//! Every function takes one `UserState` and the query's vector, nothing else: there is no
//! shared index, so another user's message can be neither ranked nor returned, and no
//! statistic of theirs can move a score.

use crate::embed::{cosine, norm};
use crate::error::{Error, Result};
use crate::ids::SessionId;
use crate::keyed::KeyedMap;
use crate::limits::RRF_K;
use crate::memory::UserState;
use crate::message::Role;
use crate::recall::{self, Hit, MessageKey, Position, Ranked};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SearchMode {
    #[default]
    Lexical,
    Semantic,
    Hybrid,
}

impl SearchMode {
    pub fn parse(s: &str) -> Result<SearchMode> {
        match s {
            "lexical" => Ok(SearchMode::Lexical),
            "semantic" => Ok(SearchMode::Semantic),
            "hybrid" => Ok(SearchMode::Hybrid),
            _ => Err(Error::InvalidInput {
                reason: format!(
                    "options.mode must be \"lexical\", \"semantic\" or \"hybrid\", got {s:?}"
                ),
            }),
        }
    }

    /// Whether the query needs an embedding.
    pub fn semantic(self) -> bool {
        self != SearchMode::Lexical
    }
}

#[derive(Clone, Debug, Default)]
pub struct SearchOptions {
    /// 1 to `MAX_RECALL_LIMIT`; `None` is `DEFAULT_RECALL_LIMIT` (see `recall::check_limit`).
    pub limit: Option<usize>,
    pub mode: SearchMode,
    /// Only this session's messages, when set.
    pub session: Option<SessionId>,
}

/// Every message with a stored vector of the query's size, by cosine, best first,
/// skipping any `skip` says to.
pub fn semantic_ranked<'a>(
    user: &'a UserState,
    query: &[f32],
    skip: &dyn Fn(Position<'_>) -> bool,
) -> Vec<Ranked<'a>> {
    let qn = norm(query);
    let mut out = Vec::new();
    for (si, (sid, s)) in user.sessions().enumerate() {
        for (ti, turn) in s.turns().enumerate() {
            if skip((sid, ti)) {
                continue;
            }
            for (mi, m) in turn.messages().enumerate() {
                let Some(v) = m.vector else { continue };
                if m.role == Role::System || m.role == Role::Tool || m.structured {
                    continue;
                }
                if v.dimensions() != query.len() {
                    continue;
                }
                if let Some(score) = cosine(query, qn, v.components()) {
                    out.push(Ranked {
                        score: f64::from(score),
                        key: (si, ti, mi),
                        session: sid,
                        role: m.role,
                        content: m.text,
                        at: turn.at(),
                    });
                }
            }
        }
    }
    recall::sort_best_first(&mut out);
    out
}

/// Reciprocal rank fusion: each message scores the sum of 1 / (k + rank) over the rankings
/// it appears in (rank from 1), so agreement between the two lifts a message without
/// comparing BM25 scores with cosines.
fn fuse<'a>(lists: [Vec<Ranked<'a>>; 2]) -> Vec<Ranked<'a>> {
    let mut fused: KeyedMap<MessageKey, Ranked<'a>> = KeyedMap::default();
    for list in lists {
        for (rank, r) in list.into_iter().enumerate() {
            let add = 1.0 / (RRF_K + rank as f64 + 1.0);
            fused
                .entry(r.key)
                .and_modify(|f| f.score += add)
                .or_insert(Ranked { score: add, ..r });
        }
    }
    let mut out: Vec<Ranked> = fused.into_values().collect();
    recall::sort_best_first(&mut out);
    out
}

/// The user's best `limit` messages for `query` in `mode`, skipping any `skip` says to.
/// `vector` is the query's embedding, required by the semantic and hybrid modes.
pub fn ranked_hits(
    user: &UserState,
    query: &str,
    vector: Option<&[f32]>,
    limit: usize,
    mode: SearchMode,
    skip: &dyn Fn(Position<'_>) -> bool,
) -> Vec<Hit> {
    if limit == 0 {
        return Vec::new();
    }
    let mut ranked = match (mode, vector) {
        (SearchMode::Lexical, _) => recall::ranked(user, query, skip),
        (SearchMode::Semantic, Some(v)) => semantic_ranked(user, v, skip),
        (SearchMode::Hybrid, Some(v)) => fuse([
            recall::ranked(user, query, skip),
            semantic_ranked(user, v, skip),
        ]),
        (_, None) => Vec::new(),
    };
    ranked.truncate(limit);
    ranked.into_iter().map(Ranked::into_hit).collect()
}

/// `ranked_hits` over all of the user's sessions, or only `session` when given.
pub fn search(
    user: &UserState,
    query: &str,
    vector: Option<&[f32]>,
    limit: usize,
    mode: SearchMode,
    session: Option<&SessionId>,
) -> Vec<Hit> {
    ranked_hits(user, query, vector, limit, mode, &|(sid, _)| {
        session.is_some_and(|want| want != sid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Turn;
    use crate::message::Message;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn user_with(lines: &[(&str, &str, [f32; 2])]) -> UserState {
        let mut u = UserState::default();
        for (i, (s, text, v)) in lines.iter().enumerate() {
            let s = SessionId::parse(Some(s)).unwrap();
            let t = Turn {
                at: i as f64,
                messages: vec![Message::user(*text), Message::assistant("ok")],
                vectors: vec![Some(v.to_vec()), None],
            };
            let session = u.session_with(&s, t, 1000);
            u.put_session(s, session, 100);
        }
        u
    }

    #[test]
    fn semantic_ranks_by_direction_and_hybrid_fuses() {
        let u = user_with(&[
            ("a", "pets at home", [1.0, 0.0]),
            ("a", "cat food", [0.0, 1.0]),
            ("b", "mountain trip", [0.7, 0.7]),
        ]);
        let hits = search(&u, "cat", Some(&[1.0, 0.1]), 10, SearchMode::Semantic, None);
        let order: Vec<_> = hits.iter().map(|h| h.content.as_str()).collect();
        assert_eq!(order, ["pets at home", "mountain trip", "cat food"]);
        assert!(hits.iter().all(|h| h.content != "ok"));
        let only_a = SessionId::parse(Some("a")).unwrap();
        let hits = search(
            &u,
            "cat",
            Some(&[1.0, 0.1]),
            10,
            SearchMode::Semantic,
            Some(&only_a),
        );
        assert_eq!(hits.len(), 2);
        let hybrid = search(&u, "cat", Some(&[1.0, 0.1]), 10, SearchMode::Hybrid, None);
        // "cat food" is first lexically and third semantically; "pets at home" only first
        // semantically: fused, the message both rankings hold wins.
        assert_eq!(hybrid[0].content, "cat food");
        let top = 1.0 / (RRF_K + 1.0) + 1.0 / (RRF_K + 3.0);
        assert!((hybrid[0].score - top).abs() < 1e-12);
        assert_eq!(hybrid.len(), 3);
        assert!(search(&u, "cat", None, 10, SearchMode::Semantic, None).is_empty());
    }

    #[test]
    fn a_vector_of_another_size_is_not_compared() {
        let u = user_with(&[("a", "x", [1.0, 0.0])]);
        assert!(search(
            &u,
            "x",
            Some(&[1.0, 0.0, 0.0]),
            10,
            SearchMode::Semantic,
            None
        )
        .is_empty());
    }

    #[test]
    fn modes_parse_by_name() {
        assert_eq!(SearchMode::parse("hybrid").unwrap(), SearchMode::Hybrid);
        assert_eq!(
            SearchMode::parse("fuzzy").unwrap_err().code(),
            "invalid_input"
        );
    }
}
