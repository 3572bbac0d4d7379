//! Which users are in RAM: loading a user from storage on first use, pinning them for the
//! length of a run, evicting the idle ones.

use super::Agent;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::memory::UserState;
use crate::observe::{About, Kind};
use crate::persist::records;
use serde_json::json;

/// Releases a run's pin on its user however the run ends.
pub(super) struct Pin<'a> {
    agent: &'a Agent,
    user: &'a UserKey,
    pub(super) incarnation: u64,
}

impl Drop for Pin<'_> {
    fn drop(&mut self) {
        self.agent
            .memory
            .borrow_mut()
            .unpin(self.user, self.incarnation);
    }
}

impl Agent {
    /// Makes `user` resident and keeps them so until the guard drops.
    pub(super) async fn pin<'a>(&'a self, user: &'a UserKey) -> Result<Pin<'a>> {
        let incarnation = self.enter(user).await?;
        Ok(Pin {
            agent: self,
            user,
            incarnation,
        })
    }

    /// Makes `user` resident (loading from storage when configured) and pins them.
    pub(super) async fn enter(&self, user: &UserKey) -> Result<u64> {
        self.config.admit_user(user)?;
        if self.replacing.borrow().contains(user) {
            return Err(Error::Conflict);
        }
        self.load_global_budget().await?;
        self.ensure_account(user).await?;
        let loaded = self.load_if_absent(user).await?;
        let now = self.now();
        let (incarnation, evicted) = {
            let mut m = self.memory.borrow_mut();
            match loaded {
                Some(state) => m.install_loaded(user, state, now),
                None => m.touch(user, now),
            }
            let incarnation = m.pin(user).ok_or_else(|| Error::Internal {
                message: "a user vanished between install and pin".into(),
            })?;
            (incarnation, m.sweep(now))
        };
        // Read again once the user is pinned: while pinned, their org's counters stay in
        // RAM for the run's reservations (they may have left while this awaited above).
        if let Err(e) = self.ensure_org_account(user).await {
            self.memory.borrow_mut().unpin(user, incarnation);
            return Err(e);
        }
        if !evicted.is_empty() {
            // Their counters leave RAM too when that loosens nothing (see Ledger::evict).
            let stored = self.storage.is_some();
            let mut ledger = self.ledger.borrow_mut();
            for gone in &evicted {
                ledger.evict(gone, stored, now);
            }
        }
        for gone in &evicted {
            let about = About {
                user: gone,
                session: None,
                run: None,
            };
            self.observe(
                Kind::Eviction,
                &about,
                || json!({ "storage": self.storage.is_some() }),
                None,
                None,
            );
        }
        Ok(incarnation)
    }

    /// With storage and a non-resident user: their stored state (empty if none).
    async fn load_if_absent(&self, user: &UserKey) -> Result<Option<UserState>> {
        let Some(storage) = &self.storage else {
            return Ok(None);
        };
        if self.memory.borrow().is_resident(user) {
            return Ok(None);
        }
        let limits = self.config.memory.limits();
        let state = records::load_user(storage.as_ref(), user, &limits).await?;
        Ok(Some(state.unwrap_or_default()))
    }

    /// Makes a user resident (from storage when configured) so synchronous reads work.
    pub async fn load(&self, user: &UserKey) -> Result<()> {
        let incarnation = self.enter(user).await?;
        self.memory.borrow_mut().unpin(user, incarnation);
        Ok(())
    }

    pub fn is_resident(&self, user: &UserKey) -> bool {
        self.memory.borrow().is_resident(user)
    }
}
