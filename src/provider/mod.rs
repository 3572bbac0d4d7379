//! Model clients for OpenAI-compatible servers and Anthropic, over the host's HTTP
//! (`HttpHost`): request building, streaming, retries with backoff and jitter honouring
//! `Retry-After`, a per-call time limit, and errors that never carry the API key. Beside
//! them, `ai_sdk`: the translation for AI SDK language model objects the host calls itself,
//! and `workers_ai`: the translation for the Cloudflare Workers AI binding.

pub(crate) mod ai_sdk;
mod attempt;
mod convert;
mod embeddings;
pub(crate) mod workers_ai;

pub use embeddings::EmbeddingClient;

use crate::error::{Error, Result};
use crate::http::HttpHost;
use crate::limits::{DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MS, MAX_RETRIES, MAX_TIMEOUT_MS};
use crate::model::{CallContext, Model, ModelRequest, RawModelResponse};
use crate::wire::retry;
use attempt::Failure;
use futures_util::future::LocalBoxFuture;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    OpenAi,
    Anthropic,
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com/v1";
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";
const BACKOFF_BASE_MS: u64 = 500;
const BACKOFF_MAX_MS: u64 = 30_000;
/// Longest `Retry-After` honoured; beyond it the error goes to the caller instead.
const MAX_RETRY_AFTER_MS: u64 = 60_000;

#[derive(Clone, Debug, PartialEq)]
pub struct ProviderConfig {
    pub provider: Provider,
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub headers: Vec<(String, String)>,
    pub max_retries: u32,
    pub timeout_ms: u64,
    /// Ask for an SSE stream. Text deltas reach a streaming run as they arrive either way
    /// only when this is on.
    pub stream: bool,
    pub anthropic_version: String,
}

impl ProviderConfig {
    pub fn new(provider: Provider, model: impl Into<String>) -> Self {
        ProviderConfig {
            provider,
            base_url: match provider {
                Provider::OpenAi => DEFAULT_OPENAI_BASE_URL,
                Provider::Anthropic => DEFAULT_ANTHROPIC_BASE_URL,
            }
            .into(),
            api_key: None,
            model: model.into(),
            headers: Vec::new(),
            max_retries: DEFAULT_MAX_RETRIES,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            stream: true,
            anthropic_version: DEFAULT_ANTHROPIC_VERSION.into(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        let field = |f: &str, why: &str| Err(Error::config(f, why));
        if self.model.trim().is_empty() {
            return field(
                "model",
                "is required: the provider's model name, e.g. \"gpt-4o-mini\"",
            );
        }
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            return field("baseUrl", "must be an http(s) URL");
        }
        crate::error::within("maxRetries", self.max_retries.into(), 0, MAX_RETRIES.into())?;
        crate::error::within("timeoutMs", self.timeout_ms, 1, MAX_TIMEOUT_MS)?;
        for (k, _) in &self.headers {
            if k.is_empty() || k.chars().any(|c| c.is_control() || c == ':' || c == ' ') {
                return field("headers", "header names must be non-empty tokens");
            }
        }
        Ok(())
    }

    /// Replaces the key wherever it appears, so a provider that echoes it back (some
    /// gateways do, in "invalid key" messages) cannot leak it into errors or events.
    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.api_key {
            Some(k) if k.len() >= 4 => text.replace(k.as_str(), "[redacted]"),
            _ => text.to_owned(),
        }
    }
}

pub struct ProviderModel {
    config: ProviderConfig,
    host: Rc<dyn HttpHost>,
}

impl ProviderModel {
    pub fn new(config: ProviderConfig, host: Rc<dyn HttpHost>) -> Result<Self> {
        config.validate()?;
        Ok(ProviderModel { config, host })
    }

    /// The provider's model name: what the budget's price table knows this model by, so
    /// a host pricing runs sets `AgentConfig::model_name` to it.
    pub fn model_id(&self) -> &str {
        &self.config.model
    }

    /// One model call with retries. Retries happen only while nothing has been streamed to
    /// the host: once text reached the user, a retry would show it twice.
    pub async fn complete(
        &self,
        request: &ModelRequest,
        ctx: &CallContext,
    ) -> Result<RawModelResponse> {
        with_retries(&self.config, self.host.as_ref(), || {
            attempt::run(&self.config, self.host.as_ref(), request, ctx)
        })
        .await
    }
}

/// `attempt` until it succeeds, fails for good, or `maxRetries` retries are spent, with
/// backoff and jitter between, honouring a provider's `Retry-After`.
async fn with_retries<T, F: std::future::Future<Output = std::result::Result<T, Failure>>>(
    config: &ProviderConfig,
    host: &dyn HttpHost,
    mut attempt: impl FnMut() -> F,
) -> Result<T> {
    let mut attempt_no = 0;
    loop {
        attempt_no += 1;
        match attempt().await {
            Ok(r) => return Ok(r),
            Err(Failure {
                error,
                retryable,
                retry_after_ms,
            }) => {
                let give_up = !retryable
                    || attempt_no > config.max_retries
                    || retry_after_ms.is_some_and(|ms| ms > MAX_RETRY_AFTER_MS);
                if give_up {
                    return Err(with_attempts(error, attempt_no));
                }
                let backoff = retry::backoff_ms(
                    attempt_no - 1,
                    BACKOFF_BASE_MS,
                    BACKOFF_MAX_MS,
                    host.random(),
                );
                host.sleep(retry_after_ms.unwrap_or(backoff).max(1)).await;
            }
        }
    }
}

fn with_attempts(e: Error, n: u32) -> Error {
    match e {
        Error::ModelHttp {
            status,
            kind,
            message,
            ..
        } => Error::ModelHttp {
            status,
            kind,
            message,
            attempts: n,
        },
        other => other,
    }
}

impl Model for Rc<ProviderModel> {
    fn generate(
        &self,
        request: ModelRequest,
        ctx: CallContext,
    ) -> LocalBoxFuture<'static, Result<RawModelResponse>> {
        let this = self.clone();
        Box::pin(async move { this.complete(&request, &ctx).await })
    }
}

#[cfg(test)]
mod tests;
