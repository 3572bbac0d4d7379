//! Host writes to a user's working memory: checked, written through, then applied, one
//! writer per user at a time.

use super::Agent;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::persist::records;
use crate::persist::user_doc;
use serde_json::Value;

impl Agent {
    /// Changes one user's working memory: checked, written through, then applied.
    async fn update_working(
        &self,
        user: &UserKey,
        change: impl FnOnce(&mut crate::memory::WorkingMemory) -> Result<()>,
    ) -> Result<()> {
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        let pin = self.pin(user).await?;
        let incarnation = pin.incarnation;
        let next = {
            let m = self.memory.borrow();
            let mut w = m.get(user).ok_or(Error::Conflict)?.working().clone();
            change(&mut w)?;
            w
        };
        if let Some(storage) = &self.storage {
            let generation = self.memory.borrow().get(user).map_or(0, |u| u.generation);
            records::put_working(
                storage.as_ref(),
                user,
                generation,
                &user_doc::working_doc(user, &next),
            )
            .await?;
        }
        if self
            .memory
            .borrow_mut()
            .set_working(user, incarnation, next)
        {
            Ok(())
        } else {
            Err(Error::Conflict)
        }
    }

    pub async fn set_block(&self, user: &UserKey, label: &str, text: &str) -> Result<()> {
        self.update_working(user, |w| w.set_block(label, text))
            .await
    }

    /// Appends a line to a block (creating it), within the block's bound.
    pub async fn append_block(&self, user: &UserKey, label: &str, line: &str) -> Result<()> {
        self.update_working(user, |w| {
            let next = match w.blocks().find(|(l, _)| *l == label) {
                Some((_, old)) if !old.is_empty() => format!("{old}\n{line}"),
                _ => line.to_owned(),
            };
            w.set_block(label, &next)
        })
        .await
    }

    pub async fn delete_block(&self, user: &UserKey, label: &str) -> Result<()> {
        self.update_working(user, |w| {
            w.delete_block(label);
            Ok(())
        })
        .await
    }

    pub async fn set_property(&self, user: &UserKey, key: &str, value: Value) -> Result<()> {
        self.update_working(user, |w| w.set_property(key, value))
            .await
    }
}
