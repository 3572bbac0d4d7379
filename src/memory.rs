//! Conversation memory partitioned by user, then by session.
//!
//! The map is keyed by `UserKey` first, so every operation names its user: a session id
//! alone never reaches data (two users with the same session id share nothing). History is
//! stored as whole turns, so trimming to the bound never splits a user message from its reply.

use crate::ids::{SessionId, UserKey};
use crate::message::Message;
use indexmap::IndexMap;
use std::collections::{HashMap, VecDeque};

/// One exchange committed atomically: the user's message and everything the agent answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    pub messages: Vec<Message>,
}

#[derive(Default, Debug)]
struct Session {
    turns: VecDeque<Turn>,
    message_count: usize,
}

#[derive(Default, Debug)]
struct UserMemory {
    // IndexMap keeps sessions in creation order, which is what a session list shows.
    sessions: IndexMap<SessionId, Session>,
}

#[derive(Debug)]
pub struct Memory {
    users: HashMap<UserKey, UserMemory>,
    max_messages_per_session: usize,
}

impl Memory {
    pub fn new(max_messages_per_session: usize) -> Self {
        Memory {
            users: HashMap::new(),
            max_messages_per_session,
        }
    }

    /// The messages of one session, oldest first.
    pub fn history(&self, user: &UserKey, session: &SessionId) -> Vec<Message> {
        self.users
            .get(user)
            .and_then(|u| u.sessions.get(session))
            .map(|s| {
                s.turns
                    .iter()
                    .flat_map(|t| t.messages.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Appends a turn whole, then drops the oldest whole turns until the session fits.
    /// The newest turn is always kept: config validation guarantees it fits on its own.
    pub fn commit(&mut self, user: &UserKey, session: &SessionId, turn: Turn) {
        let max = self.max_messages_per_session;
        let s = self
            .users
            .entry(user.clone())
            .or_default()
            .sessions
            .entry(session.clone())
            .or_default();
        s.message_count += turn.messages.len();
        s.turns.push_back(turn);
        while s.message_count > max && s.turns.len() > 1 {
            if let Some(old) = s.turns.pop_front() {
                s.message_count -= old.messages.len();
            }
        }
    }

    /// Messages stored for a user across all of their sessions.
    pub fn size(&self, user: &UserKey) -> usize {
        self.users
            .get(user)
            .map(|u| u.sessions.values().map(|s| s.message_count).sum())
            .unwrap_or(0)
    }

    /// Forgets one user's conversations; no other user's entry is touched.
    pub fn clear(&mut self, user: &UserKey) {
        self.users.remove(user);
    }

    /// Host-only: wipes every user. Nothing reachable from a run or a tool calls this.
    pub fn clear_all(&mut self) {
        self.users.clear();
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn user(s: &str) -> UserKey {
        UserKey::parse(Some(s)).unwrap()
    }
    fn sess(s: &str) -> SessionId {
        SessionId::parse(Some(s)).unwrap()
    }
    fn turn(q: &str) -> Turn {
        Turn {
            messages: vec![Message::user(q), Message::assistant(format!("re: {q}"))],
        }
    }

    #[test]
    fn same_session_id_for_two_users_shares_nothing() {
        let mut m = Memory::new(100);
        m.commit(&user("alice"), &sess("s1"), turn("alice secret"));
        m.commit(&user("bob"), &sess("s1"), turn("bob secret"));
        let a = m.history(&user("alice"), &sess("s1"));
        let b = m.history(&user("bob"), &sess("s1"));
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|x| !x.content.contains("bob")));
        assert!(b.iter().all(|x| !x.content.contains("alice")));
    }

    #[test]
    fn anonymous_is_its_own_partition() {
        let mut m = Memory::new(100);
        m.commit(&UserKey::Anonymous, &sess("s"), turn("anon"));
        assert_eq!(m.size(&UserKey::Anonymous), 2);
        assert_eq!(m.size(&user("__tenantry_anonymous__ ")), 0);
        m.clear(&UserKey::Anonymous);
        assert_eq!(m.size(&UserKey::Anonymous), 0);
    }

    #[test]
    fn bound_drops_oldest_whole_turns() {
        let mut m = Memory::new(5);
        for i in 0..4 {
            m.commit(&user("a"), &sess("s"), turn(&format!("q{i}")));
        }
        let h = m.history(&user("a"), &sess("s"));
        // 5 allows two whole turns of two messages, never a dangling reply.
        assert_eq!(h.len(), 4);
        assert_eq!(h[0], Message::user("q2"));
        assert_eq!(h[3], Message::assistant("re: q3"));
    }

    #[test]
    fn clear_touches_one_user_only() {
        let mut m = Memory::new(10);
        m.commit(&user("a"), &sess("s"), turn("x"));
        m.commit(&user("b"), &sess("s"), turn("y"));
        m.clear(&user("a"));
        assert_eq!(m.size(&user("a")), 0);
        assert_eq!(m.size(&user("b")), 2);
        assert_eq!(m.user_count(), 1);
        m.clear_all();
        assert_eq!(m.user_count(), 0);
    }

    #[test]
    fn size_counts_all_sessions() {
        let mut m = Memory::new(10);
        m.commit(&user("a"), &sess("s1"), turn("x"));
        m.commit(&user("a"), &sess("s2"), turn("y"));
        assert_eq!(m.size(&user("a")), 4);
        assert_eq!(m.history(&user("a"), &sess("s2")).len(), 2);
    }
}
