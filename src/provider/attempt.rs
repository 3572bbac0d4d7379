//! One HTTP attempt at a model call: build the request, send it, and read the answer
//! (whole, or as an SSE stream), classifying every failure as retryable or not.

use super::convert::{from_wire, to_wire};
use super::{Provider, ProviderConfig};
use crate::error::Error;
use crate::http::{HttpHost, HttpRequest, HttpResponse};
use crate::model::{CallContext, ModelRequest, RawModelResponse};
use crate::wire::{self, anthropic, openai, retry, Accumulator, SseDecoder, StreamPart, WireError};
use futures_util::future::{self, Either};
use std::future::Future;

/// Largest non-streamed or error body read.
const MAX_BODY_BYTES: usize = 32 << 20;
const MAX_ERROR_BODY_BYTES: usize = 1 << 20;

pub struct Failure {
    pub error: Error,
    pub retryable: bool,
    pub retry_after_ms: Option<u64>,
}

fn http_error(status: Option<u16>, kind: &str, message: String) -> Error {
    Error::ModelHttp {
        status,
        kind: kind.to_owned(),
        message,
        attempts: 1,
    }
}

pub(super) fn fail(error: Error, retryable: bool) -> Failure {
    Failure {
        error,
        retryable,
        retry_after_ms: None,
    }
}

fn malformed(cfg: &ProviderConfig, e: WireError) -> Failure {
    match e {
        WireError::Malformed { reason } => fail(
            Error::ModelMalformed {
                reason: cfg.redact(&reason),
            },
            false,
        ),
        WireError::Provider { kind, message } => {
            fail(http_error(None, &kind, cfg.redact(&message)), false)
        }
        WireError::Unsupported { feature } => fail(Error::Unsupported { feature }, false),
    }
}

/// `fut`, unless the attempt's deadline passes first.
async fn within<T>(
    host: &dyn HttpHost,
    deadline: f64,
    fut: impl Future<Output = T>,
) -> Result<T, ()> {
    let left = (deadline - host.now_ms()).max(0.0) as u64;
    match future::select(Box::pin(fut), host.sleep(left)).await {
        Either::Left((v, _)) => Ok(v),
        Either::Right(_) => Err(()),
    }
}

fn request(cfg: &ProviderConfig, model_request: &ModelRequest) -> Result<HttpRequest, Failure> {
    let wire_request = to_wire(model_request, &cfg.model, cfg.stream);
    let (path, body) = match cfg.provider {
        Provider::OpenAi => ("/chat/completions", openai::request_body(&wire_request)),
        Provider::Anthropic => ("/messages", anthropic::request_body(&wire_request)),
    };
    let body = body.map_err(|e| malformed(cfg, e))?;
    let mut headers = headers(cfg);
    if cfg.stream {
        headers.push(("accept".into(), "text/event-stream".into()));
    }
    Ok(HttpRequest {
        url: format!("{}{path}", cfg.base_url.trim_end_matches('/')),
        headers,
        body: body.to_string(),
    })
}

/// Content type, the key in the provider's header, and the host's extra headers.
pub(super) fn headers(cfg: &ProviderConfig) -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    // An empty key is no key: nothing to send.
    match (
        cfg.provider,
        cfg.api_key.as_deref().filter(|k| !k.is_empty()),
    ) {
        (Provider::OpenAi, Some(k)) => {
            headers.push(("authorization".into(), format!("Bearer {k}")))
        }
        (Provider::Anthropic, Some(k)) => headers.push(("x-api-key".into(), k.to_owned())),
        (_, None) => {}
    }
    if cfg.provider == Provider::Anthropic {
        headers.push(("anthropic-version".into(), cfg.anthropic_version.clone()));
    }
    for (k, v) in &cfg.headers {
        headers.retain(|(h, _)| !h.eq_ignore_ascii_case(k));
        headers.push((k.clone(), v.clone()));
    }
    headers
}

/// One non-streamed request: the whole 2xx body as text, or the failure classified as a
/// model call's is (status, network, time limit).
/// The failure of a call that did not finish within the configured time limit.
fn timed_out(cfg: &ProviderConfig) -> Failure {
    fail(
        http_error(
            None,
            "timeout",
            format!("no complete answer within {} ms", cfg.timeout_ms),
        ),
        true,
    )
}

pub(super) async fn send_for_text(
    cfg: &ProviderConfig,
    host: &dyn HttpHost,
    request: HttpRequest,
    cancel: Option<std::rc::Rc<dyn crate::cancel::Cancellation>>,
    limit: usize,
) -> Result<String, Failure> {
    let deadline = host.now_ms() + cfg.timeout_ms as f64;
    let timed_out = || timed_out(cfg);
    let response = within(host, deadline, host.send(request, cancel))
        .await
        .map_err(|()| timed_out())?
        .map_err(|e| fail(http_error(None, "network", cfg.redact(&e.message)), true))?;
    if !(200..300).contains(&response.status) {
        return Err(status_failure(cfg, host, deadline, response).await);
    }
    within(host, deadline, response.text(limit))
        .await
        .map_err(|()| timed_out())?
        .map_err(|e| fail(http_error(None, "network", cfg.redact(&e.message)), true))
}

pub async fn run(
    cfg: &ProviderConfig,
    host: &dyn HttpHost,
    model_request: &ModelRequest,
    ctx: &CallContext,
) -> Result<RawModelResponse, Failure> {
    let deadline = host.now_ms() + cfg.timeout_ms as f64;
    let timed_out = || timed_out(cfg);
    let req = request(cfg, model_request)?;
    let output = model_request.output.as_ref().map(|o| o.name.as_str());
    let response = within(host, deadline, host.send(req, ctx.cancellation.clone()))
        .await
        .map_err(|()| timed_out())?
        .map_err(|e| fail(http_error(None, "network", cfg.redact(&e.message)), true))?;
    if !(200..300).contains(&response.status) {
        return Err(status_failure(cfg, host, deadline, response).await);
    }
    if !cfg.stream {
        let text = within(host, deadline, response.text(MAX_BODY_BYTES))
            .await
            .map_err(|()| timed_out())?
            .map_err(|e| fail(http_error(None, "network", cfg.redact(&e.message)), true))?;
        let parsed = match cfg.provider {
            Provider::OpenAi => openai::parse_response(&text),
            Provider::Anthropic => anthropic::parse_response(&text),
        };
        return parsed
            .map(|r| from_wire(r, output))
            .map_err(|e| malformed(cfg, e));
    }
    read_stream(cfg, host, deadline, response, ctx, output).await
}

async fn status_failure(
    cfg: &ProviderConfig,
    host: &dyn HttpHost,
    deadline: f64,
    response: HttpResponse,
) -> Failure {
    let status = response.status;
    let retry_after_ms = response
        .header("retry-after")
        .and_then(|v| retry::retry_after_ms(v, host.now_ms()));
    let body = match within(host, deadline, response.text(MAX_ERROR_BODY_BYTES)).await {
        Ok(Ok(t)) => t,
        _ => String::new(),
    };
    let (kind, message) = match cfg.provider {
        Provider::OpenAi => openai::provider_error(&body),
        Provider::Anthropic => anthropic::provider_error(&body),
    }
    .and_then(|e| match e {
        WireError::Provider { kind, message } => Some((kind, message)),
        _ => None,
    })
    .unwrap_or_else(|| {
        let snippet: String = body.chars().take(200).collect();
        (
            "http".to_owned(),
            if snippet.is_empty() {
                format!("HTTP {status}")
            } else {
                snippet
            },
        )
    });
    // A 429 for an exhausted quota will not clear by waiting.
    let retryable = retry::is_retryable_status(status) && kind != "insufficient_quota";
    Failure {
        error: http_error(Some(status), &kind, cfg.redact(&message)),
        retryable,
        retry_after_ms,
    }
}

enum Decoder {
    OpenAi(openai::StreamDecoder),
    Anthropic(anthropic::StreamDecoder),
}

impl Decoder {
    fn event(&mut self, ev: &wire::SseEvent) -> Result<Vec<StreamPart>, WireError> {
        match self {
            Decoder::OpenAi(d) => d.event(&ev.data),
            Decoder::Anthropic(d) => d.event(ev.event.as_deref(), &ev.data),
        }
    }
}

async fn read_stream(
    cfg: &ProviderConfig,
    host: &dyn HttpHost,
    deadline: f64,
    mut response: HttpResponse,
    ctx: &CallContext,
    output: Option<&str>,
) -> Result<RawModelResponse, Failure> {
    let mut sse = SseDecoder::new();
    let mut decoder = match cfg.provider {
        Provider::OpenAi => Decoder::OpenAi(openai::StreamDecoder::new()),
        Provider::Anthropic => Decoder::Anthropic(anthropic::StreamDecoder::new()),
    };
    let mut acc = Accumulator::new();
    // Once text has reached the host, the attempt cannot be retried without repeating it.
    let mut streamed = false;
    while !acc.done() {
        let chunk = match within(host, deadline, response.body.chunk()).await {
            Err(()) => {
                return Err(fail(
                    http_error(
                        None,
                        "timeout",
                        format!("the stream did not finish within {} ms", cfg.timeout_ms),
                    ),
                    !streamed,
                ))
            }
            Ok(Err(e)) => {
                return Err(fail(
                    http_error(None, "network", cfg.redact(&e.message)),
                    !streamed,
                ))
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(bytes))) => bytes,
        };
        for ev in sse.push(&chunk).map_err(|e| malformed(cfg, e))? {
            let parts = decoder.event(&ev).map_err(|e| match e {
                // A provider error mid-stream (Anthropic's `overloaded_error`) is retryable
                // as long as the user has seen nothing yet.
                WireError::Provider { kind, message } => {
                    let retryable =
                        !streamed && (kind.contains("overloaded") || kind.contains("rate_limit"));
                    fail(
                        http_error(Some(response.status), &kind, cfg.redact(&message)),
                        retryable,
                    )
                }
                other => malformed(cfg, other),
            })?;
            for part in parts {
                if let (StreamPart::TextDelta(t), Some(sink)) = (&part, &ctx.on_text) {
                    if !t.is_empty() {
                        streamed = true;
                        sink(t);
                    }
                }
                acc.push(part);
            }
        }
    }
    if !acc.done() && !acc.finished() {
        return Err(fail(
            http_error(
                Some(response.status),
                "incomplete_stream",
                "the response stream ended before the model finished".into(),
            ),
            !streamed,
        ));
    }
    Ok(from_wire(acc.into_response(), output))
}
