//! Calls to the host embedder: the messages of a turn before it commits, and search
//! queries. Each call is for one user and carries only that user's id and texts.

use super::run::Call;
use super::Agent;
use crate::budget::{Actual, CallKind, Estimate};
use crate::embed::{self, EmbedContext};
use crate::error::{Error, Result};
use crate::ids::UserKey;
use crate::memory::Turn;
use crate::message::Role;
use crate::model::{estimate_tokens, Usage};
use crate::observe::{About, Kind};
use futures_util::future::{self, Either};
use serde_json::json;

impl Agent {
    pub(super) fn has_embedder(&self) -> bool {
        self.embedder.is_some()
    }

    /// One embedder call for `texts` of `user`, checked (`embed::check`) and charged to
    /// that user: held before the call like a model call's input, settled with the tokens
    /// the embedder reports (the estimate when it reports none), released when it fails.
    /// `call` is the run it serves; `None` for a host's `search`. `kind` says whether a
    /// limit may refuse it (`CallKind::TurnEmbedding` for a turn being committed).
    pub(super) async fn embed(
        &self,
        user: &UserKey,
        texts: Vec<String>,
        call: Option<&Call>,
        kind: CallKind,
    ) -> Result<Vec<Vec<f32>>> {
        let Some(embedder) = self.embedder.clone() else {
            return Err(Error::InvalidInput {
                reason: "semantic and hybrid search need an embedder: configure memory.embedder"
                    .into(),
            });
        };
        let started = self.start_timer();
        let expected = texts.len();
        let estimate: u64 = texts.iter().map(|t| estimate_tokens(t)).sum();
        let (mut hold, _) = self.hold_estimate(
            user,
            Estimate {
                input_tokens: estimate,
                max_output_tokens: 0,
                model: embedder.model_id(),
                kind,
            },
        )?;
        let cancel = call.and_then(|c| c.cancel.clone());
        let ctx = EmbedContext {
            user_id: user.as_option().map(str::to_owned),
            org_id: user.org().map(str::to_owned),
            cancellation: cancel.clone(),
        };
        let pending = embedder.embed(texts, ctx);
        let raw = match &cancel {
            Some(c) => match future::select(pending, c.cancelled()).await {
                // An embedder that gave up because of the abort (a fetch rejecting on the
                // signal) reports the abort, not a failure of its own.
                Either::Left((Err(_), _)) if c.is_cancelled() => return Err(Error::Aborted),
                Either::Left((r, _)) => r?,
                Either::Right(_) => return Err(Error::Aborted),
            },
            None => pending.await?,
        };
        let (vectors, tokens) = embed::check(raw, expected, &self.dimensions)?;
        let actual = Actual {
            input_tokens: tokens.unwrap_or(estimate) as f64,
            output_tokens: 0.0,
            estimated: tokens.is_none(),
        };
        if let Some(charge) = hold.settle(actual, self.now()) {
            let usage = Usage {
                input_tokens: charge.input_tokens,
                output_tokens: 0,
                total_tokens: charge.total_tokens,
                estimated: charge.estimated,
                cost_usd: charge.cost_usd,
                overrun: charge.overran,
            };
            let about = About {
                user,
                session: call.map(|c| c.session.as_str()),
                run: call.map(|c| c.run_id.as_str()),
            };
            self.observe(
                Kind::MemoryEmbed,
                &about,
                || json!({ "texts": expected }),
                Some(usage),
                started,
            );
        }
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
            .embed(
                user,
                vec![input.to_owned()],
                Some(call),
                CallKind::Embedding,
            )
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
                    && !m.has_tool_structure()
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
                self.embed(user, texts, Some(call), CallKind::TurnEmbedding)
                    .await?
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
