//! Model-based stateful test of the agent against a plain reference model.
//!
//! proptest generates sequences of operations over nine near-colliding (org, user) pairs
//! (in the default org "bob", "bob ", "Bob" and the anonymous bucket; "bob" of orgs
//! "acme", "acme " and "acme/u"; "u/bob" and the anonymous bucket of "acme", where
//! ("acme/u", "bob") and ("acme", "u/bob") concatenate alike) and three sessions:
//! sequential runs (honest, over-reporting and throwing models), concurrent batches (some
//! hung and aborted, some aborted before they start), forget, export, import (as exported,
//! without its budget, with edited sessions or working memory, with a budget lowered or
//! raised, invalid, moved to another org), snapshot + restore into a fresh agent
//! (sometimes with one bad user document), load, restart over the same storage and clock,
//! floods of one-shot ids (in the default org and in an org named "u") that evict
//! everyone, clock jumps, storage that fails a chosen upcoming call or answers slowly,
//! whole-org erasure and export (of orgs with users and of one with none), facts
//! remembered and withdrawn, and searches (lexical, semantic, hybrid) for a shared word, a
//! message's exact text, one distinctive token or a word nobody said. The agent embeds with
//! a deterministic embedder (tokens hashed into 16 dimensions) that a run or a search can
//! make fail or answer malformed, and that reports one token per text until an operation
//! turns its reporting off (then the agent charges its estimate) or back on.
//!
//! After every step, for every user, the reference model (BTreeMaps of sessions, working
//! memory, spend per window and the rate bucket) is compared with:
//! - the agent's RAM (`history`, `sessions`, `blocks`, `properties`, `usage`, the exported
//!   rate bucket) after `load`;
//! - the storage records (decoded session, working-memory and facts documents, each naming
//!   its org and user, under the user's prefix in the documented layout), byte for byte
//!   the records of every user the step did not name, and no record under no known user's
//!   prefix or under two;
//! - what a fresh agent over the same storage sees (what a restart right now would see).
//!
//! The rules the model encodes, named in every failure message:
//! - R1 a run commits whole or not at all: any failure (model error, storage, abort,
//!   refusal, a failed or malformed embedding) leaves that user's memory and storage as
//!   they were; a success appends [input, reply] to its session, bounded by
//!   `maxMessagesPerSession` in whole turns, each message with the vector of its text.
//!   The turn is embedded after the model answered and before the commit, so a run whose
//!   embedding fails is still charged in full for that answer (R2).
//! - R2 a model call that answered is charged what it reported, in full even when it
//!   overran `maxOutputTokens` (the user is then refused until the window frees room); one
//!   that threw or was aborted first is charged nothing. Totals are exact.
//! - R3 the rate limit (a token bucket) is checked when `run` is called; a refused run
//!   charges nothing.
//! - R4 restart and eviction refill no budget and no rate bucket and lose no committed turn:
//!   a fresh agent over the storage sees exactly the counters and memory RAM holds (after an
//!   injected storage fault the stored counters may trail RAM, never lead it, until the
//!   user's next successful run writes them again).
//! - R5 forget erases the user's memory in RAM and storage, nothing of anyone else's, and
//!   not what they spent.
//! - R6 import is all or nothing (storage faults included); without a `budget` the
//!   counters stay; with one each counter becomes the larger of held and document; memory
//!   becomes the document's.
//! - R7 restore into a fresh agent is all or nothing.
//! - R8 nothing crosses users: an operation leaves every other user's memory, counters and
//!   storage records as they were, and no prompt or embedder call holds another user's
//!   text.
//! - R9 search returns only messages of the user searched (and of the session asked for),
//!   at most `limit`: lexically, as many as it can of those holding a query term, a
//!   shorter one never after a longer one for one term found once; semantically, the
//!   best by cosine with the query's vector (the message that is the query's exact text,
//!   at about 1, first); hybrid, as many as it can of those either ranking holds. A fresh
//!   agent over the storage returns the same hits. Only the query is embedded (once, in
//!   the semantic and hybrid modes): stored, reloaded, restored and imported vectors are
//!   never embedded again, by a search or by any load.
//! - R10 every embedder call is charged to its user as input tokens (input, total and cost;
//!   no output, no request): what the embedder reports, else `ceil(bytes / 4)` of each
//!   text; a failed or malformed answer is charged nothing. A run embeds its turn (input
//!   and answer) once its model answered and before the commit: no limit refuses that
//!   call (it may take the user past one; the next call is refused), and it is charged
//!   even when the commit then fails. A semantic or hybrid search loads the user, then
//!   refuses the query with `budget_exceeded`, before the embedder is called, when its
//!   estimate does not fit what the lifetime or minute token limit has left; else charges
//!   it and writes the user's counters through (a restart keeps the charge). A lexical
//!   search embeds and charges nothing.
//! - R11 an org is a scope above its users: the (org, user) pair is the partition (R1-R10
//!   hold per pair, a prompt or request names the pair's org and user); every record of an
//!   org's user lies under that org's prefix, in the documented layout, and under no
//!   other user's prefix; `forget_org` is `forget` of each of its users (spend kept) and
//!   leaves no key under the org's prefix, nothing of another org touched, and finished by
//!   calling it again after a storage failure; `export_org` holds each of its users with
//!   memory (others only empty), each document what `export` gives, in id order, and no
//!   user of another org; a document or one session moved to another org is refused
//!   (`invalid_import`) and changes nothing.
//!
//! `cargo test --test model_based` runs a fixed seed (220 cases of about 100 operations).
//! `TENANTRY_SOAK=1` runs 3,000 cases from a fresh random seed (printed);
//! `TENANTRY_MBT_SEED=<n>` and `TENANTRY_MBT_CASES=<n>` pick them by hand, and
//! `TENANTRY_MBT_WITHOUT=forget,restart,...` leaves operation kinds out of the generator
//! (`search`, `forget-fact`, `embed-tokens`, ...), `faults` all injected faults,
//! `embed-faults` the embedder's, `run-faults` (`import-faults`, `forget-org-faults`, ...)
//! the storage faults of one kind of operation: to find the next failure once one is known
//! (every check still runs).
#![cfg(not(target_arch = "wasm32"))]

mod dual_support;

use dual_support::{yield_n, CancelHandle, ManualCancel};
use futures_executor::{block_on, LocalPool};
use futures_util::future::LocalBoxFuture;
use futures_util::task::LocalSpawnExt;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Union};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use serde_json::{json, Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::time::Instant;
use tenantry::limits::{DEFAULT_RECALL_LIMIT, RRF_K};
use tenantry::testing::keys::{
    generation_key, org_prefix, user_prefix, working_key, ORGS_PREFIX, ROOT_PREFIX, SECRET_KEY,
};
use tenantry::testing::Turn;
use tenantry::testing::BUCKETS_PER_WINDOW;
use tenantry::{
    AccountDoc, AmountsDoc, BudgetConfig, LimitSet, Metric, RateLimitConfig, RateSpec, Totals,
    Window, BUDGET_DOC_VERSION, BUDGET_FORMAT,
};
use tenantry::{
    Agent, AgentConfig, Error, FactQuery, ManualClock, MemoryConfig, MemoryStorage, Message, Model,
    ModelRequest, NewFact, OrgDoc, OrgId, RawModelResponse, Role, RunOptions, RunOutput, SessionId,
    Storage, UserDoc, UserKey,
};
use tenantry::{BlockDoc, SessionDoc, SnapshotDoc, WorkingDoc};
use tenantry::{CallContext, RawUsage};
use tenantry::{EmbedContext, Embedder, Hit, RawEmbeddings, SearchMode, SearchOptions};

// ---------------------------------------------------------------------------------------
// The configuration under test, and the figures the reference model derives from it.

/// (org, user) pairs: `None` org is the default org, `None` user an org's anonymous
/// bucket. Near-collisions on both sides of the org boundary: ("acme/u", "bob") and
/// ("acme", "u/bob") concatenate to the same text, "acme " and "acme" differ by a space.
const USERS: [(Option<&str>, Option<&str>); 9] = [
    (None, Some("bob")),
    (None, Some("bob ")),
    (None, Some("Bob")),
    (None, None),
    (Some("acme"), Some("bob")),
    (Some("acme "), Some("bob")),
    (Some("acme/u"), Some("bob")),
    (Some("acme"), Some("u/bob")),
    (Some("acme"), None),
];
/// The orgs `forget_org` and `export_org` are called on: "Acme" has no user here.
const ORGS: [&str; 4] = ["acme", "acme ", "acme/u", "Acme"];
/// The org of half the flood's one-shot users: named like the default org's folder.
const FLOOD_ORG: &str = "u";
const SESSIONS: [&str; 3] = ["default", "s", "S"];

const LIFETIME_TOKENS: u64 = 6000;
const MINUTE_TOKENS: u64 = 3000;
const MINUTE_REQUESTS: u64 = 8;
const MINUTE_MS: f64 = 60_000.0;
const BUCKET_MS: f64 = MINUTE_MS / BUCKETS_PER_WINDOW as f64;
const RATE_BURST: f64 = 6.0;
/// 6 requests per 24,576 ms is 2^-12 tokens per ms: with whole-ms clock steps every bucket
/// figure is exact in binary, so the model and the agent agree to the last bit.
const RATE_PER: f64 = 24_576.0;
const RATE_PER_MS: f64 = RATE_BURST / RATE_PER;
const MAX_OUTPUT: u32 = 50;
const MAX_MESSAGES: usize = 6;
/// More than any run here can reserve (estimated input of at most 6 history messages, the
/// input and a small working-memory section, every text at most 80 bytes, plus
/// `MAX_OUTPUT`): with this much room left under every limit a run cannot be refused.
const RESERVE_BOUND: u64 = 400;
/// The most a turn's embedding can charge: two texts of at most 80 bytes, at the
/// estimate's 4 bytes a token (a report here is 1 a text).
const TURN_EMBED_BOUND: u64 = 2 * 80 / 4;
const START_MS: f64 = 1_000_000_000.0;

/// Positions in a figure array, in `Metric::index` order (input, output, total, cost, requests).
const TOTAL: usize = 2;
const REQ: usize = 4;

fn config() -> AgentConfig {
    AgentConfig {
        max_output_tokens: MAX_OUTPUT,
        model_name: "mbt-model".into(),
        memory: MemoryConfig {
            max_messages_per_session: MAX_MESSAGES,
            max_users: USERS.len(),
            idle_ttl_ms: 100_000.0,
            ..Default::default()
        },
        budget: BudgetConfig {
            per_user: vec![
                LimitSet {
                    max_total_tokens: Some(LIFETIME_TOKENS as f64),
                    window: Window::Lifetime,
                    ..Default::default()
                },
                LimitSet {
                    max_total_tokens: Some(MINUTE_TOKENS as f64),
                    max_requests: Some(MINUTE_REQUESTS as f64),
                    window: Window::Minute,
                    ..Default::default()
                },
            ],
            ..Default::default()
        },
        rate_limit: RateLimitConfig {
            per_user: Some(RateSpec {
                requests: RATE_BURST,
                per_ms: RATE_PER,
                burst: None,
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn ukey(u: usize) -> UserKey {
    let (org, user) = USERS[u];
    UserKey::parse_in(org, user).expect("valid ids")
}

fn org_key(o: usize) -> OrgId {
    OrgId::parse(Some(ORGS[o]))
        .expect("valid org id")
        .expect("a named org")
}

fn sid(s: usize) -> SessionId {
    SessionId::parse(Some(SESSIONS[s])).expect("valid session")
}

fn show_key(k: &UserKey) -> String {
    let user = match k.as_option() {
        Some(id) => format!("{id:?}"),
        None => "(anonymous)".into(),
    };
    match k.org() {
        Some(org) => format!("{user} of org {org:?}"),
        None => user,
    }
}

/// Every text a user's runs and documents carry starts with this, so a prompt holding
/// another user's text is caught at the model. It names the (org, user) pair: "<bob>" in
/// the default org, "<acme|bob>" in org "acme" (no id here holds `|`, `<` or `>`).
fn marker_of(org: Option<&str>, id: Option<&str>) -> String {
    let user = id.unwrap_or("anon");
    match org {
        Some(org) => format!("<{org}|{user}>"),
        None => format!("<{user}>"),
    }
}

fn marker_of_key(k: &UserKey) -> String {
    marker_of(k.org(), k.as_option())
}

/// A text without the markers in it: what is left to search for.
fn unmarked(text: &str) -> String {
    markers_in(text)
        .into_iter()
        .fold(text.to_owned(), |t, m| t.replace(m, ""))
        .trim()
        .to_owned()
}

fn markers_in(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        match rest[start..].find('>') {
            Some(end) => {
                out.push(&rest[start..start + end + 1]);
                rest = &rest[start + end + 1..];
            }
            None => break,
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Operations, printed readably so a shrunk sequence can be read as a script.

#[derive(Clone, Copy)]
struct U(u8);
impl fmt::Debug for U {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (org, user) = USERS[self.0 as usize];
        match user {
            Some(id) => write!(f, "{id:?}")?,
            None => write!(f, "anon")?,
        }
        match org {
            Some(org) => write!(f, "@{org:?}"),
            None => Ok(()),
        }
    }
}

#[derive(Clone, Copy)]
struct O(u8);
impl fmt::Debug for O {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", ORGS[self.0 as usize])
    }
}

#[derive(Clone, Copy)]
struct S(u8);
impl fmt::Debug for S {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", SESSIONS[self.0 as usize])
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Reply {
    Answer {
        input: u16,
        output: u16,
    },
    /// Reports far more output than the `maxOutputTokens` the request allowed.
    OverReport {
        input: u16,
        output: u32,
    },
    Throw,
    /// Never answers: only in concurrent batches, where the run is then aborted.
    Hang,
}

impl Reply {
    fn reported(&self) -> Option<(u64, u64)> {
        match *self {
            Reply::Answer { input, output } => Some((input.into(), output.into())),
            Reply::OverReport { input, output } => Some((input.into(), output.into())),
            Reply::Throw | Reply::Hang => None,
        }
    }
    /// The most a run of this reply can hold or be charged at once (its answer and the
    /// embedding of its turn).
    fn worst(&self) -> u64 {
        self.reported().map_or(RESERVE_BOUND, |(i, o)| {
            RESERVE_BOUND.max(i + o + TURN_EMBED_BOUND)
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Put,
    Delete,
    List,
}

/// Fail the `nth` (0-based) call of kind `call` from now.
#[derive(Clone, Copy, Debug)]
struct Fault {
    call: Call,
    nth: u8,
}

#[derive(Clone, Debug)]
struct BatchRun {
    user: U,
    session: S,
    reply: Reply,
    /// Cancelled before the batch is driven at all.
    pre_abort: bool,
}

#[derive(Clone, Debug)]
enum Edit {
    AsExported,
    WithoutBudget,
    DropLastTurn,
    RewriteMessage,
    AddSession,
    RemoveSession,
    SetWorking,
    ClearWorking,
    /// Halves every figure and fills the rate bucket: an import must not lower spend.
    LowerBudget,
    RaiseTotals(u16),
    /// Invalid: a negative figure in the budget.
    NegativeFigure,
    /// Invalid: a session that names another user.
    ForeignSession,
    /// Invalid: the document names another org than its sessions do.
    MoveToOrg,
    /// Invalid: one session names another org than the document does.
    SessionToOrg,
}

#[derive(Clone, Copy, Debug)]
enum Corrupt {
    NegativeFigure,
    ForeignSession,
    SessionToOrg,
}

/// How the embedder's next call goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BadEmbedding {
    Throw,
    /// One vector fewer than texts.
    TooFew,
    NotFinite,
    /// A vector of no dimensions.
    Empty,
}

/// What a search looks for, resolved against the reference model when it runs.
#[derive(Clone, Copy, Debug)]
enum Query {
    /// `w<k>`: every input and reply carries one of `w0`..`w3`, so `w4` finds nothing.
    Word(u8),
    /// The `n % count`-th message of all users: its exact text when it is the searcher's
    /// own, else that text without its owner's marker.
    Content(u16),
    /// The first token after the marker (`q<n>`, `a<n>`, `edited<n>`, ...) of such a message.
    Token(u16),
    Unknown,
}

#[derive(Clone, Debug)]
enum Op {
    Run {
        user: U,
        session: S,
        reply: Reply,
        fault: Option<Fault>,
        embed: Option<BadEmbedding>,
    },
    Concurrent {
        runs: Vec<BatchRun>,
        /// `forget_org` of this org races the runs (none of which is of one of its users).
        forget_org: Option<O>,
    },
    Forget {
        user: U,
        fault: Option<Fault>,
    },
    Export {
        user: U,
        fault: Option<Fault>,
    },
    /// Imports the `doc % n`-th of the documents exported so far in this case.
    Import {
        doc: u8,
        edit: Edit,
        fault: Option<Fault>,
    },
    /// Snapshot of this agent, restored into a fresh agent with storage of its own.
    Restore {
        corrupt: Option<(u8, Corrupt)>,
        fault: Option<Fault>,
    },
    Load {
        user: U,
        fault: Option<Fault>,
    },
    /// Remembers `o<object>` for predicate `p<predicate>` of subject "me".
    Remember {
        user: U,
        predicate: u8,
        object: u8,
        fault: Option<Fault>,
    },
    /// Withdraws the current value of predicate `p<predicate>` of subject "me".
    ForgetFact {
        user: U,
        predicate: u8,
        fault: Option<Fault>,
    },
    Search {
        user: U,
        query: Query,
        mode: SearchMode,
        limit: Option<u8>,
        session: Option<S>,
        fault: Option<Fault>,
        embed: Option<BadEmbedding>,
    },
    Restart,
    Flood {
        n: u8,
    },
    Advance {
        ms: u32,
    },
    SlowStorage {
        yields: u8,
    },
    /// From now on the embedder reports one token per text, or (false) no tokens at all.
    EmbedderTokens {
        reported: bool,
    },
    /// `forget_org`: every user of the org, and every key under its prefix.
    ForgetOrg {
        org: O,
        fault: Option<Fault>,
    },
    /// `export_org`: every user of the org, each as `export` gives it.
    ExportOrg {
        org: O,
        fault: Option<Fault>,
    },
}

impl Op {
    /// The rules a mismatch right after this operation most likely breaks.
    fn rules(&self) -> &'static str {
        match self {
            Op::Concurrent {
                forget_org: Some(_),
                ..
            } => "R1/R2/R3/R10/R11",
            Op::Run { .. } | Op::Concurrent { .. } => "R1/R2/R3/R10",
            Op::Forget { .. } => "R5",
            Op::Import { .. } => "R6",
            Op::Restore { .. } => "R7",
            Op::Restart => "R4 restart",
            Op::Flood { .. } => "R4 eviction",
            Op::Export { .. } | Op::Load { .. } => "R4 load/export",
            Op::Remember { .. } | Op::ForgetFact { .. } => "R1 facts",
            Op::Search { .. } => "R9/R10",
            Op::Advance { .. } | Op::SlowStorage { .. } => "R2/R4",
            Op::EmbedderTokens { .. } => "R10",
            Op::ForgetOrg { .. } | Op::ExportOrg { .. } => "R11",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generators.

fn kinds_left_out() -> Vec<String> {
    std::env::var("TENANTRY_MBT_WITHOUT")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn user_s() -> impl Strategy<Value = U> {
    (0..USERS.len() as u8).prop_map(U)
}

fn org_s() -> impl Strategy<Value = O> {
    (0..ORGS.len() as u8).prop_map(O)
}

fn session_s() -> impl Strategy<Value = S> {
    (0..SESSIONS.len() as u8).prop_map(S)
}

fn reply_s(hang: bool) -> BoxedStrategy<Reply> {
    let mut v: Vec<(u32, BoxedStrategy<Reply>)> = vec![
        (
            12,
            (1u16..80, 1u16..40)
                .prop_map(|(input, output)| Reply::Answer { input, output })
                .boxed(),
        ),
        (
            2,
            (
                1u16..80,
                prop_oneof![3 => 500u32..2000, 1 => 5000u32..20_000],
            )
                .prop_map(|(input, output)| Reply::OverReport { input, output })
                .boxed(),
        ),
        (2, Just(Reply::Throw).boxed()),
    ];
    if hang {
        v.push((3, Just(Reply::Hang).boxed()));
    }
    Union::new_weighted(v).boxed()
}

fn fault_s(faults: bool) -> BoxedStrategy<Option<Fault>> {
    if !faults {
        return Just(None).boxed();
    }
    let call = prop_oneof![Just(Call::Put), Just(Call::Delete), Just(Call::List)];
    prop_oneof![
        3 => Just(None),
        1 => (call, 0u8..4).prop_map(|(call, nth)| Some(Fault { call, nth })),
    ]
    .boxed()
}

fn bad_embedding_s(on: bool) -> BoxedStrategy<Option<BadEmbedding>> {
    if !on {
        return Just(None).boxed();
    }
    let bad = prop_oneof![
        Just(BadEmbedding::Throw),
        Just(BadEmbedding::TooFew),
        Just(BadEmbedding::NotFinite),
        Just(BadEmbedding::Empty),
    ];
    prop_oneof![8 => Just(None), 1 => bad.prop_map(Some)].boxed()
}

fn query_s() -> impl Strategy<Value = Query> {
    prop_oneof![
        3 => (0u8..5).prop_map(Query::Word),
        3 => any::<u16>().prop_map(Query::Content),
        2 => any::<u16>().prop_map(Query::Token),
        1 => Just(Query::Unknown),
    ]
}

fn edit_s() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => Just(Edit::AsExported),
        3 => Just(Edit::WithoutBudget),
        1 => Just(Edit::DropLastTurn),
        1 => Just(Edit::RewriteMessage),
        1 => Just(Edit::AddSession),
        1 => Just(Edit::RemoveSession),
        1 => Just(Edit::SetWorking),
        1 => Just(Edit::ClearWorking),
        2 => Just(Edit::LowerBudget),
        2 => (1u16..3000).prop_map(Edit::RaiseTotals),
        1 => Just(Edit::NegativeFigure),
        1 => Just(Edit::ForeignSession),
        1 => Just(Edit::MoveToOrg),
        1 => Just(Edit::SessionToOrg),
    ]
}

fn op_s() -> BoxedStrategy<Op> {
    let out = kinds_left_out();
    let on = |k: &str| !out.iter().any(|o| o == k);
    // `faults` leaves out every injected storage fault, `run-faults` those of runs only,
    // and so on per operation.
    let f = |k: &str| on("faults") && on(&format!("{k}-faults"));
    let bad_embeddings = on("faults") && on("embed-faults");
    let mut v: Vec<(u32, BoxedStrategy<Op>)> = Vec::new();
    let mut add = |k: &str, w: u32, s: BoxedStrategy<Op>| {
        if on(k) {
            v.push((w, s));
        }
    };
    add(
        "run",
        30,
        (
            user_s(),
            session_s(),
            reply_s(false),
            fault_s(f("run")),
            bad_embedding_s(bad_embeddings),
        )
            .prop_map(|(user, session, reply, fault, embed)| Op::Run {
                user,
                session,
                reply,
                fault,
                embed,
            })
            .boxed(),
    );
    let batch_run = (
        user_s(),
        session_s(),
        reply_s(true),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(user, session, reply, pre_abort)| BatchRun {
            user,
            session,
            reply,
            pre_abort,
        });
    let race = match on("forget-org") {
        true => prop::option::weighted(0.15, org_s()).boxed(),
        false => Just(None).boxed(),
    };
    add(
        "concurrent",
        10,
        (prop::collection::vec(batch_run, 2..=5), race)
            .prop_map(|(mut runs, forget_org)| {
                // A run of one of the org's users may start while it is erased and survive
                // it (documented): the race is with everyone else's runs.
                if let Some(o) = forget_org {
                    runs.retain(|r| USERS[r.user.0 as usize].0 != Some(ORGS[o.0 as usize]));
                }
                Op::Concurrent { runs, forget_org }
            })
            .boxed(),
    );
    add(
        "forget",
        5,
        (user_s(), fault_s(f("forget")))
            .prop_map(|(user, fault)| Op::Forget { user, fault })
            .boxed(),
    );
    add(
        "export",
        7,
        (user_s(), fault_s(f("export")))
            .prop_map(|(user, fault)| Op::Export { user, fault })
            .boxed(),
    );
    add(
        "import",
        8,
        (any::<u8>(), edit_s(), fault_s(f("import")))
            .prop_map(|(doc, edit, fault)| Op::Import { doc, edit, fault })
            .boxed(),
    );
    let corrupt = prop_oneof![
        Just(Corrupt::NegativeFigure),
        Just(Corrupt::ForeignSession),
        Just(Corrupt::SessionToOrg),
    ];
    add(
        "restore",
        3,
        (
            prop::option::weighted(0.4, (any::<u8>(), corrupt)),
            fault_s(f("restore")),
        )
            .prop_map(|(corrupt, fault)| Op::Restore { corrupt, fault })
            .boxed(),
    );
    add(
        "load",
        4,
        (user_s(), fault_s(f("load")))
            .prop_map(|(user, fault)| Op::Load { user, fault })
            .boxed(),
    );
    add(
        "remember",
        6,
        (user_s(), 0u8..2, 0u8..3, fault_s(f("remember")))
            .prop_map(|(user, predicate, object, fault)| Op::Remember {
                user,
                predicate,
                object,
                fault,
            })
            .boxed(),
    );
    add(
        "forget-fact",
        3,
        (user_s(), 0u8..2, fault_s(f("forget-fact")))
            .prop_map(|(user, predicate, fault)| Op::ForgetFact {
                user,
                predicate,
                fault,
            })
            .boxed(),
    );
    let mode = prop_oneof![
        Just(SearchMode::Lexical),
        Just(SearchMode::Semantic),
        Just(SearchMode::Hybrid),
    ];
    let limit = prop_oneof![2 => Just(None), 3 => (1u8..=4).prop_map(Some)];
    add(
        "search",
        8,
        (
            user_s(),
            query_s(),
            mode,
            limit,
            prop::option::weighted(0.2, session_s()),
            fault_s(f("search")),
            bad_embedding_s(bad_embeddings),
        )
            .prop_map(
                |(user, query, mode, limit, session, fault, embed)| Op::Search {
                    user,
                    query,
                    mode,
                    limit,
                    session,
                    fault,
                    embed,
                },
            )
            .boxed(),
    );
    add("restart", 5, Just(Op::Restart).boxed());
    // More new users than `max_users` holds: every resident one is evicted.
    let first = USERS.len() as u8 + 1;
    add(
        "flood",
        3,
        (first..=first + 3).prop_map(|n| Op::Flood { n }).boxed(),
    );
    add(
        "advance",
        10,
        prop_oneof![3 => 1u32..5000, 1 => 60_000u32..200_000]
            .prop_map(|ms| Op::Advance { ms })
            .boxed(),
    );
    add(
        "slow",
        3,
        (0u8..=3)
            .prop_map(|yields| Op::SlowStorage { yields })
            .boxed(),
    );
    add(
        "embed-tokens",
        3,
        any::<bool>()
            .prop_map(|reported| Op::EmbedderTokens { reported })
            .boxed(),
    );
    add(
        "forget-org",
        2,
        (org_s(), fault_s(f("forget-org")))
            .prop_map(|(org, fault)| Op::ForgetOrg { org, fault })
            .boxed(),
    );
    add(
        "export-org",
        3,
        (org_s(), fault_s(f("export-org")))
            .prop_map(|(org, fault)| Op::ExportOrg { org, fault })
            .boxed(),
    );
    assert!(!v.is_empty(), "TENANTRY_MBT_WITHOUT left no operation");
    Union::new_weighted(v).boxed()
}

// ---------------------------------------------------------------------------------------
// Storage with injected faults and latency.

/// One read of storage: (whether it was a `list`, the key or prefix).
type Read = (bool, String);

struct FaultStorage {
    inner: Rc<MemoryStorage>,
    armed: Cell<Option<(Call, u8)>>,
    fired: Cell<Option<Call>>,
    yields: Cell<u8>,
    /// The observer's view: reading must never write.
    read_only: bool,
    /// Writes refused to the observer: (operation, key, value put).
    writes: RefCell<Vec<(&'static str, String, Option<String>)>>,
    /// The observer's reads: what its view depends on.
    reads: RefCell<Vec<Read>>,
}

impl FaultStorage {
    fn new(inner: Rc<MemoryStorage>, read_only: bool) -> Rc<FaultStorage> {
        Rc::new(FaultStorage {
            inner,
            armed: Cell::new(None),
            fired: Cell::new(None),
            yields: Cell::new(0),
            read_only,
            writes: RefCell::new(Vec::new()),
            reads: RefCell::new(Vec::new()),
        })
    }

    fn arm(&self, fault: Option<Fault>) {
        self.fired.set(None);
        self.armed.set(fault.map(|f| (f.call, f.nth)));
    }

    /// Ends the operation's fault window: an unfired fault must not leak into the checks
    /// or the next operation. Returns whether it fired.
    fn disarm(&self) -> bool {
        self.armed.set(None);
        self.fired.take().is_some()
    }

    fn trips(&self, call: Call) -> bool {
        match self.armed.get() {
            Some((c, 0)) if c == call => {
                self.armed.set(None);
                self.fired.set(Some(call));
                true
            }
            Some((c, n)) if c == call => {
                self.armed.set(Some((c, n - 1)));
                false
            }
            _ => false,
        }
    }

    fn write_refused(
        &self,
        op: &'static str,
        key: &str,
        value: Option<&str>,
    ) -> Option<LocalBoxFuture<'static, tenantry::Result<()>>> {
        if !self.read_only {
            return None;
        }
        self.writes
            .borrow_mut()
            .push((op, key.to_owned(), value.map(str::to_owned)));
        let e = injected(op, "the observer's storage is read-only");
        Some(Box::pin(async move { Err(e) }))
    }
}

fn injected(op: &str, why: &str) -> Error {
    Error::Storage {
        operation: op.into(),
        message: why.into(),
    }
}

impl Storage for FaultStorage {
    fn get(&self, key: &str) -> LocalBoxFuture<'static, tenantry::Result<Option<String>>> {
        if self.read_only {
            self.reads.borrow_mut().push((false, key.to_owned()));
        }
        let (inner, key, y) = (self.inner.clone(), key.to_owned(), self.yields.get());
        // Read when the slow call completes, not when it starts, as a real store would.
        Box::pin(async move {
            yield_n(y.into()).await;
            inner.get(&key).await
        })
    }

    fn put(&self, key: &str, value: String) -> LocalBoxFuture<'static, tenantry::Result<()>> {
        if let Some(refused) = self.write_refused("put", key, Some(&value)) {
            return refused;
        }
        let fail = self.trips(Call::Put);
        let (inner, key, y) = (self.inner.clone(), key.to_owned(), self.yields.get());
        Box::pin(async move {
            yield_n(y.into()).await;
            if fail {
                return Err(injected("put", "injected fault"));
            }
            inner.put(&key, value).await
        })
    }

    fn delete(&self, key: &str) -> LocalBoxFuture<'static, tenantry::Result<()>> {
        if let Some(refused) = self.write_refused("delete", key, None) {
            return refused;
        }
        let fail = self.trips(Call::Delete);
        let (inner, key, y) = (self.inner.clone(), key.to_owned(), self.yields.get());
        Box::pin(async move {
            yield_n(y.into()).await;
            if fail {
                return Err(injected("delete", "injected fault"));
            }
            inner.delete(&key).await
        })
    }

    fn list(&self, prefix: &str) -> LocalBoxFuture<'static, tenantry::Result<Vec<String>>> {
        if self.read_only {
            self.reads.borrow_mut().push((true, prefix.to_owned()));
        }
        let fail = !self.read_only && self.trips(Call::List);
        let (inner, prefix, y) = (self.inner.clone(), prefix.to_owned(), self.yields.get());
        Box::pin(async move {
            yield_n(y.into()).await;
            if fail {
                return Err(injected("list", "injected fault"));
            }
            inner.list(&prefix).await
        })
    }
}

// ---------------------------------------------------------------------------------------
// The scripted model: each run's input names its reply.

#[derive(Default)]
struct Script {
    replies: RefCell<HashMap<String, (Reply, String)>>,
    /// Inputs whose model call started.
    called: RefCell<HashSet<String>>,
    leaks: RefCell<Vec<String>>,
    /// Texts handed to the embedder by any agent of the case: what proves a load reads
    /// vectors back instead of embedding again.
    embedded: Cell<usize>,
    /// The embedder's next call goes wrong like this.
    bad_embedding: Cell<Option<BadEmbedding>>,
    bad_embedding_fired: Cell<bool>,
    /// The embedder reports no tokens (the agent then charges its estimate); else one per
    /// text.
    unreported: Cell<bool>,
}

impl Script {
    fn arm_embedder(&self, bad: Option<BadEmbedding>) {
        self.bad_embedding_fired.set(false);
        self.bad_embedding.set(bad);
    }

    /// Like `FaultStorage::disarm`: whether the embedder answered badly.
    fn disarm_embedder(&self) -> bool {
        self.bad_embedding.set(None);
        self.bad_embedding_fired.take()
    }
}

struct ScriptedModel(Rc<Script>);

impl Model for ScriptedModel {
    fn generate(
        &self,
        request: ModelRequest,
        _ctx: CallContext,
    ) -> LocalBoxFuture<'static, tenantry::Result<RawModelResponse>> {
        let messages = request.messages();
        let mine = marker_of(request.org_id.as_deref(), request.user_id.as_deref());
        for m in &messages {
            for found in markers_in(&m.content) {
                if found != mine {
                    self.0.leaks.borrow_mut().push(format!(
                        "the prompt of {mine} held {found:?} in {:?}",
                        m.content
                    ));
                }
            }
        }
        let input = messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        // The request must name the (org, user) pair whose run this is: the input's marker.
        if markers_in(&input).first() != Some(&mine.as_str()) {
            self.0.leaks.borrow_mut().push(format!(
                "a request naming org {:?}, user {:?} carried the input {input:?}",
                request.org_id, request.user_id
            ));
        }
        self.0.called.borrow_mut().insert(input.clone());
        let reply = self.0.replies.borrow().get(&input).cloned();
        Box::pin(async move {
            yield_n(2).await;
            let Some((reply, text)) = reply else {
                return Err(Error::Model {
                    message: format!("no scripted reply for {input:?}"),
                });
            };
            match reply.reported() {
                Some((i, o)) => Ok(RawModelResponse {
                    text: Some(text),
                    usage: Some(RawUsage {
                        input_tokens: Some(i as f64),
                        output_tokens: Some(o as f64),
                    }),
                    ..Default::default()
                }),
                None if reply == Reply::Hang => futures_util::future::pending().await,
                None => Err(Error::Model {
                    message: "scripted failure".into(),
                }),
            }
        })
    }
}

/// The documented estimate of a text's tokens: 4 bytes a token, rounded up.
fn estimate(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// Lowercased alphanumeric runs, as the documented lexical search splits text.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
}

const DIMENSIONS: usize = 16;

/// The test embedder's vector of a text: each token counted in one of 15 dimensions picked
/// by an FNV-1a hash, plus a constant last one so no vector is all zeros. Texts sharing
/// tokens point the same way; a text is at cosine 1 with itself.
fn embedding_of(text: &str) -> Vec<f64> {
    let mut v = vec![0.0; DIMENSIONS];
    v[DIMENSIONS - 1] = 0.5;
    for t in tokens(text) {
        let h = t.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        v[(h % (DIMENSIONS as u64 - 1)) as usize] += 1.0;
    }
    v
}

/// A stored vector as the agent keeps it (f32), printed short in failure messages.
#[derive(Clone, PartialEq)]
struct Vector(Vec<f32>);

impl fmt::Debug for Vector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|x| x.to_string()).collect();
        write!(f, "v[{}]", parts.join(","))
    }
}

fn vector_of(text: &str) -> Vector {
    Vector(embedding_of(text).into_iter().map(|x| x as f32).collect())
}

fn cosine(a: &Vector, b: &Vector) -> Option<f64> {
    let dot: f64 = a.0.iter().zip(&b.0).map(|(x, y)| f64::from(x * y)).sum();
    let norm = |v: &Vector| v.0.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    (a.0.len() == b.0.len() && na > 0.0 && nb > 0.0).then(|| dot / (na * nb))
}

struct ScriptedEmbedder(Rc<Script>);

impl Embedder for ScriptedEmbedder {
    fn embed(
        &self,
        texts: Vec<String>,
        ctx: EmbedContext,
    ) -> LocalBoxFuture<'static, tenantry::Result<RawEmbeddings>> {
        let mine = marker_of(ctx.org_id.as_deref(), ctx.user_id.as_deref());
        for t in &texts {
            for found in markers_in(t) {
                if found != mine {
                    self.0.leaks.borrow_mut().push(format!(
                        "the embedder was given {found:?} in {t:?} for {mine}"
                    ));
                }
            }
        }
        let embedded = &self.0.embedded;
        embedded.set(embedded.get() + texts.len());
        let bad = self.0.bad_embedding.take();
        if bad.is_some() {
            self.0.bad_embedding_fired.set(true);
        }
        let tokens = (!self.0.unreported.get()).then_some(texts.len() as f64);
        Box::pin(async move {
            yield_n(1).await;
            let mut vectors: Vec<Vec<f64>> = texts.iter().map(|t| embedding_of(t)).collect();
            match bad {
                None => {}
                Some(BadEmbedding::Throw) => {
                    return Err(Error::Embedding {
                        reason: "injected embedder failure".into(),
                    })
                }
                Some(BadEmbedding::TooFew) => {
                    vectors.pop();
                }
                Some(BadEmbedding::NotFinite) => vectors[0][0] = f64::NAN,
                Some(BadEmbedding::Empty) => vectors[0].clear(),
            }
            Ok(RawEmbeddings { vectors, tokens })
        })
    }
}

fn build_agent(
    storage: Rc<dyn Storage>,
    clock: &Rc<ManualClock>,
    script: &Rc<Script>,
) -> Rc<Agent> {
    Rc::new(
        Agent::new(config(), Rc::new(ScriptedModel(script.clone())))
            .expect("the test's config is valid")
            .with_clock(clock.clone())
            .with_storage(storage)
            .with_embedder(Rc::new(ScriptedEmbedder(script.clone()))),
    )
}

// ---------------------------------------------------------------------------------------
// The reference model.

type Msg = (Role, String);
/// A message with the vector stored beside it.
type Entry = (Role, String, Option<Vector>);

/// A committed message: embedded from its own text.
fn said(role: Role, text: &str) -> Entry {
    (role, text.to_owned(), Some(vector_of(text)))
}

/// A stored or exported turn's messages with their vectors (a turn stores none or one
/// slot per message).
fn entries(t: &Turn) -> Vec<Entry> {
    t.messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let v = t.vectors.get(i).cloned().flatten().map(Vector);
            (m.role, m.content.clone(), v)
        })
        .collect()
}

fn bucket(now: f64) -> i64 {
    (now / BUCKET_MS).floor() as i64
}

fn rate_tokens(rate: Option<(f64, f64)>, now: f64) -> f64 {
    match rate {
        None => RATE_BURST,
        Some((t, at)) if now > at => (t + (now - at) * RATE_PER_MS).min(RATE_BURST),
        Some((t, _)) => t,
    }
}

/// Spend per window: lifetime totals, the minute window in the same 1/8-minute buckets
/// the ledger documents (a charge counts until 8 newer buckets have started), and the
/// token bucket as (tokens, at) with `None` for never used (full).
#[derive(Clone, Debug, Default)]
struct Budget {
    totals: [u64; 5],
    minute: BTreeMap<i64, [u64; 5]>,
    rate: Option<(f64, f64)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Allowed,
    Refused,
    Either,
}

/// What can be observed of a user's spend from outside.
#[derive(Clone, Debug, PartialEq)]
struct Spend {
    totals: [u64; 5],
    lifetime_tokens: u64,
    minute_tokens: u64,
    minute_requests: u64,
    rate_tokens: f64,
}

impl Budget {
    fn minute_used(&self, now: f64, m: usize) -> u64 {
        let c = bucket(now);
        let first = c - BUCKETS_PER_WINDOW as i64;
        self.minute.range(first..=c).map(|(_, a)| a[m]).sum()
    }

    fn prune(&mut self, now: f64) {
        let first = bucket(now) - BUCKETS_PER_WINDOW as i64;
        self.minute.retain(|b, _| *b >= first);
    }

    fn charge(&mut self, now: f64, input: u64, output: u64) {
        let a = [input, output, input + output, 0, 1];
        for (t, v) in self.totals.iter_mut().zip(a) {
            *t += v;
        }
        let cell = self.minute.entry(bucket(now)).or_default();
        cell[TOTAL] += input + output;
        cell[REQ] += 1;
        self.prune(now);
    }

    /// R10: an embedding is input tokens only, and no request.
    fn charge_embedding(&mut self, now: f64, tokens: u64) {
        self.totals[0] += tokens;
        self.totals[TOTAL] += tokens;
        self.minute.entry(bucket(now)).or_default()[TOTAL] += tokens;
        self.prune(now);
    }

    /// The most input an embedding may hold now: what the lifetime and the minute token
    /// limits have left (requests do not limit an embedding).
    fn embedding_room(&self, now: f64) -> u64 {
        let life = LIFETIME_TOKENS.saturating_sub(self.totals[TOTAL]);
        let minute = MINUTE_TOKENS.saturating_sub(self.minute_used(now, TOTAL));
        life.min(minute)
    }

    fn take_rate(&mut self, now: f64) -> bool {
        let t = rate_tokens(self.rate, now);
        if t >= 1.0 - 1e-9 {
            self.rate = Some(((t - 1.0).max(0.0), now));
            true
        } else {
            false
        }
    }

    /// Whether runs reaching `reserve` together, `n` of them holding or charging at most
    /// `worst` tokens in all, must be allowed, must be refused, or may go either way (the
    /// ledger reserves an estimate of the prompt this model does not replicate).
    fn verdict(&self, now: f64, n: u64, worst: u64) -> Verdict {
        let life = LIFETIME_TOKENS.saturating_sub(self.totals[TOTAL]);
        let tokens = MINUTE_TOKENS.saturating_sub(self.minute_used(now, TOTAL));
        let requests = MINUTE_REQUESTS.saturating_sub(self.minute_used(now, REQ));
        if life == 0 || tokens == 0 || requests == 0 {
            Verdict::Refused
        } else if life >= worst && tokens >= worst && requests >= n {
            Verdict::Allowed
        } else {
            Verdict::Either
        }
    }

    fn spend(&self, now: f64) -> Spend {
        Spend {
            totals: self.totals,
            lifetime_tokens: self.totals[TOTAL],
            minute_tokens: self.minute_used(now, TOTAL),
            minute_requests: self.minute_used(now, REQ),
            rate_tokens: rate_tokens(self.rate, now),
        }
    }

    /// A budget document as the ledger reads it at `now` (times in the future land now;
    /// buckets that left the window are dropped).
    fn from_doc(d: &AccountDoc, now: f64) -> Budget {
        let figures = |a: &AmountsDoc| {
            [
                a.input_tokens as u64,
                a.output_tokens as u64,
                a.total_tokens as u64,
                a.cost_nano_usd as u64,
                a.requests as u64,
            ]
        };
        let mut b = Budget {
            totals: figures(&d.totals),
            ..Default::default()
        };
        for w in d.windows.iter().filter(|w| w.window == Window::Minute) {
            for bd in &w.buckets {
                let f = figures(&bd.used);
                let cell = b.minute.entry(bucket(bd.at_ms.min(now))).or_default();
                cell[TOTAL] += f[TOTAL];
                cell[REQ] += f[REQ];
            }
        }
        b.rate = d
            .rate
            .as_ref()
            .map(|r| (r.tokens.min(RATE_BURST), r.at_ms.min(now)));
        b.prune(now);
        b
    }

    /// R6: every counter becomes the larger of what is held and what the document says.
    fn merge_max(&mut self, d: &Budget, now: f64) {
        for (t, v) in self.totals.iter_mut().zip(d.totals) {
            *t = (*t).max(v);
        }
        for (b, a) in &d.minute {
            let cell = self.minute.entry(*b).or_default();
            for (c, v) in cell.iter_mut().zip(a) {
                *c = (*c).max(*v);
            }
        }
        let (mine, theirs) = (rate_tokens(self.rate, now), rate_tokens(d.rate, now));
        if theirs < mine {
            self.rate = Some((theirs, now));
        }
        self.prune(now);
    }
}

#[derive(Clone, Debug, Default)]
struct UserModel {
    sessions: BTreeMap<String, Vec<Vec<Entry>>>,
    blocks: Vec<(String, String)>,
    properties: Map<String, Value>,
    /// The current value of each predicate remembered about the user.
    facts: BTreeMap<String, String>,
    budget: Budget,
    /// A storage fault hit an operation of this user since its last clean commit: the
    /// stored counters may lag RAM (never lead it) until the next successful run writes
    /// them again. Memory in storage stays exact.
    lagging: bool,
}

fn push_turn(turns: &mut Vec<Vec<Entry>>, turn: Vec<Entry>) {
    turns.push(turn);
    while turns.iter().map(Vec::len).sum::<usize>() > MAX_MESSAGES && turns.len() > 1 {
        turns.remove(0);
    }
}

fn msgs(messages: &[Message]) -> Vec<Msg> {
    messages
        .iter()
        .map(|m| (m.role, m.content.clone()))
        .collect()
}

type Memory = (
    BTreeMap<String, Vec<Vec<Entry>>>,
    Vec<(String, String)>,
    Map<String, Value>,
    BTreeMap<String, String>,
);

/// The open values among fact records: what is believed now to hold from now on.
fn current_facts<'a>(
    records: impl IntoIterator<Item = &'a tenantry::Fact>,
) -> BTreeMap<String, String> {
    records
        .into_iter()
        .filter(|f| f.superseded_at.is_none() && f.valid_until.is_none())
        .map(|f| (f.predicate.clone(), f.object.clone()))
        .collect()
}

fn memory_of_doc(doc: &UserDoc) -> Memory {
    let mut sessions = BTreeMap::new();
    for s in &doc.sessions {
        let mut turns = Vec::new();
        for t in &s.turns {
            push_turn(&mut turns, entries(t));
        }
        sessions.insert(s.id.clone(), turns);
    }
    let blocks = doc
        .blocks
        .iter()
        .map(|b| (b.label.clone(), b.text.clone()))
        .collect();
    (
        sessions,
        blocks,
        doc.properties.clone(),
        current_facts(&doc.facts),
    )
}

/// The messages, without their vectors (which `history` does not show).
fn flat(turns: &[Vec<Entry>]) -> Vec<Msg> {
    turns
        .iter()
        .flatten()
        .map(|(r, c, _)| (*r, c.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Comparisons between the agent (or its storage) and the model.

fn compare_memory(a: &Agent, key: &UserKey, m: &UserModel) -> Result<(), String> {
    let sessions = a.sessions(key).map_err(|e| format!("sessions(): {e}"))?;
    let got: BTreeSet<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
    let want: BTreeSet<&str> = m.sessions.keys().map(String::as_str).collect();
    if got != want {
        return Err(format!("sessions {got:?}, expected {want:?}"));
    }
    for (id, turns) in &m.sessions {
        let s = SessionId::parse(Some(id)).expect("valid session");
        let h = msgs(&a.history(key, &s).map_err(|e| format!("history(): {e}"))?);
        if h != flat(turns) {
            return Err(format!(
                "history of session {id:?} is {h:?}, expected {:?}",
                flat(turns)
            ));
        }
    }
    let blocks: Vec<(String, String)> = a
        .blocks(key)
        .map_err(|e| format!("blocks(): {e}"))?
        .into_iter()
        .map(|b| (b.label, b.text))
        .collect();
    if blocks != m.blocks {
        return Err(format!("blocks {blocks:?}, expected {:?}", m.blocks));
    }
    let props = a
        .properties(key)
        .map_err(|e| format!("properties(): {e}"))?;
    if props != m.properties {
        return Err(format!("properties {props:?}, expected {:?}", m.properties));
    }
    let facts =
        block_on(a.facts(key, &FactQuery::default())).map_err(|e| format!("facts(): {e}"))?;
    let facts = current_facts(&facts);
    if facts != m.facts {
        return Err(format!("facts {facts:?}, expected {:?}", m.facts));
    }
    Ok(())
}

fn spend_of(a: &Agent, key: &UserKey, now: f64) -> Result<Spend, String> {
    let r = a.usage(key);
    if r.reserved != Totals::default() {
        return Err(format!(
            "a reservation is still held with no run in flight: {:?}",
            r.reserved
        ));
    }
    let used = |m: Metric, w: Window| {
        r.limit(m, w)
            .map(|l| l.used as u64)
            .ok_or_else(|| format!("usage() has no {m:?} {w:?} limit"))
    };
    let doc = block_on(a.export(key)).map_err(|e| format!("export(): {e}"))?;
    let t = &r.totals;
    Ok(Spend {
        totals: [
            t.input_tokens,
            t.output_tokens,
            t.total_tokens,
            t.cost_nano_usd,
            t.requests,
        ],
        lifetime_tokens: used(Metric::TotalTokens, Window::Lifetime)?,
        minute_tokens: used(Metric::TotalTokens, Window::Minute)?,
        minute_requests: used(Metric::Requests, Window::Minute)?,
        rate_tokens: rate_tokens(
            doc.budget
                .and_then(|b| b.rate)
                .map(|r| (r.tokens.min(RATE_BURST), r.at_ms.min(now))),
            now,
        ),
    })
}

/// `lagging`: the stored spend may be behind (never ahead of) the model's.
fn compare_spend(got: &Spend, want: &Spend, lagging: bool) -> Result<(), String> {
    let ok = if lagging {
        got.totals.iter().zip(want.totals).all(|(g, w)| *g <= w)
            && got.lifetime_tokens <= want.lifetime_tokens
            && got.minute_tokens <= want.minute_tokens
            && got.minute_requests <= want.minute_requests
            && got.rate_tokens >= want.rate_tokens
    } else {
        got == want
    };
    if ok {
        return Ok(());
    }
    let show = |s: &Spend| {
        format!(
            "totals(in,out,total,costNano,requests)={:?} lifetimeTokens={} minuteTokens={} minuteRequests={} rateTokens={}",
            s.totals, s.lifetime_tokens, s.minute_tokens, s.minute_requests, s.rate_tokens
        )
    };
    Err(format!(
        "spend is {}; expected {}{}",
        show(got),
        if lagging { "at most " } else { "" },
        show(want)
    ))
}

fn compare_doc(doc: &UserDoc, key: &UserKey, m: &UserModel, now: f64) -> Result<(), String> {
    if doc.user_id.as_deref() != key.as_option() || doc.org_id.as_deref() != key.org() {
        return Err(format!(
            "the document is of user {:?} of org {:?}",
            doc.user_id, doc.org_id
        ));
    }
    if let Some(s) = doc
        .sessions
        .iter()
        .find(|s| s.user_id != doc.user_id || s.org_id != doc.org_id)
    {
        return Err(format!(
            "its session {:?} is of user {:?} of org {:?}",
            s.id, s.user_id, s.org_id
        ));
    }
    let (sessions, blocks, props, facts) = memory_of_doc(doc);
    if sessions != m.sessions || blocks != m.blocks || props != m.properties || facts != m.facts {
        return Err(format!(
            "the document holds sessions {sessions:?}, blocks {blocks:?}, properties {props:?}, facts {facts:?}; expected {:?}, {:?}, {:?}, {:?}",
            m.sessions, m.blocks, m.properties, m.facts
        ));
    }
    let got = doc
        .budget
        .as_ref()
        .map(|b| Budget::from_doc(b, now))
        .unwrap_or_default()
        .spend(now);
    compare_spend(&got, &m.budget.spend(now), false).map_err(|e| format!("its budget: {e}"))
}

/// The decoded storage records of one user against the model: in the live generation, one
/// session record per session and nothing else, a working-memory record when there is
/// working memory. Records of other generations are invisible to loads and not compared.
fn compare_stored(
    map: &BTreeMap<String, String>,
    key: &UserKey,
    m: &UserModel,
) -> Result<(), String> {
    if user_prefix(key) != layout_prefix(key) {
        return Err(format!(
            "[R11] its records are under {:?}, not {:?}",
            user_prefix(key),
            layout_prefix(key)
        ));
    }
    let generation: u32 = match map.get(&generation_key(key)) {
        None => 0,
        Some(t) => t
            .trim()
            .parse()
            .map_err(|e| format!("generation record {t:?}: {e}"))?,
    };
    let working = working_key(key, generation);
    let dir = &working[..working.len() - 1];
    let sessions = format!("{dir}s/");
    let mut seen = BTreeSet::new();
    for (k, v) in map.range(sessions.clone()..) {
        let Some(id) = k.strip_prefix(&sessions) else {
            break;
        };
        let doc: SessionDoc = serde_json::from_str(v).map_err(|e| format!("record {k:?}: {e}"))?;
        if doc.user_id.as_deref() != key.as_option()
            || doc.org_id.as_deref() != key.org()
            || doc.id != id
        {
            return Err(format!(
                "record {k:?} is of user {:?} of org {:?}, session {:?}",
                doc.user_id, doc.org_id, doc.id
            ));
        }
        let got: Vec<Entry> = doc.turns.iter().flat_map(entries).collect();
        let want: Option<Vec<Entry>> = m
            .sessions
            .get(id)
            .map(|t| t.iter().flatten().cloned().collect());
        if want.as_ref() != Some(&got) {
            return Err(format!(
                "record {k:?} holds {got:?}, expected {want:?} (messages with the vectors of their texts)"
            ));
        }
        seen.insert(id.to_owned());
    }
    let want: BTreeSet<String> = m.sessions.keys().cloned().collect();
    if seen != want {
        return Err(format!("session records for {seen:?}, expected {want:?}"));
    }
    match map.get(&working) {
        Some(v) => {
            let doc: WorkingDoc =
                serde_json::from_str(v).map_err(|e| format!("record {working:?}: {e}"))?;
            if doc.user_id.as_deref() != key.as_option() || doc.org_id.as_deref() != key.org() {
                return Err(format!(
                    "record {working:?} is of user {:?} of org {:?}",
                    doc.user_id, doc.org_id
                ));
            }
            let blocks: Vec<(String, String)> =
                doc.blocks.into_iter().map(|b| (b.label, b.text)).collect();
            if blocks != m.blocks || doc.properties != m.properties {
                return Err(format!(
                    "record {working:?} holds blocks {blocks:?} and properties {:?}, expected {:?} and {:?}",
                    doc.properties, m.blocks, m.properties
                ));
            }
        }
        None if !m.blocks.is_empty() || !m.properties.is_empty() => {
            return Err("no working-memory record".into())
        }
        None => {}
    }
    let facts_key = format!("{dir}f");
    let stored = match map.get(&facts_key) {
        Some(v) => {
            let doc: Value =
                serde_json::from_str(v).map_err(|e| format!("record {facts_key:?}: {e}"))?;
            if doc.get("userId").and_then(Value::as_str) != key.as_option()
                || doc.get("orgId").and_then(Value::as_str) != key.org()
            {
                return Err(format!(
                    "record {facts_key:?} is of user {:?} of org {:?}",
                    doc.get("userId"),
                    doc.get("orgId")
                ));
            }
            let records: Vec<tenantry::Fact> = serde_json::from_value(doc["facts"].clone())
                .map_err(|e| format!("record {facts_key:?}: {e}"))?;
            current_facts(&records)
        }
        None => BTreeMap::new(),
    };
    if stored != m.facts {
        return Err(format!(
            "the facts record holds {stored:?}, expected {:?}",
            m.facts
        ));
    }
    Ok(())
}

/// The budget records of users (under their pseudonyms).
fn budget_records(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    records(map, &format!("{ROOT_PREFIX}b/"))
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn records<'a>(map: &'a BTreeMap<String, String>, prefix: &str) -> Vec<(&'a String, &'a String)> {
    map.range(prefix.to_owned()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Judging a search against the model.

/// One search, as asked.
struct Ask {
    text: String,
    mode: SearchMode,
    limit: Option<usize>,
    session: Option<&'static str>,
}

impl Ask {
    fn options(&self) -> SearchOptions {
        SearchOptions {
            limit: self.limit,
            mode: self.mode,
            session: self
                .session
                .map(|s| SessionId::parse(Some(s)).expect("valid session")),
        }
    }

    fn show(&self, key: &UserKey) -> String {
        format!(
            "search({}, {:?}, {:?}, limit {:?}, session {:?})",
            show_key(key),
            self.text,
            self.mode,
            self.limit,
            self.session
        )
    }
}

/// A message of the searched user in the sessions asked for, with what each ranking can
/// know of it.
struct Candidate<'a> {
    session: &'a str,
    role: Role,
    content: &'a str,
    /// Tokens in the message.
    len: usize,
    /// Occurrences of query terms in it.
    found: usize,
    /// Cosine of its stored vector with the query's, when it has one.
    cosine: Option<f64>,
}

fn candidates<'a>(m: &'a UserModel, ask: &Ask) -> Vec<Candidate<'a>> {
    let terms: BTreeSet<String> = tokens(&ask.text).collect();
    let q = vector_of(&ask.text);
    let mut out = Vec::new();
    for (id, turns) in &m.sessions {
        if ask.session.is_some_and(|s| s != id) {
            continue;
        }
        for (role, content, v) in turns.iter().flatten() {
            let toks: Vec<String> = tokens(content).collect();
            out.push(Candidate {
                session: id,
                role: *role,
                content,
                len: toks.len(),
                found: toks.iter().filter(|t| terms.contains(*t)).count(),
                cosine: v.as_ref().and_then(|v| cosine(&q, v)),
            });
        }
    }
    out
}

/// Checks a search of user `u` against the model (R9, and R8 for a hit of someone else).
/// Returns whether a semantic search for a message's exact text found it first.
fn check_hits(users: &[UserModel], u: usize, ask: &Ask, hits: &[Hit]) -> Result<bool, String> {
    let cands = candidates(&users[u], ask);
    let limit = ask.limit.unwrap_or(DEFAULT_RECALL_LIMIT);
    let mut seen: Vec<usize> = Vec::new();
    for h in hits {
        let found = cands
            .iter()
            .position(|c| c.session == h.session_id && c.role == h.role && c.content == h.content);
        let Some(i) = found else {
            let owner = users.iter().position(|m| {
                m.sessions
                    .values()
                    .flatten()
                    .flatten()
                    .any(|(_, c, _)| *c == h.content)
            });
            return Err(match owner {
                Some(o) if o != u => {
                    format!("[R8] hit {h:?} is a message of {}", show_key(&ukey(o)))
                }
                _ => format!("hit {h:?} is no message of this user in the sessions asked for"),
            });
        };
        if seen.contains(&i) {
            return Err(format!("hit {h:?} is returned twice"));
        }
        seen.push(i);
    }
    if hits.windows(2).any(|w| w[0].score < w[1].score) {
        return Err(format!("hits are not best first: {hits:?}"));
    }
    let mode = ask.mode;
    let ranked = |c: &Candidate| match mode {
        SearchMode::Lexical => c.found > 0,
        SearchMode::Semantic => c.cosine.is_some(),
        SearchMode::Hybrid => c.found > 0 || c.cosine.is_some(),
    };
    if let Some(&i) = seen.iter().find(|&&i| !ranked(&cands[i])) {
        return Err(format!(
            "hit {:?} shares no term with the query and has no vector, yet a {mode:?} search returned it",
            cands[i].content
        ));
    }
    let pool = cands.iter().filter(|c| ranked(c)).count();
    if hits.len() != pool.min(limit) {
        return Err(format!(
            "{} hits; the {mode:?} ranking holds {pool} of this user's messages and the limit is {limit}: {hits:?}",
            hits.len()
        ));
    }
    let missed: Vec<&Candidate> = (0..cands.len())
        .filter(|i| ranked(&cands[*i]) && !seen.contains(i))
        .map(|i| &cands[i])
        .collect();
    match mode {
        SearchMode::Lexical => {
            let one_term = tokens(&ask.text).collect::<BTreeSet<_>>().len() == 1;
            // BM25 with one term, found at most once in any message: the score falls as
            // the message grows, so token counts rise down the list.
            if one_term && cands.iter().all(|c| c.found <= 1) {
                let lens: Vec<usize> = seen.iter().map(|&i| cands[i].len).collect();
                if lens.windows(2).any(|w| w[0] > w[1]) {
                    return Err(format!(
                        "a longer message ranks above a shorter one (token counts {lens:?}): {hits:?}"
                    ));
                }
                if let (Some(&last), Some(m)) = (lens.last(), missed.iter().min_by_key(|c| c.len)) {
                    if m.len < last {
                        return Err(format!(
                            "{:?} ({} tokens) was left out for a message of {last}: {hits:?}",
                            m.content, m.len
                        ));
                    }
                }
            }
        }
        SearchMode::Semantic => {
            for (h, &i) in hits.iter().zip(&seen) {
                let want = cands[i].cosine.unwrap_or(f64::NAN);
                if (h.score - want).abs() > 1e-4 {
                    return Err(format!(
                        "hit {h:?} scores {}; its vector's cosine with the query's is {want}",
                        h.score
                    ));
                }
            }
            let floor = hits.last().map_or(f64::INFINITY, |h| h.score);
            if let Some(m) = missed
                .iter()
                .find(|c| c.cosine.is_some_and(|x| x > floor + 1e-4))
            {
                return Err(format!(
                    "{:?} at cosine {:?} was left out for worse hits: {hits:?}",
                    m.content, m.cosine
                ));
            }
        }
        SearchMode::Hybrid => {
            for (h, &i) in hits.iter().zip(&seen) {
                let c = &cands[i];
                let lists = usize::from(c.found > 0) + usize::from(c.cosine.is_some());
                // Reciprocal rank fusion: at most 1 / (k + 1) from each ranking holding it.
                if !(h.score > 0.0 && h.score <= lists as f64 / (RRF_K + 1.0) + 1e-12) {
                    return Err(format!(
                        "hit {h:?} scores more than {lists} ranking(s) can give it"
                    ));
                }
            }
        }
    }
    let exact = cands
        .iter()
        .any(|c| c.content == ask.text && c.cosine.is_some_and(|x| x > 1.0 - 1e-6));
    if mode == SearchMode::Semantic && exact {
        match hits.first() {
            Some(h) if h.score > 1.0 - 1e-4 => return Ok(true),
            _ => {
                return Err(format!(
                    "the message whose text is the query must come first, at cosine 1: {hits:?}"
                ))
            }
        }
    }
    Ok(false)
}

/// The hits of the same search by two agents over the same memory: equal scores in the
/// same order; which messages tie at the cut may differ.
fn same_hits(a: &[Hit], b: &[Hit]) -> Result<(), String> {
    let key = |h: &Hit| {
        (
            h.session_id.clone(),
            format!("{:?}", h.role),
            h.content.clone(),
        )
    };
    let cut = a.last().map_or(0.0, |h| h.score);
    let above = |l: &[Hit]| {
        l.iter()
            .filter(|h| h.score > cut + 1e-9)
            .map(key)
            .collect::<BTreeSet<_>>()
    };
    let scores_differ = a.len() != b.len()
        || a.iter()
            .zip(b)
            .any(|(x, y)| (x.score - y.score).abs() > 1e-9 * x.score.abs().max(1.0));
    if scores_differ || above(a) != above(b) {
        return Err(format!(
            "the agent found {a:?}; a fresh agent over its storage (a restart now) found {b:?}"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Judging one run's outcome.

struct Expect<'a> {
    key: &'a UserKey,
    session: &'a str,
    reply: &'a Reply,
    text: &'a str,
    rate_ok: bool,
    pre_abort: bool,
    verdict: Verdict,
    fired: bool,
    /// The embedder answered this run's turn badly.
    bad_embedding: bool,
    called: bool,
}

/// Whether the run committed; an error when its outcome breaks a rule.
fn judge(e: &Expect<'_>, result: &tenantry::Result<RunOutput>) -> Result<bool, String> {
    let got = match result {
        Ok(o) => format!("Ok({:?})", o.text),
        Err(err) => format!("Err({}: {err})", err.code()),
    };
    let fail = |why: &str| {
        Err(format!(
            "{why}; the run of {} returned {got}",
            show_key(e.key)
        ))
    };
    let code = result.as_ref().err().map(Error::code);
    if !e.rate_ok {
        return match code {
            Some("rate_limited") if !e.called => Ok(false),
            _ => fail("[R3] the token bucket is empty: the run must be refused with rate_limited at call time, before any work"),
        };
    }
    if e.pre_abort {
        return match code {
            Some("aborted") if !e.called => Ok(false),
            _ => fail("[R1] the run's signal was aborted before it started: expected aborted with no model call"),
        };
    }
    if e.called && e.verdict == Verdict::Refused {
        return fail(
            "[R2] the model was called although the user was already at or over a budget limit",
        );
    }
    match result {
        Ok(out) => {
            let Some((i, o)) = e.reply.reported() else {
                return fail("[R1] a run whose model threw or never answered succeeded");
            };
            if !e.called {
                return fail("[R1] a run succeeded without calling its model");
            }
            if e.bad_embedding {
                return fail("[R1] a run succeeded although the embedding of its turn failed");
            }
            if out.text != e.text
                || out.usage.input_tokens != i
                || out.usage.output_tokens != o
                || out.user_id.as_deref() != e.key.as_option()
                || out.org_id.as_deref() != e.key.org()
                || out.session_id != e.session
            {
                return fail(&format!(
                    "[R1/R2] the result does not carry the model's answer and reported usage ({i} in, {o} out): {out:?}"
                ));
            }
            Ok(true)
        }
        Err(err) => match err.code() {
            "budget_exceeded" if e.called => {
                fail("[R2] refused with budget_exceeded after its model had been called")
            }
            "budget_exceeded" if e.verdict == Verdict::Allowed => fail(&format!(
                "[R2] refused with budget_exceeded although every limit had room for it (at least {RESERVE_BOUND} tokens and a request per concurrent run): {:?}",
                err.details()
            )),
            "budget_exceeded" => Ok(false),
            "model_error" if e.called && *e.reply == Reply::Throw => Ok(false),
            // The embedder is only asked once the model answered.
            "embedding_failed" if e.bad_embedding && e.called && e.reply.reported().is_some() => {
                Ok(false)
            }
            "aborted" if *e.reply == Reply::Hang => Ok(false),
            "storage" if e.fired => Ok(false),
            _ => fail("[R1] unexpected outcome"),
        },
    }
}

// ---------------------------------------------------------------------------------------
// One case: the agent, its storage, the model, and the steps.

#[derive(Default, Debug)]
struct Stats {
    ops: u64,
    runs_ok: u64,
    refused_budget: u64,
    refused_rate: u64,
    aborted: u64,
    model_errors: u64,
    run_storage_errors: u64,
    faults_fired: u64,
    exports: u64,
    imports_ok: u64,
    imports_refused: u64,
    restores_ok: u64,
    restores_refused: u64,
    restarts: u64,
    floods: u64,
    forgets: u64,
    embedding_failures: u64,
    facts_withdrawn: u64,
    /// Searches that returned hits, per mode (lexical, semantic, hybrid).
    searches_with_hits: [u64; 3],
    /// Semantic searches for a message's exact text, which came first.
    exact_first: u64,
    search_storage_errors: u64,
    /// Semantic or hybrid searches refused because the query's estimate did not fit.
    searches_refused: u64,
    /// Embedder calls charged with the estimate (the embedder reported no tokens).
    embeddings_estimated: u64,
    org_forgets: u64,
    /// Users `forget_org` reported erased.
    org_users_forgotten: u64,
    org_exports: u64,
    /// User documents in the org exports.
    org_users_exported: u64,
    /// Of those, documents of users holding no memory (resident partitions, counters).
    org_empty_docs: u64,
    /// Imports of a document, or one session, moved to another org: refused.
    org_moves_refused: u64,
}

struct World {
    raw: Rc<MemoryStorage>,
    storage: Rc<FaultStorage>,
    clock: Rc<ManualClock>,
    script: Rc<Script>,
    agent: Rc<Agent>,
    users: Vec<UserModel>,
    pool: Vec<UserDoc>,
    floods: Vec<UserKey>,
    next: u64,
    /// Per user, when the storage check and the fresh-agent check last passed: what the
    /// fresh agent read, and a digest of those bytes, the clock and the model's
    /// expectation. A fresh agent over the same bytes must see the same thing again, so an
    /// unchanged digest needs no second look.
    checked: Vec<Option<(Vec<Read>, u64)>>,
    /// Texts the current step may hand to the embedder: the two of each turn whose model
    /// answered, and each semantic or hybrid query.
    owed: usize,
}

impl World {
    fn new() -> World {
        let raw = Rc::new(MemoryStorage::default());
        let storage = FaultStorage::new(raw.clone(), false);
        let clock = Rc::new(ManualClock::new(START_MS));
        let script = Rc::new(Script::default());
        let agent = build_agent(storage.clone(), &clock, &script);
        // The first touch of any user makes the agent's pseudonym key (one put): done here,
        // so an injected fault never lands on that one-time write, and a read-only
        // observer finds the key in storage.
        block_on(agent.load(&ukey(0))).expect("the first load over healthy storage");
        World {
            raw,
            storage,
            clock,
            script,
            agent,
            users: vec![UserModel::default(); USERS.len()],
            pool: Vec::new(),
            floods: Vec::new(),
            next: 0,
            checked: vec![None; USERS.len()],
            owed: 0,
        }
    }

    fn now(&self) -> f64 {
        use tenantry::Clock;
        self.clock.now_ms()
    }

    fn model_index(key: &UserKey) -> Option<usize> {
        USERS
            .iter()
            .position(|&(org, user)| org == key.org() && user == key.as_option())
    }

    /// A fresh input and the reply the scripted model will give to it. Each carries one of
    /// four shared words, so a word search finds several messages, across users too, and
    /// replies run to three lengths, so length weighs in lexical ranking.
    fn script(&mut self, key: &UserKey, reply: &Reply) -> (String, String) {
        self.next += 1;
        let marker = marker_of_key(key);
        let n = self.next;
        let input = format!("{marker} q{n} w{}", n % 4);
        let text = format!(
            "{marker} a{n} w{}{}",
            (n / 4) % 4,
            " x".repeat(n as usize % 3)
        );
        self.script
            .replies
            .borrow_mut()
            .insert(input.clone(), (reply.clone(), text.clone()));
        (input, text)
    }

    fn step(&mut self, op: &Op, stats: &mut Stats) -> Result<(), String> {
        stats.ops += 1;
        let before = self.raw.map.borrow().clone();
        self.owed = 0;
        let embedded = self.script.embedded.get();
        let subjects = self.apply(op, stats)?;
        let applied = self.script.embedded.get();
        if applied - embedded != self.owed {
            return Err(format!(
                "[R9] the step embedded {} texts; its answered turns and queries are {}",
                applied - embedded,
                self.owed
            ));
        }
        let skip_ram = matches!(op, Op::Restart | Op::Flood { .. });
        self.check(op, &before, &subjects, skip_ram)?;
        let checked = self.script.embedded.get();
        if checked != applied {
            return Err(format!(
                "[R9] loading users and reading their memory embedded {} texts: stored vectors must be read back, not made again",
                checked - applied
            ));
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op, stats: &mut Stats) -> Result<Vec<UserKey>, String> {
        match op {
            Op::Run {
                user,
                session,
                reply,
                fault,
                embed,
            } => {
                let u = user.0 as usize;
                self.run_one(u, session.0 as usize, reply, *fault, *embed, stats)?;
                Ok(vec![ukey(u)])
            }
            Op::Concurrent { runs, forget_org } => {
                self.concurrent(runs, forget_org.map(|o| o.0 as usize), stats)
            }
            Op::Forget { user, fault } => {
                let u = user.0 as usize;
                self.forget(u, *fault, stats)?;
                Ok(vec![ukey(u)])
            }
            Op::Export { user, fault } => {
                let u = user.0 as usize;
                self.export(u, *fault, stats)?;
                Ok(vec![ukey(u)])
            }
            Op::Import { doc, edit, fault } => self.import(*doc, edit, *fault, stats),
            Op::Restore { corrupt, fault } => {
                self.restore(*corrupt, *fault, stats)?;
                Ok(Vec::new())
            }
            Op::Load { user, fault } => {
                let u = user.0 as usize;
                self.storage.arm(*fault);
                let r = block_on(self.agent.load(&ukey(u)));
                let fired = self.storage.disarm();
                stats.faults_fired += u64::from(fired);
                match r {
                    Ok(()) => {}
                    Err(e) if fired && e.code() == "storage" => {}
                    Err(e) => return Err(format!("[R4] load({}) failed: {e}", show_key(&ukey(u)))),
                }
                Ok(vec![ukey(u)])
            }
            Op::Remember {
                user,
                predicate,
                object,
                fault,
            } => {
                let u = user.0 as usize;
                let key = ukey(u);
                let fact = NewFact {
                    subject: "me".into(),
                    predicate: format!("p{predicate}"),
                    object: format!("o{object}"),
                    ..NewFact::default()
                };
                self.storage.arm(*fault);
                let r = block_on(self.agent.remember(&key, fact.clone()));
                let fired = self.storage.disarm();
                stats.faults_fired += u64::from(fired);
                match r {
                    Ok(f) if f.object == fact.object => {
                        self.users[u].facts.insert(fact.predicate, fact.object);
                    }
                    Err(e) if fired && e.code() == "storage" => {}
                    other => {
                        return Err(format!(
                            "[R1] remember({}, {fact:?}) returned {other:?}",
                            show_key(&key)
                        ))
                    }
                }
                Ok(vec![key])
            }
            Op::ForgetFact {
                user,
                predicate,
                fault,
            } => {
                let u = user.0 as usize;
                let key = ukey(u);
                let predicate = format!("p{predicate}");
                let held = self.users[u].facts.contains_key(&predicate);
                self.storage.arm(*fault);
                let r = block_on(self.agent.forget_fact(&key, "me", &predicate));
                let fired = self.storage.disarm();
                stats.faults_fired += u64::from(fired);
                match r {
                    Ok(withdrawn) if withdrawn == held => {
                        stats.facts_withdrawn += u64::from(withdrawn);
                        self.users[u].facts.remove(&predicate);
                    }
                    // Facts stay as they were: the checks after this step hold them to it.
                    Err(e) if fired && e.code() == "storage" => {}
                    other => {
                        return Err(format!(
                            "[R1] forget_fact({}, \"me\", {predicate:?}) returned {other:?}; a value was {}current",
                            show_key(&key),
                            if held { "" } else { "not " }
                        ))
                    }
                }
                Ok(vec![key])
            }
            Op::Search {
                user,
                query,
                mode,
                limit,
                session,
                fault,
                embed,
            } => {
                let u = user.0 as usize;
                let ask = Ask {
                    text: self.query_text(u, *query),
                    mode: *mode,
                    limit: limit.map(usize::from),
                    session: session.map(|s| SESSIONS[s.0 as usize]),
                };
                self.search(u, &ask, *fault, *embed, stats)?;
                Ok(vec![ukey(u)])
            }
            Op::Restart => {
                stats.restarts += 1;
                self.agent = build_agent(self.storage.clone(), &self.clock, &self.script);
                // Where a storage fault let the stored counters fall behind, the restarted
                // agent can only know what storage holds: the model takes that (the check
                // before this step already proved it is no more than RAM held).
                for u in 0..USERS.len() {
                    if self.users[u].lagging {
                        let stored = self.stored_budget(u)?;
                        self.users[u].budget = stored;
                        self.users[u].lagging = false;
                    }
                }
                Ok(Vec::new())
            }
            Op::Flood { n } => {
                stats.floods += 1;
                let mut subjects = Vec::new();
                for _ in 0..*n {
                    let k = self.floods.len();
                    let id = format!("{}#{k}", ["bob", "Bob", "bob "][k % 3]);
                    // Every other one in an org named like the default org's folder.
                    let org = (k % 2 == 1).then_some(FLOOD_ORG);
                    let key = UserKey::parse_in(org, Some(&id)).expect("valid ids");
                    let (input, text) = self.script(
                        &key,
                        &Reply::Answer {
                            input: 3,
                            output: 2,
                        },
                    );
                    let r = block_on(self.agent.run(input, key.clone(), RunOptions::default()));
                    self.owed += 2;
                    match r {
                        Ok(out) if out.text == text => {}
                        other => {
                            return Err(format!(
                                "[R4] a first run of the new user {id:?} did not succeed: {other:?}"
                            ))
                        }
                    }
                    self.floods.push(key.clone());
                    subjects.push(key);
                }
                Ok(subjects)
            }
            Op::Advance { ms } => {
                self.clock.advance(f64::from(*ms));
                Ok(Vec::new())
            }
            Op::SlowStorage { yields } => {
                self.storage.yields.set(*yields);
                Ok(Vec::new())
            }
            Op::EmbedderTokens { reported } => {
                self.script.unreported.set(!reported);
                Ok(Vec::new())
            }
            Op::ForgetOrg { org, fault } => self.forget_org(org.0 as usize, *fault, stats),
            Op::ExportOrg { org, fault } => self.export_org(org.0 as usize, *fault, stats),
        }
    }

    /// R10: what one successful embedder call of `texts` is charged: the tokens the
    /// embedder reports (one a text), or, when it reports none, the estimate of each text.
    fn embedding_charge(&self, texts: &[&str], stats: &mut Stats) -> u64 {
        if self.script.unreported.get() {
            stats.embeddings_estimated += 1;
            texts.iter().map(|t| estimate(t)).sum()
        } else {
            texts.len() as u64
        }
    }

    fn run_one(
        &mut self,
        u: usize,
        s: usize,
        reply: &Reply,
        fault: Option<Fault>,
        embed: Option<BadEmbedding>,
        stats: &mut Stats,
    ) -> Result<(), String> {
        let key = ukey(u);
        let now = self.now();
        let (input, text) = self.script(&key, reply);
        let rate_ok = self.users[u].budget.take_rate(now);
        let verdict = self.users[u].budget.verdict(now, 1, reply.worst());
        self.storage.arm(fault);
        self.script.arm_embedder(embed);
        let result = block_on(self.agent.run(
            input.clone(),
            key.clone(),
            RunOptions {
                session: sid(s),
                ..Default::default()
            },
        ));
        let fired = self.storage.disarm();
        let bad_embedding = self.script.disarm_embedder();
        let called = self.script.called.borrow_mut().remove(&input);
        let committed = judge(
            &Expect {
                key: &key,
                session: SESSIONS[s],
                reply,
                text: &text,
                rate_ok,
                pre_abort: false,
                verdict,
                fired,
                bad_embedding,
                called,
            },
            &result,
        )?;
        count(stats, &result, fired);
        // R10: the turn is embedded once the model answered, never refused, and charged
        // unless the embedder answered badly (whatever the commit then does).
        let answered = called && reply.reported().is_some();
        let embedding =
            (answered && !bad_embedding).then(|| self.embedding_charge(&[&input, &text], stats));
        let m = &mut self.users[u];
        if let (true, Some((i, o))) = (called, reply.reported()) {
            m.budget.charge(now, i, o);
            self.owed += 2;
        }
        if let Some(tokens) = embedding {
            m.budget.charge_embedding(now, tokens);
        }
        if committed {
            push_turn(
                m.sessions.entry(SESSIONS[s].to_owned()).or_default(),
                vec![said(Role::User, &input), said(Role::Assistant, &text)],
            );
        }
        if fired {
            m.lagging = true;
        } else if committed {
            m.lagging = false;
        }
        Ok(())
    }

    fn concurrent(
        &mut self,
        runs: &[BatchRun],
        race: Option<usize>,
        stats: &mut Stats,
    ) -> Result<Vec<UserKey>, String> {
        let now = self.now();
        let mut pool = LocalPool::new();
        let spawner = pool.spawner();
        let erased: Rc<RefCell<Option<tenantry::Result<usize>>>> = Rc::new(RefCell::new(None));
        let holding = race.map(|o| {
            users_of_org(o)
                .into_iter()
                .filter(|&u| has_memory(&self.users[u]))
                .count()
        });
        if let Some(o) = race {
            stats.org_forgets += 1;
            let (agent, erased) = (self.agent.clone(), erased.clone());
            spawner
                .spawn_local(async move {
                    let r = agent.forget_org(&org_key(o)).await;
                    *erased.borrow_mut() = Some(r);
                })
                .map_err(|e| format!("spawn: {e:?}"))?;
        }
        let results: Rc<RefCell<Vec<Option<tenantry::Result<RunOutput>>>>> =
            Rc::new(RefCell::new(vec![None; runs.len()]));
        let mut started = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            let u = r.user.0 as usize;
            let (input, text) = self.script(&ukey(u), &r.reply);
            let cancel = Rc::new(ManualCancel::default());
            if r.pre_abort {
                cancel.cancel();
            }
            let fut = self.agent.run(
                input.clone(),
                ukey(u),
                RunOptions {
                    session: sid(r.session.0 as usize),
                    cancellation: Some(Rc::new(CancelHandle(cancel.clone()))),
                    ..Default::default()
                },
            );
            let results = results.clone();
            spawner
                .spawn_local(async move {
                    let r = fut.await;
                    results.borrow_mut()[i] = Some(r);
                })
                .map_err(|e| format!("spawn: {e:?}"))?;
            started.push((input, text, cancel));
        }
        // Every run of a user that is not aborted up front may hold budget while the others
        // check theirs (rate-limited ones too, for all this bound knows).
        let verdicts: Vec<Verdict> = runs
            .iter()
            .map(|r| {
                let rivals = runs.iter().filter(|o| o.user.0 == r.user.0 && !o.pre_abort);
                let n = rivals.clone().count() as u64;
                let worst = rivals.map(|o| o.reply.worst()).sum();
                self.users[r.user.0 as usize].budget.verdict(now, n, worst)
            })
            .collect();
        pool.run_until_stalled();
        for (r, (_, _, cancel)) in runs.iter().zip(&started) {
            if r.reply == Reply::Hang {
                cancel.cancel();
            }
        }
        pool.run_until_stalled();
        let mut results = results.borrow_mut();
        let mut outcomes = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            let result = results[i].take().ok_or_else(|| {
                format!(
                    "[R1] run {i} of the batch ({r:?}) never finished, though every hung run was aborted"
                )
            })?;
            outcomes.push(result);
        }
        // A user's rate checks all happen at this one instant, but when the counters must
        // first be read back from storage they happen as the runs get going, in no set
        // order: how many pass is fixed by the bucket, which ones is not.
        let mut rate_ok = vec![true; runs.len()];
        for u in 0..USERS.len() {
            let mine: Vec<usize> = (0..runs.len())
                .filter(|&i| runs[i].user.0 as usize == u)
                .collect();
            let mut passes = 0;
            for _ in &mine {
                passes += usize::from(self.users[u].budget.take_rate(now));
            }
            let mut limited = 0;
            for &i in &mine {
                if outcomes[i].as_ref().err().map(Error::code) == Some("rate_limited") {
                    rate_ok[i] = false;
                    limited += 1;
                }
            }
            if mine.len() - limited != passes {
                return Err(format!(
                    "[R3] {} of {} concurrent runs of {} passed the rate limit; its token bucket allowed {passes}",
                    mine.len() - limited,
                    mine.len(),
                    show_key(&ukey(u))
                ));
            }
        }
        for (i, (r, (input, text, _))) in runs.iter().zip(&started).enumerate() {
            let u = r.user.0 as usize;
            let key = ukey(u);
            let result = &outcomes[i];
            let called = self.script.called.borrow_mut().remove(input);
            let committed = judge(
                &Expect {
                    key: &key,
                    session: SESSIONS[r.session.0 as usize],
                    reply: &r.reply,
                    text,
                    rate_ok: rate_ok[i],
                    pre_abort: r.pre_abort,
                    verdict: verdicts[i],
                    fired: false,
                    bad_embedding: false,
                    called,
                },
                result,
            )
            .map_err(|e| format!("batch run {i}: {e}"))?;
            count(stats, result, false);
            // Only hung runs are aborted once going, and they never answer: every run whose
            // model answered reaches its turn's embedding (R10).
            let answered = called && r.reply.reported().is_some();
            let embedding = answered.then(|| self.embedding_charge(&[input, text], stats));
            let m = &mut self.users[u];
            if let (true, Some((inp, out))) = (called, r.reply.reported()) {
                m.budget.charge(now, inp, out);
                self.owed += 2;
            }
            if let Some(tokens) = embedding {
                m.budget.charge_embedding(now, tokens);
            }
            if committed {
                push_turn(
                    m.sessions
                        .entry(SESSIONS[r.session.0 as usize].to_owned())
                        .or_default(),
                    vec![said(Role::User, input), said(Role::Assistant, text)],
                );
                m.lagging = false;
            }
        }
        let mut subjects: Vec<UserKey> = runs.iter().map(|r| ukey(r.user.0 as usize)).collect();
        subjects.dedup();
        if let (Some(o), Some(holding)) = (race, holding) {
            let org = org_key(o);
            let mine = users_of_org(o);
            match erased.borrow_mut().take() {
                Some(Ok(n)) if n >= holding && n <= mine.len() => {
                    stats.org_users_forgotten += n as u64;
                }
                other => {
                    return Err(format!(
                        "[R11] forget_org({org:?}) racing the batch returned {other:?}; {holding} of its {} users hold memory",
                        mine.len()
                    ))
                }
            }
            if let Some((k, _)) = records(&self.raw.map.borrow(), &org_prefix(&org)).first() {
                return Err(format!(
                    "[R11] after forget_org({org:?}) raced the batch, storage still holds {k:?}"
                ));
            }
            for &u in &mine {
                let m = &mut self.users[u];
                m.sessions.clear();
                m.blocks.clear();
                m.properties.clear();
                m.facts.clear();
                subjects.push(ukey(u));
            }
        }
        Ok(subjects)
    }

    fn query_text(&self, u: usize, q: Query) -> String {
        let all: Vec<(usize, &str)> = self
            .users
            .iter()
            .enumerate()
            .flat_map(|(o, m)| {
                m.sessions
                    .values()
                    .flatten()
                    .flatten()
                    .map(move |(_, c, _)| (o, c.as_str()))
            })
            .collect();
        let pick = |n: u16| (!all.is_empty()).then(|| all[n as usize % all.len()]);
        let text = match q {
            Query::Word(k) => format!("w{k}"),
            Query::Unknown => "zebra".into(),
            Query::Content(n) => match pick(n) {
                Some((o, c)) if o == u => c.to_owned(),
                // Another user's marker would read as a leak at the embedder.
                Some((_, c)) => unmarked(c),
                None => String::new(),
            },
            // The first token after the marker (which is one to four tokens).
            Query::Token(n) => pick(n)
                .and_then(|(_, c)| tokens(&unmarked(c)).next())
                .unwrap_or_default(),
        };
        match text.is_empty() {
            true => "w0".into(),
            false => text,
        }
    }

    fn search(
        &mut self,
        u: usize,
        ask: &Ask,
        fault: Option<Fault>,
        embed: Option<BadEmbedding>,
        stats: &mut Stats,
    ) -> Result<(), String> {
        let key = ukey(u);
        let now = self.now();
        // R10: only a semantic or hybrid search embeds its query, once the user is loaded,
        // and refuses it first when its estimate does not fit what the limits have left.
        let embeds = ask.mode.semantic() && !ask.text.trim().is_empty();
        let query_texts = usize::from(embeds);
        let needs = estimate(&ask.text);
        let room = self.users[u].budget.embedding_room(now);
        let refused = embeds && needs > room;
        let stored_before = budget_records(&self.raw.map.borrow());
        self.storage.arm(fault);
        self.script.arm_embedder(embed);
        let embedded = self.script.embedded.get();
        let r = block_on(self.agent.search(&key, &ask.text, ask.options()));
        let fired = self.storage.disarm();
        let bad = self.script.disarm_embedder();
        stats.faults_fired += u64::from(fired);
        if fired {
            // The write of the query's charge may be what failed.
            self.users[u].lagging = true;
        }
        let hits = match r {
            // Loading the user failed: nothing was embedded or charged.
            Err(e) if fired && !bad && e.code() == "storage" => {
                stats.search_storage_errors += 1;
                return Ok(());
            }
            Err(e) if refused && e.code() == "budget_exceeded" => {
                stats.searches_refused += 1;
                return Ok(());
            }
            Err(e) if bad && e.code() == "embedding_failed" => {
                self.owed += query_texts;
                stats.embedding_failures += 1;
                return Ok(());
            }
            Ok(hits) if !bad && !refused => hits,
            other => {
                let why = match (bad, refused) {
                    (true, _) => "; the embedder answered its query badly".to_owned(),
                    (false, true) => format!(
                        "; [R10] its query's estimate ({needs} tokens) does not fit the {room} the user's token limits have left: expected budget_exceeded before the embedder is called"
                    ),
                    (false, false) if embeds => format!(
                        " ([R10] its query's estimate, {needs} tokens, fits the {room} the user's token limits have left)"
                    ),
                    (false, false) => String::new(),
                };
                return Err(format!("[R9] {} returned {other:?}{why}", ask.show(&key)));
            }
        };
        self.owed += query_texts;
        if self.script.embedded.get() - embedded != query_texts {
            return Err(format!(
                "[R9] {} gave the embedder {} texts; only its query may be embedded, and only to rank by meaning",
                ask.show(&key),
                self.script.embedded.get() - embedded
            ));
        }
        let charge = match embeds {
            true => self.embedding_charge(&[&ask.text], stats),
            false => 0,
        };
        self.users[u].budget.charge_embedding(now, charge);
        // The charge is written through (the checks after this step compare what storage
        // holds with the model): one budget record, this user's, and only when charged.
        let changed: Vec<String> = {
            let after = budget_records(&self.raw.map.borrow());
            let mut keys: BTreeSet<&String> = stored_before.keys().collect();
            keys.extend(after.keys());
            keys.into_iter()
                .filter(|k| stored_before.get(*k) != after.get(*k))
                .cloned()
                .collect()
        };
        let mine = match (embeds, fired, changed.as_slice()) {
            (true, _, [k]) => Some(k.clone()),
            (_, true, []) => None,
            (false, false, []) => None,
            _ => {
                return Err(format!(
                    "[R10] {} changed the budget records {changed:?}; expected {}",
                    ask.show(&key),
                    if embeds {
                        "the user's own, with the query's charge"
                    } else {
                        "none (a lexical search charges nothing)"
                    }
                ))
            }
        };
        let exact = check_hits(&self.users, u, ask, &hits)
            .map_err(|e| format!("[R9] {}: {e}", ask.show(&key)))?;
        stats.exact_first += u64::from(exact);
        if !hits.is_empty() {
            stats.searches_with_hits[ask.mode as usize] += 1;
        }
        // The same search by a fresh agent over the storage: a restart finds the same, from
        // the vectors stored with the turns, and charges its query to the counters the
        // search above wrote through. Its own write of that charge is refused by the
        // read-only view (the agent ignores that; its charge stays in its RAM) and is
        // judged below: it is this user's budget record and nothing else. That agent's
        // charge is not the model's.
        let ro = FaultStorage::new(self.raw.clone(), true);
        let fresh = build_agent(ro.clone(), &self.clock, &self.script);
        let lagging = self.users[u].lagging;
        let room = self.users[u].budget.embedding_room(now);
        // Stored counters that lag the model's leave a restart more room, never less.
        let refused_again = embeds && needs > room;
        let embedded = self.script.embedded.get();
        let again = block_on(fresh.search(&key, &ask.text, ask.options()));
        let again = match again {
            Err(e) if refused_again && e.code() == "budget_exceeded" => None,
            Ok(hits) if !refused_again || lagging => Some(hits),
            other => {
                return Err(format!(
                    "[R9 + R4] a fresh agent over this storage returned {other:?} for {}{}",
                    ask.show(&key),
                    match refused_again {
                        true => format!("; [R10] its query's estimate ({needs} tokens) does not fit the {room} the stored counters leave: expected budget_exceeded"),
                        false => String::new(),
                    }
                ))
            }
        };
        let charged_again = embeds && again.is_some();
        self.owed += usize::from(charged_again);
        if self.script.embedded.get() - embedded != usize::from(charged_again) {
            return Err(format!(
                "[R9 + R4] a fresh agent over this storage gave the embedder {} texts for {}: stored vectors must be read back, and only the query embedded",
                self.script.embedded.get() - embedded,
                ask.show(&key)
            ));
        }
        let charge_again = match charged_again {
            true => self.embedding_charge(&[&ask.text], stats),
            false => 0,
        };
        let writes = ro.writes.take();
        let m = &self.users[u];
        let wrote = match (charged_again, writes.as_slice()) {
            (false, []) => Ok(()),
            (true, [("put", k, Some(v))]) if mine.as_ref().is_none_or(|mine| mine == k) => {
                let mut want = m.budget.clone();
                want.charge_embedding(now, charge_again);
                serde_json::from_str::<AccountDoc>(v)
                    .map_err(|e| format!("{k:?} is no budget record: {e}"))
                    .and_then(|doc| {
                        let got = Budget::from_doc(&doc, now).spend(now);
                        compare_spend(&got, &want.spend(now), lagging)
                    })
                    .map_err(|e| format!("[R10] it wrote through the query's charge, but {e}"))
            }
            (_, w) => Err(format!(
                "it wrote {w:?}; expected {}",
                match (charged_again, &mine) {
                    (false, _) => "nothing".to_owned(),
                    (true, Some(k)) => format!("only the user's budget record {k:?}"),
                    (true, None) => "only the user's budget record".to_owned(),
                }
            )),
        };
        wrote.map_err(|e| {
            format!(
                "[R9 + R4] a fresh agent over this storage ran {}: {e}",
                ask.show(&key)
            )
        })?;
        let Some(again) = again else {
            return Ok(());
        };
        check_hits(&self.users, u, ask, &again)
            .and_then(|_| same_hits(&hits, &again))
            .map_err(|e| {
                format!(
                    "[R9 + R4] {} from a fresh agent over this storage: {e}",
                    ask.show(&key)
                )
            })?;
        Ok(())
    }

    fn forget(&mut self, u: usize, fault: Option<Fault>, stats: &mut Stats) -> Result<(), String> {
        stats.forgets += 1;
        let key = ukey(u);
        self.storage.arm(fault);
        let r = block_on(self.agent.forget(&key));
        let fired = self.storage.disarm();
        stats.faults_fired += u64::from(fired);
        if let Err(e) = r {
            if !(fired && e.code() == "storage") {
                return Err(format!("[R5] forget({}) failed: {e}", show_key(&key)));
            }
            // A forget cut short by storage is finished by calling it again.
            block_on(self.agent.forget(&key)).map_err(|e| {
                format!(
                    "[R5] forget({}) failed again with healthy storage: {e}",
                    show_key(&key)
                )
            })?;
        }
        let prefix = user_prefix(&key);
        let left: Vec<String> = records(&self.raw.map.borrow(), &prefix)
            .into_iter()
            .map(|(k, _)| k.clone())
            .filter(|k| k.contains("/s/") || k.ends_with("/w") || k.ends_with("/f"))
            .collect();
        if !left.is_empty() {
            return Err(format!(
                "[R5] after forget({}) storage still holds its records {left:?}",
                show_key(&key)
            ));
        }
        let m = &mut self.users[u];
        m.sessions.clear();
        m.blocks.clear();
        m.properties.clear();
        m.facts.clear();
        if fired {
            m.lagging = true;
        }
        Ok(())
    }

    /// R11: `forget` of every user of the org, then nothing left under the org's prefix.
    fn forget_org(
        &mut self,
        o: usize,
        fault: Option<Fault>,
        stats: &mut Stats,
    ) -> Result<Vec<UserKey>, String> {
        stats.org_forgets += 1;
        let org = org_key(o);
        let mine = users_of_org(o);
        let holding = mine.iter().filter(|&&u| has_memory(&self.users[u])).count();
        self.storage.arm(fault);
        let r = block_on(self.agent.forget_org(&org));
        let fired = self.storage.disarm();
        stats.faults_fired += u64::from(fired);
        let erased = match r {
            Ok(n) => Some(n),
            Err(e) if fired && e.code() == "storage" => {
                // Cut short by storage, it is finished by calling it again.
                block_on(self.agent.forget_org(&org)).map_err(|e| {
                    format!("[R11] forget_org({org:?}) failed again with healthy storage: {e}")
                })?;
                None
            }
            Err(e) => return Err(format!("[R11] forget_org({org:?}) failed: {e}")),
        };
        // Users with nothing may be counted (a resident empty partition, a stale record):
        // never fewer than those holding memory, never a user of another org.
        if let Some(n) = erased {
            if n < holding || n > mine.len() {
                return Err(format!(
                    "[R11] forget_org({org:?}) erased {n} users; {holding} of its {} users hold memory",
                    mine.len()
                ));
            }
            stats.org_users_forgotten += n as u64;
        }
        let left: Vec<String> = records(&self.raw.map.borrow(), &org_prefix(&org))
            .into_iter()
            .map(|(k, _)| k.clone())
            .collect();
        if !left.is_empty() {
            return Err(format!(
                "[R11] after forget_org({org:?}) storage still holds {left:?}"
            ));
        }
        for &u in &mine {
            let m = &mut self.users[u];
            m.sessions.clear();
            m.blocks.clear();
            m.properties.clear();
            m.facts.clear();
            if fired {
                m.lagging = true;
            }
        }
        Ok(mine.into_iter().map(ukey).collect())
    }

    /// R11: the org's users, each document what `export` gives; every user holding memory
    /// is in it, and no user of another org.
    fn export_org(
        &mut self,
        o: usize,
        fault: Option<Fault>,
        stats: &mut Stats,
    ) -> Result<Vec<UserKey>, String> {
        stats.org_exports += 1;
        let org = org_key(o);
        let mine = users_of_org(o);
        let subjects: Vec<UserKey> = mine.iter().map(|&u| ukey(u)).collect();
        self.storage.arm(fault);
        let r = block_on(self.agent.export_org(&org));
        let fired = self.storage.disarm();
        stats.faults_fired += u64::from(fired);
        let doc: OrgDoc = match r {
            Ok(doc) => doc,
            Err(e) if fired && e.code() == "storage" => return Ok(subjects),
            Err(e) => return Err(format!("[R11] export_org({org:?}) failed: {e}")),
        };
        let now = self.now();
        if doc.format != "tenantry.org" || doc.org_id != ORGS[o] || doc.exported_at != now {
            return Err(format!(
                "[R11] export_org({org:?}) is {:?} of org {:?} at {}",
                doc.format, doc.org_id, doc.exported_at
            ));
        }
        let mut seen: Vec<usize> = Vec::new();
        for d in &doc.users {
            let key = UserKey::parse_in(d.org_id.as_deref(), d.user_id.as_deref())
                .map_err(|e| format!("[R11] export_org({org:?}) holds a bad id: {e}"))?;
            let Some(u) = Self::model_index(&key).filter(|u| mine.contains(u)) else {
                return Err(format!(
                    "[R8/R11] export_org({org:?}) holds a document of {}, no user of that org",
                    show_key(&key)
                ));
            };
            if seen.contains(&u) {
                return Err(format!(
                    "[R11] export_org({org:?}) holds {} twice",
                    show_key(&key)
                ));
            }
            seen.push(u);
            stats.org_empty_docs += u64::from(!has_memory(&self.users[u]));
            compare_doc(d, &key, &self.users[u], now).map_err(|e| {
                format!(
                    "[R11] export_org({org:?}) disagrees with the model on {}: {e}",
                    show_key(&key)
                )
            })?;
            let alone = block_on(self.agent.export(&key))
                .map_err(|e| format!("[R11] export({}) failed: {e}", show_key(&key)))?;
            if alone != *d {
                return Err(format!(
                    "[R11] export_org({org:?}) gives {} as {d:?}; export gives {alone:?}",
                    show_key(&key)
                ));
            }
        }
        let keys: Vec<UserKey> = seen.iter().map(|&u| ukey(u)).collect();
        if keys.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "[R11] export_org({org:?}) lists its users out of id order: {keys:?}"
            ));
        }
        if let Some(&u) = mine
            .iter()
            .find(|&&u| has_memory(&self.users[u]) && !seen.contains(&u))
        {
            return Err(format!(
                "[R11] export_org({org:?}) leaves out {}, who holds memory",
                show_key(&ukey(u))
            ));
        }
        stats.org_users_exported += seen.len() as u64;
        for d in doc.users {
            if self.pool.len() >= 6 {
                self.pool.remove(0);
            }
            self.pool.push(d);
        }
        Ok(subjects)
    }

    fn export(&mut self, u: usize, fault: Option<Fault>, stats: &mut Stats) -> Result<(), String> {
        stats.exports += 1;
        let key = ukey(u);
        self.storage.arm(fault);
        let r = block_on(self.agent.export(&key));
        let fired = self.storage.disarm();
        stats.faults_fired += u64::from(fired);
        let doc = match r {
            Ok(doc) => doc,
            Err(e) if fired && e.code() == "storage" => return Ok(()),
            Err(e) => return Err(format!("[R4] export({}) failed: {e}", show_key(&key))),
        };
        compare_doc(&doc, &key, &self.users[u], self.now()).map_err(|e| {
            format!(
                "[R4/R5] export({}) disagrees with the model: {e}",
                show_key(&key)
            )
        })?;
        if self.pool.len() >= 6 {
            self.pool.remove(0);
        }
        self.pool.push(doc);
        Ok(())
    }

    fn import(
        &mut self,
        pick: u8,
        edit: &Edit,
        fault: Option<Fault>,
        stats: &mut Stats,
    ) -> Result<Vec<UserKey>, String> {
        if self.pool.is_empty() {
            return Ok(Vec::new());
        }
        let mut doc = self.pool[pick as usize % self.pool.len()].clone();
        let key = UserKey::parse_in(doc.org_id.as_deref(), doc.user_id.as_deref())
            .expect("exported ids are valid");
        let u = Self::model_index(&key).expect("only model users are exported");
        let now = self.now();
        self.next += 1;
        let valid = edit_doc(&mut doc, edit, now, self.next);
        self.storage.arm(fault);
        let r = block_on(self.agent.import(doc.clone()));
        let fired = self.storage.disarm();
        stats.faults_fired += u64::from(fired);
        let who = show_key(&key);
        match (valid, r) {
            (false, Err(e)) if e.code() == "invalid_import" => {
                stats.imports_refused += 1;
                if matches!(edit, Edit::MoveToOrg | Edit::SessionToOrg) {
                    stats.org_moves_refused += 1;
                }
            }
            (false, other) => {
                return Err(format!(
                    "[R6] an invalid document ({edit:?}) must be refused with invalid_import and change nothing; import returned {other:?}"
                ))
            }
            (true, Ok(k)) if k == key => {
                stats.imports_ok += 1;
                let m = &mut self.users[u];
                let (sessions, blocks, props, facts) = memory_of_doc(&doc);
                m.sessions = sessions;
                m.blocks = blocks;
                m.properties = props;
                m.facts = facts;
                if let Some(b) = &doc.budget {
                    m.budget.merge_max(&Budget::from_doc(b, now), now);
                }
                if fired {
                    m.lagging = true;
                }
            }
            (true, Err(e)) if fired && e.code() == "storage" => {
                // R6: all or nothing; the checks after this step hold RAM and storage to
                // exactly what they were.
                stats.imports_refused += 1;
            }
            (true, other) => {
                return Err(format!(
                    "[R6] import of {who}'s document ({edit:?}) returned {other:?}"
                ))
            }
        }
        Ok(vec![key])
    }

    fn restore(
        &mut self,
        corrupt: Option<(u8, Corrupt)>,
        fault: Option<Fault>,
        stats: &mut Stats,
    ) -> Result<(), String> {
        let now = self.now();
        let mut snap: SnapshotDoc = self.agent.snapshot();
        let mut known: Vec<UserKey> = (0..USERS.len()).map(ukey).collect();
        known.extend(self.floods.iter().cloned());
        for doc in &snap.users {
            let key = UserKey::parse_in(doc.org_id.as_deref(), doc.user_id.as_deref())
                .map_err(|e| format!("[R7] the snapshot holds a bad id: {e}"))?;
            if !known.contains(&key) {
                return Err(format!("[R7] the snapshot holds an unknown user {key}"));
            }
            if let Some(u) = Self::model_index(&key) {
                compare_doc(doc, &key, &self.users[u], now).map_err(|e| {
                    format!("[R7] the snapshot's document of {}: {e}", show_key(&key))
                })?;
            }
        }
        let mut corrupted = false;
        if let (Some((i, c)), false) = (corrupt, snap.users.is_empty()) {
            let i = i as usize % snap.users.len();
            let d = &mut snap.users[i];
            match c {
                Corrupt::NegativeFigure => negative_figure(d),
                Corrupt::ForeignSession => foreign_session(d, now),
                Corrupt::SessionToOrg => session_to_org(d, now),
            }
            corrupted = true;
        }
        let fresh_raw = Rc::new(MemoryStorage::default());
        let fresh_storage = FaultStorage::new(fresh_raw.clone(), false);
        let fresh = build_agent(fresh_storage.clone(), &self.clock, &self.script);
        fresh_storage.arm(fault);
        let r = block_on(fresh.restore(snap.clone()));
        let fired = fresh_storage.disarm();
        stats.faults_fired += u64::from(fired);
        let applied = match r {
            Ok(n) if !corrupted && n == snap.users.len() => true,
            Err(e) if corrupted && e.code() == "invalid_import" => false,
            // Against a failing store a restore is atomic per user, not as a whole (the
            // README says so): what it promises is that running it again completes it.
            Err(e) if !corrupted && fired && e.code() == "storage" => {
                match block_on(fresh.restore(snap.clone())) {
                    Ok(n) if n == snap.users.len() => true,
                    other => {
                        return Err(format!(
                            "[R7] a restore retried after a storage failure returned {other:?}"
                        ))
                    }
                }
            }
            other => {
                return Err(format!(
                    "[R7] restore of a {} snapshot of {} users returned {other:?}",
                    if corrupted { "corrupted" } else { "valid" },
                    snap.users.len()
                ))
            }
        };
        if applied {
            stats.restores_ok += 1;
        } else {
            stats.restores_refused += 1;
        }
        let what = if applied { "restored" } else { "refused" };
        let mut wanted = Vec::new();
        for doc in &snap.users {
            let key = UserKey::parse_in(doc.org_id.as_deref(), doc.user_id.as_deref())
                .expect("checked above");
            let want = match (applied, Self::model_index(&key)) {
                (false, _) => UserModel::default(),
                (true, Some(u)) => self.users[u].clone(),
                (true, None) => {
                    let (sessions, blocks, properties, facts) = memory_of_doc(doc);
                    let budget = doc
                        .budget
                        .as_ref()
                        .map(|b| Budget::from_doc(b, now))
                        .unwrap_or_default();
                    UserModel {
                        sessions,
                        blocks,
                        properties,
                        facts,
                        budget,
                        lagging: false,
                    }
                }
            };
            compare_stored(&fresh_raw.map.borrow(), &key, &want).map_err(|e| {
                format!(
                    "[R7] after a {what} restore, the fresh agent's storage of {}: {e}",
                    show_key(&key)
                )
            })?;
            wanted.push((key, want));
        }
        // What the fresh agent's storage gives a restart of it. Without a pseudonym key in
        // it, no counters can have been written (they are stored under the pseudonym).
        if fresh_raw.map.borrow().contains_key(SECRET_KEY) {
            observe(&fresh_raw, &self.clock, &self.script, &wanted, now)
                .map(drop)
                .map_err(|e| format!("[R7 + R4] after a {what} restore, {e}"))?;
        } else if let Some(k) = fresh_raw
            .map
            .borrow()
            .keys()
            .find(|k| k.starts_with(&format!("{ROOT_PREFIX}b/")))
        {
            return Err(format!(
                "[R7] counters {k:?} stored without a pseudonym key"
            ));
        }
        for (key, want) in &wanted {
            block_on(fresh.load(key)).map_err(|e| format!("[R7] load after restore: {e}"))?;
            compare_memory(&fresh, key, want)
                .and_then(|()| {
                    compare_spend(&spend_of(&fresh, key, now)?, &want.budget.spend(now), false)
                })
                .map_err(|e| {
                    format!(
                        "[R7] after a {what} restore, the fresh agent's {}: {e}",
                        show_key(key)
                    )
                })?;
        }
        // Vectors travel in the snapshot: the restored agent finds a message by meaning
        // without embedding anything but the query.
        let mut models = vec![UserModel::default(); USERS.len()];
        for (key, want) in &wanted {
            if let Some(u) = Self::model_index(key) {
                models[u] = want.clone();
            }
        }
        for (key, _) in &wanted {
            let Some(u) = Self::model_index(key) else {
                continue;
            };
            let text = models[u]
                .sessions
                .values()
                .flatten()
                .flatten()
                .find(|(_, _, v)| v.is_some())
                .map_or_else(|| "w0".to_owned(), |(_, c, _)| c.clone());
            let ask = Ask {
                text,
                mode: SearchMode::Semantic,
                limit: None,
                session: None,
            };
            // R10: refused when the query's estimate does not fit what the restored
            // counters leave; charged to the restored agent's user (not the model's).
            let needs = estimate(&ask.text);
            let room = models[u].budget.embedding_room(now);
            let embedded = self.script.embedded.get();
            let hits = block_on(fresh.search(key, &ask.text, ask.options()));
            let hits = match hits {
                Err(e) if needs > room && e.code() == "budget_exceeded" => {
                    stats.searches_refused += 1;
                    continue;
                }
                Ok(hits) if needs <= room => hits,
                other => {
                    return Err(format!(
                        "[R7 + R10] after a {what} restore, {} returned {other:?}; its query's estimate ({needs} tokens) {} the {room} the restored counters leave",
                        ask.show(key),
                        if needs > room { "does not fit" } else { "fits" }
                    ))
                }
            };
            self.owed += 1;
            if self.script.embedded.get() - embedded != 1 {
                return Err(format!(
                    "[R7 + R9] after a {what} restore, {} gave the embedder {} texts; only the query may be embedded",
                    ask.show(key),
                    self.script.embedded.get() - embedded
                ));
            }
            check_hits(&models, u, &ask, &hits)
                .map_err(|e| format!("[R7 + R9] after a {what} restore, {}: {e}", ask.show(key)))?;
        }
        Ok(())
    }

    /// What a fresh agent reads back of a user's spend from storage, as model state.
    fn stored_budget(&self, u: usize) -> Result<Budget, String> {
        let ro = FaultStorage::new(self.raw.clone(), true);
        let obs = build_agent(ro, &self.clock, &self.script);
        let doc = block_on(obs.export(&ukey(u))).map_err(|e| format!("export: {e}"))?;
        let now = self.now();
        Ok(doc
            .budget
            .as_ref()
            .map(|b| Budget::from_doc(b, now))
            .unwrap_or_default())
    }

    fn check(
        &mut self,
        op: &Op,
        before: &BTreeMap<String, String>,
        subjects: &[UserKey],
        skip_ram: bool,
    ) -> Result<(), String> {
        let rules = op.rules();
        let label = |k: &UserKey| {
            if subjects.contains(k) {
                rules.to_string()
            } else {
                format!("R8 another user's operation ({rules}) changed this user")
            }
        };
        let leaks = std::mem::take(&mut *self.script.leaks.borrow_mut());
        if !leaks.is_empty() {
            return Err(format!("[R8] {}", leaks.join("; ")));
        }
        let now = self.now();
        let after = self.raw.map.borrow().clone();
        let mut known: Vec<UserKey> = (0..USERS.len()).map(ukey).collect();
        known.extend(self.floods.iter().cloned());
        for key in known.iter().filter(|k| !subjects.contains(k)) {
            let p = user_prefix(key);
            let (was, is) = (records(before, &p), records(&after, &p));
            if was != is {
                return Err(format!(
                    "[R8] the storage records of {}, whom this operation did not name, changed: {was:?} -> {is:?}",
                    show_key(key)
                ));
            }
        }
        // Every user record, of the default org or of any other, lies under exactly one
        // known user's prefix: no key of one org's user is under another org's.
        // Escaped ids hold no `/`, so a key names its user's prefix by its shape, and the
        // layout check in `compare_stored` ties each user to exactly that prefix.
        let prefixes: HashSet<String> = known.iter().map(user_prefix).collect();
        let root = format!("{ROOT_PREFIX}u/");
        if let Some(k) = after.keys().find(|k| {
            (k.starts_with(&root) || k.starts_with(ORGS_PREFIX))
                && !owner_prefix(k).is_some_and(|p| prefixes.contains(p))
        }) {
            return Err(format!("[R8/R11] a storage record of no known user: {k:?}"));
        }
        // RAM, after load. Not right after a restart or a flood: loading every user here
        // would make them resident before the next operation touches them, and so hide a
        // first touch (the rate check at call time) that does not see their counters.
        if !skip_ram {
            for u in 0..USERS.len() {
                let key = ukey(u);
                let m = &self.users[u];
                block_on(self.agent.load(&key))
                    .map_err(|e| format!("[{}] load({}): {e}", label(&key), show_key(&key)))?;
                compare_memory(&self.agent, &key, m)
                    .and_then(|()| {
                        compare_spend(
                            &spend_of(&self.agent, &key, now)?,
                            &m.budget.spend(now),
                            false,
                        )
                    })
                    .map_err(|e| {
                        format!(
                            "[{}] in the agent's RAM, {}: {e}",
                            label(&key),
                            show_key(&key)
                        )
                    })?;
            }
        }
        let mut stale = Vec::new();
        for u in 0..USERS.len() {
            let fresh = match &self.checked[u] {
                Some((reads, digest)) => digest_of(&after, reads, now, &self.users[u]) == *digest,
                None => false,
            };
            if !fresh {
                self.checked[u] = None;
                stale.push(u);
            }
        }
        for &u in &stale {
            let key = ukey(u);
            compare_stored(&after, &key, &self.users[u])
                .map_err(|e| format!("[{}] in storage, {}: {e}", label(&key), show_key(&key)))?;
        }
        // What a restart right now would see.
        let wanted: Vec<(UserKey, UserModel)> = stale
            .iter()
            .map(|&u| (ukey(u), self.users[u].clone()))
            .collect();
        let reads = observe(&self.raw, &self.clock, &self.script, &wanted, now).map_err(|e| {
            let who = wanted
                .iter()
                .find(|(k, _)| e.contains(&show_key(k)))
                .map(|(k, _)| label(k))
                .unwrap_or_else(|| rules.to_string());
            format!("[{who} + R4] {e}")
        })?;
        for (u, mut r) in stale.into_iter().zip(reads) {
            // The storage check reads the user's records too.
            r.push((true, user_prefix(&ukey(u))));
            let digest = digest_of(&after, &r, now, &self.users[u]);
            self.checked[u] = Some((r, digest));
        }
        Ok(())
    }
}

/// Loads every user through a fresh agent over a read-only view of `raw`: what a restart
/// would see. A user's `lagging` allows stored spend behind (never ahead of) the model's.
fn observe(
    raw: &Rc<MemoryStorage>,
    clock: &Rc<ManualClock>,
    script: &Rc<Script>,
    users: &[(UserKey, UserModel)],
    now: f64,
) -> Result<Vec<Vec<Read>>, String> {
    let mut reads = Vec::new();
    if users.is_empty() {
        return Ok(reads);
    }
    let ro = FaultStorage::new(raw.clone(), true);
    let obs = build_agent(ro.clone(), clock, script);
    for (key, m) in users {
        ro.reads.borrow_mut().clear();
        let who = show_key(key);
        block_on(obs.load(key))
            .map_err(|e| format!("a fresh agent over this storage cannot load {who}: {e}"))?;
        compare_memory(&obs, key, m)
            .and_then(|()| {
                compare_spend(&spend_of(&obs, key, now)?, &m.budget.spend(now), m.lagging)
            })
            .map_err(|e| {
                format!("a fresh agent over this storage (a restart now) sees for {who}: {e}")
            })?;
        reads.push(std::mem::take(&mut *ro.reads.borrow_mut()));
    }
    if let Some((op, key, _)) = ro.writes.borrow().first() {
        return Err(format!(
            "loading through a fresh agent wrote to storage ({op} {key:?})"
        ));
    }
    Ok(reads)
}

/// The bytes behind a set of reads (the pseudonym key always: the agent reads it once and
/// caches it), with the clock and the model's expectation.
fn digest_of(map: &BTreeMap<String, String>, reads: &[Read], now: f64, m: &UserModel) -> u64 {
    let mut h = DefaultHasher::new();
    map.get(SECRET_KEY).hash(&mut h);
    for (list, key) in reads {
        match list {
            true => records(map, key).hash(&mut h),
            false => map.get(key).hash(&mut h),
        }
    }
    now.to_bits().hash(&mut h);
    hash_model(m, &mut h);
    h.finish()
}

/// Everything the model expects of a user, hashed field by field (formatting it, vectors
/// and all, on every step would cost more than the checks it saves).
fn hash_model(m: &UserModel, h: &mut DefaultHasher) {
    for (id, turns) in &m.sessions {
        id.hash(h);
        turns.len().hash(h);
        for (role, content, v) in turns.iter().flatten() {
            (*role as u8).hash(h);
            content.hash(h);
            v.as_ref()
                .map(|v| v.0.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
                .hash(h);
        }
    }
    m.blocks.hash(h);
    serde_json::to_string(&m.properties).ok().hash(h);
    m.facts.hash(h);
    let b = &m.budget;
    b.totals.hash(h);
    b.minute.hash(h);
    b.rate.map(|(t, at)| (t.to_bits(), at.to_bits())).hash(h);
    m.lagging.hash(h);
}

fn count(stats: &mut Stats, result: &tenantry::Result<RunOutput>, fired: bool) {
    stats.faults_fired += u64::from(fired);
    match result.as_ref().map_err(Error::code) {
        Ok(_) => stats.runs_ok += 1,
        Err("budget_exceeded") => stats.refused_budget += 1,
        Err("rate_limited") => stats.refused_rate += 1,
        Err("aborted") => stats.aborted += 1,
        Err("model_error") => stats.model_errors += 1,
        Err("embedding_failed") => stats.embedding_failures += 1,
        Err(_) => stats.run_storage_errors += 1,
    }
}

fn negative_figure(d: &mut UserDoc) {
    let b = d.budget.get_or_insert_with(|| AccountDoc {
        format: BUDGET_FORMAT.into(),
        version: BUDGET_DOC_VERSION,
        totals: AmountsDoc::default(),
        windows: Vec::new(),
        rate: None,
    });
    b.totals.output_tokens = -1.0;
}

fn foreign_session(d: &mut UserDoc, now: f64) {
    // A near-collision of the owner, so only an exact comparison catches it.
    let other = match d.user_id.as_deref() {
        Some("bob") => Some("bob ".to_owned()),
        _ => Some("bob".to_owned()),
    };
    match d.sessions.first_mut() {
        Some(s) => s.user_id = other,
        None => d.sessions.push(SessionDoc {
            user_id: other,
            org_id: d.org_id.clone(),
            id: "s".into(),
            created_at: now,
            last_activity: now,
            turns: Vec::new(),
        }),
    }
}

/// The org a moved record claims: one a byte away, the default org, or back.
fn near_org(org: Option<&str>) -> Option<String> {
    match org {
        None => Some("acme".into()),
        Some("acme") => Some("acme ".into()),
        Some("acme/u") => Some("acme".into()),
        Some(_) => None,
    }
}

/// A session of the document's user and org, so the document has one to disagree with.
fn a_session(d: &mut UserDoc, now: f64) -> &mut SessionDoc {
    if d.sessions.is_empty() {
        d.sessions.push(SessionDoc {
            user_id: d.user_id.clone(),
            org_id: d.org_id.clone(),
            id: "s".into(),
            created_at: now,
            last_activity: now,
            turns: Vec::new(),
        });
    }
    &mut d.sessions[0]
}

/// The whole document claims another org; its sessions still name their own.
fn move_to_org(d: &mut UserDoc, now: f64) {
    a_session(d, now);
    d.org_id = near_org(d.org_id.as_deref());
}

/// One session claims another org than the document's.
fn session_to_org(d: &mut UserDoc, now: f64) {
    let org = near_org(d.org_id.as_deref());
    a_session(d, now).org_id = org;
}

/// Applies an edit; false when the result is an invalid document.
fn edit_doc(d: &mut UserDoc, edit: &Edit, now: f64, n: u64) -> bool {
    let marker = marker_of(d.org_id.as_deref(), d.user_id.as_deref());
    match edit {
        Edit::AsExported => {}
        Edit::WithoutBudget => d.budget = None,
        Edit::DropLastTurn => {
            if let Some(s) = d.sessions.iter_mut().find(|s| !s.turns.is_empty()) {
                s.turns.pop();
            }
        }
        Edit::RewriteMessage => {
            if let Some(t) = d.sessions.iter_mut().find_map(|s| s.turns.last_mut()) {
                t.messages[0].content = format!("{marker} edited{n}");
            }
        }
        Edit::AddSession => {
            let turn = Turn {
                at: now,
                messages: vec![
                    Message::user(format!("{marker} imported{n}")),
                    Message::assistant(format!("{marker} ok{n}")),
                ],
                vectors: Vec::new(),
            };
            match SESSIONS
                .iter()
                .find(|id| !d.sessions.iter().any(|s| s.id == **id))
            {
                Some(id) => d.sessions.push(SessionDoc {
                    user_id: d.user_id.clone(),
                    org_id: d.org_id.clone(),
                    id: (*id).to_owned(),
                    created_at: now,
                    last_activity: now,
                    turns: vec![turn],
                }),
                None => d.sessions[0].turns.push(turn),
            }
        }
        Edit::RemoveSession => {
            if !d.sessions.is_empty() {
                d.sessions.remove(0);
            }
        }
        Edit::SetWorking => {
            d.blocks = vec![BlockDoc {
                label: "notes".into(),
                text: format!("{marker} likes tea {n}"),
            }];
            d.properties = match json!({ "color": format!("{marker} green") }) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
        }
        Edit::ClearWorking => {
            d.blocks.clear();
            d.properties.clear();
        }
        Edit::LowerBudget => {
            if let Some(b) = &mut d.budget {
                let halve = |a: &mut AmountsDoc| {
                    for v in [
                        &mut a.input_tokens,
                        &mut a.output_tokens,
                        &mut a.total_tokens,
                        &mut a.cost_nano_usd,
                        &mut a.requests,
                    ] {
                        *v = (*v / 2.0).floor();
                    }
                };
                halve(&mut b.totals);
                for w in &mut b.windows {
                    for bk in &mut w.buckets {
                        halve(&mut bk.used);
                    }
                }
                if let Some(r) = &mut b.rate {
                    r.tokens = RATE_BURST;
                }
            }
        }
        Edit::RaiseTotals(x) => {
            let b = d.budget.get_or_insert_with(|| AccountDoc {
                format: BUDGET_FORMAT.into(),
                version: BUDGET_DOC_VERSION,
                totals: AmountsDoc::default(),
                windows: Vec::new(),
                rate: None,
            });
            b.totals.input_tokens += f64::from(*x);
            b.totals.total_tokens += f64::from(*x);
            b.totals.requests += 1.0;
        }
        Edit::NegativeFigure => {
            negative_figure(d);
            return false;
        }
        Edit::ForeignSession => {
            foreign_session(d, now);
            return false;
        }
        Edit::MoveToOrg => {
            move_to_org(d, now);
            return false;
        }
        Edit::SessionToOrg => {
            session_to_org(d, now);
            return false;
        }
    }
    true
}

// ---------------------------------------------------------------------------------------
// The runner.

/// The model users of `ORGS[o]`.
fn users_of_org(o: usize) -> Vec<usize> {
    (0..USERS.len())
        .filter(|&u| USERS[u].0 == Some(ORGS[o]))
        .collect()
}

/// Whether the user holds anything `forget` erases.
fn has_memory(m: &UserModel) -> bool {
    !m.sessions.is_empty()
        || !m.blocks.is_empty()
        || !m.properties.is_empty()
        || !m.facts.is_empty()
}

/// The user prefix a user record's key lies under, read from its shape:
/// `tenantry/v1/u/<user>/` or `tenantry/v1/o/<org>/u/<user>/`.
fn owner_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(ROOT_PREFIX)?;
    let user_at = match rest.strip_prefix("o/") {
        Some(org) => {
            let slash = org.find('/')?;
            org[slash + 1..].strip_prefix("u/")?;
            ROOT_PREFIX.len() + 2 + slash + 3
        }
        None => {
            rest.strip_prefix("u/")?;
            ROOT_PREFIX.len() + 2
        }
    };
    let end = user_at + key[user_at..].find('/')? + 1;
    Some(&key[..end])
}

/// The documented storage layout of a user's keys, spelled out here rather than taken
/// from the crate: ids escaped (`%` as `%25`, `/` as `%2F`), org users under their org.
fn layout_prefix(k: &UserKey) -> String {
    let esc = |s: &str| s.replace('%', "%25").replace('/', "%2F");
    let user = esc(k.as_option().unwrap_or("__tenantry_anonymous__"));
    match k.org() {
        None => format!("tenantry/v1/u/{user}/"),
        Some(org) => format!("tenantry/v1/o/{}/u/{user}/", esc(org)),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn agent_matches_the_reference_model() {
    let soak = std::env::var("TENANTRY_SOAK").is_ok_and(|v| v == "1");
    let seed = env_u64("TENANTRY_MBT_SEED").unwrap_or_else(|| {
        if soak {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            t ^ u64::from(std::process::id()).rotate_left(32)
        } else {
            0x7E_4A47_2024
        }
    });
    let cases = env_u64("TENANTRY_MBT_CASES").unwrap_or(if soak { 3000 } else { 220 }) as u32;
    println!("model-based: seed {seed}, {cases} cases");
    let mut seed_bytes = [0u8; 32];
    for (i, chunk) in seed_bytes.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&(seed.wrapping_add(i as u64)).to_le_bytes());
    }
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let stats = RefCell::new(Stats::default());
    let shrinking = Cell::new(false);
    let started = Instant::now();
    // From 1 so shrinking can get down to the one or two operations that matter; about
    // 100 on average.
    let strategy = prop::collection::vec(op_s(), 1..200);
    let result = runner.run(&strategy, |ops| {
        let mut world = World::new();
        let mut local = Stats::default();
        for (i, op) in ops.iter().enumerate() {
            if let Err(e) = world.step(op, &mut local) {
                if !shrinking.replace(true) {
                    println!(
                        "model-based: first failure after {} operations, {:.1} s; shrinking",
                        stats.borrow().ops + local.ops,
                        started.elapsed().as_secs_f64()
                    );
                }
                return Err(TestCaseError::fail(format!("at step {i}, {op:?}:\n{e}")));
            }
        }
        if !shrinking.get() {
            add_stats(&mut stats.borrow_mut(), &local);
        }
        Ok(())
    });
    let s = stats.into_inner();
    println!(
        "model-based: {} operations in {:.1} s: {s:?}",
        s.ops,
        started.elapsed().as_secs_f64()
    );
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => {
            let listing: Vec<String> = ops
                .iter()
                .enumerate()
                .map(|(i, op)| format!("  {i:>3}: {op:?}"))
                .collect();
            panic!(
                "the agent broke the reference model (seed {seed}). Shrunk to {} operations:\n{}\n{reason}",
                ops.len(),
                listing.join("\n")
            );
        }
        Err(e) => panic!("{e}"),
    }
    // A green run proves little unless each path was taken.
    if kinds_left_out().is_empty() {
        assert!(s.ops >= 20_000, "{s:?}");
        for (what, n) in [
            ("successful runs", s.runs_ok),
            ("budget refusals", s.refused_budget),
            ("rate-limit refusals", s.refused_rate),
            ("aborted runs", s.aborted),
            ("model errors", s.model_errors),
            ("run storage failures", s.run_storage_errors),
            ("injected faults that fired", s.faults_fired),
            ("imports applied", s.imports_ok),
            ("imports refused", s.imports_refused),
            ("restores applied", s.restores_ok),
            ("restores refused", s.restores_refused),
            ("embedding failures", s.embedding_failures),
            ("facts withdrawn", s.facts_withdrawn),
            ("lexical searches with hits", s.searches_with_hits[0]),
            ("semantic searches with hits", s.searches_with_hits[1]),
            ("hybrid searches with hits", s.searches_with_hits[2]),
            ("exact texts found first", s.exact_first),
            ("embeddings charged at the estimate", s.embeddings_estimated),
            (
                "searches refused for their query's estimate",
                s.searches_refused,
            ),
            ("users erased by forget_org", s.org_users_forgotten),
            ("users exported by export_org", s.org_users_exported),
            (
                "imports moved to another org and refused",
                s.org_moves_refused,
            ),
        ] {
            assert!(n > 0, "no {what}: {s:?}");
        }
    }
}

fn add_stats(to: &mut Stats, s: &Stats) {
    to.ops += s.ops;
    to.runs_ok += s.runs_ok;
    to.refused_budget += s.refused_budget;
    to.refused_rate += s.refused_rate;
    to.aborted += s.aborted;
    to.model_errors += s.model_errors;
    to.run_storage_errors += s.run_storage_errors;
    to.faults_fired += s.faults_fired;
    to.exports += s.exports;
    to.imports_ok += s.imports_ok;
    to.imports_refused += s.imports_refused;
    to.restores_ok += s.restores_ok;
    to.restores_refused += s.restores_refused;
    to.restarts += s.restarts;
    to.floods += s.floods;
    to.forgets += s.forgets;
    to.embedding_failures += s.embedding_failures;
    to.facts_withdrawn += s.facts_withdrawn;
    for (t, v) in to.searches_with_hits.iter_mut().zip(s.searches_with_hits) {
        *t += v;
    }
    to.exact_first += s.exact_first;
    to.search_storage_errors += s.search_storage_errors;
    to.searches_refused += s.searches_refused;
    to.embeddings_estimated += s.embeddings_estimated;
    to.org_forgets += s.org_forgets;
    to.org_users_forgotten += s.org_users_forgotten;
    to.org_exports += s.org_exports;
    to.org_users_exported += s.org_users_exported;
    to.org_empty_docs += s.org_empty_docs;
    to.org_moves_refused += s.org_moves_refused;
}

/// The checker's own building blocks, against hand-computed figures.
#[test]
fn the_reference_model_counts_like_the_documented_ledger() {
    let now = START_MS;
    let mut b = Budget::default();
    b.charge(now, 10, 5);
    b.charge(now + 1.0, 1, 1);
    let s = b.spend(now + 1.0);
    assert_eq!(s.totals, [11, 6, 17, 0, 2]);
    assert_eq!((s.minute_tokens, s.minute_requests), (17, 2));
    // A charge counts until eight newer buckets have started, then leaves.
    let c = bucket(now);
    let last_in = (c + 8) as f64 * BUCKET_MS;
    assert_eq!(b.spend(last_in + BUCKET_MS - 1.0).minute_requests, 2);
    assert_eq!(b.spend(last_in + BUCKET_MS).minute_requests, 0);
    assert_eq!(b.spend(last_in + BUCKET_MS).lifetime_tokens, 17);
    // An embedding: input and total tokens, in the minute window too, and no request.
    b.charge_embedding(now + 1.0, 7);
    let s = b.spend(now + 1.0);
    assert_eq!(s.totals, [18, 6, 24, 0, 2]);
    assert_eq!((s.minute_tokens, s.minute_requests), (24, 2));
    assert_eq!(b.embedding_room(now + 1.0), MINUTE_TOKENS - 24);
    assert_eq!(b.embedding_room(last_in + BUCKET_MS), MINUTE_TOKENS);
    let mut spent = Budget::default();
    spent.charge(now, 0, LIFETIME_TOKENS - 10);
    assert_eq!(spent.embedding_room(now + 1e9), 10);
    assert_eq!(
        (estimate(""), estimate("abcd"), estimate("abcde")),
        (0, 1, 2)
    );
    // Six at once, then one every 4,096 ms.
    let mut r = Budget::default();
    for _ in 0..6 {
        assert!(r.take_rate(now));
    }
    assert!(!r.take_rate(now + 4095.0));
    assert!(r.take_rate(now + 4096.0));
    assert_eq!(rate_tokens(r.rate, now + 4096.0 + 2048.0), 0.5);
    // Verdicts.
    let mut v = Budget::default();
    assert_eq!(v.verdict(now, 1, RESERVE_BOUND), Verdict::Allowed);
    assert_eq!(
        v.verdict(now, MINUTE_REQUESTS + 1, RESERVE_BOUND),
        Verdict::Either
    );
    v.charge(now, 1, LIFETIME_TOKENS);
    assert_eq!(v.verdict(now + 1e9, 1, RESERVE_BOUND), Verdict::Refused);
    // Merging never lowers.
    let mut held = Budget::default();
    held.charge(now, 100, 100);
    held.take_rate(now);
    let mut low = held.clone();
    low.totals = [1, 1, 2, 0, 1];
    low.minute.clear();
    low.rate = None;
    let before = held.spend(now);
    held.merge_max(&low, now);
    assert_eq!(held.spend(now), before);
    let mut high = Budget::default();
    high.totals[TOTAL] = 5000;
    held.merge_max(&high, now);
    assert_eq!(held.spend(now).totals, [100, 100, 5000, 0, 1]);
    assert_eq!(markers_in("<bob > q1 and <anon>"), ["<bob >", "<anon>"]);
    // Markers and prefixes tell every pair apart, across the org boundary too.
    let keys: Vec<UserKey> = (0..USERS.len()).map(ukey).collect();
    let marks: BTreeSet<String> = keys.iter().map(marker_of_key).collect();
    assert_eq!(marks.len(), USERS.len(), "{marks:?}");
    for k in &keys {
        assert_eq!(markers_in(&marker_of_key(k)), [marker_of_key(k)]);
        assert_eq!(user_prefix(k), layout_prefix(k), "{k}");
        let record = working_key(k, 2);
        assert_eq!(owner_prefix(&record), Some(user_prefix(k).as_str()), "{k}");
        for other in keys.iter().filter(|o| *o != k) {
            assert!(
                !user_prefix(other).starts_with(&user_prefix(k)),
                "{k} {other}"
            );
        }
    }
    assert_eq!(
        unmarked("<acme/u|bob> q3 w1"),
        "q3 w1",
        "a marker is taken out whole"
    );
}
