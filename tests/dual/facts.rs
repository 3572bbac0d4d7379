//! Facts through the agent: bi-temporal reads, scoping, the prompt, persistence, erasure,
//! portability. Run natively and on wasm.

use crate::dual_support::{user, ScriptModel, Shared};
use crate::dual_test;
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, FactQuery, ManualClock, MemoryConfig, MemoryStorage, NewFact, RunOptions,
    UserKey,
};

struct Fixture {
    agent: Rc<Agent>,
    model: Rc<ScriptModel>,
    clock: Rc<ManualClock>,
    storage: Rc<MemoryStorage>,
}

fn fixture(memory: MemoryConfig, storage: Option<Rc<MemoryStorage>>) -> Fixture {
    let model = ScriptModel::with_yields(1);
    let clock = Rc::new(ManualClock::new(1_000.0));
    let config = AgentConfig {
        instructions: "Be brief.".into(),
        memory,
        ..Default::default()
    };
    let mut agent = Agent::new(config, Rc::new(Shared(model.clone())))
        .unwrap()
        .with_clock(clock.clone());
    let storage = match storage {
        Some(s) => {
            agent = agent.with_storage(s.clone());
            s
        }
        None => Rc::new(MemoryStorage::default()),
    };
    Fixture {
        agent: Rc::new(agent),
        model,
        clock,
        storage,
    }
}

fn fact(subject: &str, predicate: &str, object: &str) -> NewFact {
    NewFact {
        subject: subject.into(),
        predicate: predicate.into(),
        object: object.into(),
        ..Default::default()
    }
}

impl Fixture {
    async fn remember(&self, u: &str, f: NewFact) {
        self.agent.remember(&user(u), f).await.unwrap();
    }
    async fn objects(&self, u: &UserKey, q: FactQuery) -> Vec<String> {
        let facts = self.agent.facts(u, &q).await.unwrap();
        facts.into_iter().map(|f| f.object).collect()
    }
    async fn system_prompt(&self, u: &str) -> String {
        self.agent
            .run("hi".into(), user(u), RunOptions::default())
            .await
            .unwrap();
        let requests = self.model.requests.borrow();
        requests.last().unwrap().messages()[0].content.clone()
    }
}

dual_test!(a_new_value_supersedes_and_both_times_answer, async {
    let f = fixture(MemoryConfig::default(), None);
    let alice = user("alice");
    f.remember("alice", fact("alice", "lives in", "Paris"))
        .await;
    let moved_at = 5_000.0;
    f.clock.set(moved_at);
    let current = f
        .agent
        .remember(&alice, fact("alice", "lives in", "Berlin"))
        .await
        .unwrap();
    assert_eq!(
        (current.object.as_str(), current.recorded_at),
        ("Berlin", moved_at)
    );
    f.clock.advance(1_000.0);
    let at = |valid_at: f64, known_at: Option<f64>| FactQuery {
        valid_at: Some(valid_at),
        known_at,
        ..Default::default()
    };
    assert_eq!(f.objects(&alice, at(2_000.0, None)).await, ["Paris"]);
    assert_eq!(f.objects(&alice, at(5_500.0, None)).await, ["Berlin"]);
    // What the agent believed at t=3000 about t=5500: Paris, open-ended.
    assert_eq!(
        f.objects(&alice, at(5_500.0, Some(3_000.0))).await,
        ["Paris"]
    );
    // Remembering the current value again changes nothing.
    f.remember("alice", fact("alice", "lives in", "Berlin"))
        .await;
    let all = f.agent.facts(&alice, &FactQuery::default()).await.unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].valid_until, Some(moved_at));
});

dual_test!(facts_are_scoped_and_reach_only_their_users_prompt, async {
    let f = fixture(MemoryConfig::default(), None);
    f.remember("alice", fact("alice", "favourite colour", "green"))
        .await;
    f.remember("bob", fact("bob", "favourite colour", "red"))
        .await;
    let (alice, bob) = (user("alice"), user("bob"));
    assert_eq!(f.objects(&alice, FactQuery::default()).await, ["green"]);
    assert_eq!(f.objects(&bob, FactQuery::default()).await, ["red"]);
    // A subject naming the other user reads nothing of theirs.
    let about_bob = FactQuery {
        subject: Some("bob".into()),
        ..Default::default()
    };
    assert!(f.objects(&alice, about_bob).await.is_empty());
    let system = f.system_prompt("alice").await;
    assert!(
        system.contains("alice: favourite colour: green"),
        "{system}"
    );
    assert!(!system.contains("red"), "{system}");
    let system = f.system_prompt("bob").await;
    assert!(system.contains("bob: favourite colour: red"), "{system}");
    assert!(!system.contains("green"), "{system}");
    assert_eq!(f.system_prompt("carol").await, "Be brief.");
    // A withdrawn fact leaves the prompt but not the record.
    f.clock.advance(10.0);
    assert!(f
        .agent
        .forget_fact(&alice, "alice", "favourite colour")
        .await
        .unwrap());
    assert!(!f.system_prompt("alice").await.contains("green"));
    let before = FactQuery {
        known_at: Some(1_000.0),
        ..Default::default()
    };
    assert_eq!(f.objects(&alice, before).await, ["green"]);
});

dual_test!(facts_persist_through_eviction_and_restart, async {
    let storage = Rc::new(MemoryStorage::default());
    let memory = MemoryConfig {
        max_users: 1,
        ..Default::default()
    };
    let f = fixture(memory.clone(), Some(storage.clone()));
    f.remember("alice", fact("alice", "plan", "pro")).await;
    f.remember("bob", fact("bob", "plan", "free")).await;
    assert!(!f.agent.is_resident(&user("alice")));
    assert!(f.system_prompt("alice").await.contains("alice: plan: pro"));
    // A new agent over the same storage: a restart.
    let g = fixture(memory, Some(storage.clone()));
    assert_eq!(f.storage.map.borrow().len(), g.storage.map.borrow().len());
    assert_eq!(
        g.objects(&user("bob"), FactQuery::default()).await,
        ["free"]
    );
    assert!(g.system_prompt("alice").await.contains("alice: plan: pro"));
});

dual_test!(forget_erases_facts_in_ram_and_storage, async {
    let storage = Rc::new(MemoryStorage::default());
    let f = fixture(MemoryConfig::default(), Some(storage.clone()));
    f.remember("alice", fact("alice", "secret", "4711-XYZ"))
        .await;
    f.remember("bob", fact("bob", "plan", "free")).await;
    f.agent.forget(&user("alice")).await.unwrap();
    let stored: String = storage.map.borrow().values().cloned().collect();
    assert!(!stored.contains("4711-XYZ"), "{stored}");
    assert!(stored.contains("free"));
    assert!(f
        .objects(&user("alice"), FactQuery::default())
        .await
        .is_empty());
    assert!(!f.system_prompt("alice").await.contains("4711-XYZ"));
    assert_eq!(
        f.objects(&user("bob"), FactQuery::default()).await,
        ["free"]
    );
});

dual_test!(facts_travel_with_export_and_import, async {
    let f = fixture(MemoryConfig::default(), None);
    f.remember("alice", fact("alice", "lives in", "Paris"))
        .await;
    f.clock.advance(10.0);
    f.remember("alice", fact("alice", "lives in", "Rome")).await;
    let doc = f.agent.export(&user("alice")).await.unwrap();
    assert_eq!(
        doc.facts.len(),
        3,
        "the superseded record, its closed copy, the new one"
    );
    let storage = Rc::new(MemoryStorage::default());
    let g = fixture(MemoryConfig::default(), Some(storage));
    g.clock.set(2_000.0);
    g.agent.import(doc.clone()).await.unwrap();
    let back = g.agent.export(&user("alice")).await.unwrap();
    assert_eq!(back.facts, doc.facts);
    assert!(g
        .system_prompt("alice")
        .await
        .contains("alice: lives in: Rome"));
    // A document cannot bring in what remember would refuse.
    let mut bad = doc.clone();
    bad.facts[0].valid_until = Some(bad.facts[0].valid_from - 1.0);
    assert_eq!(
        g.agent.import(bad).await.unwrap_err().code(),
        "invalid_import"
    );
    let mut foreign = doc;
    foreign.facts[0].object = "x".repeat(tenantry::limits::MAX_FACT_OBJECT_BYTES + 1);
    assert_eq!(
        g.agent.import(foreign).await.unwrap_err().code(),
        "invalid_import"
    );
});

dual_test!(a_failed_fact_write_changes_nothing, async {
    let storage = Rc::new(MemoryStorage::default());
    let f = fixture(MemoryConfig::default(), Some(storage.clone()));
    f.remember("alice", fact("alice", "plan", "pro")).await;
    storage.fail_writes.set(true);
    let e = f
        .agent
        .remember(&user("alice"), fact("alice", "plan", "free"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "storage");
    storage.fail_writes.set(false);
    assert_eq!(
        f.objects(&user("alice"), FactQuery::default()).await,
        ["pro"]
    );
    let e = f
        .agent
        .remember(&user("alice"), fact("", "plan", "free"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_input");
});
