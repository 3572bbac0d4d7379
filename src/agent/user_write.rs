//! Host writes to one part of a user's state (working memory, facts): checked, written
//! through to storage, then applied, one writer per user at a time, and only to the
//! incarnation the write was made for, so a write racing a `forget` never lands in the
//! user's new data.

use super::Agent;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::memory::{Facts, Memory, UserState, WorkingMemory};
use crate::persist::{records, user_doc, Storage};

/// A part of a user's state that is written on its own.
pub(super) trait UserPart: Sized {
    fn of(state: &UserState) -> &Self;
    async fn persist(&self, storage: &dyn Storage, user: &UserKey, generation: u32) -> Result<()>;
    /// Replaces the part if the user is still at `incarnation`.
    fn apply(self, memory: &mut Memory, user: &UserKey, incarnation: u64) -> bool;
}

impl UserPart for WorkingMemory {
    fn of(state: &UserState) -> &Self {
        state.working()
    }
    async fn persist(&self, storage: &dyn Storage, user: &UserKey, generation: u32) -> Result<()> {
        records::put_working(
            storage,
            user,
            generation,
            &user_doc::working_doc(user, self),
        )
        .await
    }
    fn apply(self, memory: &mut Memory, user: &UserKey, incarnation: u64) -> bool {
        memory.set_working(user, incarnation, self)
    }
}

impl UserPart for Facts {
    fn of(state: &UserState) -> &Self {
        state.facts()
    }
    async fn persist(&self, storage: &dyn Storage, user: &UserKey, generation: u32) -> Result<()> {
        records::put_facts(storage, user, generation, &user_doc::facts_doc(user, self)).await
    }
    fn apply(self, memory: &mut Memory, user: &UserKey, incarnation: u64) -> bool {
        memory.set_facts(user, incarnation, self)
    }
}

impl Agent {
    /// Changes one part of a user's state: `change` returns the next value, or `None` for
    /// no change. With `incarnation`, only that incarnation of the user is changed (a write
    /// on behalf of a run the user was forgotten after is `conflict`).
    pub(super) async fn write_part<P: UserPart>(
        &self,
        user: &UserKey,
        incarnation: Option<u64>,
        change: impl FnOnce(&P) -> Result<Option<P>>,
    ) -> Result<()> {
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        let pin = self.pin(user).await?;
        if incarnation.is_some_and(|i| i != pin.incarnation) {
            return Err(Error::Conflict);
        }
        let (next, generation) = {
            let m = self.memory.borrow();
            let state = m.get(user).ok_or(Error::Conflict)?;
            match change(P::of(state))? {
                Some(next) => (next, state.generation),
                None => return Ok(()),
            }
        };
        if let Some(storage) = &self.storage {
            next.persist(storage.as_ref(), user, generation).await?;
        }
        // Bound first: the borrow must end before the pin's drop reads the table.
        let applied = next.apply(&mut self.memory.borrow_mut(), user, pin.incarnation);
        match applied {
            true => Ok(()),
            false => Err(Error::Conflict),
        }
    }
}
