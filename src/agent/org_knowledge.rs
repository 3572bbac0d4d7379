//! An org's knowledge: blocks the host sets for every user of one org, read into those
//! users' prompts and nobody else's. Only the host writes it (these methods); no run,
//! memory tool or import reaches it. Writes of one org take turns on its lock, and go to
//! storage before RAM, so a failed write changes nothing.

use super::Agent;
use crate::error::Result;
use crate::ids::{OrgId, UserKey};
use crate::memory::OrgKnowledge;
use crate::persist::org_doc;
use crate::persist::user_doc::BlockDoc;
use std::rc::Rc;

impl Agent {
    /// The org's knowledge as it is now: resident, or read from storage (and made
    /// resident). Called with the org's lock held.
    async fn org_knowledge(&self, org: &OrgId) -> Result<OrgKnowledge> {
        if let Some(k) = self.orgs.borrow_mut().get(org) {
            return Ok(k.clone());
        }
        let Some(storage) = &self.storage else {
            return Ok(OrgKnowledge::default());
        };
        let k = org_doc::load_knowledge(storage.as_ref(), org).await?;
        // Empty knowledge is kept too, so the org's next runs read no storage.
        self.orgs.borrow_mut().insert(org, k.clone(), true)?;
        Ok(k)
    }

    /// The knowledge section of `user`'s prompts: their org's, read once per run.
    pub(super) async fn org_section(&self, user: &UserKey) -> Result<Option<Rc<str>>> {
        let Some(org) = user.org_id() else {
            return Ok(None);
        };
        if let Some(section) = self.orgs.borrow_mut().section(org) {
            return Ok(section);
        }
        if self.storage.is_none() {
            return Ok(None);
        }
        let _turn = self.org_locks.ticket(org.clone()).await;
        Ok(self.org_knowledge(org).await?.prompt_section())
    }

    /// Sets one block of the org's knowledge (at most 32 blocks, 16 KiB each, as a user's).
    pub async fn set_org_block(&self, org: &OrgId, label: &str, text: &str) -> Result<()> {
        let _one_writer = self.org_locks.ticket(org.clone()).await;
        let mut k = self.org_knowledge(org).await?;
        k.set_block(label, text)?;
        self.write_org_knowledge(org, k).await
    }

    /// Removes one block; resolves to whether it existed.
    pub async fn delete_org_block(&self, org: &OrgId, label: &str) -> Result<bool> {
        let _one_writer = self.org_locks.ticket(org.clone()).await;
        let mut k = self.org_knowledge(org).await?;
        if !k.delete_block(label) {
            return Ok(false);
        }
        self.write_org_knowledge(org, k).await?;
        Ok(true)
    }

    pub async fn org_blocks(&self, org: &OrgId) -> Result<Vec<BlockDoc>> {
        let _turn = self.org_locks.ticket(org.clone()).await;
        Ok(org_doc::knowledge_blocks(&self.org_knowledge(org).await?))
    }

    async fn write_org_knowledge(&self, org: &OrgId, k: OrgKnowledge) -> Result<()> {
        match &self.storage {
            Some(storage) => {
                org_doc::save_knowledge(storage.as_ref(), org, &k).await?;
                self.orgs.borrow_mut().insert(org, k, true)
            }
            None if k.is_empty() => {
                self.orgs.borrow_mut().remove(org);
                Ok(())
            }
            None => self.orgs.borrow_mut().insert(org, k, false),
        }
    }

    /// Drops the org's knowledge from RAM (its storage goes with the org's prefix).
    pub(super) fn drop_org_knowledge(&self, org: &OrgId) {
        self.orgs.borrow_mut().remove(org);
    }
}
