//! Host writes to a user's working memory, through `write_part`.

use super::Agent;
use crate::error::Result;
use crate::ids::UserKey;
use crate::memory::WorkingMemory;
use serde_json::Value;

impl Agent {
    /// Changes one user's working memory (a copy, checked by `change`).
    async fn update_working(
        &self,
        user: &UserKey,
        change: impl FnOnce(&mut WorkingMemory) -> Result<()>,
    ) -> Result<()> {
        self.write_part(user, None, |w: &WorkingMemory| {
            let mut next = w.clone();
            change(&mut next)?;
            Ok(Some(next))
        })
        .await
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
