//! Fact extraction (`memory.facts: { extract: true }`): after a committed turn, one model
//! call reads the turn (its input and final answer, with the user's current facts for
//! context) and the facts it names are recorded for that user, as `remember` records them.
//! Everything the call sees is this user's, and what it answers can only be written to
//! this user's facts. Its outcome is audited, never an error of the run, whose turn is
//! already committed: a refused, failed or unreadable extraction records nothing.

use super::run::Call;
use super::Agent;
use crate::config::FactExtraction;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::memory::{exchange, read_answer, Facts, DEFAULT_EXTRACTION_INSTRUCTIONS};
use crate::message::Message;
use crate::model::Usage;
use crate::observe::{About, Kind};
use crate::prompt::build::facts_section;
use serde_json::json;

impl Agent {
    pub(super) async fn extract_facts_if_on(
        &self,
        user: &UserKey,
        call: &Call,
        input: &str,
        answer: &str,
    ) {
        let Some(cfg) = &self.config.memory.fact_extraction else {
            return;
        };
        let started = self.start_timer();
        let mut usage = None;
        let result = self
            .extract_facts(user, call, cfg, input, answer, &mut usage)
            .await;
        let about = About {
            user,
            session: Some(call.session.as_str()),
            run: Some(&call.run_id),
        };
        let data = || match &result {
            Ok(recorded) => json!({ "ok": true, "recorded": recorded }),
            Err(e) => json!({ "ok": false, "code": e.code() }),
        };
        self.observe(Kind::MemoryExtract, &about, data, usage, started);
    }

    /// Resolves to the number of facts that changed. `usage` is set once the model has
    /// answered (and was charged), so a later failure is still reported with its cost.
    async fn extract_facts(
        &self,
        user: &UserKey,
        call: &Call,
        cfg: &FactExtraction,
        input: &str,
        answer: &str,
        usage: &mut Option<Usage>,
    ) -> Result<usize> {
        let known = {
            let m = self.memory.borrow();
            let state = m
                .get(user)
                .filter(|s| s.incarnation == call.incarnation)
                .ok_or(Error::Conflict)?;
            facts_section(state, self.now())
        };
        let mut system = cfg
            .instructions
            .as_deref()
            .unwrap_or(DEFAULT_EXTRACTION_INSTRUCTIONS)
            .to_owned();
        if let Some(known) = known {
            system.push_str("\n\n");
            system.push_str(&known);
        }
        let response = self
            .upkeep_call(
                user,
                call,
                vec![Message::system(system)],
                vec![Message::user(exchange(input, answer))],
            )
            .await?;
        *usage = Some(response.usage);
        let found = read_answer(&response.text, &format!("extracted:{}", call.run_id))?;
        if found.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let mut recorded = 0;
        // All or nothing: one fact the record refuses (too long, the record full) keeps
        // the user's facts as they were.
        self.write_part(user, Some(call.incarnation), |current: &Facts| {
            let mut next = current.clone();
            for fact in found {
                if let Some((changed, _)) = next.with(fact, now)? {
                    next = changed;
                    recorded += 1;
                }
            }
            Ok((recorded > 0).then_some(next))
        })
        .await?;
        Ok(recorded)
    }
}
