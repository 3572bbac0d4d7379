//! Tools of MCP servers, called with each user's own credentials. A run lists every
//! configured server's tools for its user (a cached list while it is fresh), offers them
//! to the model as `${server}_${tool}`, and sends the model's calls as `tools/call` with
//! the headers the host's `headers(userId, { server, orgId })` gives for that user. Lists and
//! sessions are kept per (user, server) (`catalog`), so one user's credentials never
//! list or call anything for another user.
//!
//! A server that fails to list for a user leaves the run without its tools (the run goes
//! on, and the failure is reported by the agent); a failed call is a tool error the model
//! sees. The rules of who may call what (`permissions`, `policy`, `approve`) are the tool
//! set's, applied by full name.

mod answer;
mod catalog;
mod client;
mod config;

pub use catalog::{McpTool, ServerTools};
/// The response header the fetch host must pass on.
#[cfg(target_arch = "wasm32")]
pub use client::SESSION_HEADER;
pub use config::{McpHeaders, McpServerConfig};

use crate::cancel::Cancellation;
use crate::clock::Clock;
use crate::error::Result;
use crate::http::HttpHost;
use crate::ids::UserKey;
use crate::limits::{
    DEFAULT_MCP_CACHE_ENTRIES, MAX_MCP_HEADERS, MAX_MCP_HEADER_BYTES, MAX_MCP_LIST_PAGES,
};
use catalog::{Catalog, Session};
use client::{Failure, Target, PROTOCOL_VERSION, PROTOCOL_VERSIONS};
use futures_util::future::{self, join_all, Either};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::rc::Rc;

/// Longest session id kept: ids are opaque tokens, not documents.
const MAX_SESSION_ID_BYTES: usize = 1024;
/// Headers the client sets itself: a user's headers may not replace them.
const RESERVED_HEADERS: [&str; 6] = [
    "content-type",
    "accept",
    "content-length",
    "host",
    client::SESSION_HEADER,
    client::PROTOCOL_HEADER,
];

pub struct Mcp {
    servers: Vec<McpServerConfig>,
    http: Rc<dyn HttpHost>,
    clock: Option<Rc<dyn Clock>>,
    catalog: RefCell<Catalog>,
    next_id: Cell<u64>,
}

/// How one server's listing went for one run, for the agent to report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub server: String,
    /// Tools offered from this server.
    pub tools: usize,
    /// Why the server offered nothing, when its listing failed.
    pub error: Option<String>,
    /// Tools left out, with the reason.
    pub skipped: Vec<(String, String)>,
    pub truncated: bool,
    /// Whether the list was asked of the server in this run (not from the cache).
    pub fresh: bool,
}

impl Mcp {
    /// The servers, checked, reached through `http`; time is `http`'s clock unless
    /// `with_clock` gives another.
    pub fn new(servers: Vec<McpServerConfig>, http: Rc<dyn HttpHost>) -> Result<Mcp> {
        config::validate(&servers)?;
        Ok(Mcp {
            servers,
            http,
            clock: None,
            catalog: RefCell::new(Catalog::new(DEFAULT_MCP_CACHE_ENTRIES)),
            next_id: Cell::new(0),
        })
    }

    /// The clock tool lists expire by (the agent's, so a host's test clock governs both).
    pub fn with_clock(mut self, clock: Rc<dyn Clock>) -> Mcp {
        self.clock = Some(clock);
        self
    }

    /// Bounds the (user, server) entries kept (at least 1).
    pub fn with_max_cache_entries(self, n: usize) -> Mcp {
        *self.catalog.borrow_mut() = Catalog::new(n);
        self
    }

    pub fn servers(&self) -> &[McpServerConfig] {
        &self.servers
    }

    /// The prefixes of every server's tool names.
    pub fn prefixes(&self) -> Vec<String> {
        self.servers.iter().map(McpServerConfig::prefix).collect()
    }

    /// (user, server) entries kept now.
    pub fn cached_entries(&self) -> usize {
        self.catalog.borrow().len()
    }

    fn now(&self) -> f64 {
        match &self.clock {
            Some(c) => c.now_ms(),
            None => self.http.now_ms(),
        }
    }

    fn id(&self) -> u64 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        id
    }

    /// Every server's tools for `user`, minus those whose full name is `taken` (the host's
    /// and memory tools) or already given by an earlier server, with a report per server.
    /// `wanted` says which servers this user's run may use at all (by name): the others
    /// are neither listed nor asked for headers.
    pub async fn list(
        &self,
        user: &UserKey,
        taken: &BTreeSet<&str>,
        wanted: &dyn Fn(&str) -> bool,
        cancel: Option<Rc<dyn Cancellation>>,
    ) -> (Vec<McpTool>, Vec<Report>) {
        let servers: Vec<usize> = (0..self.servers.len())
            .filter(|&i| wanted(&self.servers[i].name))
            .collect();
        let listed = join_all(
            servers
                .iter()
                .map(|&i| self.list_server(user, i, cancel.clone())),
        )
        .await;
        let mut names: BTreeSet<String> = taken.iter().map(|s| (*s).to_owned()).collect();
        let mut tools = Vec::new();
        let mut reports = Vec::new();
        for (&i, (listed, fresh)) in servers.iter().zip(listed) {
            let mut report = Report {
                server: self.servers[i].name.clone(),
                tools: 0,
                error: None,
                skipped: Vec::new(),
                truncated: false,
                fresh,
            };
            match listed {
                Err(e) => report.error = Some(e),
                Ok(list) => {
                    report.skipped = list.skipped.clone();
                    report.truncated = list.truncated;
                    for t in &list.tools {
                        if names.insert(t.spec.name.clone()) {
                            tools.push(t.clone());
                            report.tools += 1;
                        } else {
                            report.skipped.push((
                                t.name.clone(),
                                format!("`{}` is already another tool's name", t.spec.name),
                            ));
                        }
                    }
                }
            }
            reports.push(report);
        }
        (tools, reports)
    }

    /// One server's list for `user`, and whether it was asked of the server just now.
    async fn list_server(
        &self,
        user: &UserKey,
        i: usize,
        cancel: Option<Rc<dyn Cancellation>>,
    ) -> (std::result::Result<Rc<ServerTools>, String>, bool) {
        let now = self.now();
        if let Some(t) = self.catalog.borrow_mut().tools(user, i, now) {
            return (Ok(t), false);
        }
        let generation = self.catalog.borrow().generation();
        let prefix = self.servers[i].prefix();
        let listing = async {
            let headers = self.headers(user, i).await?;
            let mut into = ServerTools::default();
            let mut cursor: Option<String> = None;
            for page in 0..MAX_MCP_LIST_PAGES {
                let params = match &cursor {
                    Some(c) => json!({ "cursor": c }),
                    None => json!({}),
                };
                let result = self
                    .request(user, i, &headers, "tools/list", params, &cancel, generation)
                    .await?;
                cursor = answer::read_page(&result, i, &prefix, &mut into)?;
                if cursor.is_none() {
                    break;
                }
                if page + 1 == MAX_MCP_LIST_PAGES {
                    into.truncated = true;
                }
            }
            Ok(into)
        };
        let listed = self.timed(i, listing).await.map(Rc::new);
        if let Ok(list) = &listed {
            let ttl = self.servers[i].cache_ttl_ms;
            if ttl > 0.0 {
                self.catalog
                    .borrow_mut()
                    .put_tools(user, i, list.clone(), now + ttl, generation);
            }
        }
        (listed, true)
    }

    /// Calls `tool` for `user` with arguments already admitted by the tool set.
    pub async fn call(
        &self,
        user: &UserKey,
        tool: &McpTool,
        args: Value,
        cancel: Option<Rc<dyn Cancellation>>,
    ) -> std::result::Result<Value, String> {
        if !args.is_object() {
            return Err("the arguments must be a JSON object".into());
        }
        let i = tool.server;
        let generation = self.catalog.borrow().generation();
        let calling = async {
            let headers = self.headers(user, i).await?;
            let params = json!({ "name": tool.name, "arguments": args });
            let result = self
                .request(user, i, &headers, "tools/call", params, &cancel, generation)
                .await?;
            answer::read_result(&result)
        };
        self.timed(i, calling).await
    }

    /// `forget(userId)`: the user's lists and sessions go.
    pub fn forget(&self, user: &UserKey) {
        self.catalog.borrow_mut().forget(user);
    }

    pub fn clear_all(&self) {
        self.catalog.borrow_mut().clear_all();
    }

    async fn timed<T>(
        &self,
        i: usize,
        work: impl Future<Output = std::result::Result<T, String>>,
    ) -> std::result::Result<T, String> {
        let ms = self.servers[i].timeout_ms;
        match future::select(Box::pin(work), self.http.sleep(ms)).await {
            Either::Left((r, _)) => r,
            Either::Right(_) => Err(format!("no answer from the server within {ms} ms")),
        }
    }

    /// The user's headers for server `i`, checked: the host's function is asked each
    /// time, for this user only.
    async fn headers(
        &self,
        user: &UserKey,
        i: usize,
    ) -> std::result::Result<Vec<(String, String)>, String> {
        let server = &self.servers[i];
        let Some(f) = &server.headers else {
            return Ok(Vec::new());
        };
        let headers = f
            .headers(user.as_option(), user.org(), &server.name)
            .await
            .map_err(|e| format!("the headers function failed: {}", quote(&e, 200)))?;
        check_headers(&headers)?;
        Ok(headers)
    }

    /// A request in the user's session with server `i` (opened first if there is none),
    /// opened once more if the server says it ended.
    #[allow(clippy::too_many_arguments)]
    async fn request(
        &self,
        user: &UserKey,
        i: usize,
        headers: &[(String, String)],
        method: &str,
        params: Value,
        cancel: &Option<Rc<dyn Cancellation>>,
        generation: u64,
    ) -> std::result::Result<Value, String> {
        for attempt in 0..2 {
            let known = self.catalog.borrow_mut().session(user, i);
            let session = match known {
                Some(s) => s,
                None => {
                    self.initialize(user, i, headers, cancel, generation)
                        .await?
                }
            };
            let target = Target {
                http: &self.http,
                url: &self.servers[i].url,
                headers,
                session: session.id.as_deref(),
                protocol: Some(&session.protocol),
                cancel: cancel.clone(),
            };
            match target.call(self.id(), method, params.clone()).await {
                Ok((result, _)) => return Ok(result),
                Err(Failure::Expired) if attempt == 0 => {
                    self.catalog
                        .borrow_mut()
                        .end_session(user, i, session.id.as_deref());
                }
                Err(f) => return Err(scrub(f.message(), headers)),
            }
        }
        Err(Failure::Expired.message())
    }

    /// `initialize`, then `notifications/initialized`: the session the server opens for
    /// this user (kept unless a forget came meanwhile).
    async fn initialize(
        &self,
        user: &UserKey,
        i: usize,
        headers: &[(String, String)],
        cancel: &Option<Rc<dyn Cancellation>>,
        generation: u64,
    ) -> std::result::Result<Session, String> {
        let mut target = Target {
            http: &self.http,
            url: &self.servers[i].url,
            headers,
            session: None,
            protocol: None,
            cancel: cancel.clone(),
        };
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "tenantry", "version": env!("CARGO_PKG_VERSION") },
        });
        let (result, id) = target
            .call(self.id(), "initialize", params)
            .await
            .map_err(|f| scrub(format!("initialize: {}", f.message()), headers))?;
        let protocol = match result.get("protocolVersion").and_then(Value::as_str) {
            Some(v) if PROTOCOL_VERSIONS.contains(&v) => v.to_owned(),
            Some(v) => {
                return Err(format!(
                    "the server speaks MCP version {}, which this client does not",
                    quote(v, 40)
                ))
            }
            None => return Err("initialize: the server named no protocolVersion".into()),
        };
        if let Some(id) = &id {
            let visible = id.bytes().all(|b| (0x21..=0x7e).contains(&b));
            if id.is_empty() || id.len() > MAX_SESSION_ID_BYTES || !visible {
                return Err(
                    "initialize: the server's session id is not a visible ASCII token".into(),
                );
            }
        }
        target.session = id.as_deref();
        target.protocol = Some(&protocol);
        target
            .notify("notifications/initialized")
            .await
            .map_err(|f| {
                scrub(
                    format!("notifications/initialized: {}", f.message()),
                    headers,
                )
            })?;
        let session = Session { id, protocol };
        self.catalog
            .borrow_mut()
            .put_session(user, i, session.clone(), generation);
        Ok(session)
    }
}

/// Header names are HTTP tokens, values hold no line breaks, the client's own headers are
/// not replaced, and the whole is bounded. A refusal names the header, never its value.
fn check_headers(headers: &[(String, String)]) -> std::result::Result<(), String> {
    if headers.len() > MAX_MCP_HEADERS {
        return Err(format!(
            "the headers function returned {} headers; the limit is {MAX_MCP_HEADERS}",
            headers.len()
        ));
    }
    let size: usize = headers.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_MCP_HEADER_BYTES {
        return Err(format!(
            "the headers are {size} bytes; the limit is {MAX_MCP_HEADER_BYTES}"
        ));
    }
    for (name, value) in headers {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(format!("the header name {} is not valid", quote(name, 40)));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(format!("the header `{name}` is set by the client itself"));
        }
        // What fetch sends: Latin-1 text without control characters (tab aside).
        if value
            .chars()
            .any(|c| (c.is_control() && c != '\t') || c > '\u{ff}')
        {
            return Err(format!(
                "the value of header `{name}` holds a control character or one beyond Latin-1"
            ));
        }
    }
    Ok(())
}

/// A failure quotes the server's words, and a server may echo the request: the user's
/// header values are taken out before the message reaches the model or the audit log.
fn scrub(mut message: String, headers: &[(String, String)]) -> String {
    for (_, value) in headers {
        if value.len() >= 4 && message.contains(value.as_str()) {
            message = message.replace(value.as_str(), "[redacted]");
        }
        // A bearer token echoed without its scheme.
        if let Some((_, secret)) = value.split_once(' ') {
            if secret.len() >= 4 && message.contains(secret) {
                message = message.replace(secret, "[redacted]");
            }
        }
    }
    message
}

fn quote(s: &str, max: usize) -> String {
    format!("{:?}", s.chars().take(max).collect::<String>())
}
