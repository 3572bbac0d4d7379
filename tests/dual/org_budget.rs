//! Budgets and rate limits per org (`budget.perOrg`, `budget.orgPlans`,
//! `rateLimit.perOrg`): one ceiling for all the users of an org together, exact under
//! concurrent runs of many users, kept across restarts and erasures, and touching neither
//! another org nor the default org. Run natively and on wasm.

use crate::dual_support::{yield_n, Rng};
use crate::dual_test;
use futures_util::future::{join_all, LocalBoxFuture};
use std::cell::Cell;
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, CallContext, ManualClock, MemoryConfig, MemoryStorage, Model, ModelRequest,
    OrgId, RawModelResponse, RawUsage, Result, RunOptions, SessionId, Storage, UserKey,
};
use tenantry::{BudgetConfig, LimitSet, RateLimitConfig, RateSpec, Window};

/// Answers an input "n=<tokens> y=<yields>" after yielding `yields` times, with `tokens`
/// output tokens (never more than the grant) and one input token (never above the
/// estimate: an under-estimated input is charged in full, the one documented way past a
/// ceiling).
#[derive(Default)]
struct SizedModel {
    calls: Cell<usize>,
}

struct Sized(Rc<SizedModel>);

fn field(text: &str, key: &str) -> u64 {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

impl Model for Sized {
    fn generate(
        &self,
        request: ModelRequest,
        _ctx: CallContext,
    ) -> LocalBoxFuture<'static, Result<RawModelResponse>> {
        let m = self.0.clone();
        Box::pin(async move {
            m.calls.set(m.calls.get() + 1);
            let last = request
                .messages()
                .last()
                .map(|x| x.content.clone())
                .unwrap_or_default();
            yield_n(field(&last, "y=") as usize).await;
            let out = field(&last, "n=").min(u64::from(request.max_output_tokens));
            Ok(RawModelResponse {
                text: Some("ok".into()),
                usage: Some(RawUsage {
                    input_tokens: Some(1.0),
                    output_tokens: Some(out as f64),
                }),
                ..Default::default()
            })
        })
    }
}

fn at(org: Option<&str>, user: &str) -> UserKey {
    UserKey::parse_in(org, Some(user)).unwrap()
}

fn org(id: &str) -> OrgId {
    OrgId::parse(Some(id)).unwrap().unwrap()
}

fn tokens(max_total: f64) -> LimitSet {
    LimitSet {
        max_total_tokens: Some(max_total),
        window: Window::Lifetime,
        ..Default::default()
    }
}

fn per_org(max_total: f64) -> BudgetConfig {
    BudgetConfig {
        per_org: vec![tokens(max_total)],
        ..Default::default()
    }
}

struct Setup {
    budget: BudgetConfig,
    rate: RateLimitConfig,
    storage: Option<Rc<MemoryStorage>>,
    clock: Rc<ManualClock>,
    model: Rc<SizedModel>,
    memory: MemoryConfig,
}

impl Setup {
    fn new(budget: BudgetConfig, rate: RateLimitConfig, stored: bool) -> Setup {
        Setup {
            budget,
            rate,
            storage: stored.then(|| Rc::new(MemoryStorage::default())),
            clock: Rc::new(ManualClock::new(1_000_000.0)),
            model: Rc::new(SizedModel::default()),
            memory: MemoryConfig::default(),
        }
    }

    /// An agent over the same storage and clock: a second one is a restart.
    fn agent(&self) -> Rc<Agent> {
        self.agent_with(|a| a)
    }

    fn agent_with(&self, f: impl FnOnce(Agent) -> Agent) -> Rc<Agent> {
        let config = AgentConfig {
            instructions: "x".into(),
            budget: self.budget.clone(),
            rate_limit: self.rate.clone(),
            memory: self.memory.clone(),
            max_output_tokens: 100,
            model_name: "gpt-4o-mini".into(),
            ..Default::default()
        };
        let mut a = Agent::new(config, Rc::new(Sized(self.model.clone())))
            .unwrap()
            .with_clock(self.clock.clone());
        if let Some(s) = &self.storage {
            a = a.with_storage(s.clone() as Rc<dyn Storage>);
        }
        Rc::new(f(a))
    }
}

fn session(i: usize) -> RunOptions {
    RunOptions {
        session: SessionId::parse(Some(&format!("s{i}"))).unwrap(),
        ..Default::default()
    }
}

async fn run(agent: &Rc<Agent>, user: UserKey, n: u64, i: usize) -> Result<()> {
    agent
        .run(format!("n={n} y=1"), user, session(i))
        .await
        .map(|_| ())
}

fn org_tokens(agent: &Agent, id: &str) -> u64 {
    agent.org_usage(&org(id)).totals.total_tokens
}

fn refused_by(e: &tenantry::Error, code: &str, scope: &str) {
    assert_eq!(e.code(), code, "{e}");
    assert_eq!(
        e.details()["scope"].as_str(),
        Some(scope),
        "{}",
        e.details()
    );
}

/// The largest amount one run of the drain below can hold: its input estimate plus one
/// output token. A refusal leaves less than this unused, or the run would have fitted.
const ONE_RUN: u64 = 64;

dual_test!(
    concurrent_runs_of_many_users_of_one_org_never_pass_the_org_ceiling_and_reach_it,
    async {
        const CAP: u64 = 1_500;
        let mut refused = 0;
        for seed in 0..12u64 {
            let mut rng = Rng(seed);
            let setup = Setup::new(per_org(CAP as f64), Default::default(), seed % 2 == 1);
            let agent = setup.agent();
            let users = 2 + rng.below(7);
            let per_user = 1 + rng.below(5);
            let runs: Vec<_> = (0..users * per_user)
                .map(|i| {
                    let u = at(Some("acme"), &format!("u{}", i % users));
                    let text = format!("n={} y={}", 1 + rng.below(100), rng.below(6));
                    agent.run(text, u, session(i))
                })
                .collect();
            // A user of another org and one of the default org run alongside.
            let other = agent.run("n=100 y=2".into(), at(Some("other"), "u0"), session(0));
            let default = agent.run("n=100 y=2".into(), at(None, "u0"), session(0));
            let (results, other, default) = futures_util::join!(join_all(runs), other, default);
            other.unwrap();
            default.unwrap();
            for e in results.iter().filter_map(|r| r.as_ref().err()) {
                refused_by(e, "budget_exceeded", "org");
                refused += 1;
            }
            let used = org_tokens(&agent, "acme");
            assert!(used <= CAP, "seed {seed}: {used} > {CAP}");
            // Every charge counts at both levels: the org's total is its users' sum.
            let sum: u64 = (0..users)
                .map(|u| {
                    let k = at(Some("acme"), &format!("u{u}"));
                    agent.usage(&k).totals.total_tokens
                })
                .sum();
            assert_eq!(used, sum, "seed {seed}");
            assert_eq!(agent.org_usage(&org("acme")).reserved.total_tokens, 0);

            // Drain what is left, one run at a time from rotating users: the org stops
            // at its ceiling, with less unused than one run needs.
            let mut i = 1000;
            let last = loop {
                let u = at(Some("acme"), &format!("u{}", i % users));
                match run(&agent, u, 1 + rng.below(100) as u64, i).await {
                    Ok(()) => i += 1,
                    Err(e) => break e,
                }
                assert!(i < 2000, "seed {seed}: never refused");
            };
            refused_by(&last, "budget_exceeded", "org");
            let used = org_tokens(&agent, "acme");
            assert!(
                used <= CAP && CAP - used < ONE_RUN,
                "seed {seed}: used {used}"
            );
            let report = agent.org_usage(&org("acme"));
            assert_eq!(report.limits.len(), 1);
            assert_eq!(report.limits[0].used, used as f64);
            assert_eq!(report.limits[0].remaining, (CAP - used) as f64);

            // Another org and the default org are untouched by acme's ceiling.
            assert_eq!(org_tokens(&agent, "other"), 101);
            run(&agent, at(Some("other"), "u9"), 100, 1).await.unwrap();
            for i in 0..20 {
                run(&agent, at(None, "u0"), 100, i).await.unwrap();
            }
            assert!(agent.usage(&at(None, "u0")).totals.total_tokens > CAP);
        }
        assert!(
            refused > 0,
            "the org ceiling never refused a concurrent run"
        );
    }
);

dual_test!(
    the_user_limit_and_the_org_limit_both_apply_and_name_their_scope,
    async {
        let budget = BudgetConfig {
            per_user: vec![tokens(200.0)],
            per_org: vec![tokens(500.0)],
            ..Default::default()
        };
        let setup = Setup::new(budget, Default::default(), false);
        let agent = setup.agent();
        // One user alone stops at their own ceiling first.
        let mut i = 0;
        let e = loop {
            match run(&agent, at(Some("acme"), "a"), 100, i).await {
                Ok(()) => i += 1,
                Err(e) => break e,
            }
        };
        refused_by(&e, "budget_exceeded", "user");
        // Other users of the org take what the org has left, then the org refuses.
        let e = loop {
            i += 1;
            let u = at(Some("acme"), &format!("b{}", i % 3));
            if let Err(e) = run(&agent, u, 100, i).await {
                break e;
            }
        };
        refused_by(&e, "budget_exceeded", "org");
        let d = e.details();
        assert_eq!(d["limit"].as_f64(), Some(500.0));
        assert!(org_tokens(&agent, "acme") <= 500);
        // A refused run charged nothing anywhere.
        let calls = setup.model.calls.get();
        let before = agent.global_usage().totals.total_tokens;
        run(&agent, at(Some("acme"), "fresh"), 1, 999)
            .await
            .unwrap_err();
        assert_eq!(setup.model.calls.get(), calls);
        assert_eq!(agent.global_usage().totals.total_tokens, before);
        assert_eq!(
            agent.usage(&at(Some("acme"), "fresh")).totals.total_tokens,
            0
        );
    }
);

dual_test!(org_plans_are_chosen_by_the_host_per_org, async {
    let mut budget = per_org(100.0);
    budget.org_plans.insert("big".into(), vec![tokens(1_000.0)]);
    let setup = Setup::new(budget, Default::default(), false);
    let agent = setup.agent_with(|a| {
        a.with_org_plan_of(Rc::new(|org: &str| match org {
            "bigco" => Some("big".into()),
            "typo" => Some("no such plan".into()),
            _ => None,
        }))
    });
    for i in 0..5 {
        run(&agent, at(Some("bigco"), "u"), 100, i).await.unwrap();
    }
    assert_eq!(agent.org_usage(&org("bigco")).limits[0].limit, 1_000.0);
    // An unknown plan name falls back to perOrg.
    assert_eq!(agent.org_usage(&org("typo")).limits[0].limit, 100.0);
    run(&agent, at(Some("typo"), "u"), 100, 0).await.unwrap();
    let e = run(&agent, at(Some("typo"), "u"), 100, 1)
        .await
        .unwrap_err();
    refused_by(&e, "budget_exceeded", "org");
});

dual_test!(a_restart_never_refills_an_org_budget, async {
    let setup = Setup::new(per_org(300.0), Default::default(), true);
    let agent = setup.agent();
    let mut i = 0;
    while run(&agent, at(Some("acme"), &format!("u{i}")), 100, i)
        .await
        .is_ok()
    {
        i += 1;
    }
    let used = org_tokens(&agent, "acme");
    drop(agent);
    let restarted = setup.agent();
    // Another user of the org, never seen by this agent, is refused on the stored figure.
    let e = run(&restarted, at(Some("acme"), "newcomer"), 100, 0)
        .await
        .unwrap_err();
    refused_by(&e, "budget_exceeded", "org");
    assert_eq!(org_tokens(&restarted, "acme"), used);
    // The org's counters live under a pseudonym, outside the org's prefix.
    let keys = setup
        .storage
        .as_ref()
        .unwrap()
        .list("tenantry/v1/ob/")
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
});

dual_test!(forgetting_users_or_the_org_never_refills_the_org, async {
    for stored in [false, true] {
        let setup = Setup::new(per_org(300.0), Default::default(), stored);
        let agent = setup.agent();
        let mut i = 0;
        while run(&agent, at(Some("acme"), &format!("u{}", i % 2)), 100, i)
            .await
            .is_ok()
        {
            i += 1;
        }
        let used = org_tokens(&agent, "acme");
        assert!(used > 200);
        // Forgetting each user leaves the org's spend.
        agent.forget(&at(Some("acme"), "u0")).await.unwrap();
        agent.forget(&at(Some("acme"), "u1")).await.unwrap();
        assert_eq!(org_tokens(&agent, "acme"), used);
        let e = run(&agent, at(Some("acme"), "u0"), 100, 0)
            .await
            .unwrap_err();
        refused_by(&e, "budget_exceeded", "org");
        // Forgetting the org erases its users, not what it spent in its open windows.
        agent.forget_org(&org("acme")).await.unwrap();
        let e = run(&agent, at(Some("acme"), "u2"), 100, 0)
            .await
            .unwrap_err();
        refused_by(&e, "budget_exceeded", "org");
        assert_eq!(org_tokens(&agent, "acme"), used);
        if stored {
            agent.forget_org(&org("acme")).await.unwrap();
            let restarted = setup.agent();
            let e = run(&restarted, at(Some("acme"), "u3"), 100, 0)
                .await
                .unwrap_err();
            refused_by(&e, "budget_exceeded", "org");
        }
        // Another org is untouched throughout.
        run(&agent, at(Some("other"), "u0"), 100, 0).await.unwrap();
    }
});

dual_test!(the_org_rate_limit_is_one_bucket_for_all_its_users, async {
    let rate = RateLimitConfig {
        per_user: Some(RateSpec {
            requests: 2.0,
            per_ms: 60_000.0,
            burst: None,
        }),
        per_org: Some(RateSpec {
            requests: 3.0,
            per_ms: 60_000.0,
            burst: None,
        }),
    };
    for stored in [false, true] {
        let setup = Setup::new(Default::default(), rate.clone(), stored);
        let agent = setup.agent();
        for (i, u) in ["a", "b", "c"].iter().enumerate() {
            run(&agent, at(Some("acme"), u), 1, i).await.unwrap();
        }
        let e = run(&agent, at(Some("acme"), "d"), 1, 0).await.unwrap_err();
        refused_by(&e, "rate_limited", "org");
        let wait = e.details()["retryAfterMs"].as_f64().unwrap();
        assert!(wait > 0.0 && wait <= 20_000.0, "{wait}");
        // Other orgs and the default org have buckets of their own.
        run(&agent, at(Some("other"), "a"), 1, 0).await.unwrap();
        run(&agent, at(None, "a"), 1, 0).await.unwrap();
        // A refusal by the org took nothing from the user's own bucket: "d" has both of
        // its requests once the org refills one token.
        setup.clock.advance(20_000.0);
        run(&agent, at(Some("acme"), "d"), 1, 1).await.unwrap();
        setup.clock.advance(20_000.0);
        run(&agent, at(Some("acme"), "d"), 1, 2).await.unwrap();
        // A restart keeps the org's bucket (it is empty again now).
        if stored {
            let restarted = setup.agent();
            let e = run(&restarted, at(Some("acme"), "e"), 1, 0)
                .await
                .unwrap_err();
            refused_by(&e, "rate_limited", "org");
        }
    }
});

dual_test!(default_org_runs_never_open_an_org_account, async {
    let setup = Setup::new(per_org(100.0), Default::default(), false);
    let agent = setup.agent();
    for i in 0..5 {
        run(&agent, at(None, &format!("u{i}")), 100, i)
            .await
            .unwrap();
    }
    assert_eq!(agent.stats().org_budget_accounts, 0);
    run(&agent, at(Some("acme"), "u"), 10, 0).await.unwrap();
    run(&agent, at(Some("beta"), "u"), 10, 0).await.unwrap();
    assert_eq!(agent.stats().org_budget_accounts, 2);
    // Without any org limit configured no org account exists at all.
    let plain = Setup::new(Default::default(), Default::default(), false).agent();
    run(&plain, at(Some("acme"), "u"), 10, 0).await.unwrap();
    assert_eq!(plain.stats().org_budget_accounts, 0);
    assert_eq!(plain.org_usage(&org("acme")).limits.len(), 0);
});

dual_test!(org_accounts_in_ram_are_bounded, async {
    // Without storage, an org account holding spend cannot leave RAM: past the capacity a
    // new org is refused with a clear error; with storage idle ones go to storage.
    for stored in [false, true] {
        let mut setup = Setup::new(per_org(1_000.0), Default::default(), stored);
        // Few users in RAM: the capacity is its floor, 1024 accounts.
        setup.memory.max_users = 16;
        let agent = setup.agent();
        let cap = agent.ledger_capacity();
        assert_eq!(cap, 1024);
        for i in 0..cap {
            run(&agent, at(Some(&format!("o{i}")), "u"), 1, 0)
                .await
                .unwrap();
        }
        assert_eq!(agent.stats().org_budget_accounts, cap);
        let r = run(&agent, at(Some("one-too-many"), "u"), 1, 0).await;
        match stored {
            false => assert_eq!(r.unwrap_err().code(), "over_capacity"),
            true => {
                r.unwrap();
                assert!(agent.stats().org_budget_accounts <= cap);
                // An evicted org's spend comes back from storage.
                let before = setup.model.calls.get();
                run(&agent, at(Some("o0"), "u"), 1, 1).await.unwrap();
                assert_eq!(setup.model.calls.get(), before + 1);
                assert_eq!(org_tokens(&agent, "o0"), 4);
            }
        }
    }
});

dual_test!(bad_org_limits_are_refused_at_construction, async {
    let bad = |budget: BudgetConfig, rate: RateLimitConfig| {
        let config = AgentConfig {
            budget,
            rate_limit: rate,
            ..Default::default()
        };
        match Agent::new(config, Rc::new(Sized(Rc::default()))) {
            Ok(_) => panic!("accepted"),
            Err(e) => {
                assert_eq!(e.code(), "invalid_config");
                e.details()["field"].as_str().unwrap().to_owned()
            }
        }
    };
    assert_eq!(
        bad(per_org(-1.0), Default::default()),
        "budget.perOrg.maxTotalTokens"
    );
    assert_eq!(
        bad(per_org(f64::NAN), Default::default()),
        "budget.perOrg.maxTotalTokens"
    );
    let mut plans = BudgetConfig::default();
    plans
        .org_plans
        .insert("pro".into(), vec![tokens(1.0), tokens(0.5)]);
    assert_eq!(
        bad(plans, Default::default()),
        "budget.orgPlans[\"pro\"][1].maxTotalTokens"
    );
    let mut empty = BudgetConfig::default();
    empty.org_plans.insert(String::new(), vec![tokens(1.0)]);
    assert_eq!(bad(empty, Default::default()), "budget.orgPlans[\"\"]");
    let rate = RateLimitConfig {
        per_org: Some(RateSpec {
            requests: 0.0,
            per_ms: 1.0,
            burst: None,
        }),
        ..Default::default()
    };
    assert!(bad(Default::default(), rate).starts_with("rateLimit.perOrg"));
});

dual_test!(
    a_snapshot_carries_org_counters_and_restore_never_lowers_them,
    async {
        for stored in [false, true] {
            let setup = Setup::new(per_org(300.0), Default::default(), false);
            let agent = setup.agent();
            let mut i = 0;
            while run(&agent, at(Some("acme"), &format!("u{i}")), 100, i)
                .await
                .is_ok()
            {
                i += 1;
            }
            let used = org_tokens(&agent, "acme");
            let snap = agent.snapshot();
            assert_eq!(snap.org_budgets.len(), 1);
            let json = serde_json::to_value(&snap).unwrap();
            assert!(json["orgBudgets"]["acme"].is_object(), "{json}");
            // Restored into a fresh agent: acme's spend is back, so no user of it can run.
            let fresh = Setup::new(per_org(300.0), Default::default(), stored);
            let restored = fresh.agent();
            restored.restore(snap.clone()).await.unwrap();
            assert_eq!(org_tokens(&restored, "acme"), used);
            let e = run(&restored, at(Some("acme"), "newcomer"), 100, 0)
                .await
                .unwrap_err();
            refused_by(&e, "budget_exceeded", "org");
            if stored {
                // Written through: a restart after the restore still finds it.
                let again = fresh.agent();
                let e = run(&again, at(Some("acme"), "other"), 100, 0)
                    .await
                    .unwrap_err();
                refused_by(&e, "budget_exceeded", "org");
            }
            // A snapshot edited to lower the spend is merged, never lowering it; a bad org id
            // or a bad document refuses the whole restore.
            let mut lowered = serde_json::to_value(&snap).unwrap();
            lowered["orgBudgets"]["acme"]["totals"]["totalTokens"] = 0.into();
            let lowered: tenantry::SnapshotDoc = serde_json::from_value(lowered).unwrap();
            restored.restore(lowered).await.unwrap();
            assert_eq!(org_tokens(&restored, "acme"), used);
            for (id, doc) in [
                ("a\u{0}b", json["orgBudgets"]["acme"].clone()),
                (
                    "beta",
                    serde_json::json!({ "format": "nope", "version": 1, "totals": {} }),
                ),
            ] {
                let mut bad = json.clone();
                bad["orgBudgets"] = serde_json::json!({ id: doc });
                let bad: tenantry::SnapshotDoc = serde_json::from_value(bad).unwrap();
                let untouched = Setup::new(per_org(300.0), Default::default(), stored).agent();
                assert!(untouched.restore(bad).await.is_err());
                assert_eq!(untouched.stats().org_budget_accounts, 0);
                assert_eq!(untouched.stats().users, 0);
            }
        }
    }
);
