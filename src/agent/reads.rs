//! Synchronous reads of one user's resident state. With storage, a user who is not resident
//! may still have data, so reads refuse rather than answer "empty".

use super::Agent;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserKey};
use crate::memory::{Stats, UserState};
use crate::message::Message;
use crate::persist::user_doc::{self, BlockDoc};
use crate::recall::{self, Hit};
use serde::Serialize;
use serde_json::{Map, Value};

/// One row of `sessions(userId)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: String,
    pub message_count: usize,
    pub created_at: f64,
    pub last_activity: f64,
}

impl Agent {
    /// Resident state for a synchronous read. With storage, a user who is not resident may
    /// still have data: refuse rather than answer "empty".
    fn read<T>(&self, user: &UserKey, f: impl FnOnce(Option<&UserState>) -> T) -> Result<T> {
        self.config.admit_user(user)?;
        let m = self.memory.borrow();
        let state = m.get(user);
        if state.is_none() && self.storage.is_some() {
            return Err(Error::NotLoaded {
                user: user.as_option().map(str::to_owned),
                org: user.org().map(str::to_owned),
            });
        }
        Ok(f(state))
    }

    pub fn history(&self, user: &UserKey, session: &SessionId) -> Result<Vec<Message>> {
        self.read(user, |u| u.map(|u| u.history(session)).unwrap_or_default())
    }

    pub fn sessions(&self, user: &UserKey) -> Result<Vec<SessionInfo>> {
        self.read(user, |u| {
            u.map(|u| {
                u.sessions()
                    .map(|(id, s)| SessionInfo {
                        id: id.as_str().to_owned(),
                        message_count: s.message_count(),
                        created_at: s.created_at(),
                        last_activity: s.last_activity(),
                    })
                    .collect()
            })
            .unwrap_or_default()
        })
    }

    pub fn size(&self, user: &UserKey) -> Result<usize> {
        self.read(user, |u| u.map_or(0, UserState::message_count))
    }

    pub fn blocks(&self, user: &UserKey) -> Result<Vec<BlockDoc>> {
        self.read(user, |u| {
            u.map(|u| user_doc::working_doc(user, u.working()).blocks)
                .unwrap_or_default()
        })
    }

    pub fn properties(&self, user: &UserKey) -> Result<Map<String, Value>> {
        self.read(user, |u| {
            u.map(|u| u.working().properties().clone())
                .unwrap_or_default()
        })
    }

    /// The user's own messages that best match `query`: at most `limit` (1 to
    /// `limits::MAX_RECALL_LIMIT`; `None` is the default page).
    pub fn recall(&self, user: &UserKey, query: &str, limit: Option<usize>) -> Result<Vec<Hit>> {
        let limit = recall::check_limit(limit)?;
        self.read(user, |u| {
            u.map(|u| recall::recall(u, query, limit, &|_| false))
                .unwrap_or_default()
        })
    }

    /// Sizes of every per-user table: resident memory, budget accounts (with erased users'
    /// retained counters) and the tool cache.
    pub fn stats(&self) -> Stats {
        let mut st = self.memory.borrow().stats();
        let ledger = self.ledger.borrow();
        st.budget_accounts = ledger.len();
        st.retained_accounts = ledger.retained();
        st.budget_capacity = self.ledger_capacity();
        st.org_budget_accounts = ledger.org_len();
        st.retained_org_accounts = ledger.org_retained();
        st.audit_content_keys = self.observer.content_keys();
        st.org_knowledge = self.orgs.borrow().len();
        st.mcp_cache_entries = self.mcp.as_ref().map_or(0, |m| m.cached_entries());
        st.org_config_cache = self.org_configs.cached();
        if let Some(t) = &self.tools {
            let cache = t.cache.borrow();
            st.tool_cache_entries = cache.len();
            st.tool_cache_users = cache.users();
        }
        st
    }
}
