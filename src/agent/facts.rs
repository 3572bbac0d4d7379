//! Host reads and writes of a user's facts; writes go through `write_part`.

use super::Agent;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::memory::{Fact, FactQuery, Facts, NewFact};

impl Agent {
    /// Records a fact about `user` now; resolves to the record current for its subject and
    /// predicate (the one already current when the value is unchanged).
    pub async fn remember(&self, user: &UserKey, fact: NewFact) -> Result<Fact> {
        let now = self.now();
        let (subject, predicate) = (fact.subject.clone(), fact.predicate.clone());
        self.write_part(user, None, |f: &Facts| {
            Ok(f.with(fact, now)?.map(|(next, _)| next))
        })
        .await?;
        let query = FactQuery {
            subject: Some(subject),
            predicate: Some(predicate),
            ..FactQuery::default()
        };
        let m = self.memory.borrow();
        let state = m.get(user).ok_or(Error::Conflict)?;
        state
            .facts()
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
        self.write_part(user, None, |f: &Facts| {
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
}
