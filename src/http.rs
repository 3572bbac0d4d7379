//! What the provider clients need from the host: one HTTP exchange with a streamed body,
//! a timer and a random number. The wasm layer implements it over `fetch` and `setTimeout`
//! (so it runs in Node, browsers and workerd alike); tests implement it in memory.

use crate::cancel::Cancellation;
use crate::clock::Clock;
use futures_util::future::LocalBoxFuture;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq)]
pub struct HttpRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A transport failure: no HTTP status arrived, or the body broke off.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkError {
    pub message: String,
}

pub trait Body {
    /// The next chunk of the body; `Ok(None)` at its end.
    fn chunk(&mut self) -> LocalBoxFuture<'_, Result<Option<Vec<u8>>, NetworkError>>;
}

pub struct HttpResponse {
    pub status: u16,
    /// Header values by lowercase name (only those the clients read are needed).
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Body>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole body as text, bounded so a misbehaving server cannot exhaust memory.
    pub async fn text(mut self, limit: usize) -> Result<String, NetworkError> {
        let mut bytes = Vec::new();
        while let Some(chunk) = self.body.chunk().await? {
            if bytes.len() + chunk.len() > limit {
                return Err(NetworkError {
                    message: format!("the response body is over {limit} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// Time comes from the same `Clock` as the agent's (deadlines, `Retry-After`).
pub trait HttpHost: Clock {
    /// Sends one request. `cancel` is the run's cancellation, for hosts that can pass it on
    /// (an AbortSignal to fetch) so an aborted run stops its request too.
    fn send(
        &self,
        request: HttpRequest,
        cancel: Option<Rc<dyn Cancellation>>,
    ) -> LocalBoxFuture<'static, Result<HttpResponse, NetworkError>>;
    fn sleep(&self, ms: u64) -> LocalBoxFuture<'static, ()>;
    /// Uniform in [0, 1), for retry jitter.
    fn random(&self) -> f64;
}
