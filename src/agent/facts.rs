//! Host reads and writes of a user's facts: a write is checked, written through, then
//! applied, one writer per user at a time (the same discipline as working memory).

use super::Agent;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::memory::{Fact, FactQuery, Facts, NewFact};
use crate::persist::{records, user_doc};

impl Agent {
    /// Records a fact about `user` now; resolves to the record current for its subject and
    /// predicate (the one already current when the value is unchanged).
    pub async fn remember(&self, user: &UserKey, fact: NewFact) -> Result<Fact> {
        let now = self.now();
        let (subject, predicate) = (fact.subject.clone(), fact.predicate.clone());
        let current = self
            .update_facts(user, None, |f| Ok(f.with(fact, now)?.map(|(next, _)| next)))
            .await?;
        let query = FactQuery {
            subject: Some(subject),
            predicate: Some(predicate),
            ..FactQuery::default()
        };
        current
            .query(&query, now)
            .into_iter()
            .rev()
            .find(|f| f.valid_until.is_none())
            .cloned()
            .ok_or_else(|| Error::Internal {
                message: "a remembered fact is not current".into(),
            })
    }

    /// Withdraws the current value of (subject, predicate): it stays in the record as
    /// superseded now. Resolves to whether anything was current.
    pub async fn forget_fact(
        &self,
        user: &UserKey,
        subject: &str,
        predicate: &str,
    ) -> Result<bool> {
        let now = self.now();
        let mut changed = false;
        self.update_facts(user, None, |f| {
            let next = f.without(subject, predicate, now);
            changed = next.is_some();
            Ok(next)
        })
        .await?;
        Ok(changed)
    }

    /// The user's fact records a query selects (loading the user first when needed).
    pub async fn facts(&self, user: &UserKey, query: &FactQuery) -> Result<Vec<Fact>> {
        query.check()?;
        self.load(user).await?;
        let now = self.now();
        let m = self.memory.borrow();
        let state = m.get(user).ok_or(Error::Conflict)?;
        Ok(state
            .facts()
            .query(query, now)
            .into_iter()
            .cloned()
            .collect())
    }

    /// Changes one user's facts: `change` returns the next facts, or `None` for no change.
    /// Resolves to the facts as they stand afterwards. With `incarnation`, only that
    /// incarnation of the user is changed: a write on behalf of a run the user was
    /// forgotten after is refused (`conflict`), not applied to their new data.
    pub(super) async fn update_facts(
        &self,
        user: &UserKey,
        incarnation: Option<u64>,
        change: impl FnOnce(&Facts) -> Result<Option<Facts>>,
    ) -> Result<Facts> {
        let _one_writer = self.user_locks.ticket(user.clone()).await;
        let pin = self.pin(user).await?;
        if incarnation.is_some_and(|i| i != pin.incarnation) {
            return Err(Error::Conflict);
        }
        let (next, generation) = {
            let m = self.memory.borrow();
            let state = m.get(user).ok_or(Error::Conflict)?;
            match change(state.facts())? {
                Some(next) => (next, state.generation),
                None => return Ok(state.facts().clone()),
            }
        };
        if let Some(storage) = &self.storage {
            let doc = user_doc::facts_doc(user, &next);
            records::put_facts(storage.as_ref(), user, generation, &doc).await?;
        }
        let applied = self
            .memory
            .borrow_mut()
            .set_facts(user, pin.incarnation, next.clone());
        match applied {
            true => Ok(next),
            false => Err(Error::Conflict),
        }
    }
}
