//! Whole-org operations: every user of one org, and nothing of any other org (the default
//! org's users live under another prefix and are never listed here).

use super::Agent;
use crate::error::{Error, Result};
use crate::ids::{OrgId, UserKey};
use crate::persist::org_doc::{OrgDoc, ORG_FORMAT};
use crate::persist::user_doc::DOC_VERSION;
use crate::persist::{keys, records};
use std::collections::BTreeSet;

impl Agent {
    /// The users of `org`: the resident ones and, with storage, every one with a key
    /// there. In id order, so an export diffs cleanly.
    async fn org_users(&self, org: &OrgId) -> Result<Vec<UserKey>> {
        let mut users: BTreeSet<UserKey> = self
            .memory
            .borrow()
            .users()
            .filter(|(k, _)| k.org_id() == Some(org))
            .map(|(k, _)| k.clone())
            .collect();
        if let Some(s) = &self.storage {
            let prefix = keys::org_prefix(org);
            for key in s.list(&prefix).await? {
                if let Some(user) = keys::org_user_of(org, &key) {
                    users.insert(user);
                }
            }
        }
        Ok(users.into_iter().collect())
    }

    /// Erases every user of `org` (as `forget` does each: RAM, storage, content keys,
    /// cached tool results; spend in open windows keeps counting under a pseudonym), then
    /// every key left under the org's prefix. The org's own budget counters lose its id but
    /// keep counting what was spent in windows still open (see `forget_org_account`).
    /// Resolves to the number of users erased.
    /// A user whose first run starts while this is under way may survive it: erase an
    /// org once its users can no longer reach the agent.
    pub async fn forget_org(&self, org: &OrgId) -> Result<usize> {
        let users = self.org_users(org).await?;
        for user in &users {
            self.erase(user).await?;
        }
        let _knowledge = self.org_locks.ticket(org.clone()).await;
        if let Some(s) = &self.storage {
            records::delete_prefix(s.as_ref(), &keys::org_prefix(org)).await?;
        }
        self.forget_org_account(org).await?;
        self.drop_org_knowledge(org);
        self.org_configs.forget(org);
        Ok(users.len())
    }

    /// Every user of `org` who holds anything, each as `export` gives it, and the org's
    /// knowledge. A user merely resident with nothing (read once, say) is left out, so the
    /// document does not depend on what happens to be in RAM; so is an anonymous bucket of
    /// an earlier config when the agent now requires user ids.
    pub async fn export_org(&self, org: &OrgId) -> Result<OrgDoc> {
        let mut users = Vec::new();
        for user in self.org_users(org).await? {
            match self.export(&user).await {
                Ok(doc) if holds_nothing(&doc) => {}
                Ok(doc) => users.push(doc),
                Err(Error::UserRequired) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(OrgDoc {
            format: ORG_FORMAT.into(),
            version: DOC_VERSION,
            org_id: org.as_str().to_owned(),
            exported_at: self.now(),
            users,
            blocks: self.org_blocks(org).await?,
        })
    }
}

fn holds_nothing(doc: &crate::persist::user_doc::UserDoc) -> bool {
    doc.sessions.is_empty()
        && doc.blocks.is_empty()
        && doc.properties.is_empty()
        && doc.facts.is_empty()
        && doc.budget.is_none()
}
