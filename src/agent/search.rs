//! `search`: one user's messages ranked lexically, by meaning, or both. The user is made
//! resident (loaded from storage when configured) for the read, and the query is embedded
//! with that user's id.

use super::Agent;
use crate::budget::CallKind;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::limits::MAX_INPUT_BYTES;
use crate::recall::{self, Hit};
use crate::search::{self, SearchOptions};

impl Agent {
    pub async fn search(
        &self,
        user: &UserKey,
        query: &str,
        opts: SearchOptions,
    ) -> Result<Vec<Hit>> {
        self.config.admit_user(user)?;
        let limit = recall::check_limit(opts.limit)?;
        if query.len() > MAX_INPUT_BYTES {
            return Err(Error::InvalidInput {
                reason: format!(
                    "query is {} bytes; the limit is {MAX_INPUT_BYTES}",
                    query.len()
                ),
            });
        }
        if opts.mode.semantic() && !self.has_embedder() {
            return Err(Error::InvalidInput {
                reason: format!(
                    "search mode {:?} needs an embedder: configure memory.embedder",
                    opts.mode
                ),
            });
        }
        // Pinned first: resident for the read, and its counters loaded before the query's
        // embedding is charged to them (charging an account not yet read back from storage
        // would start it from zero).
        let _pin = self.pin(user).await?;
        let vector = match opts.mode.semantic() && !query.trim().is_empty() {
            true => {
                let embedded = self
                    .embed(user, vec![query.to_owned()], None, CallKind::Embedding)
                    .await;
                self.persist_unsaved(user).await;
                embedded?.pop()
            }
            false => None,
        };
        let m = self.memory.borrow();
        let Some(state) = m.get(user) else {
            return Ok(Vec::new());
        };
        Ok(search::search(
            state,
            query,
            vector.as_deref(),
            limit,
            opts.mode,
            opts.session.as_ref(),
        ))
    }
}
