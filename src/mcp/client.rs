//! One JSON-RPC exchange with an MCP server over the Streamable HTTP transport: a POST
//! whose answer is either a JSON body or an SSE stream carrying our response among other
//! messages (notifications, requests of the server's own, which this client does not
//! serve). Nothing here knows users: the caller passes the headers of the user it acts for.

use crate::cancel::Cancellation;
use crate::http::{HttpHost, HttpRequest, HttpResponse};
use crate::limits::MAX_MCP_BODY_BYTES;
use crate::wire::sse::SseDecoder;
use serde_json::{json, Value};
use std::rc::Rc;

pub const SESSION_HEADER: &str = "mcp-session-id";
pub const PROTOCOL_HEADER: &str = "mcp-protocol-version";
/// The protocol version this client asks for in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-06-18";
/// Versions a server may answer with: their requests and results are the same for what
/// this client uses (initialize, tools/list, tools/call).
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Most bytes of a server's error body quoted in a tool error.
const QUOTED_BYTES: usize = 200;

/// Why an exchange failed.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// A 404 to a request carrying a session id: the server ended the session.
    Expired,
    Failed(String),
}

impl Failure {
    pub fn message(self) -> String {
        match self {
            Failure::Expired => "the server ended the session".into(),
            Failure::Failed(m) => m,
        }
    }
}

/// Where a request goes and with what: the user's headers and the session, if any.
pub struct Target<'a> {
    pub http: &'a Rc<dyn HttpHost>,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub session: Option<&'a str>,
    pub protocol: Option<&'a str>,
    pub cancel: Option<Rc<dyn Cancellation>>,
}

impl Target<'_> {
    fn request(&self, body: Value) -> HttpRequest {
        let mut headers = self.headers.to_vec();
        headers.push(("content-type".into(), "application/json".into()));
        headers.push((
            "accept".into(),
            "application/json, text/event-stream".into(),
        ));
        if let Some(s) = self.session {
            headers.push((SESSION_HEADER.into(), s.into()));
        }
        if let Some(p) = self.protocol {
            headers.push((PROTOCOL_HEADER.into(), p.into()));
        }
        HttpRequest {
            url: self.url.to_owned(),
            headers,
            body: body.to_string(),
        }
    }

    async fn send(&self, body: Value) -> Result<HttpResponse, Failure> {
        let response = self
            .http
            .send(self.request(body), self.cancel.clone())
            .await
            .map_err(|e| {
                Failure::Failed(format!("the server could not be reached: {}", e.message))
            })?;
        if response.status == 404 && self.session.is_some() {
            return Err(Failure::Expired);
        }
        if !(200..300).contains(&response.status) {
            let status = response.status;
            let body = response.text(64 * 1024).await.unwrap_or_default();
            let quoted: String = body.chars().take(QUOTED_BYTES).collect();
            let what = match status {
                401 | 403 => "the server refused this user's credentials",
                _ => "the server answered with an error",
            };
            return Err(Failure::Failed(format!(
                "{what} (HTTP {status}): {}",
                quoted.trim()
            )));
        }
        Ok(response)
    }

    /// A request and its response's `result`, with the session id the server gave (on
    /// `initialize`).
    pub async fn call(
        &self,
        id: u64,
        method: &str,
        params: Value,
    ) -> Result<(Value, Option<String>), Failure> {
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = self.send(body).await?;
        let session = response.header(SESSION_HEADER).map(str::to_owned);
        let sse = response.header("content-type").is_some_and(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
        let message = match sse {
            true => from_stream(response, id).await?,
            false => {
                let text = response
                    .text(MAX_MCP_BODY_BYTES)
                    .await
                    .map_err(|e| Failure::Failed(format!("the answer broke off: {}", e.message)))?;
                let value: Value = serde_json::from_str(&text).map_err(|_| {
                    Failure::Failed("the server's answer is not JSON-RPC (not JSON)".into())
                })?;
                find_response(value, id).ok_or_else(|| {
                    Failure::Failed("the server's answer holds no response to the request".into())
                })?
            }
        };
        Ok((outcome(message)?, session))
    }

    /// A notification: no response is expected, only a 2xx (202 Accepted).
    pub async fn notify(&self, method: &str) -> Result<(), Failure> {
        self.send(json!({ "jsonrpc": "2.0", "method": method }))
            .await
            .map(drop)
    }
}

/// Reads SSE events until the response to `id`; other messages are skipped.
async fn from_stream(mut response: HttpResponse, id: u64) -> Result<Value, Failure> {
    let mut decoder = SseDecoder::with_limit(MAX_MCP_BODY_BYTES);
    let mut read = 0usize;
    loop {
        let chunk = response
            .body
            .chunk()
            .await
            .map_err(|e| Failure::Failed(format!("the answer broke off: {}", e.message)))?;
        let Some(chunk) = chunk else {
            return Err(Failure::Failed(
                "the server's stream ended without a response to the request".into(),
            ));
        };
        read += chunk.len();
        if read > MAX_MCP_BODY_BYTES {
            return Err(Failure::Failed(format!(
                "the server's stream is over {MAX_MCP_BODY_BYTES} bytes"
            )));
        }
        let events = decoder
            .push(&chunk)
            .map_err(|e| Failure::Failed(format!("the server's stream is not SSE: {e}")))?;
        for e in events {
            if e.event.as_deref().is_some_and(|t| t != "message") || e.data.is_empty() {
                continue;
            }
            // A message that is not JSON is the server's fault only if it was ours: skip it.
            if let Ok(v) = serde_json::from_str::<Value>(&e.data) {
                if let Some(m) = find_response(v, id) {
                    return Ok(m);
                }
            }
        }
    }
}

/// The response to `id` in a message or a batch of them.
fn find_response(v: Value, id: u64) -> Option<Value> {
    let ours = |m: &Value| {
        m.get("id").and_then(Value::as_u64) == Some(id)
            && (m.get("result").is_some() || m.get("error").is_some())
    };
    match v {
        Value::Array(items) => items.into_iter().find(ours),
        m if ours(&m) => Some(m),
        _ => None,
    }
}

fn outcome(mut message: Value) -> Result<Value, Failure> {
    if let Some(e) = message.get("error") {
        let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
        let text: String = e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .chars()
            .take(QUOTED_BYTES)
            .collect();
        return Err(Failure::Failed(format!(
            "the server answered error {code}: {text}"
        )));
    }
    match message.get_mut("result").map(Value::take) {
        Some(r @ Value::Object(_)) => Ok(r),
        _ => Err(Failure::Failed(
            "the server's result is not an object".into(),
        )),
    }
}
