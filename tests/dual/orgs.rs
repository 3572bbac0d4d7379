//! Organisations as a scope above users: the same user id in two orgs is two users who
//! share nothing (memory, recall, facts, blocks, budgets, audit, storage, exports), and a
//! whole-org erasure takes that org and nothing else. Run natively and on wasm.

use crate::dual_support::{ScriptModel, Shared};
use crate::dual_test;
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, AuditConfig, ManualClock, MemoryStorage, NewFact, Observer, OrgId,
    RunOptions, SessionId, Storage, UserKey,
};
use tenantry::{BudgetConfig, FactQuery, LimitSet, Window};

fn at(org: Option<&str>, user: &str) -> UserKey {
    UserKey::parse_in(org, Some(user)).unwrap()
}

fn agent_over(storage: Rc<MemoryStorage>, budget: BudgetConfig) -> (Rc<Agent>, Rc<ScriptModel>) {
    let model = ScriptModel::with_yields(1);
    let config = AgentConfig {
        budget,
        max_output_tokens: 20,
        model_name: "m".into(),
        ..Default::default()
    };
    let observer = Observer::new(Some(AuditConfig::new(vec![7; 32])), None, None).unwrap();
    let agent = Agent::new(config, Rc::new(Shared(model.clone())))
        .unwrap()
        .with_clock(Rc::new(ManualClock::new(1_000_000.0)))
        .with_storage(storage as Rc<dyn Storage>)
        .with_observer(observer);
    (Rc::new(agent), model)
}

/// A lifetime cap of `tokens` in all.
fn cap(tokens: f64) -> Vec<LimitSet> {
    vec![LimitSet {
        max_total_tokens: Some(tokens),
        window: Window::Lifetime,
        ..Default::default()
    }]
}

fn lifetime(tokens: f64) -> BudgetConfig {
    BudgetConfig {
        per_user: cap(tokens),
        ..Default::default()
    }
}

async fn say(agent: &Rc<Agent>, user: &UserKey, text: &str) -> Result<String, String> {
    agent
        .run(text.into(), user.clone(), RunOptions::default())
        .await
        .map(|o| o.text)
        .map_err(|e| e.code().to_owned())
}

#[test]
fn org_ids_are_checked_like_user_ids() {
    for bad in ["", "a\u{0}b", "tab\there", &"x".repeat(256)] {
        let e = UserKey::parse_in(Some(bad), Some("alice")).unwrap_err();
        assert_eq!(e.code(), "invalid_org_id", "{bad:?}");
    }
    let plain = UserKey::parse(Some("alice")).unwrap();
    assert_eq!(UserKey::parse_in(None, Some("alice")).unwrap(), plain);
    for org in ["acme", "acme ", "Acme", "acme/u", "u"] {
        assert_ne!(at(Some(org), "alice"), plain, "{org:?}");
    }
    assert_ne!(at(Some("acme"), "alice"), at(Some("acme "), "alice"));
    assert_eq!(OrgId::parse(None).unwrap(), None);
}

dual_test!(the_same_user_id_in_two_orgs_shares_nothing, async {
    let storage = Rc::new(MemoryStorage::default());
    let (a, model) = agent_over(storage.clone(), lifetime(1_000.0));
    let acme = at(Some("acme"), "alice");
    let globex = at(Some("globex"), "alice");
    let plain = at(None, "alice");
    say(&a, &acme, "acme secret refund policy").await.unwrap();
    a.set_block(&acme, "profile", "acme-only block")
        .await
        .unwrap();
    a.remember(
        &acme,
        NewFact {
            subject: "alice".into(),
            predicate: "employer".into(),
            object: "acme".into(),
            valid_from: None,
            source: None,
        },
    )
    .await
    .unwrap();
    say(&a, &globex, "hello from globex").await.unwrap();
    say(&a, &plain, "hello from nowhere").await.unwrap();
    // The prompts of the other two never held acme's words.
    for request in model.requests.borrow().iter() {
        let text: String = request
            .messages()
            .iter()
            .map(|m| m.content.clone())
            .collect();
        if request.org_id.as_deref() != Some("acme") {
            assert!(!text.contains("acme secret"), "{text}");
            assert!(!text.contains("acme-only"), "{text}");
        }
        assert_eq!(request.user_id.as_deref(), Some("alice"));
    }
    let session = SessionId::default();
    assert_eq!(a.history(&globex, &session).unwrap().len(), 2);
    assert!(a.blocks(&globex).unwrap().is_empty());
    assert!(a.blocks(&plain).unwrap().is_empty());
    assert_eq!(a.blocks(&acme).unwrap().len(), 1);
    assert!(a.recall(&globex, "refund", None).unwrap().is_empty());
    let hits = a.recall(&acme, "refund", None).unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h.content.contains("refund")));
    assert!(a
        .facts(&globex, &FactQuery::default())
        .await
        .unwrap()
        .is_empty());
    // Budgets are per (org, user).
    let spent = |u: &UserKey| a.usage(u).totals.total_tokens;
    assert!(spent(&acme) > 0);
    assert_ne!(spent(&acme), spent(&globex) + spent(&plain));
    // Audit views name the org, and each holds only its own entries.
    let log = a.observer().audit_log(&acme);
    assert!(!log.is_empty());
    assert!(log.iter().all(|e| e.org_id.as_deref() == Some("acme")));
    assert!(a
        .observer()
        .audit_log(&plain)
        .iter()
        .all(|e| e.org_id.is_none()));
    // Exports carry the org and only that user's data.
    let doc = a.export(&acme).await.unwrap();
    assert_eq!(doc.org_id.as_deref(), Some("acme"));
    assert!(doc
        .sessions
        .iter()
        .all(|s| s.org_id.as_deref() == Some("acme")));
    let text = serde_json::to_string(&a.export(&globex).await.unwrap()).unwrap();
    assert!(!text.contains("acme secret") && !text.contains("acme-only"));
    // Storage keys of the org's users sit under its own prefix.
    let keys = storage.list("tenantry/v1/").await.unwrap();
    assert!(keys
        .iter()
        .any(|k| k.starts_with("tenantry/v1/o/acme/u/alice/")));
    assert!(keys
        .iter()
        .any(|k| k.starts_with("tenantry/v1/o/globex/u/alice/")));
    assert!(keys.iter().any(|k| k.starts_with("tenantry/v1/u/alice/")));
});

dual_test!(
    a_restart_reads_each_org_back_into_its_own_partition,
    async {
        let storage = Rc::new(MemoryStorage::default());
        let (a, _) = agent_over(storage.clone(), lifetime(10_000.0));
        // Ids chosen so that naive concatenation would collide: ("acme/u", "x") and
        // ("acme", "u/x"), or an org named like the default org's folder.
        let pairs = [
            (Some("acme/u"), "x"),
            (Some("acme"), "u/x"),
            (Some("u"), "x"),
            (None, "x"),
            (Some("acme%2Fu"), "x"),
        ];
        for (org, user) in pairs {
            say(&a, &at(org, user), &format!("note of {org:?}/{user}"))
                .await
                .unwrap();
        }
        let (b, _) = agent_over(storage.clone(), lifetime(10_000.0));
        for (org, user) in pairs {
            let key = at(org, user);
            b.load(&key).await.unwrap();
            let history = b.history(&key, &SessionId::default()).unwrap();
            assert_eq!(history.len(), 2, "{org:?}/{user}");
            assert_eq!(history[0].content, format!("note of {org:?}/{user}"));
        }
    }
);

dual_test!(
    a_budget_spent_in_one_org_does_not_limit_the_namesake_in_another,
    async {
        let storage = Rc::new(MemoryStorage::default());
        let (a, _) = agent_over(storage.clone(), lifetime(60.0));
        let acme = at(Some("acme"), "bob");
        let globex = at(Some("globex"), "bob");
        while say(&a, &acme, "hi").await.is_ok() {}
        assert_eq!(say(&a, &acme, "hi").await.unwrap_err(), "budget_exceeded");
        let spent = a.usage(&acme).totals.total_tokens;
        assert!(spent > 0);
        assert_eq!(a.usage(&globex).totals.total_tokens, 0);
        say(&a, &globex, "hi").await.unwrap();
        // Forgetting acme's bob keeps his spend (erasure is no way around a limit), and
        // a restart reads it back under the org's own pseudonym, not globex's.
        a.forget(&acme).await.unwrap();
        a.load(&acme).await.unwrap();
        assert_eq!(a.usage(&acme).totals.total_tokens, spent);
        let (b, _) = agent_over(storage.clone(), lifetime(60.0));
        b.load(&acme).await.unwrap();
        b.load(&globex).await.unwrap();
        assert_eq!(b.usage(&acme).totals.total_tokens, spent);
        assert!(b.usage(&globex).totals.total_tokens < spent);
    }
);

dual_test!(forget_org_erases_that_org_and_nothing_else, async {
    let storage = Rc::new(MemoryStorage::default());
    let (a, _) = agent_over(storage.clone(), lifetime(10_000.0));
    let acme = OrgId::parse(Some("acme")).unwrap().unwrap();
    let users = [
        at(Some("acme"), "alice"),
        at(Some("acme"), "bob"),
        UserKey::parse_in(Some("acme"), None).unwrap(),
    ];
    let others = [
        at(Some("acme "), "alice"),
        at(Some("acme/x"), "alice"),
        at(Some("globex"), "alice"),
        at(None, "alice"),
        at(None, "acme"),
    ];
    for u in users.iter().chain(&others) {
        say(&a, u, "remember me").await.unwrap();
    }
    // One of acme's users is only in storage (a fresh agent over the same store).
    let (b, _) = agent_over(storage.clone(), lifetime(10_000.0));
    b.load(&users[0]).await.unwrap();
    let exported = b.export_org(&acme).await.unwrap();
    assert_eq!(exported.org_id, "acme");
    assert_eq!(exported.users.len(), 3);
    assert!(exported
        .users
        .iter()
        .all(|d| d.org_id.as_deref() == Some("acme")));
    assert_eq!(b.forget_org(&acme).await.unwrap(), 3);
    let keys = storage.list("tenantry/v1/").await.unwrap();
    assert!(
        keys.iter().all(|k| !k.starts_with("tenantry/v1/o/acme/")),
        "{keys:?}"
    );
    for u in &users {
        b.load(u).await.unwrap();
        assert_eq!(b.size(u).unwrap(), 0, "{u}");
    }
    for u in &others {
        b.load(u).await.unwrap();
        assert_eq!(b.size(u).unwrap(), 2, "{u}");
    }
    // Loading them again made empty partitions, which is all an export now finds.
    let after = b.export_org(&acme).await.unwrap();
    assert!(after.users.iter().all(|d| d.sessions.is_empty()));
});

dual_test!(
    an_import_names_its_org_and_a_stray_session_of_another_org_is_refused,
    async {
        let storage = Rc::new(MemoryStorage::default());
        let (a, _) = agent_over(storage.clone(), lifetime(10_000.0));
        let acme = at(Some("acme"), "alice");
        say(&a, &acme, "hello").await.unwrap();
        let doc = a.export(&acme).await.unwrap();
        // The same document, imported elsewhere, lands in acme again.
        let (b, _) = agent_over(Rc::new(MemoryStorage::default()), lifetime(10_000.0));
        assert_eq!(b.import(doc.clone()).await.unwrap(), acme);
        assert_eq!(b.size(&acme).unwrap(), 2);
        // A session record claiming another org is caught, not adopted.
        let mut stray = doc.clone();
        stray.sessions[0].org_id = Some("globex".into());
        assert_eq!(b.import(stray).await.unwrap_err().code(), "invalid_import");
        let mut moved = doc;
        moved.org_id = None;
        assert_eq!(b.import(moved).await.unwrap_err().code(), "invalid_import");
    }
);

fn org(s: &str) -> OrgId {
    OrgId::parse(Some(s)).unwrap().unwrap()
}

fn prompt_text(request: &tenantry::ModelRequest) -> String {
    request
        .messages()
        .iter()
        .map(|m| m.content.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

dual_test!(
    org_knowledge_reaches_that_orgs_users_only_and_survives_a_restart,
    async {
        let storage = Rc::new(MemoryStorage::default());
        let (a, model) = agent_over(storage.clone(), lifetime(100_000.0));
        a.set_org_block(&org("acme"), "refund policy", "30 days, no questions")
            .await
            .unwrap();
        for (o, u) in [
            (Some("acme"), "alice"),
            (Some("acme"), "bob"),
            (Some("acme "), "alice"),
            (Some("globex"), "alice"),
            (None, "alice"),
        ] {
            say(&a, &at(o, u), "what is the refund policy?")
                .await
                .unwrap();
            let seen = prompt_text(model.requests.borrow().last().unwrap());
            assert_eq!(
                seen.contains("30 days, no questions"),
                o == Some("acme"),
                "{o:?}/{u}: {seen}"
            );
        }
        // A user's own block of the same label is theirs, beside the org's.
        a.set_block(&at(Some("acme"), "bob"), "refund policy", "bob's note")
            .await
            .unwrap();
        assert_eq!(a.org_blocks(&org("acme")).await.unwrap().len(), 1);
        assert_eq!(
            a.org_blocks(&org("acme")).await.unwrap()[0].text,
            "30 days, no questions"
        );
        // A restart reads the knowledge back for acme's users.
        let (b, model_b) = agent_over(storage.clone(), lifetime(100_000.0));
        say(&b, &at(Some("acme"), "carol"), "hi").await.unwrap();
        assert!(prompt_text(model_b.requests.borrow().last().unwrap()).contains("30 days"));
        assert!(b
            .delete_org_block(&org("acme"), "refund policy")
            .await
            .unwrap());
        assert!(!b
            .delete_org_block(&org("acme"), "refund policy")
            .await
            .unwrap());
        say(&b, &at(Some("acme"), "carol"), "hi").await.unwrap();
        assert!(!prompt_text(model_b.requests.borrow().last().unwrap()).contains("30 days"));
        let (c, _) = agent_over(storage.clone(), lifetime(100_000.0));
        assert!(c.org_blocks(&org("acme")).await.unwrap().is_empty());
    }
);

dual_test!(
    forget_org_takes_its_knowledge_and_export_org_shows_it,
    async {
        let storage = Rc::new(MemoryStorage::default());
        let (a, _) = agent_over(storage.clone(), lifetime(100_000.0));
        a.set_org_block(&org("acme"), "tone", "formal")
            .await
            .unwrap();
        a.set_org_block(&org("acme/x"), "tone", "casual")
            .await
            .unwrap();
        say(&a, &at(Some("acme"), "alice"), "hi").await.unwrap();
        let doc = a.export_org(&org("acme")).await.unwrap();
        assert_eq!(doc.blocks.len(), 1);
        assert_eq!(doc.blocks[0].text, "formal");
        a.forget_org(&org("acme")).await.unwrap();
        assert!(a.org_blocks(&org("acme")).await.unwrap().is_empty());
        assert_eq!(
            a.org_blocks(&org("acme/x")).await.unwrap()[0].text,
            "casual"
        );
        let (b, _) = agent_over(storage.clone(), lifetime(100_000.0));
        assert!(b.org_blocks(&org("acme")).await.unwrap().is_empty());
        assert_eq!(b.org_blocks(&org("acme/x")).await.unwrap().len(), 1);
    }
);

dual_test!(a_failed_knowledge_write_changes_nothing, async {
    let storage = Rc::new(crate::dual_support::FaultyStorage::default());
    let model = ScriptModel::with_yields(0);
    let agent = Rc::new(
        Agent::new(
            AgentConfig {
                model_name: "m".into(),
                ..Default::default()
            },
            Rc::new(Shared(model.clone())),
        )
        .unwrap()
        .with_storage(storage.clone() as Rc<dyn Storage>),
    );
    agent
        .set_org_block(&org("acme"), "tone", "formal")
        .await
        .unwrap();
    storage.fail_write_in.set(Some(0));
    let e = agent
        .set_org_block(&org("acme"), "tone", "rude")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "storage");
    assert_eq!(
        agent.org_blocks(&org("acme")).await.unwrap()[0].text,
        "formal"
    );
    let bad = agent
        .set_org_block(&org("acme"), "", "x")
        .await
        .unwrap_err();
    assert_eq!(bad.code(), "invalid_input");
    say(&agent, &at(Some("acme"), "a"), "hi").await.unwrap();
    assert!(prompt_text(model.requests.borrow().last().unwrap()).contains("formal"));
});

struct Lookup {
    calls: std::cell::RefCell<Vec<String>>,
    fail: std::cell::Cell<bool>,
}

impl tenantry::OrgLookup for Lookup {
    fn lookup(
        &self,
        org: &OrgId,
    ) -> futures_util::future::LocalBoxFuture<
        'static,
        tenantry::Result<Option<tenantry::OrgSettings>>,
    > {
        self.calls.borrow_mut().push(org.as_str().to_owned());
        let fail = self.fail.get();
        let name = org.as_str().to_owned();
        Box::pin(async move {
            if fail {
                return Err(tenantry::Error::InvalidConfig {
                    field: "orgConfig".into(),
                    reason: "the directory is down".into(),
                });
            }
            Ok((name != "none").then(|| tenantry::OrgSettings {
                instructions: Some(format!("You serve {name}.")),
                ..Default::default()
            }))
        })
    }
}

dual_test!(
    an_orgs_settings_reach_its_users_only_and_a_failed_lookup_fails_closed,
    async {
        let agent_model = ScriptModel::with_yields(0);
        let acme_model = ScriptModel::with_yields(0);
        let mut fixed = std::collections::BTreeMap::new();
        fixed.insert(
            org("acme"),
            tenantry::OrgSettings {
                instructions: Some("Acme's refunds take 30 days.".into()),
                model: Some((Rc::new(Shared(acme_model.clone())), "acme-model".into())),
                ..Default::default()
            },
        );
        let lookup = Rc::new(Lookup {
            calls: Default::default(),
            fail: Default::default(),
        });
        let clock = Rc::new(ManualClock::new(1_000_000.0));
        let agent = Rc::new(
            Agent::new(
                AgentConfig {
                    instructions: "You are a support bot.".into(),
                    model_name: "m".into(),
                    ..Default::default()
                },
                Rc::new(Shared(agent_model.clone())),
            )
            .unwrap()
            .with_clock(clock.clone())
            .with_orgs(fixed, Some(lookup.clone() as Rc<dyn tenantry::OrgLookup>))
            .unwrap(),
        );
        say(&agent, &at(Some("acme"), "alice"), "hi").await.unwrap();
        let seen = prompt_text(acme_model.requests.borrow().last().unwrap());
        assert!(
            seen.contains("You are a support bot.\n\nAcme's refunds take 30 days."),
            "{seen}"
        );
        assert!(
            agent_model.requests.borrow().is_empty(),
            "acme's runs go to acme's model"
        );
        for (o, u) in [
            (Some("globex"), "alice"),
            (None, "alice"),
            (Some("none"), "bob"),
        ] {
            say(&agent, &at(o, u), "hi").await.unwrap();
            let seen = prompt_text(agent_model.requests.borrow().last().unwrap());
            assert!(!seen.contains("Acme"), "{seen}");
            assert_eq!(
                seen.contains("You serve globex."),
                o == Some("globex"),
                "{seen}"
            );
        }
        // The lookup's answers are cached for a while, per org, and the static map is
        // never looked up.
        say(&agent, &at(Some("globex"), "bob"), "hi").await.unwrap();
        assert_eq!(*lookup.calls.borrow(), ["globex", "none"]);
        // Expired: asked again, and a failure refuses the run instead of running it
        // without the org's rules.
        clock.advance(61_000.0);
        lookup.fail.set(true);
        let e = say(&agent, &at(Some("globex"), "bob"), "hi")
            .await
            .unwrap_err();
        assert_eq!(e, "invalid_config");
        say(&agent, &at(Some("acme"), "bob"), "hi").await.unwrap();
        say(&agent, &at(None, "bob"), "hi").await.unwrap();
        assert_eq!(
            agent.size(&at(Some("globex"), "bob")).unwrap(),
            2,
            "nothing kept"
        );
    }
);

dual_test!(
    an_orgs_settings_pick_its_budget_plan_and_an_unknown_plan_is_refused,
    async {
        let model = ScriptModel::with_yields(0);
        let budget = BudgetConfig {
            per_org: cap(1_000_000.0),
            org_plans: [("tiny".to_owned(), cap(40.0))].into(),
            ..Default::default()
        };
        let config = AgentConfig {
            budget,
            max_output_tokens: 20,
            model_name: "m".into(),
            ..Default::default()
        };
        let plan = |name: &str| tenantry::OrgSettings {
            plan: Some(name.into()),
            ..Default::default()
        };
        let mut fixed = std::collections::BTreeMap::new();
        fixed.insert(org("acme"), plan("nope"));
        let refused = Agent::new(config.clone(), Rc::new(Shared(model.clone())))
            .unwrap()
            .with_orgs(fixed, None)
            .err()
            .unwrap();
        assert_eq!(refused.code(), "invalid_config");
        let mut fixed = std::collections::BTreeMap::new();
        fixed.insert(org("acme"), plan("tiny"));
        let agent = Rc::new(
            Agent::new(config, Rc::new(Shared(model)))
                .unwrap()
                .with_orgs(fixed, None)
                .unwrap(),
        );
        // Acme's users share the tiny plan; globex keeps the default org ceiling.
        let mut refusals = 0;
        for i in 0..10 {
            let user = at(Some("acme"), &format!("u{i}"));
            if say(&agent, &user, "hello").await == Err("budget_exceeded".into()) {
                refusals += 1;
            }
        }
        assert!(refusals > 0, "the tiny plan never refused");
        // The script model reports more input than was reserved, so the last run admitted
        // overruns the cap (charged in full, as documented); the plan is what applies.
        let report = agent.org_usage(&org("acme"));
        assert!(
            report.limits.iter().all(|l| l.limit == 40.0),
            "{:?}",
            report.limits
        );
        assert!(refusals >= 5, "{refusals} refusals");
        for i in 0..10 {
            say(&agent, &at(Some("globex"), &format!("u{i}")), "hello")
                .await
                .unwrap();
        }
    }
);

/// Storage that yields before each answer, so concurrent writers interleave at every await.
#[derive(Default)]
struct YieldingStorage(MemoryStorage);

impl Storage for YieldingStorage {
    fn get(
        &self,
        key: &str,
    ) -> futures_util::future::LocalBoxFuture<'static, tenantry::Result<Option<String>>> {
        let f = self.0.get(key);
        Box::pin(async move {
            crate::dual_support::yield_n(2).await;
            f.await
        })
    }
    fn put(
        &self,
        key: &str,
        value: String,
    ) -> futures_util::future::LocalBoxFuture<'static, tenantry::Result<()>> {
        let f = self.0.put(key, value);
        Box::pin(async move {
            crate::dual_support::yield_n(3).await;
            f.await
        })
    }
    fn delete(
        &self,
        key: &str,
    ) -> futures_util::future::LocalBoxFuture<'static, tenantry::Result<()>> {
        let f = self.0.delete(key);
        Box::pin(async move {
            crate::dual_support::yield_n(1).await;
            f.await
        })
    }
    fn list(
        &self,
        prefix: &str,
    ) -> futures_util::future::LocalBoxFuture<'static, tenantry::Result<Vec<String>>> {
        let f = self.0.list(prefix);
        Box::pin(async move {
            crate::dual_support::yield_n(1).await;
            f.await
        })
    }
}

dual_test!(
    concurrent_knowledge_writes_of_one_org_lose_nothing_and_a_restart_reads_them_all,
    async {
        let storage = Rc::new(YieldingStorage::default());
        let make = || {
            Rc::new(
                Agent::new(
                    AgentConfig {
                        model_name: "m".into(),
                        ..Default::default()
                    },
                    Rc::new(Shared(ScriptModel::with_yields(1))),
                )
                .unwrap()
                .with_storage(storage.clone() as Rc<dyn Storage>),
            )
        };
        let a = make();
        // Sixteen writers of acme and four of acme/x, all at once: every read-modify-write
        // takes its org's turn, so none overwrites another's block.
        let writes = (0..20).map(|i| {
            let (o, label) = if i < 16 {
                ("acme", format!("b{i}"))
            } else {
                ("acme/x", format!("x{i}"))
            };
            let a = a.clone();
            async move { a.set_org_block(&org(o), &label, "text").await }
        });
        for r in futures_util::future::join_all(writes).await {
            r.unwrap();
        }
        let b = make();
        assert_eq!(b.org_blocks(&org("acme")).await.unwrap().len(), 16);
        assert_eq!(b.org_blocks(&org("acme/x")).await.unwrap().len(), 4);
        // A run racing a write sees the knowledge before or after it, whole either way.
        let (alice, acme) = (at(Some("acme"), "alice"), org("acme"));
        let run = say(&b, &alice, "hi");
        let write = b.delete_org_block(&acme, "b0");
        let (ran, deleted) = futures_util::join!(run, write);
        ran.unwrap();
        assert!(deleted.unwrap());
        assert_eq!(make().org_blocks(&org("acme")).await.unwrap().len(), 15);
    }
);

dual_test!(an_orgs_own_limits_apply_to_it_and_its_users_only, async {
    let model = ScriptModel::with_yields(0);
    let config = AgentConfig {
        budget: BudgetConfig {
            per_org: cap(1_000_000.0),
            per_user: cap(500_000.0),
            org_plans: [("big".to_owned(), cap(900_000.0))].into(),
            ..Default::default()
        },
        max_output_tokens: 20,
        model_name: "m".into(),
        ..Default::default()
    };
    let own = |per_org: Option<f64>, per_user: Option<f64>| tenantry::OrgSettings {
        budget: Some(tenantry::OrgBudget {
            per_org: per_org.map(cap).unwrap_or_default(),
            per_user: per_user.map(cap).unwrap_or_default(),
        }),
        ..Default::default()
    };
    // Limits given two ways at once are a contradiction, not a choice.
    let mut both = own(Some(40.0), None);
    both.plan = Some("big".into());
    let refused = Agent::new(config.clone(), Rc::new(Shared(model.clone())))
        .unwrap()
        .with_orgs([(org("acme"), both)].into(), None)
        .err()
        .unwrap();
    assert_eq!(refused.code(), "invalid_config");
    assert!(format!("{refused}").contains("budget.perOrg"), "{refused}");

    let fixed = [
        (org("acme"), own(Some(60.0), None)),
        (org("initech"), own(None, Some(25.0))),
    ];
    let agent = Rc::new(
        Agent::new(config, Rc::new(Shared(model)))
            .unwrap()
            .with_orgs(fixed.into(), None)
            .unwrap(),
    );
    let limits = |r: tenantry::UsageReport| r.limits.iter().map(|l| l.limit).collect::<Vec<_>>();
    assert_eq!(limits(agent.org_usage(&org("acme"))), vec![60.0]);
    assert_eq!(limits(agent.org_usage(&org("globex"))), vec![1_000_000.0]);
    assert_eq!(limits(agent.org_usage(&org("initech"))), vec![1_000_000.0]);
    assert_eq!(limits(agent.usage(&at(Some("initech"), "u"))), vec![25.0]);
    assert_eq!(limits(agent.usage(&at(Some("acme"), "u"))), vec![500_000.0]);
    assert_eq!(limits(agent.usage(&at(None, "u"))), vec![500_000.0]);
    // Acme's users together hit acme's own ceiling; globex's, with the same ids, do not.
    let mut refusals = 0;
    for i in 0..10 {
        if say(&agent, &at(Some("acme"), &format!("u{i}")), "hello").await
            == Err("budget_exceeded".into())
        {
            refusals += 1;
        }
    }
    assert!(
        refusals >= 5,
        "{refusals} refusals under acme's own ceiling"
    );
    for i in 0..10 {
        say(&agent, &at(Some("globex"), &format!("u{i}")), "hello")
            .await
            .unwrap();
    }
    // One initech user hits initech's per-user limit; the next initech user still runs.
    let alice = at(Some("initech"), "alice");
    let mut alice_refused = false;
    for _ in 0..5 {
        alice_refused |= say(&agent, &alice, "hello").await == Err("budget_exceeded".into());
    }
    assert!(alice_refused, "initech's per-user limit never refused");
    say(&agent, &at(Some("initech"), "bob"), "hello")
        .await
        .unwrap();
    say(&agent, &at(None, "alice"), "hello").await.unwrap();
});

/// A lookup answers per org at run time, when every account's windows are long fixed: it
/// names a plan, and an answer carrying limits of its own is refused, failing the run.
struct LimitsLookup;

impl tenantry::OrgLookup for LimitsLookup {
    fn lookup(
        &self,
        _org: &OrgId,
    ) -> futures_util::future::LocalBoxFuture<
        'static,
        tenantry::Result<Option<tenantry::OrgSettings>>,
    > {
        Box::pin(async {
            Ok(Some(tenantry::OrgSettings {
                budget: Some(tenantry::OrgBudget::default()),
                ..Default::default()
            }))
        })
    }
}

dual_test!(a_looked_up_org_with_limits_of_its_own_is_refused, async {
    let model = ScriptModel::with_yields(0);
    let config = AgentConfig {
        max_output_tokens: 20,
        model_name: "m".into(),
        ..Default::default()
    };
    let agent = Rc::new(
        Agent::new(config, Rc::new(Shared(model)))
            .unwrap()
            .with_orgs(Default::default(), Some(Rc::new(LimitsLookup)))
            .unwrap(),
    );
    let user = at(Some("acme"), "alice");
    assert_eq!(say(&agent, &user, "hi").await, Err("invalid_config".into()));
    assert_eq!(agent.size(&user).unwrap(), 0, "nothing kept");
});
