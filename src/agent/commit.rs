//! The end of a successful run: counters, then the session, written through to storage
//! before RAM changes, so a failed write leaves both as they were.

use super::Agent;
use crate::error::{Error, Result};
use crate::ids::{SessionId, UserKey};
use crate::memory::{Session, Turn};
use crate::persist::user_doc;
use crate::persist::{keys, records};

impl Agent {
    /// Storage first, then RAM: a failed write leaves both as they were.
    pub(super) async fn commit(
        &self,
        user: &UserKey,
        incarnation: u64,
        session: SessionId,
        turn: Turn,
    ) -> Result<()> {
        let (next, generation) = {
            let m = self.memory.borrow();
            // The state this run loaded, not one an import or forget put in its place:
            // writing the run's turn into a replacement (and then taking it back) would
            // overwrite and delete what the replacement stored.
            let state = m
                .get(user)
                .filter(|s| s.incarnation == incarnation)
                .ok_or(Error::Conflict)?;
            (
                state.session_with(&session, turn, m.limits().max_messages_per_session),
                state.generation,
            )
        };
        self.write_session(user, incarnation, generation, session, next)
            .await
    }

    /// Writes a user's session through (their counters first), then puts it in RAM if the
    /// incarnation it was computed from is still resident; if not (a forget or import in
    /// between), takes the stored write back so the change is never undone by a late one.
    pub(super) async fn write_session(
        &self,
        user: &UserKey,
        incarnation: u64,
        generation: u32,
        session: SessionId,
        next: Session,
    ) -> Result<()> {
        if let Some(storage) = &self.storage {
            // Counters first: the model's charge stands whether or not the turn commits, so
            // a failure after this point keeps a true charge, while the other order could
            // leave a stored turn for a run that reported failure.
            self.persist_budget(storage.as_ref(), user).await?;
            let doc = user_doc::session_doc(user, &session, &next);
            records::put_session(storage.as_ref(), user, generation, &doc).await?;
        }
        let dropped =
            self.memory
                .borrow_mut()
                .put_session(user, incarnation, session.clone(), next);
        match (dropped, &self.storage) {
            (Some(None), _) | (Some(Some(_)), None) => Ok(()),
            (Some(Some(old)), Some(storage)) => {
                // Over maxSessionsPerUser: the least recently active session goes from
                // storage too, or it would come back on the next load.
                storage
                    .delete(&keys::session_key(user, generation, &old))
                    .await
            }
            (None, storage) => {
                // Forgotten or replaced while in flight: take back what we just wrote, so
                // a forget is never undone by a late run.
                if let Some(storage) = storage {
                    let _ = storage
                        .delete(&keys::session_key(user, generation, &session))
                        .await;
                }
                Err(Error::Conflict)
            }
        }
    }
}
