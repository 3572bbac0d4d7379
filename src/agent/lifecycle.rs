//! Whole-user operations: forget (erasure), export and import (portability), snapshot and
//! restore, and the host's wipe of everyone. Each one touches one user, or all of them,
//! and never another user's data.

use super::pseudonym::pseudonym_of;
use super::Agent;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::keyed::KeyedSet;
use crate::memory::UserState;
use crate::observe::{About, Kind};
use crate::persist::user_doc::{self, SnapshotDoc, UserDoc};
use crate::persist::{keys, records, Storage};
use serde_json::json;

impl Agent {
    /// Deletes everything of one user, in storage and in RAM, and nothing of anyone else.
    /// Runs in flight for the user fail with `conflict` and keep nothing. What the user
    /// spent inside windows still open keeps counting, under a pseudonym (see
    /// `Ledger::forget`): erasure is not a way around a limit.
    pub async fn forget(&self, user: &UserKey) -> Result<()> {
        self.config.admit_user(user)?;
        self.erase(user).await
    }

    /// `forget` without the `requireUser` check, for erasing an org's anonymous bucket
    /// written before the agent required user ids.
    pub(super) async fn erase(&self, user: &UserKey) -> Result<()> {
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        // The pseudonym first: it may need storage, and a failure here changes nothing.
        // With storage but no per-user limit there is nothing a pseudonym would keep.
        let pseudonym = match (self.storage.is_some(), self.budgets_persisted()) {
            (true, true) => Some(self.pseudonym(user).await?),
            (true, false) => None,
            (false, _) => {
                let secret = self.secret_now().ok_or_else(|| Error::Internal {
                    message: "no randomness for the pseudonym key: nothing was forgotten".into(),
                })?;
                Some(pseudonym_of(&secret, user))
            }
        };
        self.replacing.borrow_mut().insert(user.clone());
        // RAM goes first so a run finishing meanwhile sees its user gone and takes back
        // its own write.
        self.memory.borrow_mut().remove(user);
        let now = self.now();
        self.ledger.borrow_mut().forget(user, pseudonym, now);
        self.observer.forget_user(user);
        if let Some(t) = &self.tools {
            t.cache.borrow_mut().forget(user);
        }
        if let Some(m) = &self.mcp {
            m.forget(user);
        }
        let result = match &self.storage {
            Some(s) => records::erase_user(s.as_ref(), user).await,
            None => Ok(()),
        };
        self.replacing.borrow_mut().remove(user);
        let about = About {
            user,
            session: None,
            run: None,
        };
        self.observe(
            Kind::Forget,
            &about,
            || json!({ "ok": result.is_ok() }),
            None,
            None,
        );
        result
    }

    /// The versioned document of exactly this user's data.
    pub async fn export(&self, user: &UserKey) -> Result<UserDoc> {
        self.load(user).await?;
        let now = self.now();
        let m = self.memory.borrow();
        let state = m.get(user).ok_or(Error::Conflict)?;
        let mut doc = user_doc::export_user(user, state, now);
        doc.budget = self.ledger.borrow().export_user(user, now);
        drop(m);
        let about = About {
            user,
            session: None,
            run: None,
        };
        self.observe(
            Kind::Export,
            &about,
            || json!({ "sessions": doc.sessions.len() }),
            None,
            None,
        );
        Ok(doc)
    }

    /// Replaces one user's data with a document's, after checking all of it: all of it
    /// applies or none of it, in RAM and in storage (see `persist` on generations). The
    /// document's budget counters are merged in, never lowering what the user spent; a
    /// document without them leaves the counters as they are.
    pub async fn import(&self, doc: UserDoc) -> Result<UserKey> {
        let limits = self.config.memory.limits();
        let budget = doc.budget.clone();
        let (user, mut state) = user_doc::user_from_doc(doc, &limits)?;
        self.config.admit_user(&user)?;
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        if let Some(b) = &budget {
            self.ledger.borrow().check_user_doc(b, self.now())?;
        }
        // The merge is with the user's real counters, stored ones included.
        self.ensure_account(&user).await?;
        if let Some(s) = &self.storage {
            self.replacing.borrow_mut().insert(user.clone());
            let written = self
                .write_generation(s.as_ref(), &user, &mut state, budget.as_ref())
                .await;
            self.replacing.borrow_mut().remove(&user);
            written?;
        }
        let now = self.now();
        if let Some(b) = &budget {
            let mut ledger = self.ledger.borrow_mut();
            ledger.import_user(&user, b, now)?;
            if let (true, Some(v)) = (self.storage.is_some(), ledger.version(&user)) {
                ledger.saved(&user, v);
            }
        }
        let sessions = state.session_count();
        {
            let mut m = self.memory.borrow_mut();
            m.replace(&user, state, now);
            m.sweep(now);
        }
        let about = About {
            user: &user,
            session: None,
            run: None,
        };
        self.observe(
            Kind::Import,
            &about,
            || json!({ "sessions": sessions }),
            None,
            None,
        );
        Ok(user)
    }

    /// Writes `state` as the user's next storage generation and switches to it; merged
    /// counters go in just before the switch and are put back if the switch fails. On
    /// error, what loads see is what they saw before.
    async fn write_generation(
        &self,
        s: &dyn Storage,
        user: &UserKey,
        state: &mut UserState,
        budget: Option<&crate::budget::AccountDoc>,
    ) -> Result<()> {
        // Past every generation present, not just the live one: a failed import may have
        // left keys of `live + 1`, which must not become part of this one.
        let current = records::get_generation(s, user).await?;
        let highest = records::highest_generation(s, user).await?.max(current);
        let next = highest
            .checked_add(1)
            .ok_or_else(|| Error::storage("put", "the user's storage generation is exhausted"))?;
        for (id, session) in state.sessions() {
            records::put_session(s, user, next, &user_doc::session_doc(user, id, session)).await?;
        }
        if !state.working().is_empty() {
            records::put_working(s, user, next, &user_doc::working_doc(user, state.working()))
                .await?;
        }
        if !state.facts().is_empty() {
            records::put_facts(s, user, next, &user_doc::facts_doc(user, state.facts())).await?;
        }
        let mut undo = None;
        if let (Some(b), true) = (budget, self.budgets_persisted()) {
            let now = self.now();
            let key = keys::budget_key(&self.pseudonym(user).await?);
            let merged = self.ledger.borrow().merged_doc(user, b, now)?;
            let before = self.ledger.borrow().export_user(user, now);
            records::put_budget(s, &key, &merged).await?;
            undo = Some((key, before));
        }
        if let Err(e) = records::put_generation(s, user, next).await {
            if let Some((key, before)) = undo {
                let _ = match before {
                    Some(doc) => records::put_budget(s, &key, &doc).await,
                    None => s.delete(&key).await,
                };
            }
            return Err(e);
        }
        state.generation = next;
        // What the old generation held is invisible now; a failure to delete it only
        // leaves garbage that the next import or forget removes.
        let _ = records::delete_other_generations(s, user, next).await;
        Ok(())
    }

    /// Every resident user's data in one document (with storage, the rest is in storage).
    pub fn snapshot(&self) -> SnapshotDoc {
        let now = self.now();
        let m = self.memory.borrow();
        let ledger = self.ledger.borrow();
        let mut users: Vec<UserDoc> = m
            .users()
            .map(|(k, s)| {
                let mut doc = user_doc::export_user(k, s, now);
                doc.budget = ledger.export_user(k, now);
                doc
            })
            .collect();
        // Stable output whatever the hash order: snapshots diff cleanly.
        users.sort_by(|a, b| (&a.org_id, &a.user_id).cmp(&(&b.org_id, &b.user_id)));
        SnapshotDoc {
            format: user_doc::SNAPSHOT_FORMAT.into(),
            version: user_doc::DOC_VERSION,
            taken_at: now,
            users,
            global_budget: (!self.config.budget.global.is_empty())
                .then(|| ledger.export_global(now)),
            org_budgets: ledger.export_orgs(now),
        }
    }

    /// Loads a snapshot into this (fresh) agent. Every user document is checked first and
    /// nothing is applied unless all pass; then each user is imported whole (see `import`),
    /// so a storage failure part-way leaves some users restored and none half-restored,
    /// and running the restore again completes it.
    pub async fn restore(&self, snapshot: SnapshotDoc) -> Result<usize> {
        if snapshot.format != user_doc::SNAPSHOT_FORMAT || snapshot.version != user_doc::DOC_VERSION
        {
            return Err(Error::InvalidImport {
                reason: format!(
                    "expected a {} document of version {}, got {:?} version {}",
                    user_doc::SNAPSHOT_FORMAT,
                    user_doc::DOC_VERSION,
                    snapshot.format,
                    snapshot.version
                ),
            });
        }
        let limits = self.config.memory.limits();
        let mut seen = KeyedSet::default();
        let now = self.now();
        for doc in &snapshot.users {
            let (user, _) = user_doc::user_from_doc(doc.clone(), &limits)?;
            self.config.admit_user(&user)?;
            if !seen.insert(user.clone()) {
                return Err(Error::InvalidImport {
                    reason: format!("user {user} appears twice in the snapshot"),
                });
            }
            if let Some(b) = &doc.budget {
                self.ledger.borrow().check_user_doc(b, now)?;
            }
        }
        if let Some(g) = &snapshot.global_budget {
            self.ledger.borrow().check_global_doc(g, now)?;
        }
        let orgs = self.check_org_budgets(&snapshot.org_budgets)?;
        if let Some(g) = &snapshot.global_budget {
            self.ledger.borrow_mut().import_global(g, self.now())?;
        }
        self.restore_org_budgets(orgs).await?;
        let n = snapshot.users.len();
        for doc in snapshot.users {
            self.import(doc).await?;
        }
        Ok(n)
    }

    /// Host-only: forgets every user, in storage too. Nothing reachable from a run or a
    /// tool calls this.
    pub async fn clear_all(&self) -> Result<()> {
        self.memory.borrow_mut().clear_all();
        self.ledger.borrow_mut().clear();
        *self.secret.borrow_mut() = None;
        self.observer.forget_all_users();
        self.orgs.borrow_mut().clear();
        if let Some(m) = &self.mcp {
            m.clear_all();
        }
        if let Some(s) = &self.storage {
            records::delete_prefix(s.as_ref(), keys::ROOT_PREFIX).await?;
        }
        Ok(())
    }
}
