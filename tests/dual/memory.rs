//! Partitioned memory through the agent: sessions, context bounds, working memory, recall,
//! eviction, GDPR forget/export/import, persistence. Run natively and on wasm.

use crate::dual_support::{user, ScriptModel, Shared};
use crate::dual_test;
use futures_util::future::join;
use serde_json::json;
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, ManualClock, MemoryConfig, MemoryStorage, Role, RunOptions, SessionId,
    UserKey,
};

struct Fixture {
    agent: Rc<Agent>,
    model: Rc<ScriptModel>,
    clock: Rc<ManualClock>,
    storage: Rc<MemoryStorage>,
}

fn fixture(memory: MemoryConfig, with_storage: bool) -> Fixture {
    let model = ScriptModel::with_yields(1);
    let clock = Rc::new(ManualClock::new(1_000.0));
    let storage = Rc::new(MemoryStorage::default());
    let config = AgentConfig {
        instructions: "Be brief.".into(),
        memory,
        ..Default::default()
    };
    let mut agent = Agent::new(config, Rc::new(Shared(model.clone())))
        .unwrap()
        .with_clock(clock.clone());
    if with_storage {
        agent = agent.with_storage(storage.clone());
    }
    Fixture {
        agent: Rc::new(agent),
        model,
        clock,
        storage,
    }
}

fn in_session(s: &str) -> RunOptions {
    RunOptions {
        session: SessionId::parse(Some(s)).unwrap(),
        ..Default::default()
    }
}

fn sid(s: &str) -> SessionId {
    SessionId::parse(Some(s)).unwrap()
}

impl Fixture {
    async fn say(&self, u: &str, s: &str, text: &str) {
        self.agent
            .run(text.into(), user(u), in_session(s))
            .await
            .unwrap();
    }
    fn last_prompt(&self) -> Vec<tenantry::Message> {
        self.model.requests.borrow().last().unwrap().messages()
    }
    fn stored_keys(&self) -> Vec<String> {
        self.storage.map.borrow().keys().cloned().collect()
    }
}

dual_test!(sessions_are_listed_with_counts_and_activity, async {
    let f = fixture(MemoryConfig::default(), false);
    f.say("alice", "first", "hello").await;
    f.clock.advance(500.0);
    f.say("alice", "second", "hi").await;
    f.clock.advance(500.0);
    f.say("alice", "first", "again").await;
    f.say("bob", "first", "bob here").await;
    let list = f.agent.sessions(&user("alice")).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, "first");
    assert_eq!(list[0].message_count, 4);
    assert_eq!(
        (list[0].created_at, list[0].last_activity),
        (1_000.0, 2_000.0)
    );
    assert_eq!(
        (list[1].id.as_str(), list[1].last_activity),
        ("second", 1_500.0)
    );
    assert_eq!(f.agent.sessions(&user("bob")).unwrap().len(), 1);
    assert!(f.agent.sessions(&user("carol")).unwrap().is_empty());
});

dual_test!(max_context_tokens_drops_oldest_whole_turns, async {
    let f = fixture(
        MemoryConfig {
            max_context_tokens: Some(120),
            ..Default::default()
        },
        false,
    );
    for i in 0..6 {
        f.say("a", "s", &format!("message number {i} {}", "x".repeat(60)))
            .await;
    }
    let prompt = f.last_prompt();
    // System first, the input last, and in between only whole user/assistant pairs.
    assert_eq!(prompt[0].role, Role::System);
    let middle = &prompt[1..prompt.len() - 1];
    assert!(middle.len() % 2 == 0 && !middle.is_empty(), "{prompt:?}");
    assert!(middle.len() < 10, "older turns were dropped");
    for pair in middle.chunks(2) {
        assert_eq!((pair[0].role, pair[1].role), (Role::User, Role::Assistant));
    }
    // The newest earlier turn is the one kept.
    assert!(middle[middle.len() - 2]
        .content
        .starts_with("message number 4"));
    // Memory itself still holds every turn: the bound is on what is sent.
    assert_eq!(f.agent.size(&user("a")).unwrap(), 12);
    // An input that cannot fit at all is refused before the model.
    let calls = f.model.requests.borrow().len();
    let e = f
        .agent
        .run("y".repeat(2000), user("a"), in_session("s"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    assert_eq!(f.model.requests.borrow().len(), calls);
});

dual_test!(working_memory_reaches_only_its_users_prompt, async {
    let f = fixture(MemoryConfig::default(), false);
    f.agent
        .set_block(
            &user("alice"),
            "preferences",
            "Alice wants answers in French.",
        )
        .await
        .unwrap();
    f.agent
        .set_property(&user("alice"), "plan", json!({"tier": "pro"}))
        .await
        .unwrap();
    f.say("alice", "s", "hi").await;
    let system = &f.last_prompt()[0].content;
    assert!(system.starts_with("Be brief."), "{system}");
    assert!(
        system.contains("Alice wants answers in French."),
        "{system}"
    );
    assert!(system.contains("\"tier\":\"pro\""), "{system}");
    f.say("bob", "s", "hi").await;
    assert_eq!(f.last_prompt()[0].content, "Be brief.");
    let blocks = f.agent.blocks(&user("alice")).unwrap();
    assert_eq!(blocks.len(), 1);
    assert!(f.agent.blocks(&user("bob")).unwrap().is_empty());
    assert_eq!(
        f.agent.properties(&user("alice")).unwrap()["plan"]["tier"],
        "pro"
    );
    let e = f
        .agent
        .set_block(&user("alice"), "", "x")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
    f.agent
        .delete_block(&user("alice"), "preferences")
        .await
        .unwrap();
    assert!(f.agent.blocks(&user("alice")).unwrap().is_empty());
});

dual_test!(recall_ranks_one_users_messages_and_never_anothers, async {
    let f = fixture(
        MemoryConfig {
            recall_top_k: 2,
            ..Default::default()
        },
        false,
    );
    f.say("alice", "trip", "I am flying to Lisbon in May").await;
    f.say("alice", "pets", "My dog is called Rex").await;
    // Bob's message matches the query far better than anything of Alice's.
    f.say(
        "bob",
        "pets",
        "dog dog dog called called Rex Rex Fido dog name",
    )
    .await;
    let hits = f
        .agent
        .recall(&user("alice"), "what is my dog called", Some(10))
        .unwrap();
    assert!(!hits.is_empty());
    assert_eq!(hits[0].content, "My dog is called Rex");
    assert_eq!(hits[0].session_id, "pets");
    assert!(hits.iter().all(|h| !h.content.contains("Fido")));
    // Injection: a new session of Alice's gets her relevant past message, not Bob's.
    f.say("alice", "new", "what is my dog called?").await;
    let system = &f.last_prompt()[0].content;
    assert!(system.contains("My dog is called Rex"), "{system}");
    assert!(!system.contains("Fido"), "{system}");
    assert!(f
        .agent
        .recall(&user("carol"), "dog", Some(10))
        .unwrap()
        .is_empty());
});

dual_test!(lru_and_idle_eviction_without_storage_free_the_user, async {
    let f = fixture(
        MemoryConfig {
            max_users: 2,
            idle_ttl_ms: 10_000.0,
            ..Default::default()
        },
        false,
    );
    f.say("a", "s", "one").await;
    f.say("b", "s", "two").await;
    f.say("c", "s", "three").await;
    assert_eq!(f.agent.stats().users, 2);
    assert!(
        !f.agent.is_resident(&user("a")),
        "least recently used goes first"
    );
    assert_eq!(f.agent.size(&user("a")).unwrap(), 0);
    f.clock.advance(10_001.0);
    f.say("d", "s", "four").await;
    let st = f.agent.stats();
    assert_eq!((st.users, st.sessions, st.messages), (1, 1, 2));
    assert!(st.approx_bytes > 0);
});

dual_test!(with_storage_eviction_only_frees_ram, async {
    let f = fixture(
        MemoryConfig {
            max_users: 1,
            ..Default::default()
        },
        true,
    );
    f.say("alice", "s", "My name is Alice").await;
    f.agent
        .set_block(&user("alice"), "notes", "VIP")
        .await
        .unwrap();
    f.say("bob", "s", "hello").await;
    assert!(!f.agent.is_resident(&user("alice")));
    // A synchronous read of a user in storage only says so instead of answering "empty".
    let e = f.agent.history(&user("alice"), &sid("s")).unwrap_err();
    assert_eq!(e.code(), "not_loaded");
    // Her next run reloads her: the model sees her history and working memory.
    f.say("alice", "s", "What's my name?").await;
    let prompt = f.last_prompt();
    assert!(prompt.iter().any(|m| m.content == "My name is Alice"));
    assert!(prompt[0].content.contains("VIP"));
    assert_eq!(f.agent.size(&user("alice")).unwrap(), 4);
    // load() makes a user readable without a run.
    f.agent.load(&user("bob")).await.unwrap();
    assert_eq!(f.agent.size(&user("bob")).unwrap(), 2);
});

dual_test!(forget_deletes_one_user_everywhere_and_nobody_else, async {
    let f = fixture(MemoryConfig::default(), true);
    for u in ["alice", "alice/x", "alicex", "bob"] {
        f.say(u, "s", &format!("{u} was here")).await;
        f.agent.set_block(&user(u), "n", "note").await.unwrap();
    }
    f.agent
        .run("anon".into(), UserKey::Anonymous, RunOptions::default())
        .await
        .unwrap();
    let before = f.stored_keys().len();
    f.agent.forget(&user("alice")).await.unwrap();
    let keys = f.stored_keys();
    assert_eq!(keys.len(), before - 2, "{keys:?}");
    for u in ["alice/x", "alicex", "bob"] {
        assert_eq!(f.agent.size(&user(u)).unwrap(), 2, "{u}");
    }
    f.agent.load(&user("alice")).await.unwrap();
    assert_eq!(f.agent.size(&user("alice")).unwrap(), 0);
    assert!(f.agent.blocks(&user("alice")).unwrap().is_empty());
    f.agent.forget(&UserKey::Anonymous).await.unwrap();
    f.agent.load(&UserKey::Anonymous).await.unwrap();
    assert_eq!(f.agent.size(&UserKey::Anonymous).unwrap(), 0);
    assert_eq!(f.stored_keys().len(), before - 3);
});

dual_test!(
    a_forget_during_a_run_wins_and_the_run_keeps_nothing,
    async {
        let f = fixture(MemoryConfig::default(), true);
        f.say("alice", "s", "first").await;
        let run = f
            .agent
            .run("in flight".into(), user("alice"), in_session("s"));
        let forget = async {
            crate::dual_support::yield_n(0).await;
            f.agent.forget(&user("alice")).await.unwrap();
        };
        let (result, ()) = join(run, forget).await;
        assert_eq!(result.unwrap_err().code(), "conflict");
        assert!(f.stored_keys().is_empty(), "{:?}", f.stored_keys());
        f.agent.load(&user("alice")).await.unwrap();
        assert_eq!(f.agent.size(&user("alice")).unwrap(), 0);
    }
);

dual_test!(a_failed_storage_write_fails_the_run_and_keeps_ram, async {
    let f = fixture(MemoryConfig::default(), true);
    f.say("alice", "s", "kept").await;
    f.storage.fail_writes.set(true);
    let e = f
        .agent
        .run("lost".into(), user("alice"), in_session("s"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "storage");
    assert_eq!(f.agent.size(&user("alice")).unwrap(), 2);
    let e = f
        .agent
        .set_block(&user("alice"), "n", "x")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "storage");
    assert!(f.agent.blocks(&user("alice")).unwrap().is_empty());
    f.storage.fail_writes.set(false);
    f.say("alice", "s", "works again").await;
    assert_eq!(f.agent.size(&user("alice")).unwrap(), 4);
});

dual_test!(export_import_round_trip_exactly_one_user, async {
    let f = fixture(MemoryConfig::default(), false);
    f.say("alice", "s1", "alice one").await;
    f.say("alice", "s2", "alice two").await;
    f.agent
        .set_property(&user("alice"), "name", json!("Alice"))
        .await
        .unwrap();
    f.say("bob", "s1", "bob one").await;
    let doc = f.agent.export(&user("alice")).await.unwrap();
    let text = serde_json::to_string(&doc).unwrap();
    assert!(
        text.contains("alice one") && !text.contains("bob"),
        "{text}"
    );
    assert_eq!(doc.sessions.len(), 2);

    let g = fixture(MemoryConfig::default(), true);
    g.say("alice", "old", "to be replaced").await;
    let imported = g.agent.import(doc.clone()).await.unwrap();
    assert_eq!(imported, user("alice"));
    assert_eq!(
        g.agent.export(&user("alice")).await.unwrap().sessions,
        doc.sessions
    );
    assert_eq!(g.agent.properties(&user("alice")).unwrap()["name"], "Alice");
    // Persisted too: a fresh agent over the same storage sees the import.
    let h = Agent::new(AgentConfig::default(), Rc::new(Shared(g.model.clone())))
        .unwrap()
        .with_storage(g.storage.clone());
    h.load(&user("alice")).await.unwrap();
    assert_eq!(h.size(&user("alice")).unwrap(), 4);

    // A foreign document changes nothing.
    let mut bad = doc.clone();
    bad.sessions[1].user_id = Some("bob".into());
    let e = g.agent.import(bad).await.unwrap_err();
    assert_eq!(e.code(), "invalid_import");
    assert_eq!(g.agent.size(&user("alice")).unwrap(), 4);
});

dual_test!(snapshot_and_restore_carry_every_resident_user, async {
    let f = fixture(MemoryConfig::default(), false);
    f.say("alice", "s", "a").await;
    f.say("bob", "s", "b").await;
    f.agent
        .run("anon".into(), UserKey::Anonymous, RunOptions::default())
        .await
        .unwrap();
    let snap = f.agent.snapshot();
    assert_eq!(snap.users.len(), 3);
    let g = fixture(MemoryConfig::default(), false);
    assert_eq!(g.agent.restore(snap.clone()).await.unwrap(), 3);
    for u in [user("alice"), user("bob"), UserKey::Anonymous] {
        assert_eq!(g.agent.size(&u).unwrap(), 2);
    }
    let mut dup = snap.clone();
    dup.users.push(dup.users[0].clone());
    let fresh = fixture(MemoryConfig::default(), false);
    let e = fresh.agent.restore(dup).await.unwrap_err();
    assert_eq!(e.code(), "invalid_import");
    assert_eq!(fresh.agent.stats().users, 0, "nothing applied");
});

dual_test!(sessions_beyond_the_cap_leave_storage_too, async {
    let f = fixture(
        MemoryConfig {
            max_sessions_per_user: 2,
            ..Default::default()
        },
        true,
    );
    for s in ["s1", "s2", "s3"] {
        f.clock.advance(1.0);
        f.say("a", s, "x").await;
    }
    let ids: Vec<_> = f
        .agent
        .sessions(&user("a"))
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["s2", "s3"]);
    assert_eq!(f.stored_keys().len(), 2, "{:?}", f.stored_keys());
});
