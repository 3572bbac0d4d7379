//! Everything the agent holds for one user: sessions and working memory.

use super::session::{Session, Turn};
use super::working::WorkingMemory;
use crate::ids::SessionId;
use indexmap::IndexMap;

#[derive(Clone, Debug, Default)]
pub struct UserState {
    /// Distinct for every time this user is created or loaded, so a run that started before
    /// a `forget` cannot write into the user that replaced the forgotten one.
    pub(crate) incarnation: u64,
    pub(crate) lru_tick: u64,
    pub(crate) last_active: f64,
    /// Runs in flight for this user: a pinned user is never evicted from under its run.
    pub(crate) pins: usize,
    // IndexMap keeps sessions in creation order, which is what a session list shows.
    pub(crate) sessions: IndexMap<SessionId, Session>,
    pub(crate) working: WorkingMemory,
}

impl UserState {
    pub fn sessions(&self) -> impl Iterator<Item = (&SessionId, &Session)> {
        self.sessions.iter()
    }

    pub fn session(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.get(id)
    }

    pub fn working(&self) -> &WorkingMemory {
        &self.working
    }

    pub fn message_count(&self) -> usize {
        self.sessions.values().map(Session::message_count).sum()
    }

    pub fn approx_bytes(&self) -> usize {
        // Fixed part: the map entry, LRU node and session headers.
        let fixed = 160 + self.sessions.len() * 96;
        fixed
            + self.sessions.values().map(Session::bytes).sum::<usize>()
            + self.working.approx_bytes()
    }

    /// The session after committing `turn`, computed without changing this user, so that
    /// a storage write of the result can happen (and fail) before anything changes in RAM.
    pub fn session_with(&self, id: &SessionId, turn: Turn, max_messages: usize) -> Session {
        let mut s = self
            .sessions
            .get(id)
            .cloned()
            .unwrap_or_else(|| Session::new(turn.at));
        s.push(turn, max_messages);
        s
    }

    /// Installs a session; beyond `max_sessions` the least recently active other session is
    /// dropped. Returns the id of the session dropped, if any (for storage cleanup).
    pub fn put_session(
        &mut self,
        id: SessionId,
        session: Session,
        max_sessions: usize,
    ) -> Option<SessionId> {
        self.last_active = self.last_active.max(session.last_activity);
        self.sessions.insert(id.clone(), session);
        if self.sessions.len() <= max_sessions {
            return None;
        }
        let oldest = self
            .sessions
            .iter()
            .filter(|(k, _)| **k != id)
            .min_by(|a, b| a.1.last_activity.total_cmp(&b.1.last_activity))
            .map(|(k, _)| k.clone())?;
        self.sessions.shift_remove(&oldest);
        Some(oldest)
    }
}
