// Provider clients against a scripted in-memory host: retries, streaming, errors, time-outs.
// The same tests run natively and under wasm-bindgen-test.
use super::*;
use crate::cancel::Cancellation;
use crate::http::{Body, HttpRequest, HttpResponse, NetworkError};
use crate::message::Message;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

enum Reply {
    Http {
        status: u16,
        headers: Vec<(&'static str, String)>,
        chunks: Vec<Chunk>,
    },
    Unreachable,
}

#[derive(Clone)]
enum Chunk {
    Bytes(Vec<u8>),
    Broken,
    Hang,
}

struct ScriptBody(VecDeque<Chunk>);

impl Body for ScriptBody {
    fn chunk(&mut self) -> LocalBoxFuture<'_, std::result::Result<Option<Vec<u8>>, NetworkError>> {
        let next = self.0.pop_front();
        Box::pin(async move {
            match next {
                None => Ok(None),
                Some(Chunk::Bytes(b)) => Ok(Some(b)),
                Some(Chunk::Broken) => Err(NetworkError {
                    message: "connection reset".into(),
                }),
                Some(Chunk::Hang) => futures_util::future::pending().await,
            }
        })
    }
}

#[derive(Default)]
struct ScriptHost {
    replies: RefCell<VecDeque<Reply>>,
    sent: RefCell<Vec<HttpRequest>>,
    slept: RefCell<Vec<u64>>,
    now: Cell<f64>,
}

impl HttpHost for Rc<ScriptHost> {
    fn send(
        &self,
        request: HttpRequest,
        _cancel: Option<Rc<dyn Cancellation>>,
    ) -> LocalBoxFuture<'static, std::result::Result<HttpResponse, NetworkError>> {
        self.sent.borrow_mut().push(request);
        let reply = self.replies.borrow_mut().pop_front();
        Box::pin(async move {
            match reply {
                Some(Reply::Http {
                    status,
                    headers,
                    chunks,
                }) => Ok(HttpResponse {
                    status,
                    headers: headers
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                    body: Box::new(ScriptBody(chunks.into())),
                }),
                Some(Reply::Unreachable) | None => Err(NetworkError {
                    message: "connection refused".into(),
                }),
            }
        })
    }
    /// Time passes only for a sleep that is actually waited on (a deadline timer that
    /// loses its race is never polled).
    fn sleep(&self, ms: u64) -> LocalBoxFuture<'static, ()> {
        let host = self.clone();
        Box::pin(async move {
            host.slept.borrow_mut().push(ms);
            host.now.set(host.now.get() + ms as f64);
        })
    }
    fn random(&self) -> f64 {
        0.5
    }
}

impl crate::clock::Clock for Rc<ScriptHost> {
    fn now_ms(&self) -> f64 {
        self.now.get()
    }
}

fn ok_stream(body: &str, piece: usize) -> Reply {
    Reply::Http {
        status: 200,
        headers: vec![("content-type", "text/event-stream".into())],
        chunks: body
            .as_bytes()
            .chunks(piece)
            .map(|c| Chunk::Bytes(c.to_vec()))
            .collect(),
    }
}

fn status(code: u16, body: &str, headers: Vec<(&'static str, String)>) -> Reply {
    Reply::Http {
        status: code,
        headers,
        chunks: vec![Chunk::Bytes(body.as_bytes().to_vec())],
    }
}

const OPENAI_STREAM: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hel\"}}]}\r\n\r\n: keep-alive\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo!\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n";

const ANTHROPIC_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Bonjour\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":4}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

fn model(provider: Provider, replies: Vec<Reply>) -> (Rc<ProviderModel>, Rc<ScriptHost>) {
    let host = Rc::new(ScriptHost::default());
    *host.replies.borrow_mut() = replies.into();
    let mut cfg = ProviderConfig::new(provider, "test-model");
    cfg.api_key = Some("sk-secret-key-123".into());
    cfg.base_url = "http://127.0.0.1:9/v1/".into();
    cfg.timeout_ms = 1000;
    let m = ProviderModel::new(cfg, Rc::new(host.clone())).unwrap();
    (Rc::new(m), host)
}

fn request() -> ModelRequest {
    ModelRequest {
        prompt: vec![Message::system("be brief"), Message::user("hi")].into(),
        tools: vec![],
        max_output_tokens: 64,
        user_id: Some("alice".into()),
        org_id: None,
        session_id: "s".into(),
        run_id: "run_x".into(),
        output: None,
    }
}

fn call(m: &Rc<ProviderModel>) -> (crate::Result<RawModelResponse>, String) {
    let seen = Rc::new(RefCell::new(String::new()));
    let sink = seen.clone();
    let ctx = CallContext {
        cancellation: None,
        on_text: Some(Rc::new(move |t: &str| sink.borrow_mut().push_str(t))),
        streaming: true,
    };
    let r = futures_executor::block_on(m.complete(&request(), &ctx));
    let text = seen.borrow().clone();
    (r, text)
}

#[test]
fn openai_streams_deltas_usage_and_sends_the_documented_request() {
    for piece in [1, 3, 7, 1000] {
        let (m, host) = model(Provider::OpenAi, vec![ok_stream(OPENAI_STREAM, piece)]);
        let (r, streamed) = call(&m);
        let r = r.unwrap();
        assert_eq!(r.text.as_deref(), Some("Hello!"));
        assert_eq!(streamed, "Hello!", "deltas reach the host as they arrive");
        let u = r.usage.unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (Some(12.0), Some(3.0)));
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        let sent = &host.sent.borrow()[0];
        assert_eq!(sent.url, "http://127.0.0.1:9/v1/chat/completions");
        assert!(sent
            .headers
            .contains(&("authorization".into(), "Bearer sk-secret-key-123".into())));
        let body: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
        assert_eq!(body["stream"], true);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert_eq!(body["messages"][1]["content"], "hi");
    }
}

#[test]
fn anthropic_streams_with_cumulative_output_tokens() {
    let (m, host) = model(Provider::Anthropic, vec![ok_stream(ANTHROPIC_STREAM, 5)]);
    let (r, streamed) = call(&m);
    let r = r.unwrap();
    assert_eq!(
        (r.text.as_deref(), streamed.as_str()),
        (Some("Bonjour"), "Bonjour")
    );
    let u = r.usage.unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (Some(9.0), Some(4.0)));
    let sent = &host.sent.borrow()[0];
    assert!(sent.url.ends_with("/v1/messages"));
    assert!(sent
        .headers
        .iter()
        .any(|(k, v)| k == "x-api-key" && v == "sk-secret-key-123"));
    assert!(sent.headers.iter().any(|(k, _)| k == "anthropic-version"));
    let body: serde_json::Value = serde_json::from_str(&sent.body).unwrap();
    assert_eq!(body["system"], "be brief");
}

#[test]
fn a_429_with_retry_after_is_retried_after_that_long() {
    let (m, host) = model(
        Provider::OpenAi,
        vec![
            status(
                429,
                r#"{"error":{"message":"slow down","type":"rate_limit_exceeded"}}"#,
                vec![("retry-after", "2".into())],
            ),
            ok_stream(OPENAI_STREAM, 64),
        ],
    );
    let (r, _) = call(&m);
    assert_eq!(r.unwrap().text.as_deref(), Some("Hello!"));
    assert_eq!(*host.slept.borrow(), vec![2000]);
    assert_eq!(host.sent.borrow().len(), 2);
}

#[test]
fn a_500_forever_gives_up_after_the_retries_with_backoff() {
    let replies = (0..5)
        .map(|_| status(500, "upstream exploded", vec![]))
        .collect();
    let (m, host) = model(Provider::OpenAi, replies);
    let e = call(&m).0.unwrap_err();
    assert_eq!(e.code(), "model_http");
    let d = e.details();
    assert_eq!(
        (d["status"].as_u64(), d["attempts"].as_u64()),
        (Some(500), Some(3))
    );
    assert_eq!(d["message"], "upstream exploded");
    assert_eq!(host.sent.borrow().len(), 3);
    // Exponential backoff with full jitter (random() is 0.5 here): 250 ms, then 500 ms.
    assert_eq!(*host.slept.borrow(), vec![250, 500]);
}

#[test]
fn auth_errors_are_not_retried_and_never_carry_the_key() {
    let body = r#"{"error":{"message":"Incorrect API key provided: sk-secret-key-123","type":"invalid_request_error"}}"#;
    let (m, host) = model(Provider::OpenAi, vec![status(401, body, vec![])]);
    let e = call(&m).0.unwrap_err();
    assert_eq!(e.details()["status"], 401);
    let shown = format!("{e} {}", e.details());
    assert!(!shown.contains("sk-secret-key-123"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert_eq!(host.sent.borrow().len(), 1);
}

#[test]
fn an_exhausted_quota_is_not_retried() {
    let body = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
    let (m, host) = model(
        Provider::OpenAi,
        vec![status(429, body, vec![]), ok_stream(OPENAI_STREAM, 9)],
    );
    assert_eq!(
        call(&m).0.unwrap_err().details()["kind"],
        "insufficient_quota"
    );
    assert_eq!(host.sent.borrow().len(), 1);
}

#[test]
fn a_stream_that_dies_after_text_fails_without_a_retry() {
    let cut = &OPENAI_STREAM[..OPENAI_STREAM.find("lo!").unwrap() + 10];
    let mut died = ok_stream(cut, 10);
    if let Reply::Http { chunks, .. } = &mut died {
        chunks.push(Chunk::Broken);
    }
    let (m, host) = model(Provider::OpenAi, vec![died, ok_stream(OPENAI_STREAM, 9)]);
    let (r, streamed) = call(&m);
    let e = r.unwrap_err();
    assert_eq!(
        (e.code(), e.details()["kind"].as_str()),
        ("model_http", Some("network"))
    );
    assert_eq!(streamed, "Hello!");
    assert_eq!(host.sent.borrow().len(), 1, "text already shown: no retry");
}

#[test]
fn a_stream_that_ends_early_before_any_text_is_retried() {
    let (m, host) = model(
        Provider::OpenAi,
        vec![
            ok_stream(
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}\n\n",
                4,
            ),
            ok_stream(OPENAI_STREAM, 9),
        ],
    );
    assert_eq!(call(&m).0.unwrap().text.as_deref(), Some("Hello!"));
    assert_eq!(host.sent.borrow().len(), 2);
}

#[test]
fn malformed_json_is_model_malformed_and_unreachable_is_model_http() {
    let (m, _) = model(Provider::OpenAi, vec![ok_stream("data: {not json}\n\n", 3)]);
    assert_eq!(call(&m).0.unwrap_err().code(), "model_malformed");
    let (m, host) = model(
        Provider::OpenAi,
        vec![Reply::Unreachable, Reply::Unreachable, Reply::Unreachable],
    );
    let e = call(&m).0.unwrap_err();
    assert_eq!(
        (e.code(), e.details()["kind"].as_str()),
        ("model_http", Some("network"))
    );
    assert!(e.details()["status"].is_null());
    assert_eq!(host.sent.borrow().len(), 3);
}

#[test]
fn a_hung_stream_times_out() {
    let mut hung = ok_stream(&OPENAI_STREAM[..40], 40);
    if let Reply::Http { chunks, .. } = &mut hung {
        chunks.push(Chunk::Hang);
    }
    let (m, _) = model(
        Provider::OpenAi,
        vec![hung, status(500, "x", vec![]), status(500, "x", vec![])],
    );
    let e = call(&m).0.unwrap_err();
    assert_eq!(e.code(), "model_http");
}

#[test]
fn a_mid_stream_provider_error_is_model_http() {
    let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let (m, host) = model(Provider::Anthropic, vec![ok_stream(body, 7)]);
    let e = call(&m).0.unwrap_err();
    assert_eq!(
        (e.code(), e.details()["kind"].as_str()),
        ("model_http", Some("overloaded_error"))
    );
    assert_eq!(host.sent.borrow().len(), 1);
}

#[test]
fn config_is_validated() {
    let mut c = ProviderConfig::new(Provider::OpenAi, "");
    assert_eq!(c.validate().unwrap_err().details()["field"], "model");
    c.model = "m".into();
    c.base_url = "ftp://x".into();
    assert_eq!(c.validate().unwrap_err().details()["field"], "baseUrl");
}
