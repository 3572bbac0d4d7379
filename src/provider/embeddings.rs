//! `openaiEmbeddings`: an embedder over an OpenAI-compatible `POST {baseUrl}/embeddings`
//! (`{ model, input: texts }` -> `data[i].embedding`, `usage.prompt_tokens`), through the
//! host's HTTP with the chat clients' retries, time limit and key redaction. Its answer
//! goes through the same checks as any host embedder's (`embed::check`).

use super::attempt::{self, Failure};
use super::{with_retries, ProviderConfig};
use crate::cancel::Cancellation;
use crate::embed::{EmbedContext, Embedder, RawEmbeddings};
use crate::error::{Error, Result};
use crate::http::{HttpHost, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde_json::{json, Value};
use std::rc::Rc;

/// Largest embeddings body read: 100 texts of 4096 dimensions as JSON, with room.
const MAX_BODY_BYTES: usize = 64 << 20;

pub struct EmbeddingClient {
    config: ProviderConfig,
    host: Rc<dyn HttpHost>,
}

impl EmbeddingClient {
    pub fn new(config: ProviderConfig, host: Rc<dyn HttpHost>) -> Result<Self> {
        config.validate()?;
        Ok(EmbeddingClient { config, host })
    }

    pub fn model_id(&self) -> &str {
        &self.config.model
    }

    /// One embeddings call, retried as a chat call is.
    pub async fn embed_texts(
        &self,
        texts: &[String],
        cancel: Option<Rc<dyn Cancellation>>,
    ) -> Result<RawEmbeddings> {
        with_retries(&self.config, self.host.as_ref(), || {
            self.attempt(texts, cancel.clone())
        })
        .await
    }

    async fn attempt(
        &self,
        texts: &[String],
        cancel: Option<Rc<dyn Cancellation>>,
    ) -> std::result::Result<RawEmbeddings, Failure> {
        let cfg = &self.config;
        let host = self.host.as_ref();
        let request = HttpRequest {
            url: format!("{}/embeddings", cfg.base_url.trim_end_matches('/')),
            headers: attempt::headers(cfg),
            body: json!({ "model": cfg.model, "input": texts }).to_string(),
        };
        let text = attempt::send_for_text(cfg, host, request, cancel, MAX_BODY_BYTES).await?;
        parse(&text, texts.len()).map_err(|reason| {
            attempt::fail(
                Error::ModelMalformed {
                    reason: cfg.redact(&reason),
                },
                false,
            )
        })
    }
}

/// `data[i].embedding` in `index` order (servers may answer out of order), and
/// `usage.prompt_tokens`. Numbers are checked later, with any embedder's.
fn parse(body: &str, expected: usize) -> std::result::Result<RawEmbeddings, String> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("embeddings response is not JSON: {e}"))?;
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or("embeddings response has no `data` array")?;
    let mut slots: Vec<Option<Vec<f64>>> = vec![None; expected];
    for (i, item) in data.iter().enumerate() {
        let index = match item.get("index") {
            None => i,
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(format!("data[{i}].index is not an index"))?,
        };
        let vector = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or(format!("data[{i}].embedding is not an array of numbers"))?
            .iter()
            .map(Value::as_f64)
            .collect::<Option<Vec<f64>>>()
            .ok_or(format!("data[{i}].embedding is not an array of numbers"))?;
        match slots.get_mut(index) {
            Some(slot @ None) => *slot = Some(vector),
            _ => {
                return Err(format!(
                    "data[{i}].index {index} is out of range or repeated"
                ))
            }
        }
    }
    let vectors = slots
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or(format!(
            "asked for {expected} embeddings, got {}",
            data.len()
        ))?;
    let tokens = value
        .get("usage")
        .and_then(|u| u.get("prompt_tokens"))
        .and_then(Value::as_f64);
    Ok(RawEmbeddings { vectors, tokens })
}

impl Embedder for Rc<EmbeddingClient> {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    fn embed(
        &self,
        texts: Vec<String>,
        ctx: EmbedContext,
    ) -> LocalBoxFuture<'static, Result<RawEmbeddings>> {
        let this = self.clone();
        Box::pin(async move { this.embed_texts(&texts, ctx.cancellation).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn data_is_read_in_index_order_with_usage() {
        let body = r#"{"object":"list","data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1.5,2]}],"model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}"#;
        let r = parse(body, 2).unwrap();
        assert_eq!(r.vectors, vec![vec![1.5, 2.0], vec![3.0, 4.0]]);
        assert_eq!(r.tokens, Some(7.0));
    }

    #[test]
    fn a_short_repeated_or_odd_answer_is_refused() {
        for (body, n) in [
            (r#"{"data":[{"index":0,"embedding":[1]}]}"#, 2),
            (
                r#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}"#,
                2,
            ),
            (r#"{"data":[{"index":0,"embedding":["1"]}]}"#, 1),
            (r#"{"data":[{"index":5,"embedding":[1]}]}"#, 1),
            (r#"{"error":{"message":"x"}}"#, 1),
            ("not json", 1),
        ] {
            assert!(parse(body, n).is_err(), "{body}");
        }
    }
}
