//! Compaction: when a session's stored turns outgrow `memory.compaction.triggerTokens`, the
//! turns before the last `keepTurns` are summarised by the agent's model in one call,
//! charged to the same user, and replaced by one summary turn (a `system` message in the
//! history). It runs after a committed turn, inside that run's hold on its session, so no
//! other run of the session interleaves. Everything it reads is that session of that user,
//! so a summary holds no other user's text. A refused or failed summary changes nothing
//! and is tried again after a later turn.

use super::run::Call;
use super::Agent;
use crate::config::Compaction;
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::memory::{Session, Turn, SUMMARY_PREFIX};
use crate::message::{Message, Role};
use crate::observe::{About, Kind};
use crate::prompt::build::stored_tokens;
use serde_json::json;

const DEFAULT_INSTRUCTIONS: &str = "Summarise this conversation for your own later use: \
what the user said about themselves, decisions made, and open questions. Be concise.";

impl Agent {
    /// Compacts the run's session if it is due; the outcome is audited, never an error of
    /// the run (whose turn is already committed).
    pub(super) async fn compact_if_due(&self, user: &UserKey, call: &Call) {
        let Some(cfg) = &self.config.memory.compaction else {
            return;
        };
        let started = self.start_timer();
        let result = self.compact(user, call, cfg).await;
        let about = About {
            user,
            session: Some(call.session.as_str()),
            run: Some(&call.run_id),
        };
        match result {
            Ok(None) => {}
            Ok(Some((turns, usage))) => self.observe(
                Kind::MemoryCompact,
                &about,
                || json!({ "ok": true, "turns": turns }),
                Some(usage),
                started,
            ),
            Err(e) => self.observe(
                Kind::MemoryCompact,
                &about,
                || json!({ "ok": false, "code": e.code() }),
                None,
                started,
            ),
        }
    }

    async fn compact(
        &self,
        user: &UserKey,
        call: &Call,
        cfg: &Compaction,
    ) -> Result<Option<(usize, crate::model::Usage)>> {
        let (old, kept, created_at, generation) = {
            let m = self.memory.borrow();
            let state = m
                .get(user)
                .filter(|s| s.incarnation == call.incarnation)
                .ok_or(Error::Conflict)?;
            let Some(s) = state.session(&call.session) else {
                return Ok(None);
            };
            // Estimated on the packed turns, as the prompt builder does: nothing is copied
            // out of the session unless a summary is due.
            let tokens: u64 = s
                .turns()
                .flat_map(|t| t.messages())
                .map(stored_tokens)
                .sum();
            if tokens <= cfg.trigger_tokens || s.turns().len() <= cfg.keep_turns {
                return Ok(None);
            }
            let split = s.turns().len() - cfg.keep_turns;
            let mut old: Vec<Turn> = s.turns().map(|t| t.unpack()).collect();
            let kept = old.split_off(split);
            (old, kept, s.created_at(), state.generation)
        };
        let transcript: String = old
            .iter()
            .flat_map(|t| &t.messages)
            .filter(|m| !m.content.is_empty() && m.role != Role::Tool)
            .map(|m| {
                let who = match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    _ => "summary",
                };
                format!("{who}: {}\n", m.content)
            })
            .collect();
        let instructions = cfg.instructions.as_deref().unwrap_or(DEFAULT_INSTRUCTIONS);
        let response = self
            .upkeep_call(
                user,
                call,
                vec![Message::system(instructions)],
                vec![Message::user(transcript)],
            )
            .await?;
        if response.text.trim().is_empty() {
            return Err(Error::Model {
                message: "the model's summary was empty".into(),
            });
        }
        let summary = Turn {
            at: old.last().map_or(created_at, |t| t.at),
            messages: vec![Message::system(format!(
                "{SUMMARY_PREFIX}{}",
                response.text
            ))],
            vectors: Vec::new(),
        };
        let max = self.config.memory.max_messages_per_session;
        let next = Session::from_turns(
            std::iter::once(summary).chain(kept).collect(),
            created_at,
            max,
        );
        self.write_session(
            user,
            call.incarnation,
            generation,
            call.session.clone(),
            next,
        )
        .await?;
        Ok(Some((old.len(), response.usage)))
    }
}
