//! Search by words and by meaning, through the Rust API: scoping to one user in every mode,
//! embeddings committed with their turn or not at all, and vectors through storage,
//! eviction, restart, forget, export and import. Run natively and on wasm.

use crate::dual_support::{user, ScriptModel, Shared};
use crate::dual_test;
use futures_util::future::LocalBoxFuture;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, BudgetConfig, EmbedContext, Embedder, LimitSet, MemoryConfig,
    MemoryStorage, Price, RawEmbeddings, Result, RunOptions, SearchMode, SearchOptions, SessionId,
    Totals,
};

/// How the fake embedder answers its next calls.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    Good,
    Throws,
    TooFew,
    NotANumber,
    ThreeDimensions,
    TooBig,
}

/// Words to concept axes, so texts with no word in common can still mean the same thing:
/// axis 0 pets, 1 travel, 2 money; axis 3 is a small constant so no vector is all zeros.
const CONCEPTS: &[(&str, usize)] = &[
    ("cat", 0),
    ("kitten", 0),
    ("feline", 0),
    ("dog", 0),
    ("flight", 1),
    ("trip", 1),
    ("vacation", 1),
    ("invoice", 2),
    ("refund", 2),
    ("payment", 2),
];

fn concept_vector(text: &str) -> Vec<f64> {
    let mut v = vec![0.0, 0.0, 0.0, 0.1];
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if let Some((_, axis)) = CONCEPTS.iter().find(|(w, _)| *w == word) {
            v[*axis] += 1.0;
        }
    }
    v
}

#[derive(Default)]
struct FakeEmbedder {
    /// Every call: the user id it was made for and the texts.
    calls: RefCell<Vec<(Option<String>, Vec<String>)>>,
    answer: Cell<Option<Answer>>,
    /// Reports no token count when set.
    silent: Cell<bool>,
}

struct SharedEmbedder(Rc<FakeEmbedder>);

impl Embedder for SharedEmbedder {
    fn model_id(&self) -> &str {
        "emb-test"
    }

    fn embed(
        &self,
        texts: Vec<String>,
        ctx: EmbedContext,
    ) -> LocalBoxFuture<'static, Result<RawEmbeddings>> {
        let e = self.0.clone();
        Box::pin(async move {
            crate::dual_support::yield_n(1).await;
            e.calls
                .borrow_mut()
                .push((ctx.user_id.clone(), texts.clone()));
            let mut vectors: Vec<Vec<f64>> = texts.iter().map(|t| concept_vector(t)).collect();
            match e.answer.get().unwrap_or(Answer::Good) {
                Answer::Good => {}
                Answer::Throws => {
                    return Err(tenantry::Error::Embedding {
                        reason: "embedding service down".into(),
                    })
                }
                Answer::TooFew => {
                    vectors.pop();
                }
                Answer::NotANumber => vectors[0][1] = f64::NAN,
                Answer::ThreeDimensions => vectors.iter_mut().for_each(|v| v.truncate(3)),
                Answer::TooBig => vectors[0] = vec![0.5; 5000],
            }
            Ok(RawEmbeddings {
                vectors,
                tokens: (!e.silent.get()).then_some(3.0),
            })
        })
    }
}

struct Fixture {
    agent: Rc<Agent>,
    embedder: Rc<FakeEmbedder>,
    storage: Rc<MemoryStorage>,
}

fn agent_over(storage: Rc<MemoryStorage>, max_users: usize) -> Fixture {
    agent_with(storage, max_users, BudgetConfig::default())
}

fn agent_with(storage: Rc<MemoryStorage>, max_users: usize, budget: BudgetConfig) -> Fixture {
    let embedder = Rc::new(FakeEmbedder::default());
    let config = AgentConfig {
        memory: MemoryConfig {
            max_users,
            ..Default::default()
        },
        budget,
        model_name: "m".into(),
        ..Default::default()
    };
    let agent = Agent::new(config, Rc::new(Shared(ScriptModel::with_yields(1))))
        .unwrap()
        .with_embedder(Rc::new(SharedEmbedder(embedder.clone())))
        .with_storage(storage.clone());
    Fixture {
        agent: Rc::new(agent),
        embedder,
        storage,
    }
}

fn fixture() -> Fixture {
    agent_over(Rc::new(MemoryStorage::default()), 100)
}

fn opts(mode: SearchMode) -> SearchOptions {
    SearchOptions {
        mode,
        ..Default::default()
    }
}

impl Fixture {
    async fn say(&self, u: &str, text: &str) -> Result<()> {
        self.agent
            .run(text.into(), user(u), RunOptions::default())
            .await
            .map(|_| ())
    }
    async fn search(&self, u: &str, q: &str, mode: SearchMode) -> Vec<String> {
        self.agent
            .search(&user(u), q, opts(mode))
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.content)
            .collect()
    }
    fn stored(&self) -> std::collections::BTreeMap<String, String> {
        self.storage.map.borrow().clone()
    }
}

const MODES: [SearchMode; 3] = [
    SearchMode::Lexical,
    SearchMode::Semantic,
    SearchMode::Hybrid,
];

dual_test!(
    search_never_returns_another_users_closer_message_in_any_mode,
    async {
        let f = fixture();
        f.say("alice", "my invoice is overdue").await.unwrap();
        f.say("alice", "booking a flight for the cat show")
            .await
            .unwrap();
        // Bob's message is closer to Alice's query than anything of hers, in words and meaning.
        f.say("bob", "my cat is a kitten, a feline cat")
            .await
            .unwrap();
        for mode in MODES {
            let before = f.embedder.calls.borrow().len();
            let hits = f.search("alice", "cat kitten feline", mode).await;
            assert!(!hits.is_empty(), "{mode:?}");
            assert!(
                hits.iter()
                    .all(|h| !h.contains("feline cat") && !h.contains("kitten")),
                "{mode:?}: {hits:?}"
            );
            let calls = f.embedder.calls.borrow();
            let query_calls = &calls[before..];
            assert_eq!(query_calls.len(), usize::from(mode != SearchMode::Lexical));
            assert!(query_calls
                .iter()
                .all(|(u, _)| u.as_deref() == Some("alice")));
        }
        // And Bob, asking the same, gets his own first.
        let hits = f.search("bob", "feline", SearchMode::Semantic).await;
        assert!(hits[0].contains("feline cat"), "{hits:?}");
        // Commits (two texts: input and answer) embed with the committing user's id only.
        for (u, texts) in f.embedder.calls.borrow().iter().filter(|c| c.1.len() == 2) {
            let u = u.as_deref().unwrap();
            assert!(
                texts.iter().all(|t| (u == "bob") == t.contains("kitten")),
                "{u}: {texts:?}"
            );
        }
    }
);

dual_test!(
    semantic_search_finds_a_message_sharing_no_word_with_the_query,
    async {
        let f = fixture();
        f.say("alice", "We adopted a kitten yesterday")
            .await
            .unwrap();
        f.say("alice", "Please send the invoice again")
            .await
            .unwrap();
        f.say("alice", "Where should we go on vacation")
            .await
            .unwrap();
        assert!(f
            .search("alice", "feline", SearchMode::Lexical)
            .await
            .is_empty());
        let semantic = f.search("alice", "feline", SearchMode::Semantic).await;
        assert!(semantic[0].contains("kitten"), "{semantic:?}");
        let hybrid = f.search("alice", "feline", SearchMode::Hybrid).await;
        assert!(hybrid[0].contains("kitten"), "{hybrid:?}");
        let money = f
            .search("alice", "refund payment", SearchMode::Semantic)
            .await;
        assert!(money[0].contains("invoice"), "{money:?}");
        // One embedder call per commit (user input and answer together), one per query.
        let calls = f.embedder.calls.borrow().clone();
        assert_eq!(calls.len(), 3 + 3);
        assert_eq!(calls[0].1.len(), 2);
        // Limits and session scoping as recall's.
        let one = f
            .agent
            .search(
                &user("alice"),
                "feline",
                SearchOptions {
                    limit: Some(1),
                    mode: SearchMode::Semantic,
                    session: Some(SessionId::parse(Some("other")).unwrap()),
                },
            )
            .await
            .unwrap();
        assert!(one.is_empty());
        let e = f
            .agent
            .search(
                &user("alice"),
                "x",
                SearchOptions {
                    limit: Some(101),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_input");
    }
);

dual_test!(a_failed_or_wrong_embedding_commits_nothing, async {
    let f = fixture();
    f.say("alice", "first message about a cat").await.unwrap();
    let history = f
        .agent
        .history(&user("alice"), &SessionId::default())
        .unwrap();
    for answer in [
        Answer::Throws,
        Answer::TooFew,
        Answer::NotANumber,
        Answer::ThreeDimensions,
        Answer::TooBig,
    ] {
        let stored = f.stored();
        f.embedder.answer.set(Some(answer));
        let e = f.say("alice", "second message").await.unwrap_err();
        assert_eq!(e.code(), "embedding_failed", "{answer:?}: {e}");
        assert_eq!(
            f.agent
                .history(&user("alice"), &SessionId::default())
                .unwrap(),
            history,
            "{answer:?}"
        );
        assert_eq!(f.stored(), stored, "{answer:?}");
    }
    f.embedder.answer.set(None);
    f.say("alice", "second message").await.unwrap();
    assert_eq!(f.agent.size(&user("alice")).unwrap(), 4);
});

dual_test!(
    vectors_reload_after_eviction_and_restart_without_reembedding,
    async {
        let storage = Rc::new(MemoryStorage::default());
        let f = agent_over(storage.clone(), 1);
        f.say("alice", "We adopted a kitten").await.unwrap();
        f.say("alice", "The invoice is paid").await.unwrap();
        f.say("bob", "hello").await.unwrap();
        assert!(!f.agent.is_resident(&user("alice")));
        let calls = f.embedder.calls.borrow().len();
        let hits = f.search("alice", "feline", SearchMode::Semantic).await;
        assert!(hits[0].contains("kitten"), "{hits:?}");
        assert_eq!(f.embedder.calls.borrow().len(), calls + 1, "only the query");

        let restarted = agent_over(storage, 1);
        let hits = restarted
            .search("alice", "feline", SearchMode::Semantic)
            .await;
        assert!(hits[0].contains("kitten"), "{hits:?}");
        let calls = restarted.embedder.calls.borrow();
        assert_eq!(calls.len(), 1, "only the query: {calls:?}");
        assert_eq!(calls[0].1, ["feline"]);
    }
);

dual_test!(forget_leaves_no_vector_in_ram_or_storage, async {
    let f = fixture();
    f.say("alice", "We adopted a kitten").await.unwrap();
    f.say("bob", "My cat is a feline").await.unwrap();
    assert!(f.stored().values().any(|v| v.contains("\"vectors\"")));
    let bytes_before = f.agent.stats().approx_bytes;
    f.agent.forget(&user("alice")).await.unwrap();
    let stored = f.stored();
    assert!(stored.keys().all(|k| !k.contains("alice")), "{stored:?}");
    assert!(stored.values().all(|v| !v.contains("kitten")));
    assert!(f.agent.stats().approx_bytes < bytes_before);
    assert!(f
        .search("alice", "feline", SearchMode::Semantic)
        .await
        .is_empty());
    let doc = f.agent.export(&user("alice")).await.unwrap();
    assert!(doc.sessions.is_empty());
    // Bob keeps his.
    let hits = f.search("bob", "kitten", SearchMode::Semantic).await;
    assert!(hits[0].contains("feline"), "{hits:?}");
});

dual_test!(export_then_import_round_trips_vectors, async {
    let f = fixture();
    f.say("alice", "We adopted a kitten").await.unwrap();
    let doc = f.agent.export(&user("alice")).await.unwrap();
    let turn = &doc.sessions[0].turns[0];
    assert_eq!(turn.vectors.len(), turn.messages.len());
    assert_eq!(
        turn.vectors[0].as_deref(),
        Some(&[1.0f32, 0.0, 0.0, 0.1][..])
    );
    let json = serde_json::to_string(&doc).unwrap();

    let other = fixture();
    other
        .agent
        .import(serde_json::from_str(&json).unwrap())
        .await
        .unwrap();
    let hits = other.search("alice", "feline", SearchMode::Semantic).await;
    assert!(hits[0].contains("kitten"), "{hits:?}");
    assert_eq!(other.embedder.calls.borrow().len(), 1, "only the query");
    let again = other.agent.export(&user("alice")).await.unwrap();
    assert_eq!(again.sessions[0].turns[0].vectors, turn.vectors);

    // A snapshot carries them too, and a document from before embeddings still loads.
    let restored = fixture();
    restored.agent.restore(f.agent.snapshot()).await.unwrap();
    let hits = restored
        .search("alice", "feline", SearchMode::Semantic)
        .await;
    assert!(hits[0].contains("kitten"), "{hits:?}");
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old["sessions"][0]["turns"][0]
        .as_object_mut()
        .unwrap()
        .remove("vectors");
    let plain = fixture();
    plain
        .agent
        .import(serde_json::from_value(old).unwrap())
        .await
        .unwrap();
    assert!(plain
        .search("alice", "feline", SearchMode::Semantic)
        .await
        .is_empty());
    // Words still match (the input and the model's echo of it).
    assert_eq!(
        plain
            .search("alice", "kitten", SearchMode::Hybrid)
            .await
            .len(),
        2
    );
    // A stored vector must be sane to load.
    let mut bad: serde_json::Value = serde_json::from_str(&json).unwrap();
    bad["sessions"][0]["turns"][0]["vectors"] = serde_json::json!([[1.0]]);
    let e = plain
        .agent
        .import(serde_json::from_value(bad).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_import");
});

dual_test!(semantic_search_without_an_embedder_is_refused, async {
    let agent = Agent::new(
        AgentConfig::default(),
        Rc::new(Shared(ScriptModel::with_yields(0))),
    )
    .unwrap();
    for mode in [SearchMode::Semantic, SearchMode::Hybrid] {
        let e = agent.search(&user("a"), "x", opts(mode)).await.unwrap_err();
        assert_eq!(e.code(), "invalid_input");
    }
    assert!(agent
        .search(&user("a"), "x", opts(SearchMode::Lexical))
        .await
        .unwrap()
        .is_empty());
});

dual_test!(
    semantic_recall_puts_a_meaning_match_in_the_prompt_and_embeds_the_input_once,
    async {
        let model = ScriptModel::with_yields(1);
        let embedder = Rc::new(FakeEmbedder::default());
        let config = AgentConfig {
            memory: MemoryConfig {
                recall_top_k: 2,
                recall_mode: SearchMode::Semantic,
                ..Default::default()
            },
            ..Default::default()
        };
        let agent = Rc::new(
            Agent::new(config, Rc::new(Shared(model.clone())))
                .unwrap()
                .with_embedder(Rc::new(SharedEmbedder(embedder.clone()))),
        );
        let in_session = |s: &str| RunOptions {
            session: SessionId::parse(Some(s)).unwrap(),
            ..Default::default()
        };
        agent
            .run(
                "We adopted a kitten".into(),
                user("alice"),
                in_session("home"),
            )
            .await
            .unwrap();
        agent
            .run(
                "Bob's cat is a feline".into(),
                user("bob"),
                in_session("home"),
            )
            .await
            .unwrap();
        let calls_before = embedder.calls.borrow().len();
        agent
            .run(
                "Tell me about my feline".into(),
                user("alice"),
                in_session("other"),
            )
            .await
            .unwrap();
        let system = model.requests.borrow().last().unwrap().messages()[0]
            .content
            .clone();
        assert!(system.contains("We adopted a kitten"), "{system}");
        assert!(!system.contains("Bob"), "{system}");
        // The input once, for recall; then only the answer at the commit.
        let calls = embedder.calls.borrow()[calls_before..].to_vec();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[0].1, ["Tell me about my feline"]);
        assert_eq!(calls[1].1.len(), 1);
        assert!(calls.iter().all(|(u, _)| u.as_deref() == Some("alice")));
        let doc = agent.export(&user("alice")).await.unwrap();
        let turn = &doc.sessions[1].turns[0];
        assert_eq!(
            turn.vectors[0].as_deref(),
            Some(&[1.0f32, 0.0, 0.0, 0.1][..])
        );

        // Without an embedder, semantic recall is a configuration error, not a silent fallback.
        let bare = Rc::new(
            Agent::new(
                AgentConfig {
                    memory: MemoryConfig {
                        recall_top_k: 2,
                        recall_mode: SearchMode::Hybrid,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                Rc::new(Shared(ScriptModel::with_yields(0))),
            )
            .unwrap(),
        );
        let e = bare
            .run("hi".into(), user("alice"), RunOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_config");
        assert_eq!(bare.size(&user("alice")).unwrap(), 0);
    }
);

fn totals(f: &Fixture, u: &str) -> Totals {
    f.agent.usage(&user(u)).totals
}

dual_test!(
    embeddings_are_charged_to_their_user_as_input_not_as_requests,
    async {
        let f = fixture();
        let run = f
            .agent
            .run("my cat".into(), user("alice"), RunOptions::default())
            .await
            .unwrap();
        let t = totals(&f, "alice");
        // One model request; the commit's one embedding call reported 3 tokens.
        assert_eq!(t.requests, 1);
        assert_eq!(t.input_tokens, run.usage.input_tokens + 3);
        assert_eq!(t.output_tokens, run.usage.output_tokens);
        f.search("alice", "kitten", SearchMode::Semantic).await;
        assert_eq!(totals(&f, "alice").input_tokens, t.input_tokens + 3);
        f.search("alice", "kitten", SearchMode::Lexical).await;
        assert_eq!(totals(&f, "alice").input_tokens, t.input_tokens + 3);
        assert_eq!(totals(&f, "bob"), Totals::default(), "nobody else pays");
        // An embedder that reports nothing is charged the estimate: never free.
        f.embedder.silent.set(true);
        let before = totals(&f, "alice").input_tokens;
        f.search("alice", &"x".repeat(400), SearchMode::Semantic)
            .await;
        assert_eq!(totals(&f, "alice").input_tokens, before + 100);
    }
);

dual_test!(
    a_failed_embedding_is_charged_nothing_and_commits_nothing,
    async {
        let f = fixture();
        f.say("alice", "my cat").await.unwrap();
        f.embedder.answer.set(Some(Answer::Throws));
        let e = f.say("bob", "my cat").await.unwrap_err();
        assert_eq!(e.code(), "embedding_failed");
        // The same first turn: Bob's model call is charged as Alice's was, his embedding not.
        let (a, b) = (totals(&f, "alice"), totals(&f, "bob"));
        assert_eq!(b.input_tokens + 3, a.input_tokens);
        assert_eq!(b.requests, 1);
        assert!(f
            .agent
            .history(&user("bob"), &SessionId::default())
            .unwrap()
            .is_empty());
    }
);

dual_test!(
    an_exhausted_budget_refuses_the_embedding_before_the_embedder_is_called,
    async {
        let budget = BudgetConfig {
            per_user: vec![LimitSet {
                max_input_tokens: Some(50.0),
                ..Default::default()
            }],
            ..Default::default()
        };
        let f = agent_with(Rc::new(MemoryStorage::default()), 100, budget);
        f.say("alice", "my cat").await.unwrap();
        let calls = f.embedder.calls.borrow().len();
        // 400 bytes estimate 100 tokens: more than the 50 the limit allows in all.
        let e = f
            .agent
            .search(
                &user("alice"),
                &"cat ".repeat(100),
                opts(SearchMode::Semantic),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code(), "budget_exceeded");
        assert_eq!(f.embedder.calls.borrow().len(), calls);
        // Bob's own budget is untouched by Alice's refusals.
        f.say("bob", "my cat").await.unwrap();
    }
);

dual_test!(
    an_embedding_under_a_cost_limit_needs_its_models_price,
    async {
        let priced = |prices: &[&str]| BudgetConfig {
            per_user: vec![LimitSet {
                max_cost_usd: Some(1.0),
                ..Default::default()
            }],
            prices: prices
                .iter()
                .map(|m| {
                    let p = Price {
                        input_per_mtok: 1000.0,
                        output_per_mtok: 1000.0,
                    };
                    (m.to_string(), p)
                })
                .collect(),
            default_prices: false,
            ..Default::default()
        };
        let f = agent_with(Rc::new(MemoryStorage::default()), 100, priced(&["m"]));
        let e = f.say("alice", "my cat").await.unwrap_err();
        assert_eq!(e.code(), "missing_price");
        assert!(e.to_string().contains("emb-test"), "{e}");
        assert!(f
            .agent
            .history(&user("alice"), &SessionId::default())
            .unwrap()
            .is_empty());

        let f = agent_with(
            Rc::new(MemoryStorage::default()),
            100,
            priced(&["m", "emb-test"]),
        );
        let run = f
            .agent
            .run("my cat".into(), user("alice"), RunOptions::default())
            .await
            .unwrap();
        let t = totals(&f, "alice");
        // $1000 per million tokens: 3 embedding tokens cost $0.003 on top of the run.
        assert!(
            (t.cost_usd - run.usage.cost_usd - 0.003).abs() < 1e-9,
            "{t:?} {:?}",
            run.usage
        );
    }
);

dual_test!(
    a_turns_embedding_past_the_limit_commits_and_the_next_run_is_refused,
    async {
        // Room for the first run's model call, not for its embedding on top.
        let budget = BudgetConfig {
            per_user: vec![LimitSet {
                max_input_tokens: Some(12.0),
                ..Default::default()
            }],
            ..Default::default()
        };
        let f = agent_with(Rc::new(MemoryStorage::default()), 100, budget);
        let run = f
            .agent
            .run("cat".into(), user("alice"), RunOptions::default())
            .await
            .unwrap();
        assert!(run.usage.input_tokens <= 12, "{:?}", run.usage);
        assert!(totals(&f, "alice").input_tokens > 12);
        // The turn is kept, vectors and all: the model's answer was not wasted.
        let doc = f.agent.export(&user("alice")).await.unwrap();
        assert!(doc.sessions[0].turns[0].vectors[0].is_some());
        // A search by meaning must fit first, so it is refused now.
        let e = f
            .agent
            .search(&user("alice"), "cat", opts(SearchMode::Semantic))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "budget_exceeded");
        let h = f
            .agent
            .history(&user("alice"), &SessionId::default())
            .unwrap();
        assert_eq!(h.len(), 2);
        let e = f.say("alice", "cat").await.unwrap_err();
        assert_eq!(e.code(), "budget_exceeded");
    }
);

dual_test!(
    a_searchs_embedding_charge_survives_a_restart_and_loads_the_account_first,
    async {
        let budget = || BudgetConfig {
            per_user: vec![LimitSet {
                max_input_tokens: Some(10_000.0),
                ..Default::default()
            }],
            ..Default::default()
        };
        let storage = Rc::new(MemoryStorage::default());
        let f = agent_with(storage.clone(), 100, budget());
        f.say("alice", "my cat").await.unwrap();
        f.search("alice", "kitten", SearchMode::Semantic).await;
        let spent = totals(&f, "alice");
        // A restart reads the counters back: the query's charge is among them.
        let g = agent_with(storage.clone(), 100, budget());
        g.search("alice", "feline", SearchMode::Semantic).await;
        assert_eq!(totals(&g, "alice").input_tokens, spent.input_tokens + 3);
        let h = agent_with(storage, 100, budget());
        h.agent.load(&user("alice")).await.unwrap();
        assert_eq!(totals(&h, "alice"), totals(&g, "alice"));
    }
);
