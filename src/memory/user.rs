//! Everything the agent holds for one user: sessions, working memory and facts.
//!
//! Laid out for 100k resident users of a few messages each: sessions in a plain Vec (a user
//! has few, so a scan beats a hash map's two allocations) and working memory boxed only
//! when the user has any, so the common empty case costs one pointer.

use super::facts::Facts;
use super::session::{Session, Turn};
use super::working::WorkingMemory;
use crate::ids::SessionId;

#[derive(Clone, Debug, Default)]
pub struct UserState {
    /// Distinct for every time this user is created or loaded, so a run that started before
    /// a `forget` cannot write into the user that replaced the forgotten one.
    pub(crate) incarnation: u64,
    pub(crate) lru_tick: u64,
    pub(crate) last_active: f64,
    /// Runs in flight for this user: a pinned user is never evicted from under its run.
    pub(crate) pins: u32,
    /// The storage generation this state was loaded from or written as (see `persist`).
    pub(crate) generation: u32,
    /// In creation order, which is what a session list shows.
    sessions: Vec<(SessionId, Session)>,
    working: Option<Box<WorkingMemory>>,
    facts: Option<Box<Facts>>,
}

static EMPTY_WORKING: std::sync::OnceLock<WorkingMemory> = std::sync::OnceLock::new();
static NO_FACTS: std::sync::OnceLock<Facts> = std::sync::OnceLock::new();

impl UserState {
    pub fn sessions(&self) -> impl Iterator<Item = (&SessionId, &Session)> {
        self.sessions.iter().map(|(k, v)| (k, v))
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn session(&self, id: &SessionId) -> Option<&Session> {
        self.sessions.iter().find(|(k, _)| k == id).map(|(_, s)| s)
    }

    pub fn working(&self) -> &WorkingMemory {
        match &self.working {
            Some(w) => w,
            None => EMPTY_WORKING.get_or_init(WorkingMemory::default),
        }
    }

    pub fn set_working(&mut self, w: WorkingMemory) {
        self.working = (!w.is_empty()).then(|| Box::new(w));
    }

    pub fn facts(&self) -> &Facts {
        match &self.facts {
            Some(f) => f,
            None => NO_FACTS.get_or_init(Facts::default),
        }
    }

    pub fn set_facts(&mut self, f: Facts) {
        self.facts = (!f.is_empty()).then(|| Box::new(f));
    }

    /// The messages of one session, oldest first (empty for an unknown session).
    pub fn history(&self, id: &SessionId) -> Vec<crate::message::Message> {
        self.session(id)
            .map(|s| s.messages().collect())
            .unwrap_or_default()
    }

    pub fn message_count(&self) -> usize {
        self.sessions.iter().map(|(_, s)| s.message_count()).sum()
    }

    pub fn approx_bytes(&self) -> usize {
        // Fixed part: the table slot, LRU node and id, and session headers (as measured by
        // bench/memory.mjs at 100k users).
        let fixed = 120 + self.sessions.len() * 56;
        fixed
            + self.sessions.iter().map(|(_, s)| s.bytes()).sum::<usize>()
            + self.working.as_ref().map_or(0, |w| w.approx_bytes())
            + self.facts.as_ref().map_or(0, |f| f.approx_bytes())
    }

    /// The session after committing `turn`, computed without changing this user, so that
    /// a storage write of the result can happen (and fail) before anything changes in RAM.
    pub fn session_with(&self, id: &SessionId, turn: Turn, max_messages: usize) -> Session {
        let mut s = match self.session(id) {
            Some(s) => s.clone_with_room(1),
            None => Session::new(turn.at),
        };
        s.push(turn, max_messages);
        s
    }

    /// Adds or replaces a session as loaded or imported, without any bound applied.
    pub fn insert_session(&mut self, id: SessionId, session: Session) {
        self.last_active = self.last_active.max(session.last_activity());
        match self.sessions.iter_mut().find(|(k, _)| *k == id) {
            Some(slot) => slot.1 = session,
            None => {
                // Kept in (creation time, id) order, the order a reload from storage
                // rebuilds: what reads list, and how ranking ties fall, must not change
                // with a restart.
                let at = self.sessions.partition_point(|(k, s)| {
                    s.created_at()
                        .total_cmp(&session.created_at())
                        .then_with(|| k.cmp(&id))
                        .is_le()
                });
                // Exact growth: most users have one session, and a Vec's first push would
                // reserve four (a few hundred bytes per user at 100k users).
                self.sessions.reserve_exact(1);
                self.sessions.insert(at, (id, session))
            }
        }
    }

    /// Installs a session; beyond `max_sessions` the least recently active other session is
    /// dropped. Returns the id of the session dropped, if any (for storage cleanup).
    pub fn put_session(
        &mut self,
        id: SessionId,
        session: Session,
        max_sessions: usize,
    ) -> Option<SessionId> {
        self.insert_session(id.clone(), session);
        if self.sessions.len() <= max_sessions {
            return None;
        }
        let oldest = self
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| *k != id)
            .min_by(|a, b| a.1 .1.last_activity().total_cmp(&b.1 .1.last_activity()))
            .map(|(i, _)| i)?;
        Some(self.sessions.remove(oldest).0)
    }
}
