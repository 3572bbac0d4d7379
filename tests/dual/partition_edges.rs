//! Named regressions for the partition's edges, each an attack that once worked: a restart
//! or an erasure that refilled a limit, imports and forgets half-applied by a failing
//! store or a racing run, a ledger that grew with every id ever seen, an over-reporting
//! model. Run natively and on wasm.

use crate::dual_support::{user, FaultyStorage, ScriptModel, Shared};
use crate::dual_test;
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, ManualClock, MemoryConfig, RunOptions, SessionId, SnapshotDoc, Storage,
};
use tenantry::{BudgetConfig, LimitSet, RateLimitConfig, RateSpec, Window};

fn budget(max_total: f64) -> BudgetConfig {
    BudgetConfig {
        per_user: vec![
            LimitSet {
                max_total_tokens: Some(max_total),
                window: Window::Lifetime,
                ..Default::default()
            },
            LimitSet {
                max_total_tokens: Some(max_total * 10.0),
                window: Window::Day,
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

fn rate(requests: f64) -> RateLimitConfig {
    RateLimitConfig {
        per_user: Some(RateSpec {
            requests,
            per_ms: 3_600_000.0,
            burst: None,
        }),
        ..Default::default()
    }
}

struct Setup {
    storage: Rc<FaultyStorage>,
    clock: Rc<ManualClock>,
    budget: BudgetConfig,
    rate: RateLimitConfig,
    memory: MemoryConfig,
}

impl Setup {
    fn new(budget: BudgetConfig, rate: RateLimitConfig) -> Setup {
        Setup {
            storage: Rc::new(FaultyStorage::default()),
            clock: Rc::new(ManualClock::new(1_000_000.0)),
            budget,
            rate,
            memory: MemoryConfig::default(),
        }
    }

    /// A new agent over the same storage and clock: a restart.
    fn agent(&self) -> Rc<Agent> {
        let config = AgentConfig {
            budget: self.budget.clone(),
            rate_limit: self.rate.clone(),
            memory: self.memory.clone(),
            max_output_tokens: 20,
            model_name: "m".into(),
            ..Default::default()
        };
        Rc::new(
            Agent::new(config, Rc::new(Shared(ScriptModel::with_yields(1))))
                .unwrap()
                .with_clock(self.clock.clone())
                .with_storage(self.storage.clone() as Rc<dyn Storage>),
        )
    }
}

fn session(s: &str) -> RunOptions {
    RunOptions {
        session: SessionId::parse(Some(s)).unwrap(),
        ..Default::default()
    }
}

async fn run(agent: &Rc<Agent>, input: &str, who: &str) -> Result<u64, String> {
    agent
        .run(input.into(), user(who), RunOptions::default())
        .await
        .map(|o| o.usage.total_tokens)
        .map_err(|e| e.code().to_owned())
}

dual_test!(a_restart_never_refills_a_budget_or_a_rate_bucket, async {
    let s = Setup::new(budget(60.0), rate(3.0));
    let a = s.agent();
    let mut spent = 0;
    while let Ok(t) = run(&a, "hello", "bob").await {
        spent += t;
    }
    let refused = run(&a, "hello", "bob").await.unwrap_err();
    assert!(refused == "budget_exceeded" || refused == "rate_limited");
    // A new agent over the same storage: the first call already sees the stored counters
    // (the rate check included, which runs before anything else).
    let b = s.agent();
    assert_eq!(run(&b, "hello", "bob").await.unwrap_err(), refused);
    b.load(&user("bob")).await.unwrap();
    assert_eq!(b.usage(&user("bob")).totals.total_tokens, spent);
    // ... and its writes never overwrite them with fresh ones.
    let c = s.agent();
    c.load(&user("bob")).await.unwrap();
    assert_eq!(c.usage(&user("bob")).totals.total_tokens, spent);
});

dual_test!(
    a_drained_rate_bucket_stays_drained_across_a_restart,
    async {
        let s = Setup::new(BudgetConfig::default(), rate(2.0));
        let a = s.agent();
        run(&a, "one", "carol").await.unwrap();
        run(&a, "two", "carol").await.unwrap();
        assert_eq!(run(&a, "three", "carol").await.unwrap_err(), "rate_limited");
        assert_eq!(
            run(&s.agent(), "three", "carol").await.unwrap_err(),
            "rate_limited"
        );
    }
);

dual_test!(
    a_user_cannot_reset_their_limits_by_forgetting_themselves,
    async {
        let s = Setup::new(budget(60.0), rate(3.0));
        let a = s.agent();
        while run(&a, "hello", "mallory").await.is_ok() {}
        for _ in 0..3 {
            a.forget(&user("mallory")).await.unwrap();
            let e = run(&a, "hello", "mallory").await.unwrap_err();
            assert!(e == "budget_exceeded" || e == "rate_limited", "{e}");
        }
        // Nothing of hers is stored under her id, and the counters survive a restart.
        let keys = s.storage.snapshot();
        assert!(keys.keys().all(|k| !k.contains("mallory")));
        assert!(keys
            .values()
            .all(|v| !v.contains("mallory") && !v.contains("hello")));
        let e = run(&s.agent(), "hello", "mallory").await.unwrap_err();
        assert!(e == "budget_exceeded" || e == "rate_limited", "{e}");
        // Nobody else is touched.
        run(&a, "hello", "trent").await.unwrap();
    }
);

dual_test!(a_failed_import_changes_nothing_in_ram_or_storage, async {
    let s = Setup::new(budget(10_000.0), RateLimitConfig::default());
    let a = s.agent();
    run(&a, "first", "dave").await.unwrap();
    a.run("other".into(), user("dave"), session("s2"))
        .await
        .unwrap();
    let mut doc = a.export(&user("dave")).await.unwrap();
    doc.sessions.truncate(1);
    doc.budget = None;
    let before_ram = a.history(&user("dave"), &SessionId::default()).unwrap();
    let sessions_before = a.sessions(&user("dave")).unwrap().len();
    let spent = a.usage(&user("dave")).totals.total_tokens;
    // Fail each write of the import in turn: every time, nothing changes.
    for k in 0..6 {
        let stored = s.storage.snapshot();
        s.storage.fail_write_in.set(Some(k));
        let result = a.import(doc.clone()).await;
        s.storage.fail_write_in.set(None);
        if result.is_ok() {
            break;
        }
        assert_eq!(result.unwrap_err().code(), "storage");
        assert_eq!(
            a.history(&user("dave"), &SessionId::default()).unwrap(),
            before_ram
        );
        assert_eq!(a.sessions(&user("dave")).unwrap().len(), sessions_before);
        // What a restart would load is what it loaded before.
        let b = s.agent();
        b.load(&user("dave")).await.unwrap();
        assert_eq!(b.sessions(&user("dave")).unwrap().len(), sessions_before);
        assert_eq!(b.usage(&user("dave")).totals.total_tokens, spent);
        let _ = stored;
    }
    assert_eq!(a.sessions(&user("dave")).unwrap().len(), 1);
    let b = s.agent();
    b.load(&user("dave")).await.unwrap();
    assert_eq!(b.sessions(&user("dave")).unwrap().len(), 1);
});

dual_test!(an_import_without_counters_keeps_the_stored_spend, async {
    let s = Setup::new(budget(10_000.0), rate(100.0));
    let a = s.agent();
    run(&a, "spend", "erin").await.unwrap();
    let spent = a.usage(&user("erin")).totals.total_tokens;
    let mut doc = a.export(&user("erin")).await.unwrap();
    doc.budget = None;
    a.import(doc).await.unwrap();
    let b = s.agent();
    b.load(&user("erin")).await.unwrap();
    assert_eq!(b.usage(&user("erin")).totals.total_tokens, spent);
});

dual_test!(an_edited_import_can_add_spend_but_never_remove_it, async {
    let s = Setup::new(budget(10_000.0), RateLimitConfig::default());
    let a = s.agent();
    run(&a, "spend", "fay").await.unwrap();
    let empty = a.export(&user("nobody")).await.unwrap();
    let mut doc = a.export(&user("fay")).await.unwrap();
    let spent = a.usage(&user("fay")).totals.total_tokens;
    // Fay's counters replaced by an untouched account's.
    doc.budget = empty.budget.clone();
    if doc.budget.is_none() {
        doc.budget = a.export(&user("fay")).await.unwrap().budget.map(|mut b| {
            b.windows.clear();
            b.totals = Default::default();
            b
        });
    }
    a.import(doc).await.unwrap();
    assert_eq!(a.usage(&user("fay")).totals.total_tokens, spent);
});

dual_test!(
    an_import_racing_a_run_of_the_same_session_loses_nothing,
    async {
        let s = Setup::new(BudgetConfig::default(), RateLimitConfig::default());
        let a = s.agent();
        run(&a, "before", "gus").await.unwrap();
        let doc = a.export(&user("gus")).await.unwrap();
        let racing = a.run("racing".into(), user("gus"), RunOptions::default());
        let (r, imported) = futures_util::future::join(racing, a.import(doc.clone())).await;
        imported.unwrap();
        let _ = r;
        let ram = a.history(&user("gus"), &SessionId::default()).unwrap();
        let b = s.agent();
        b.load(&user("gus")).await.unwrap();
        assert_eq!(
            b.history(&user("gus"), &SessionId::default()).unwrap(),
            ram,
            "storage holds what RAM holds"
        );
        assert!(!ram.is_empty());
    }
);

dual_test!(restore_is_all_or_nothing, async {
    let s = Setup::new(budget(10_000.0), RateLimitConfig::default());
    let a = s.agent();
    run(&a, "one", "hal").await.unwrap();
    run(&a, "two", "ivy").await.unwrap();
    let mut snap: SnapshotDoc = a.snapshot();
    assert_eq!(snap.users.len(), 2);
    let bad = snap.users[1].budget.as_mut().unwrap();
    bad.totals.total_tokens = -5.0;
    let fresh = Setup::new(budget(10_000.0), RateLimitConfig::default());
    let b = fresh.agent();
    let e = b.restore(snap).await.unwrap_err();
    assert_eq!(e.code(), "invalid_import");
    assert!(fresh.storage.snapshot().keys().all(|k| !k.contains("/u/")));
    b.load(&user("hal")).await.unwrap();
    assert_eq!(b.size(&user("hal")).unwrap(), 0);
});

dual_test!(
    a_forget_whose_storage_fails_part_way_leaves_nothing_loadable,
    async {
        let s = Setup::new(BudgetConfig::default(), RateLimitConfig::default());
        let a = s.agent();
        run(&a, "secret one", "jo").await.unwrap();
        a.run("secret two".into(), user("jo"), session("s2"))
            .await
            .unwrap();
        // The generation switch succeeds, then a delete fails.
        s.storage.fail_write_in.set(Some(1));
        assert_eq!(a.forget(&user("jo")).await.unwrap_err().code(), "storage");
        s.storage.fail_write_in.set(None);
        let b = s.agent();
        b.load(&user("jo")).await.unwrap();
        assert_eq!(b.size(&user("jo")).unwrap(), 0, "nothing of jo's loads");
        // Running it again finishes the erasure.
        b.forget(&user("jo")).await.unwrap();
        assert!(s.storage.snapshot().keys().all(|k| !k.contains("/jo/")));
    }
);

dual_test!(one_shot_ids_do_not_grow_the_ledger_without_bound, async {
    let clock = Rc::new(ManualClock::new(0.0));
    let config = AgentConfig {
        memory: MemoryConfig {
            max_users: 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let a = Rc::new(
        Agent::new(config, Rc::new(Shared(ScriptModel::with_yields(0))))
            .unwrap()
            .with_clock(clock),
    );
    for i in 0..3000 {
        run(&a, "hi", &format!("once-{i}")).await.unwrap();
    }
    let st = a.stats();
    assert!(st.users <= 10);
    assert!(
        st.budget_accounts <= 11,
        "accounts holding nothing leave with their users: {}",
        st.budget_accounts
    );
});

dual_test!(
    without_storage_a_full_ledger_refuses_new_users_rather_than_forget_spend,
    async {
        let config = AgentConfig {
            memory: MemoryConfig {
                max_users: 2,
                ..Default::default()
            },
            budget: budget(1_000_000.0),
            ..Default::default()
        };
        let a = Rc::new(Agent::new(config, Rc::new(Shared(ScriptModel::with_yields(0)))).unwrap());
        let cap = a.ledger_capacity();
        for i in 0..cap {
            run(&a, "hi", &format!("spender-{i}")).await.unwrap();
        }
        assert_eq!(
            run(&a, "hi", "one-too-many").await.unwrap_err(),
            "over_capacity"
        );
        // Everyone already on the books still runs, and still owes what they spent.
        run(&a, "hi", "spender-0").await.unwrap();
        assert!(a.usage(&user("spender-1")).totals.total_tokens > 0);
        assert!(a.stats().budget_accounts <= cap);
    }
);

dual_test!(
    an_over_reporting_model_is_reported_and_the_next_run_refused,
    async {
        let s = Setup::new(budget(100.0), RateLimitConfig::default());
        let a = s.agent();
        let out = a
            .run("OVER".into(), user("kim"), RunOptions::default())
            .await
            .unwrap();
        assert!(out.usage.overrun);
        assert_eq!(out.usage.output_tokens, 500, "charged in full");
        assert_eq!(
            run(&a, "hello", "kim").await.unwrap_err(),
            "budget_exceeded"
        );
        assert_eq!(
            run(&s.agent(), "hello", "kim").await.unwrap_err(),
            "budget_exceeded"
        );
    }
);

dual_test!(an_oversized_reply_is_refused_and_commits_nothing, async {
    let s = Setup::new(BudgetConfig::default(), RateLimitConfig::default());
    let a = s.agent();
    assert_eq!(run(&a, "HUGE", "lee").await.unwrap_err(), "model_malformed");
    assert_eq!(a.size(&user("lee")).unwrap(), 0);
});
