//! Calls to the host embedder: the messages of a turn before it commits, and search
//! queries. Each call is for one user and carries only that user's id and texts.

use super::run::Call;
use super::Agent;
use crate::cancel::Cancellation;
use crate::embed::{self, EmbedContext};
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::memory::Turn;
use crate::message::Role;
use futures_util::future::{self, Either};
use std::rc::Rc;

impl Agent {
    pub(super) fn has_embedder(&self) -> bool {
        self.embedder.is_some()
    }

    /// One embedder call for `texts` of `user`, checked (`embed::check`).
    pub(super) async fn embed(
        &self,
        user: &UserKey,
        texts: Vec<String>,
        cancel: Option<Rc<dyn Cancellation>>,
    ) -> Result<Vec<Vec<f32>>> {
        let Some(embedder) = self.embedder.clone() else {
            return Err(Error::InvalidInput {
                reason: "semantic and hybrid search need an embedder: configure memory.embedder"
                    .into(),
            });
        };
        let expected = texts.len();
        let ctx = EmbedContext {
            user_id: user.as_option().map(str::to_owned),
            cancellation: cancel.clone(),
        };
        let call = embedder.embed(texts, ctx);
        let raw = match &cancel {
            Some(c) => match future::select(call, c.cancelled()).await {
                // An embedder that gave up because of the abort (a fetch rejecting on the
                // signal) reports the abort, not a failure of its own.
                Either::Left((Err(_), _)) if c.is_cancelled() => return Err(Error::Aborted),
                Either::Left((r, _)) => r?,
                Either::Right(_) => return Err(Error::Aborted),
            },
            None => call.await?,
        };
        let (vectors, _tokens) = embed::check(raw, expected, &self.dimensions)?;
        Ok(vectors)
    }

    /// The input's embedding when the prompt's recall ranks by meaning.
    pub(super) async fn recall_vector(
        &self,
        user: &UserKey,
        call: &Call,
        input: &str,
    ) -> Result<Option<Vec<f32>>> {
        let memory = &self.config.memory;
        if memory.recall_top_k == 0 || !memory.recall_mode.semantic() {
            return Ok(None);
        }
        memory.check_embedder(self.has_embedder())?;
        let vectors = self
            .embed(user, vec![input.to_owned()], call.cancel.clone())
            .await?;
        Ok(vectors.into_iter().next())
    }

    /// Embeds what the turn's user said and the final answer (not tool plumbing) in one
    /// call, and attaches the vectors to the turn. The input's vector made for recall is
    /// reused, not asked for again.
    pub(super) async fn embed_turn(
        &self,
        user: &UserKey,
        call: &Call,
        turn: &mut Turn,
    ) -> Result<()> {
        if !self.has_embedder() {
            return Ok(());
        }
        let picked: Vec<usize> = turn
            .messages
            .iter()
            .enumerate()
            .filter(|&(i, m)| {
                let known = i == 0 && call.recall_vector.is_some();
                let said = matches!(m.role, Role::User | Role::Assistant)
                    && !m.is_structured()
                    && !m.content.trim().is_empty();
                said && !known
            })
            .map(|(i, _)| i)
            .collect();
        let mut slots = vec![None; turn.messages.len()];
        if let Some(v) = &call.recall_vector {
            slots[0] = Some(v.clone());
        }
        let vectors = match picked.is_empty() {
            true => Vec::new(),
            false => {
                let texts = picked
                    .iter()
                    .map(|&i| turn.messages[i].content.clone())
                    .collect();
                self.embed(user, texts, call.cancel.clone()).await?
            }
        };
        for (i, v) in picked.into_iter().zip(vectors) {
            slots[i] = Some(v);
        }
        if slots.iter().any(Option::is_some) {
            turn.vectors = slots;
        }
        Ok(())
    }
}
