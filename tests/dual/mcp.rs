//! MCP tools through the Rust API, against an in-memory MCP server behind an `HttpHost`:
//! JSON and SSE answers, sessions and their expiry, pagination, every failure as a tool
//! error, the per-(user, server) cache, and above all whose credentials go where. Run
//! natively and on wasm.

use crate::dual_support::{user, yield_n};
use crate::dual_test;
use futures_util::future::{join_all, LocalBoxFuture};
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, Body, CallContext, Cancellation, Clock, EventPart, HttpHost, HttpRequest,
    HttpResponse, ManualClock, Mcp, McpHeaders, McpServerConfig, Model, ModelRequest, NetworkError,
    Observer, Permissions, RawModelResponse, Role, RunEvent, RunOptions, Telemetry, ToolSet,
    ToolSpec,
};

// ---- the server -------------------------------------------------------------------------

/// What the server does with the next `tools/call` instead of answering it.
#[derive(Clone)]
enum Fault {
    Status(u16, &'static str),
    RpcError,
    Garbage,
    Hang,
    Huge,
    NoAnswerInStream,
    /// A 404 whatever the session: a server that keeps ending it.
    Expired,
    /// A 500 whose body repeats the request's Authorization.
    EchoAuth,
}

#[derive(Default)]
struct Server {
    sse: Cell<bool>,
    stateful: Cell<bool>,
    /// Session id -> the Authorization header it was opened with.
    sessions: RefCell<HashMap<String, String>>,
    next_session: Cell<u32>,
    requests: RefCell<Vec<(HttpRequest, Value)>>,
    tools: RefCell<Vec<Value>>,
    page_size: Cell<usize>,
    /// Every page says there is another.
    endless: Cell<bool>,
    faults: RefCell<VecDeque<Fault>>,
    /// `tools/list` fails with HTTP 500 for this Authorization.
    list_fails_for: RefCell<Option<String>>,
    /// Timers fire at once (a hanging answer then times out); otherwise they never do.
    timers_fire: Cell<bool>,
    yields: Cell<usize>,
}

fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

enum Chunk {
    Bytes(Vec<u8>),
    Hang,
}

struct Chunks(VecDeque<Chunk>);

impl Body for Chunks {
    fn chunk(&mut self) -> LocalBoxFuture<'_, Result<Option<Vec<u8>>, NetworkError>> {
        let next = self.0.pop_front();
        Box::pin(async move {
            match next {
                None => Ok(None),
                Some(Chunk::Bytes(b)) => Ok(Some(b)),
                Some(Chunk::Hang) => futures_util::future::pending().await,
            }
        })
    }
}

fn reply(status: u16, headers: Vec<(&str, String)>, chunks: Vec<Chunk>) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        body: Box::new(Chunks(chunks.into())),
    }
}

impl Server {
    fn new(sse: bool, stateful: bool) -> Rc<Server> {
        let s = Server::default();
        s.sse.set(sse);
        s.stateful.set(stateful);
        s.page_size.set(100);
        *s.tools.borrow_mut() = vec![
            json!({ "name": "whoami", "description": "The caller's credentials", "inputSchema": { "type": "object" } }),
            json!({ "name": "echo", "description": "Echoes", "inputSchema": {
                "type": "object", "properties": { "text": { "type": "string" } }, "required": ["text"] } }),
            json!({ "name": "structured", "inputSchema": { "type": "object" } }),
            json!({ "name": "flaky", "inputSchema": { "type": "object" } }),
        ];
        Rc::new(s)
    }

    fn methods(&self) -> Vec<String> {
        self.requests
            .borrow()
            .iter()
            .map(|(_, b)| b["method"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn count(&self, method: &str) -> usize {
        self.methods().iter().filter(|m| *m == method).count()
    }

    fn answer(&self, id: &Value, result: Value, extra: Vec<(&str, String)>) -> HttpResponse {
        let message = json!({ "jsonrpc": "2.0", "id": id, "result": result });
        self.send(message, extra)
    }

    fn send(&self, message: Value, mut extra: Vec<(&str, String)>) -> HttpResponse {
        if !self.sse.get() {
            extra.push(("content-type", "application/json".into()));
            return reply(
                200,
                extra,
                vec![Chunk::Bytes(message.to_string().into_bytes())],
            );
        }
        // A notification first, then the answer, cut into small pieces.
        let text = format!(
            "event: message\ndata: {}\n\n: keep-alive\n\ndata: {}\n\n",
            json!({ "jsonrpc": "2.0", "method": "notifications/progress", "params": { "progress": 1 } }),
            message
        );
        extra.push(("content-type", "text/event-stream".into()));
        let chunks = text
            .as_bytes()
            .chunks(7)
            .map(|c| Chunk::Bytes(c.to_vec()))
            .collect();
        reply(200, extra, chunks)
    }

    fn handle(&self, r: &HttpRequest, body: &Value) -> HttpResponse {
        let auth = header(r, "authorization").unwrap_or_default().to_owned();
        let method = body["method"].as_str().unwrap_or_default();
        let id = &body["id"];
        assert_eq!(
            header(r, "accept"),
            Some("application/json, text/event-stream")
        );
        assert_eq!(header(r, "content-type"), Some("application/json"));
        if method == "initialize" {
            assert_eq!(header(r, "mcp-session-id"), None);
            let mut extra = Vec::new();
            if self.stateful.get() {
                let n = self.next_session.get() + 1;
                self.next_session.set(n);
                let sid = format!("session-{n}");
                self.sessions.borrow_mut().insert(sid.clone(), auth);
                extra.push(("mcp-session-id", sid));
            }
            return self.answer(
                id,
                json!({ "protocolVersion": "2025-06-18", "capabilities": { "tools": {} }, "serverInfo": { "name": "fake", "version": "1" } }),
                extra,
            );
        }
        assert_eq!(header(r, "mcp-protocol-version"), Some("2025-06-18"));
        if self.stateful.get() {
            let Some(sid) = header(r, "mcp-session-id") else {
                return reply(400, vec![], vec![]);
            };
            let opened_with = self.sessions.borrow().get(sid).cloned();
            match opened_with {
                None => return reply(404, vec![], vec![]),
                // A session is its user's: another user's credentials never ride on it.
                Some(a) => assert_eq!(a, auth, "a session used with another user's headers"),
            }
        }
        if method == "notifications/initialized" {
            return reply(202, vec![], vec![]);
        }
        if method == "tools/list" {
            if self.list_fails_for.borrow().as_deref() == Some(auth.as_str()) {
                return reply(500, vec![], vec![Chunk::Bytes(b"listing is down".to_vec())]);
            }
            let start: usize = body["params"]["cursor"]
                .as_str()
                .map_or(0, |c| c.parse().unwrap());
            let tools = self.tools.borrow();
            let size = self.page_size.get();
            let page: Vec<Value> = tools.iter().skip(start).take(size).cloned().collect();
            let mut result = json!({ "tools": page });
            if self.endless.get() || start + size < tools.len() {
                result["nextCursor"] = json!((start + size).to_string());
            }
            return self.answer(id, result, vec![]);
        }
        assert_eq!(method, "tools/call");
        let fault = self.faults.borrow_mut().pop_front();
        match fault {
            Some(Fault::Status(code, text)) => {
                return reply(code, vec![], vec![Chunk::Bytes(text.as_bytes().to_vec())])
            }
            Some(Fault::RpcError) => {
                return self.send(
                    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": -32602, "message": "Unknown tool" } }),
                    vec![],
                )
            }
            Some(Fault::Garbage) => {
                return reply(
                    200,
                    vec![("content-type", "application/json".into())],
                    vec![Chunk::Bytes(b"<html>proxy error</html>".to_vec())],
                )
            }
            Some(Fault::Hang) => {
                return reply(
                    200,
                    vec![("content-type", "text/event-stream".into())],
                    vec![Chunk::Hang],
                )
            }
            Some(Fault::NoAnswerInStream) => {
                return reply(
                    200,
                    vec![("content-type", "text/event-stream".into())],
                    vec![Chunk::Bytes(
                        b"data: {\"jsonrpc\":\"2.0\",\"id\":999999,\"result\":{}}\n\n".to_vec(),
                    )],
                )
            }
            Some(Fault::Expired) => return reply(404, vec![], vec![]),
            Some(Fault::EchoAuth) => {
                let body = format!("bad request with {auth} (token {})", auth.trim_start_matches("Bearer "));
                return reply(500, vec![], vec![Chunk::Bytes(body.into_bytes())]);
            }
            Some(Fault::Huge) => {
                let big = "x".repeat(tenantry::limits::MAX_INPUT_BYTES / 2);
                return self.answer(
                    id,
                    json!({ "content": [{ "type": "text", "text": big }] }),
                    vec![],
                );
            }
            None => {}
        }
        let name = body["params"]["name"].as_str().unwrap_or_default();
        let args = &body["params"]["arguments"];
        let result = match name {
            "whoami" => json!({ "content": [{ "type": "text", "text": auth }] }),
            "echo" => json!({ "content": [{ "type": "text", "text": args["text"] }] }),
            "structured" => json!({
                "content": [{ "type": "text", "text": "{\"n\":1}" }],
                "structuredContent": { "n": 1 }
            }),
            "flaky" => {
                json!({ "content": [{ "type": "text", "text": "order not found" }], "isError": true })
            }
            _ => json!({ "content": [], "isError": true }),
        };
        self.answer(id, result, vec![])
    }
}

struct Host(Rc<Server>);

impl HttpHost for Host {
    fn send(
        &self,
        request: HttpRequest,
        _cancel: Option<Rc<dyn Cancellation>>,
    ) -> LocalBoxFuture<'static, Result<HttpResponse, NetworkError>> {
        let server = self.0.clone();
        Box::pin(async move {
            yield_n(server.yields.get()).await;
            let body: Value = serde_json::from_str(&request.body).unwrap();
            let response = server.handle(&request, &body);
            server.requests.borrow_mut().push((request, body));
            Ok(response)
        })
    }
    fn sleep(&self, _ms: u64) -> LocalBoxFuture<'static, ()> {
        let fire = self.0.timers_fire.get();
        Box::pin(async move {
            if !fire {
                futures_util::future::pending::<()>().await;
            }
        })
    }
    fn random(&self) -> f64 {
        0.5
    }
}

impl Clock for Host {
    fn now_ms(&self) -> f64 {
        0.0
    }
}

// ---- the host's credentials -----------------------------------------------------------------

/// Bearer token-<user>; no token for `mallory` (the function fails for that user only).
#[derive(Default)]
struct Tokens {
    asked: RefCell<Vec<(Option<String>, String)>>,
    yields: Cell<usize>,
    /// The function fails for everyone (a credential store that is down).
    down: Cell<bool>,
}

struct TokensFn(Rc<Tokens>);

impl McpHeaders for TokensFn {
    fn headers(
        &self,
        user: Option<&str>,
        _org: Option<&str>,
        server: &str,
    ) -> LocalBoxFuture<'static, Result<Vec<(String, String)>, String>> {
        let t = self.0.clone();
        t.asked
            .borrow_mut()
            .push((user.map(str::to_owned), server.to_owned()));
        let user = user.map(str::to_owned);
        Box::pin(async move {
            yield_n(t.yields.get()).await;
            if t.down.get() {
                return Err("the token store is down".into());
            }
            match user.as_deref() {
                Some("mallory") => Err("no linked account".into()),
                Some("crlf") => Ok(vec![("authorization".into(), "x\r\nX-Evil: 1".into())]),
                Some("sneaky") => Ok(vec![("Mcp-Session-Id".into(), "session-1".into())]),
                Some(u) => Ok(vec![("authorization".into(), format!("Bearer token-{u}"))]),
                None => Ok(Vec::new()),
            }
        })
    }
}

// ---- the model --------------------------------------------------------------------------------

/// On `CALL <tool> <json>` asks for that tool; after a tool result answers with it.
#[derive(Default)]
struct Caller {
    requests: RefCell<Vec<ModelRequest>>,
}

struct CallerModel(Rc<Caller>);

impl Model for CallerModel {
    fn generate(
        &self,
        request: ModelRequest,
        _ctx: CallContext,
    ) -> LocalBoxFuture<'static, tenantry::Result<RawModelResponse>> {
        let last = request.messages().last().cloned().unwrap();
        self.0.requests.borrow_mut().push(request);
        Box::pin(async move {
            if last.role == Role::Tool {
                return Ok(RawModelResponse {
                    text: Some(format!("tool said {}", last.content)),
                    ..Default::default()
                });
            }
            let Some(rest) = last.content.strip_prefix("CALL ") else {
                return Ok(RawModelResponse {
                    text: Some("ok".into()),
                    ..Default::default()
                });
            };
            let (name, args) = rest.split_once(' ').unwrap_or((rest, "{}"));
            Ok(RawModelResponse {
                text: Some(String::new()),
                tool_calls: Some(vec![json!({ "id": "c1", "name": name, "arguments": args })]),
                ..Default::default()
            })
        })
    }
}

impl Caller {
    fn offered(&self) -> Vec<String> {
        let requests = self.requests.borrow();
        let first_of_last_run = requests.last().unwrap();
        first_of_last_run
            .tools
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    }
}

struct Setup {
    agent: Rc<Agent>,
    server: Rc<Server>,
    model: Rc<Caller>,
    tokens: Rc<Tokens>,
    telemetry: Rc<RefCell<Vec<Telemetry>>>,
    clock: Rc<ManualClock>,
}

fn setup_with(
    server: Rc<Server>,
    tools: Option<ToolSet>,
    configure: impl FnOnce(McpServerConfig) -> McpServerConfig,
    bound: usize,
) -> Setup {
    let model = Rc::new(Caller::default());
    let tokens = Rc::new(Tokens::default());
    let clock = Rc::new(ManualClock::new(1_000.0));
    let telemetry = Rc::new(RefCell::new(Vec::new()));
    let t = telemetry.clone();
    let observer = Observer::new(
        None,
        None,
        Some(Rc::new(move |e: &Telemetry| t.borrow_mut().push(e.clone()))),
    )
    .unwrap();
    let crm = configure(
        McpServerConfig::new("crm", "https://crm.example/mcp")
            .with_headers(Rc::new(TokensFn(tokens.clone()))),
    );
    let mcp = Mcp::new(vec![crm], Rc::new(Host(server.clone())))
        .unwrap()
        .with_clock(clock.clone())
        .with_max_cache_entries(bound);
    let mut agent = Agent::new(AgentConfig::default(), Rc::new(CallerModel(model.clone())))
        .unwrap()
        .with_clock(clock.clone())
        .with_observer(observer);
    if let Some(tools) = tools {
        agent = agent.with_tools(tools).unwrap();
    }
    let agent = agent.with_mcp(mcp).unwrap();
    Setup {
        agent: Rc::new(agent),
        server,
        model,
        tokens,
        telemetry,
        clock,
    }
}

fn setup(sse: bool, stateful: bool) -> Setup {
    setup_with(Server::new(sse, stateful), None, |s| s, 100)
}

/// Runs `CALL tool args` for `u`: the answer and the tool-result event.
async fn call(s: &Setup, u: &str, tool: &str, args: &str) -> (String, EventPart) {
    call_in(s, u, "default", tool, args).await
}

async fn call_in(s: &Setup, u: &str, session: &str, tool: &str, args: &str) -> (String, EventPart) {
    let events = Rc::new(RefCell::new(Vec::new()));
    let e = events.clone();
    let opts = RunOptions {
        session: tenantry::SessionId::parse(Some(session)).unwrap(),
        stream: Some(Rc::new(move |ev: RunEvent| e.borrow_mut().push(ev.part))),
        ..Default::default()
    };
    let out = s
        .agent
        .run(format!("CALL {tool} {args}"), user(u), opts)
        .await
        .expect("the run survives");
    let result = events
        .borrow()
        .iter()
        .find(|p| matches!(p, EventPart::ToolResult { .. }))
        .cloned()
        .expect("a tool-result event");
    (out.text, result)
}

fn result_of(part: &EventPart) -> (Option<Value>, Option<String>, String) {
    match part {
        EventPart::ToolResult {
            result,
            error,
            decision,
            ..
        } => (
            result.clone(),
            error.clone(),
            serde_json::to_value(decision)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        _ => unreachable!(),
    }
}

fn mcp_lists(s: &Setup) -> Vec<Value> {
    s.telemetry
        .borrow()
        .iter()
        .filter(|t| t.kind == "mcp.list")
        .map(|t| json!({ "user": t.user_id, "data": t.data }))
        .collect()
}

// ---- the tests ----------------------------------------------------------------------------------

async fn each_user_calls_with_their_own_headers(sse: bool, stateful: bool) {
    let s = setup(sse, stateful);
    let (text, part) = call(&s, "alice", "crm_whoami", "{}").await;
    assert_eq!(text, "tool said Bearer token-alice");
    assert_eq!(result_of(&part).2, "allowed");
    let offered = s.model.offered();
    for t in ["crm_whoami", "crm_echo", "crm_structured", "crm_flaky"] {
        assert!(offered.contains(&t.to_owned()), "{offered:?}");
    }
    let (text, _) = call(&s, "bob", "crm_whoami", "{}").await;
    assert_eq!(text, "tool said Bearer token-bob");
    let (text, _) = call(&s, "alice", "crm_echo", r#"{"text":"hi"}"#).await;
    assert_eq!(text, "tool said hi");
    let (_, part) = call(&s, "alice", "crm_structured", "{}").await;
    assert_eq!(
        result_of(&part).0,
        Some(json!({ "content": "{\"n\":1}", "structuredContent": { "n": 1 } }))
    );
    // One session and one listing per user, `initialized` right after `initialize`.
    assert_eq!(s.server.count("initialize"), 2);
    assert_eq!(s.server.count("notifications/initialized"), 2);
    assert_eq!(
        s.server.count("tools/list"),
        2,
        "alice's second run used her cache"
    );
    let methods = s.server.methods();
    assert_eq!(
        methods[..3],
        ["initialize", "notifications/initialized", "tools/list"]
    );
    // Every request carried its own user's token and nobody else's.
    for (r, _) in s.server.requests.borrow().iter() {
        let auth = header(r, "authorization").unwrap();
        assert!(auth == "Bearer token-alice" || auth == "Bearer token-bob");
    }
    let asked = s.tokens.asked.borrow();
    assert!(asked.iter().all(|(_, server)| server == "crm"));
}

dual_test!(json_answers_with_sessions, async {
    each_user_calls_with_their_own_headers(false, true).await
});
dual_test!(sse_answers_with_sessions, async {
    each_user_calls_with_their_own_headers(true, true).await
});
dual_test!(json_answers_stateless, async {
    each_user_calls_with_their_own_headers(false, false).await
});
dual_test!(sse_answers_stateless, async {
    each_user_calls_with_their_own_headers(true, false).await
});

dual_test!(concurrent_runs_never_mix_users_headers, async {
    let s = setup(true, true);
    s.server.yields.set(3);
    s.tokens.yields.set(2);
    let users = ["alice", "bob", "carol", "dave"];
    let runs = join_all((0..16).map(|i| {
        let u = users[i % users.len()];
        let s = &s;
        // A session per run: one user's runs interleave too.
        let session = format!("s{i}");
        async move { (u, call_in(s, u, &session, "crm_whoami", "{}").await.0) }
    }))
    .await;
    for (u, text) in runs {
        assert_eq!(text, format!("tool said Bearer token-{u}"));
    }
    // The server's own check (a session only with its opener's token) held for every request.
    assert_eq!(s.server.count("tools/call"), 16);
    assert!(s.server.count("initialize") >= 4);
});

dual_test!(a_session_the_server_ended_is_opened_again_once, async {
    let s = setup(false, true);
    call(&s, "alice", "crm_whoami", "{}").await;
    s.server.sessions.borrow_mut().clear();
    let (text, _) = call(&s, "alice", "crm_whoami", "{}").await;
    assert_eq!(text, "tool said Bearer token-alice");
    assert_eq!(s.server.count("initialize"), 2);
    // A server that answers 404 again after the new session: a tool error, one retry only.
    s.server
        .faults
        .borrow_mut()
        .extend([Fault::Expired, Fault::Expired]);
    let (_, part) = call(&s, "alice", "crm_whoami", "{}").await;
    let (_, error, decision) = result_of(&part);
    assert_eq!(decision, "failed");
    assert!(error.unwrap().contains("ended the session"));
    assert_eq!(s.server.count("initialize"), 3);
});

dual_test!(pagination_is_followed_within_a_bound, async {
    let server = Server::new(false, false);
    server.page_size.set(2);
    {
        let mut tools = server.tools.borrow_mut();
        for i in 0..5 {
            tools.push(json!({ "name": format!("extra{i}"), "inputSchema": { "type": "object" } }));
        }
    }
    let s = setup_with(server, None, |s| s, 100);
    call(&s, "alice", "crm_extra4", "{}").await;
    assert_eq!(s.model.offered().len(), 9, "{:?}", s.model.offered());
    assert_eq!(s.server.count("tools/list"), 5);
    // A server whose every page names another: listing stops at the bound, and says so.
    let server = Server::new(false, false);
    server.page_size.set(1);
    server.endless.set(true);
    let s = setup_with(server, None, |s| s, 100);
    call(&s, "alice", "crm_whoami", "{}").await;
    assert_eq!(
        s.server.count("tools/list"),
        tenantry::limits::MAX_MCP_LIST_PAGES
    );
    let lists = mcp_lists(&s);
    assert_eq!(lists[0]["data"]["truncated"], true, "{lists:?}");
});

async fn failing_call(fault: Fault, expected: &str) {
    let s = setup(false, true);
    s.server.faults.borrow_mut().push_back(fault.clone());
    if matches!(fault, Fault::Hang) {
        s.server.timers_fire.set(true);
    }
    let (text, part) = call(&s, "alice", "crm_whoami", "{}").await;
    let (result, error, decision) = result_of(&part);
    assert_eq!(decision, "failed");
    assert_eq!(result, None);
    let error = error.unwrap();
    assert!(error.contains(expected), "{error}");
    assert!(text.contains(expected), "the model saw it: {text}");
    assert!(!error.contains("token-alice"), "{error}");
    // The next call works: nothing was left broken.
    s.server.timers_fire.set(false);
    let (text, _) = call(&s, "alice", "crm_whoami", "{}").await;
    assert_eq!(text, "tool said Bearer token-alice");
}

dual_test!(failures_are_tool_errors_the_run_survives, async {
    failing_call(Fault::Status(500, "boom"), "HTTP 500").await;
    failing_call(
        Fault::Status(401, "bad token"),
        "refused this user's credentials",
    )
    .await;
    failing_call(Fault::RpcError, "error -32602: Unknown tool").await;
    failing_call(Fault::Garbage, "not JSON").await;
    failing_call(Fault::Hang, "no answer from the server within 30000 ms").await;
    failing_call(Fault::NoAnswerInStream, "ended without a response").await;
    failing_call(Fault::Huge, "the limit is").await;
    failing_call(
        Fault::EchoAuth,
        "bad request with [redacted] (token [redacted])",
    )
    .await;
    let s = setup(true, true);
    let (_, part) = call(&s, "alice", "crm_flaky", "{}").await;
    let (_, error, _) = result_of(&part);
    assert_eq!(
        error.unwrap(),
        "the tool failed: the tool reported an error: order not found"
    );
    // Arguments against the listed schema are refused before anything is sent.
    let sent = s.server.requests.borrow().len();
    let (_, part) = call(&s, "alice", "crm_echo", r#"{"text":5}"#).await;
    assert_eq!(result_of(&part).2, "invalid");
    assert_eq!(s.server.requests.borrow().len(), sent);
});

dual_test!(
    headers_are_asked_for_each_call_and_their_failure_fails_that_call,
    async {
        let s = setup(false, true);
        call(&s, "alice", "crm_whoami", "{}").await;
        let asked = s.tokens.asked.borrow().len();
        // The list is cached, the call still needs alice's headers: asked again, and failing.
        s.tokens.down.set(true);
        let calls = s.server.count("tools/call");
        let (_, part) = call(&s, "alice", "crm_whoami", "{}").await;
        let (_, error, decision) = result_of(&part);
        assert_eq!(decision, "failed");
        assert_eq!(
            error.unwrap(),
            "the tool failed: the headers function failed: \"the token store is down\""
        );
        assert_eq!(s.tokens.asked.borrow().len(), asked + 1);
        assert_eq!(
            s.server.count("tools/call"),
            calls,
            "nothing was sent without them"
        );
        s.tokens.down.set(false);
        let (text, _) = call(&s, "alice", "crm_whoami", "{}").await;
        assert_eq!(text, "tool said Bearer token-alice");
    }
);

dual_test!(
    tool_lists_are_cached_per_user_with_a_lifetime_and_a_bound,
    async {
        let s = setup_with(Server::new(false, true), None, |s| s, 2);
        call(&s, "alice", "crm_whoami", "{}").await;
        call(&s, "alice", "crm_whoami", "{}").await;
        assert_eq!(s.server.count("tools/list"), 1);
        s.clock.advance(tenantry::limits::DEFAULT_MCP_CACHE_TTL_MS);
        call(&s, "alice", "crm_whoami", "{}").await;
        assert_eq!(s.server.count("tools/list"), 2, "expired");
        // The bound: bob then carol push alice (least recently used) out.
        call(&s, "bob", "crm_whoami", "{}").await;
        call(&s, "carol", "crm_whoami", "{}").await;
        let lists = s.server.count("tools/list");
        call(&s, "alice", "crm_whoami", "{}").await;
        assert_eq!(s.server.count("tools/list"), lists + 1, "alice was evicted");
        assert_eq!(s.server.count("initialize"), 4, "her session too");
        // cacheTtlMs 0: listed on every run.
        let s = setup_with(
            Server::new(false, true),
            None,
            |mut c| {
                c.cache_ttl_ms = 0.0;
                c
            },
            100,
        );
        call(&s, "alice", "crm_whoami", "{}").await;
        call(&s, "alice", "crm_whoami", "{}").await;
        assert_eq!(s.server.count("tools/list"), 2);
        assert_eq!(s.server.count("initialize"), 1, "the session is kept");
    }
);

dual_test!(forget_drops_the_users_lists_and_sessions_only, async {
    let s = setup(false, true);
    call(&s, "alice", "crm_whoami", "{}").await;
    call(&s, "bob", "crm_whoami", "{}").await;
    s.agent.forget(&user("alice")).await.unwrap();
    call(&s, "alice", "crm_whoami", "{}").await;
    call(&s, "bob", "crm_whoami", "{}").await;
    assert_eq!(
        s.server.count("tools/list"),
        3,
        "alice listed again, bob not"
    );
    assert_eq!(s.server.count("initialize"), 3);
    s.agent.clear_all().await.unwrap();
    call(&s, "bob", "crm_whoami", "{}").await;
    assert_eq!(s.server.count("tools/list"), 4);
});

dual_test!(
    a_failed_listing_leaves_that_user_without_the_servers_tools,
    async {
        let s = setup(false, true);
        call(&s, "alice", "crm_whoami", "{}").await;
        // Mallory's headers function fails: her run goes on without crm tools, and she never
        // gets Alice's cached list.
        let (text, part) = call(&s, "mallory", "crm_whoami", "{}").await;
        assert!(s.model.offered().is_empty(), "{:?}", s.model.offered());
        assert_eq!(result_of(&part).2, "invalid", "an unknown tool: {text}");
        let lists = mcp_lists(&s);
        let failed = lists.iter().find(|l| l["user"] == "mallory").unwrap();
        assert_eq!(failed["data"]["ok"], false);
        assert!(failed["data"]["error"]
            .as_str()
            .unwrap()
            .contains("the headers function failed: \"no linked account\""));
        // A header with a line break, or one the client sets itself: refused, named, not quoted.
        for u in ["crlf", "sneaky"] {
            call(&s, u, "crm_whoami", "{}").await;
            let lists = mcp_lists(&s);
            let failed = lists.iter().find(|l| l["user"] == u).unwrap();
            let error = failed["data"]["error"].as_str().unwrap();
            assert!(
                !error.contains("X-Evil") && !error.contains("session-1"),
                "{error}"
            );
        }
        // The server failing one user's listing fails it for that user only.
        *s.server.list_fails_for.borrow_mut() = Some("Bearer token-bob".into());
        call(&s, "bob", "crm_whoami", "{}").await;
        assert!(s.model.offered().is_empty());
        let (text, _) = call(&s, "alice", "crm_whoami", "{}").await;
        assert_eq!(text, "tool said Bearer token-alice");
        let lists = mcp_lists(&s);
        let bob = lists.iter().find(|l| l["user"] == "bob").unwrap();
        assert!(
            bob["data"]["error"].as_str().unwrap().contains("HTTP 500"),
            "{bob}"
        );
        assert!(!bob.to_string().contains("token-bob"));
    }
);

struct NoHost;
impl tenantry::ToolHost for NoHost {
    fn execute(
        &self,
        _tool: &str,
        _args: Value,
        _ctx: tenantry::ToolContext,
    ) -> LocalBoxFuture<'static, Result<Value, String>> {
        Box::pin(async { Ok(json!("host")) })
    }
    fn policy(
        &self,
        _user: Option<&str>,
        _org: Option<&str>,
        tool: &str,
        _args: &Value,
    ) -> Option<LocalBoxFuture<'static, tenantry::PolicyDecision>> {
        let deny = tool == "crm_echo";
        Some(Box::pin(async move {
            match deny {
                true => tenantry::PolicyDecision::Deny,
                false => tenantry::PolicyDecision::Allow,
            }
        }))
    }
    fn approve(
        &self,
        _request: tenantry::ApprovalRequest,
    ) -> Option<LocalBoxFuture<'static, bool>> {
        None
    }
    fn sleep(&self, _ms: f64) -> LocalBoxFuture<'static, ()> {
        Box::pin(futures_util::future::pending())
    }
}

dual_test!(
    clashing_and_invalid_server_tools_are_skipped_and_reported,
    async {
        let server = Server::new(false, false);
        server.tools.borrow_mut().extend([
            json!({ "name": "bad.name", "inputSchema": { "type": "object" } }),
            json!({ "name": "noschema" }),
            json!({ "name": "host", "inputSchema": { "type": "object" } }),
        ]);
        let host_tools = ToolSet::with_run_time_tools(
            vec![ToolSpec::new("crm_host".into(), "mine".into(), None)],
            Permissions::default(),
            Some(Rc::new(NoHost)),
            None,
            vec!["crm_".into()],
        )
        .unwrap();
        let s = setup_with(server, Some(host_tools), |s| s, 100);
        let (text, _) = call(&s, "alice", "crm_host", "{}").await;
        assert_eq!(text, "tool said host", "the host's tool keeps its name");
        let offered = s.model.offered();
        assert_eq!(offered.iter().filter(|n| *n == "crm_host").count(), 1);
        assert!(!offered
            .iter()
            .any(|n| n.contains("bad") || n.contains("noschema")));
        let lists = mcp_lists(&s);
        let skipped = lists[0]["data"]["skipped"].to_string();
        for t in ["bad.name", "noschema", "already another tool's name"] {
            assert!(skipped.contains(t), "{skipped}");
        }
        // The policy rules on MCP tools by full name.
        let (_, part) = call(&s, "alice", "crm_echo", r#"{"text":"x"}"#).await;
        assert_eq!(result_of(&part).2, "denied");
    }
);

dual_test!(permissions_name_mcp_tools_by_full_name, async {
    let permissions: Permissions = serde_json::from_value(json!({
        "users": { "bob": { "deny": ["crm_whoami"] } },
        "requireApproval": ["crm_echo"]
    }))
    .unwrap();
    let tools =
        ToolSet::with_run_time_tools(Vec::new(), permissions, None, None, vec!["crm_".into()])
            .unwrap();
    let s = setup_with(Server::new(false, true), Some(tools), |s| s, 100);
    call(&s, "alice", "crm_whoami", "{}").await;
    assert!(s.model.offered().contains(&"crm_whoami".to_owned()));
    let (_, part) = call(&s, "bob", "crm_whoami", "{}").await;
    assert!(!s.model.offered().contains(&"crm_whoami".to_owned()));
    assert_eq!(result_of(&part).2, "denied");
    // Approval is required and nobody approves: refused, nothing sent.
    let calls = s.server.count("tools/call");
    let (_, part) = call(&s, "alice", "crm_echo", r#"{"text":"x"}"#).await;
    assert_eq!(result_of(&part).2, "approval-refused");
    assert_eq!(s.server.count("tools/call"), calls);
});

#[test]
fn rules_may_name_a_servers_tools_but_no_other_unknown_tool() {
    let rules = |names: Value| -> Permissions {
        serde_json::from_value(json!({ "requireApproval": names })).unwrap()
    };
    let mk = |p: Permissions| {
        ToolSet::with_run_time_tools(Vec::new(), p, None, None, vec!["crm_".into()])
    };
    mk(rules(json!(["crm_anything"]))).unwrap();
    for bad in ["crm_", "crm", "other_tool"] {
        let e = mk(rules(json!([bad]))).err().unwrap();
        assert_eq!(e.code(), "invalid_config", "{bad}");
    }
    // An agent with tools gets the prefixes from `with_mcp`, before or after `with_tools`.
    let server = Server::new(false, false);
    let mcp = || {
        Mcp::new(
            vec![McpServerConfig::new("crm", "https://crm.example/mcp")],
            Rc::new(Host(server.clone())),
        )
        .unwrap()
    };
    let agent = || Agent::new(AgentConfig::default(), Rc::new(tenantry::DemoModel)).unwrap();
    let set = || {
        ToolSet::with_run_time_tools(
            Vec::new(),
            rules(json!(["crm_x"])),
            None,
            None,
            vec!["crm_".into()],
        )
        .unwrap()
    };
    agent().with_mcp(mcp()).unwrap().with_tools(set()).unwrap();
    agent().with_tools(set()).unwrap().with_mcp(mcp()).unwrap();
    let e = Mcp::new(
        vec![McpServerConfig::new("a.b", "https://crm.example/mcp")],
        Rc::new(Host(server.clone())),
    )
    .err()
    .unwrap();
    assert_eq!(e.details()["field"], "mcp[0].name");
}

dual_test!(an_anonymous_user_gets_headers_for_none, async {
    let s = setup(false, true);
    let out = s
        .agent
        .run(
            "CALL crm_whoami {}".into(),
            tenantry::UserKey::Anonymous,
            RunOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(out.text, "tool said ");
    assert_eq!(s.tokens.asked.borrow()[0], (None, "crm".to_owned()));
});
