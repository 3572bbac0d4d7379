//! Budgets and rate limits through the agent loop: hard ceilings under concurrent runs,
//! output capping, rate limits, eviction that never refills a budget, reporting, GDPR and
//! persistence. Run natively and on wasm.

use crate::dual_support::{user, ScriptModel, Shared};
use crate::dual_test;
use futures_util::future::join_all;
use std::rc::Rc;
use tenantry::{Agent, AgentConfig, ManualClock, MemoryConfig, MemoryStorage, RunOptions};
use tenantry::{BudgetConfig, LimitSet, Metric, RateLimitConfig, RateSpec, Window};

fn limits(max_total: f64, window: Window) -> LimitSet {
    LimitSet {
        max_total_tokens: Some(max_total),
        window,
        ..Default::default()
    }
}

fn agent(
    budget: BudgetConfig,
    rate: RateLimitConfig,
    memory: MemoryConfig,
) -> (Rc<Agent>, Rc<ScriptModel>, Rc<ManualClock>) {
    let model = ScriptModel::with_yields(2);
    let clock = Rc::new(ManualClock::new(1_000_000.0));
    let config = AgentConfig {
        instructions: "x".into(),
        max_output_tokens: 100,
        memory,
        budget,
        rate_limit: rate,
        model_name: "gpt-4o-mini".into(),
        ..Default::default()
    };
    let a = Agent::new(config, Rc::new(Shared(model.clone())))
        .unwrap()
        .with_clock(clock.clone());
    (Rc::new(a), model, clock)
}

fn per_user(set: LimitSet) -> BudgetConfig {
    BudgetConfig {
        per_user: vec![set],
        ..Default::default()
    }
}

dual_test!(
    concurrent_runs_of_one_user_never_overshoot_the_ceiling,
    async {
        // Each run may use up to ~20 input + 100 output tokens; 10 at once against 300 tokens.
        let (agent, model, _) = agent(
            per_user(limits(300.0, Window::Lifetime)),
            Default::default(),
            Default::default(),
        );
        let runs: Vec<_> = (0..10)
            .map(|i| {
                let opts = RunOptions {
                    session: tenantry::SessionId::parse(Some(&format!("s{i}"))).unwrap(),
                    ..Default::default()
                };
                agent.run(format!("q{i}"), user("alice"), opts)
            })
            .collect();
        let results = join_all(runs).await;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(ok >= 1 && !refused.is_empty(), "ok {ok}");
        for e in &refused {
            assert_eq!(e.code(), "budget_exceeded");
            let d = e.details();
            assert_eq!(
                (d["metric"].as_str(), d["scope"].as_str()),
                (Some("totalTokens"), Some("user"))
            );
            assert!(d["remaining"].as_f64().is_some(), "{d}");
        }
        let report = agent.usage(&user("alice"));
        let limit = report.limit(Metric::TotalTokens, Window::Lifetime).unwrap();
        assert!(limit.used <= 300.0, "used {}", limit.used);
        // Charged exactly what the model reported for the runs that went through.
        let charged: u64 = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|o| o.usage.total_tokens)
            .sum();
        assert_eq!(report.totals.total_tokens, charged);
        // Refused runs never reached the model and committed nothing.
        assert_eq!(model.requests.borrow().len(), ok);
        assert_eq!(agent.size(&user("alice")).unwrap(), 2 * ok);
    }
);

dual_test!(
    the_output_cap_sent_to_the_model_shrinks_to_the_remaining_budget,
    async {
        let (agent, model, _) = agent(
            per_user(limits(100.0, Window::Day)),
            Default::default(),
            Default::default(),
        );
        agent
            .run("a".into(), user("bob"), RunOptions::default())
            .await
            .unwrap();
        let first = model.requests.borrow()[0].max_output_tokens;
        agent
            .run("b".into(), user("bob"), RunOptions::default())
            .await
            .unwrap();
        let second = model.requests.borrow()[1].max_output_tokens;
        // The total-token ceiling holds the estimated input too, so even the first call gets
        // less than the 100 it asked for; the second gets only what the first left.
        assert!(first < 100 && first > 50, "{first}");
        assert!(second < first, "{second} < {first}");
        let used = agent.usage(&user("bob")).totals.total_tokens;
        assert!(used <= 100, "{used}");
    }
);

dual_test!(rate_limits_refuse_before_any_work_with_retry_after, async {
    let rate = RateLimitConfig {
        per_user: Some(RateSpec {
            requests: 2.0,
            per_ms: 60_000.0,
            burst: None,
        }),
        ..Default::default()
    };
    let (agent, model, clock) = agent(Default::default(), rate, Default::default());
    for _ in 0..2 {
        agent
            .run("hi".into(), user("carol"), RunOptions::default())
            .await
            .unwrap();
    }
    let e = agent
        .run("hi".into(), user("carol"), RunOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "rate_limited");
    let wait = e.details()["retryAfterMs"].as_f64().unwrap();
    assert!(wait > 0.0 && wait <= 30_000.0, "{wait}");
    assert_eq!(model.requests.borrow().len(), 2);
    // Another user is not affected; time refills the bucket.
    agent
        .run("hi".into(), user("dave"), RunOptions::default())
        .await
        .unwrap();
    clock.advance(wait);
    agent
        .run("hi".into(), user("carol"), RunOptions::default())
        .await
        .unwrap();
});

dual_test!(evicting_a_capped_user_never_refills_their_budget, async {
    let memory = MemoryConfig {
        max_users: 1,
        ..Default::default()
    };
    let (agent, _, _) = agent(
        per_user(limits(60.0, Window::Lifetime)),
        Default::default(),
        memory,
    );
    while agent
        .run("spend".into(), user("erin"), RunOptions::default())
        .await
        .is_ok()
    {}
    // A flood of new ids evicts erin's memory...
    for i in 0..20 {
        let _ = agent
            .run(
                "x".into(),
                user(&format!("flood-{i}")),
                RunOptions::default(),
            )
            .await;
    }
    assert!(!agent.is_resident(&user("erin")));
    // ...but her spend is still on the books.
    let e = agent
        .run("more".into(), user("erin"), RunOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "budget_exceeded");
});

dual_test!(plans_global_limits_and_costs, async {
    let mut budget = per_user(limits(1_000_000.0, Window::Lifetime));
    budget
        .plans
        .insert("free".into(), vec![limits(30.0, Window::Lifetime)]);
    budget.global = vec![LimitSet {
        max_cost_usd: Some(1.0),
        ..Default::default()
    }];
    let config = AgentConfig {
        instructions: "x".into(),
        max_output_tokens: 100,
        budget,
        model_name: "gpt-4o-mini".into(),
        ..Default::default()
    };
    // Plans come from the host only.
    let agent = Rc::new(
        Agent::new(config, Rc::new(Shared(ScriptModel::with_yields(2))))
            .unwrap()
            .with_plan_of(Rc::new(|u: Option<&str>, _org: Option<&str>| {
                (u == Some("frank")).then(|| "free".to_owned())
            })),
    );
    // What the user can write never picks their plan: grace stays on the default limits.
    agent
        .set_property(&user("grace"), "plan", serde_json::json!("free"))
        .await
        .unwrap();
    let out = agent
        .run("hi".into(), user("frank"), RunOptions::default())
        .await
        .unwrap();
    assert!(
        out.usage.cost_usd > 0.0,
        "priced from the gpt-4o-mini default"
    );
    let e = agent
        .run("again".into(), user("frank"), RunOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        "budget_exceeded",
        "the free plan's 30 tokens are spent"
    );
    // A pro user on the default limits still runs; both count toward the global cost.
    agent
        .run("hi".into(), user("grace"), RunOptions::default())
        .await
        .unwrap();
    let g = agent.global_usage();
    assert!(g.totals.cost_usd > out.usage.cost_usd);
});

dual_test!(
    budget_counters_travel_with_export_forget_and_storage,
    async {
        let storage = Rc::new(MemoryStorage::default());
        let mk = |storage: Rc<MemoryStorage>| {
            let config = AgentConfig {
                budget: per_user(limits(500.0, Window::Lifetime)),
                model_name: "m".into(),
                ..Default::default()
            };
            Rc::new(
                Agent::new(config, Rc::new(Shared(ScriptModel::with_yields(0))))
                    .unwrap()
                    .with_storage(storage),
            )
        };
        let a = mk(storage.clone());
        a.run("hi".into(), user("hana"), RunOptions::default())
            .await
            .unwrap();
        let spent = a.usage(&user("hana")).totals.total_tokens;
        assert!(spent > 0);
        // Export carries the counters; a restarted agent over the same storage keeps them.
        let doc = a.export(&user("hana")).await.unwrap();
        assert!(doc.budget.is_some());
        let b = mk(storage.clone());
        b.load(&user("hana")).await.unwrap();
        assert_eq!(b.usage(&user("hana")).totals.total_tokens, spent);
        // Forget erases her id and content, in RAM and in storage; her spend keeps counting
        // under a pseudonym (erasure is not a way around a limit), after a restart too.
        b.forget(&user("hana")).await.unwrap();
        assert!(storage.map.borrow().keys().all(|k| !k.contains("/hana/")));
        assert!(storage
            .map
            .borrow()
            .values()
            .all(|v| !v.contains("hana") && !v.contains("hi")));
        assert_eq!(b.usage(&user("hana")).totals.total_tokens, spent);
        let c = mk(storage.clone());
        c.load(&user("hana")).await.unwrap();
        assert_eq!(c.usage(&user("hana")).totals.total_tokens, spent);
        assert_eq!(c.size(&user("hana")).unwrap(), 0);
        // An import brings her data back and never lowers her spend.
        c.import(doc).await.unwrap();
        assert_eq!(c.usage(&user("hana")).totals.total_tokens, spent);
        assert!(c.size(&user("hana")).unwrap() > 0);
    }
);

dual_test!(bad_limits_are_refused_at_construction, async {
    for bad in [-1.0, f64::NAN] {
        let config = AgentConfig {
            budget: per_user(limits(bad, Window::Day)),
            ..Default::default()
        };
        let e = Agent::new(config, Rc::new(Shared(ScriptModel::with_yields(0))))
            .err()
            .unwrap();
        assert_eq!(e.code(), "invalid_config");
        assert!(e.details()["field"]
            .as_str()
            .unwrap()
            .contains("maxTotalTokens"));
    }
});
