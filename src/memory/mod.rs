//! Conversation memory partitioned by user, then by session, with the set of resident users
//! bounded (LRU plus idle TTL).
//!
//! The table is keyed by `UserKey` first, so every operation names its user: a session id
//! alone never reaches data (two users with the same session id share nothing). History is
//! stored as whole turns, so trimming to a bound never splits a user message from its reply.
//! Eviction only ever removes whole users, and never one with a run in flight.

mod extraction;
mod facts;
mod org_knowledge;
mod session;
mod user;
mod working;

pub use extraction::{exchange, read_answer, DEFAULT_EXTRACTION_INSTRUCTIONS};
pub use facts::{Fact, FactQuery, Facts, NewFact};
pub use org_knowledge::{OrgKnowledge, OrgTable};
pub use session::{PackedMessage, PackedTurn, Session, Turn, SUMMARY_PREFIX};
pub use user::UserState;
pub use working::WorkingMemory;

use crate::ids::{SessionId, UserKey};
use crate::keyed::{KeyedMap, KeyedSet};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub max_messages_per_session: usize,
    pub max_sessions_per_user: usize,
    pub max_users: usize,
    pub idle_ttl_ms: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub users: usize,
    /// Orgs other than the default with a resident user.
    pub orgs: usize,
    pub sessions: usize,
    pub messages: usize,
    pub approx_bytes: usize,
    /// Every other per-user table, each bounded (filled in by the agent).
    pub budget_accounts: usize,
    /// Of `budget_accounts`: erased users' counters kept for their open windows.
    pub retained_accounts: usize,
    pub budget_capacity: usize,
    /// Org-level budget accounts (`budget.perOrg`, `rateLimit.perOrg`), bounded by
    /// `budget_capacity` like the users' own.
    pub org_budget_accounts: usize,
    /// Of `org_budget_accounts`: erased orgs' counters kept for their open windows.
    pub retained_org_accounts: usize,
    pub tool_cache_entries: usize,
    pub tool_cache_users: usize,
    /// Per-user keys of the audit's content hashes.
    pub audit_content_keys: usize,
    /// Orgs whose knowledge is in RAM (bounded by `MAX_RESIDENT_ORGS`).
    pub org_knowledge: usize,
    /// (user, MCP server) tool lists and sessions kept (bounded by the MCP cache size).
    pub mcp_cache_entries: usize,
    /// Orgs whose `orgConfig` answer is cached (bounded by `MAX_ORG_CONFIG_CACHE`).
    pub org_config_cache: usize,
}

#[derive(Debug)]
pub struct Memory {
    users: KeyedMap<UserKey, UserState>,
    /// Access order: the smallest tick is the least recently used user. A BTreeMap keeps
    /// touch and evict at O(log n) with 100k users, where moving entries in an ordered
    /// map would be O(n).
    lru: BTreeMap<u64, UserKey>,
    tick: u64,
    incarnations: u64,
    limits: Limits,
}

impl Memory {
    pub fn new(limits: Limits) -> Self {
        Memory {
            users: KeyedMap::default(),
            lru: BTreeMap::new(),
            tick: 0,
            incarnations: 0,
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn get(&self, user: &UserKey) -> Option<&UserState> {
        self.users.get(user)
    }

    pub fn is_resident(&self, user: &UserKey) -> bool {
        self.users.contains_key(user)
    }

    /// The user's state, created empty if absent, marked most recently used at `now`.
    /// Does not evict: callers pin first, then `sweep`, so the user just touched cannot be
    /// the one evicted to make room.
    pub fn touch(&mut self, user: &UserKey, now: f64) {
        if !self.users.contains_key(user) {
            self.install(user.clone(), UserState::default(), now);
        }
        self.mark_used(user, now);
    }

    /// Installs a user loaded from storage, unless one became resident meanwhile (then the
    /// resident one wins: it may hold writes newer than what was read).
    pub fn install_loaded(&mut self, user: &UserKey, state: UserState, now: f64) {
        if !self.users.contains_key(user) {
            self.install(user.clone(), state, now);
        }
        self.mark_used(user, now);
    }

    /// Replaces a user's state whole (import): a new incarnation, so runs in flight for the
    /// old one cannot write into it.
    pub fn replace(&mut self, user: &UserKey, state: UserState, now: f64) {
        self.remove(user);
        self.install(user.clone(), state, now);
        self.mark_used(user, now);
    }

    fn install(&mut self, user: UserKey, mut state: UserState, now: f64) {
        self.incarnations += 1;
        state.incarnation = self.incarnations;
        state.last_active = state.last_active.max(now);
        state.pins = 0;
        self.tick += 1;
        state.lru_tick = self.tick;
        self.lru.insert(self.tick, user.clone());
        self.users.insert(user, state);
    }

    fn mark_used(&mut self, user: &UserKey, now: f64) {
        let Some(state) = self.users.get_mut(user) else {
            return;
        };
        self.lru.remove(&state.lru_tick);
        self.tick += 1;
        state.lru_tick = self.tick;
        state.last_active = state.last_active.max(now);
        self.lru.insert(self.tick, user.clone());
    }

    /// Evicts users idle for longer than the TTL, then the least recently used ones until
    /// the table fits `max_users`. Users with a run in flight are skipped.
    pub fn sweep(&mut self, now: f64) -> Vec<UserKey> {
        let mut evicted = Vec::new();
        let mut victims = Vec::new();
        let over = self.users.len().saturating_sub(self.limits.max_users);
        for user in self.lru.values() {
            let Some(state) = self.users.get(user) else {
                continue;
            };
            let idle = now - state.last_active > self.limits.idle_ttl_ms;
            // LRU order is last-use order, so past the first fresh user nobody is idle.
            if !idle && victims.len() >= over {
                break;
            }
            if state.pins == 0 {
                victims.push(user.clone());
            }
        }
        for user in victims {
            if let Some(state) = self.users.remove(&user) {
                self.lru.remove(&state.lru_tick);
                evicted.push(user);
            }
        }
        evicted
    }

    pub fn pin(&mut self, user: &UserKey) -> Option<u64> {
        let state = self.users.get_mut(user)?;
        state.pins += 1;
        Some(state.incarnation)
    }

    /// Releases a pin taken by `pin`, if the same incarnation is still resident.
    pub fn unpin(&mut self, user: &UserKey, incarnation: u64) {
        if let Some(state) = self.users.get_mut(user) {
            if state.incarnation == incarnation {
                state.pins = state.pins.saturating_sub(1);
            }
        }
    }

    /// Installs a session computed by `UserState::session_with`, if the user is still the
    /// incarnation the run started with. Returns `None` when it is not (the user was
    /// forgotten meanwhile: the write must not resurrect them), else the dropped session.
    pub fn put_session(
        &mut self,
        user: &UserKey,
        incarnation: u64,
        id: SessionId,
        session: Session,
    ) -> Option<Option<SessionId>> {
        let max_sessions = self.limits.max_sessions_per_user;
        let state = self.users.get_mut(user)?;
        if state.incarnation != incarnation {
            return None;
        }
        Some(state.put_session(id, session, max_sessions))
    }

    /// Replaces a user's working memory if the same incarnation is still resident.
    pub fn set_working(&mut self, user: &UserKey, incarnation: u64, w: WorkingMemory) -> bool {
        self.change(user, incarnation, |state| state.set_working(w))
    }

    /// Replaces a user's facts if the same incarnation is still resident.
    pub fn set_facts(&mut self, user: &UserKey, incarnation: u64, f: Facts) -> bool {
        self.change(user, incarnation, |state| state.set_facts(f))
    }

    /// Applies `f` to the user if the incarnation a write was computed from is still the
    /// resident one (a forget or import in between makes the write stale).
    fn change(&mut self, user: &UserKey, incarnation: u64, f: impl FnOnce(&mut UserState)) -> bool {
        match self.users.get_mut(user) {
            Some(state) if state.incarnation == incarnation => {
                f(state);
                true
            }
            _ => false,
        }
    }

    /// The messages of one session, oldest first.
    #[cfg(test)]
    pub fn history(&self, user: &UserKey, session: &SessionId) -> Vec<crate::message::Message> {
        self.users
            .get(user)
            .map(|u| u.history(session))
            .unwrap_or_default()
    }

    /// Messages stored for a user across all of their sessions.
    #[cfg(test)]
    pub fn size(&self, user: &UserKey) -> usize {
        self.users.get(user).map_or(0, UserState::message_count)
    }

    /// Forgets one user; no other user's entry is touched.
    pub fn remove(&mut self, user: &UserKey) -> bool {
        match self.users.remove(user) {
            Some(state) => {
                self.lru.remove(&state.lru_tick);
                true
            }
            None => false,
        }
    }

    /// Host-only: wipes every user. Nothing reachable from a run or a tool calls this.
    pub fn clear_all(&mut self) {
        self.users.clear();
        self.lru.clear();
    }

    #[cfg(test)]
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn users(&self) -> impl Iterator<Item = (&UserKey, &UserState)> {
        self.users.iter()
    }

    pub fn stats(&self) -> Stats {
        let mut st = Stats {
            users: self.users.len(),
            ..Default::default()
        };
        let mut orgs = KeyedSet::default();
        for (k, u) in &self.users {
            if let Some(org) = k.org_id() {
                orgs.insert(org);
            }
            st.sessions += u.session_count();
            st.messages += u.message_count();
            st.approx_bytes += u.approx_bytes();
        }
        st.orgs = orgs.len();
        st
    }
}

#[cfg(test)]
mod tests;
