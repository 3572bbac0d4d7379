//! The agent loop and its isolation guarantees, run natively and on wasm.

use crate::dual_support::{user, CancelHandle, ManualCancel, ScriptModel, Shared};
use crate::dual_test;
use futures_util::future::join_all;
use std::rc::Rc;
use tenantry::{Agent, AgentConfig, MemoryConfig, Message, Role, RunOptions, SessionId, UserKey};

fn agent_with(model: &Rc<ScriptModel>, max_messages: usize) -> Rc<Agent> {
    let config = AgentConfig {
        instructions: "You are terse.".into(),
        memory: MemoryConfig {
            max_messages_per_session: max_messages,
            ..Default::default()
        },
        ..Default::default()
    };
    Rc::new(Agent::new(config, Rc::new(Shared(model.clone()))).unwrap())
}

fn session(s: &str) -> RunOptions {
    RunOptions {
        session: SessionId::parse(Some(s)).unwrap(),
        ..Default::default()
    }
}

dual_test!(
    a_run_sends_instructions_history_and_input_and_commits_one_turn,
    async {
        let model = ScriptModel::with_yields(1);
        let agent = agent_with(&model, 100);
        let out = agent
            .run("hello".into(), user("alice"), RunOptions::default())
            .await
            .unwrap();
        assert_eq!(out.text, "reply to hello (saw 2)");
        assert_eq!(out.user_id.as_deref(), Some("alice"));
        assert_eq!(out.session_id, "default");
        assert!(out.run_id.starts_with("run_"));
        assert_eq!((out.usage.input_tokens, out.usage.output_tokens), (20, 5));
        agent
            .run("again".into(), user("alice"), RunOptions::default())
            .await
            .unwrap();
        let req = &model.requests.borrow()[1];
        let roles: Vec<Role> = req.messages().iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::User]
        );
        assert_eq!(req.user_id.as_deref(), Some("alice"));
        assert_eq!(req.run_id.len(), 28);
        let h = agent
            .history(&user("alice"), &SessionId::default())
            .unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h[2], Message::user("again"));
    }
);

dual_test!(a_failed_or_malformed_model_call_commits_nothing, async {
    let model = ScriptModel::with_yields(1);
    let agent = agent_with(&model, 100);
    agent
        .run("keep me".into(), user("alice"), RunOptions::default())
        .await
        .unwrap();
    let before = agent
        .history(&user("alice"), &SessionId::default())
        .unwrap();
    let e = agent
        .run("FAIL please".into(), user("alice"), RunOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "model_error");
    let e = agent
        .run("MALFORMED".into(), user("alice"), RunOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "model_malformed");
    assert_eq!(
        agent
            .history(&user("alice"), &SessionId::default())
            .unwrap(),
        before
    );
});

dual_test!(invalid_input_is_refused_before_the_model, async {
    let model = ScriptModel::with_yields(0);
    let agent = agent_with(&model, 100);
    for bad in ["", "   ", &"x".repeat((1 << 20) + 1)] {
        let e = agent
            .run(bad.to_string(), user("a"), RunOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_input");
    }
    assert!(model.requests.borrow().is_empty());
    assert_eq!(agent.size(&user("a")).unwrap(), 0);
});

dual_test!(users_with_the_same_session_id_never_see_each_other, async {
    let model = ScriptModel::with_yields(2);
    let agent = agent_with(&model, 100);
    let runs = ["alice", "bob", "alice", "bob"].map(|u| {
        agent.run(
            format!("secret-of-{u}"),
            user(u),
            session("shared-session-id"),
        )
    });
    for r in join_all(runs).await {
        r.unwrap();
    }
    for req in model.requests.borrow().iter() {
        let me = req.user_id.clone().unwrap();
        let other = if me == "alice" { "bob" } else { "alice" };
        assert!(req
            .messages()
            .iter()
            .all(|m| !m.content.contains(&format!("secret-of-{other}"))));
    }
    assert_eq!(agent.size(&user("alice")).unwrap(), 4);
    assert_eq!(agent.size(&user("bob")).unwrap(), 4);
});

dual_test!(runs_of_one_session_are_serialised_in_call_order, async {
    let model = ScriptModel::with_yields(3);
    let agent = agent_with(&model, 100);
    let runs: Vec<_> = (0..5)
        .map(|i| agent.run(format!("m{i}"), user("alice"), session("s")))
        .collect();
    let outs = join_all(runs).await;
    // Each run saw every earlier turn: the i-th prompt holds 2*i history messages + input.
    for (i, out) in outs.into_iter().enumerate() {
        let out = out.unwrap();
        assert_eq!(out.text, format!("reply to m{i} (saw {})", 2 + 2 * i));
    }
    assert_eq!(model.max_in_flight.get(), 1);
    let h = agent
        .history(&user("alice"), &SessionId::parse(Some("s")).unwrap())
        .unwrap();
    let inputs: Vec<_> = h
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(inputs, ["m0", "m1", "m2", "m3", "m4"]);
});

dual_test!(different_users_and_sessions_run_concurrently, async {
    let model = ScriptModel::with_yields(3);
    let agent = agent_with(&model, 100);
    let runs = [("a", "s1"), ("a", "s2"), ("b", "s1"), ("c", "s1")]
        .map(|(u, s)| agent.run("hi".into(), user(u), session(s)));
    for r in join_all(runs).await {
        r.unwrap();
    }
    assert_eq!(model.max_in_flight.get(), 4);
});

dual_test!(
    ten_users_times_a_hundred_concurrent_runs_stay_partitioned,
    async {
        let model = ScriptModel::with_yields(1);
        let agent = agent_with(&model, 1000);
        let users: Vec<String> = (0..10).map(|i| format!("user-{i}")).collect();
        let runs: Vec<_> = (0..100)
            .flat_map(|n| {
                users
                    .iter()
                    .map(move |u| (u.clone(), n))
                    .collect::<Vec<_>>()
            })
            .map(|(u, n)| agent.run(format!("{u}:{n}"), user(&u), RunOptions::default()))
            .collect();
        for r in join_all(runs).await {
            r.unwrap();
        }
        for u in &users {
            let h = agent.history(&user(u), &SessionId::default()).unwrap();
            assert_eq!(h.len(), 200, "{u}");
            assert!(h
                .iter()
                .filter(|m| m.role == Role::User)
                .all(|m| m.content.starts_with(&format!("{u}:"))));
        }
    }
);

dual_test!(the_anonymous_bucket_is_a_partition_of_its_own, async {
    let model = ScriptModel::with_yields(0);
    let agent = agent_with(&model, 100);
    agent
        .run(
            "anon says hi".into(),
            UserKey::Anonymous,
            RunOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(agent.size(&UserKey::Anonymous).unwrap(), 2);
    assert_eq!(agent.size(&user("alice")).unwrap(), 0);
    assert_eq!(model.requests.borrow()[0].user_id, None);
    agent.forget(&UserKey::Anonymous).await.unwrap();
    assert_eq!(agent.size(&UserKey::Anonymous).unwrap(), 0);
});

dual_test!(an_abort_during_the_model_call_commits_nothing, async {
    let model = ScriptModel::with_yields(50);
    let agent = agent_with(&model, 100);
    let cancel = Rc::new(ManualCancel::default());
    let opts = RunOptions {
        session: SessionId::default(),
        cancellation: Some(Rc::new(CancelHandle(cancel.clone()))),
        ..Default::default()
    };
    let run = agent.run("slow".into(), user("alice"), opts);
    let trigger = async {
        crate::dual_support::yield_n(3).await;
        cancel.cancel();
    };
    let (result, ()) = futures_util::join!(run, trigger);
    assert_eq!(result.unwrap_err().code(), "aborted");
    assert_eq!(agent.size(&user("alice")).unwrap(), 0);
    // The session is free again: the next run goes through.
    agent
        .run("next".into(), user("alice"), RunOptions::default())
        .await
        .unwrap();
    assert_eq!(agent.size(&user("alice")).unwrap(), 2);
});

dual_test!(history_is_bounded_per_session, async {
    let model = ScriptModel::with_yields(0);
    let agent = agent_with(&model, 6);
    for i in 0..10 {
        agent
            .run(format!("m{i}"), user("a"), RunOptions::default())
            .await
            .unwrap();
    }
    let h = agent.history(&user("a"), &SessionId::default()).unwrap();
    assert_eq!(h.len(), 6);
    assert_eq!(h[0], Message::user("m7"));
    // The prompt is bounded too: 6 remembered + instructions + input.
    assert_eq!(model.requests.borrow().last().unwrap().prompt.len(), 8);
});

dual_test!(clear_all_is_a_host_operation_that_empties_everyone, async {
    let model = ScriptModel::with_yields(0);
    let agent = agent_with(&model, 100);
    for u in ["a", "b"] {
        agent
            .run("x".into(), user(u), RunOptions::default())
            .await
            .unwrap();
    }
    agent.forget(&user("a")).await.unwrap();
    assert_eq!(
        (
            agent.size(&user("a")).unwrap(),
            agent.size(&user("b")).unwrap()
        ),
        (0, 2)
    );
    agent.clear_all().await.unwrap();
    assert_eq!(agent.size(&user("b")).unwrap(), 0);
});

dual_test!(the_demo_model_remembers_per_user, async {
    let agent = Rc::new(Agent::new(AgentConfig::default(), Rc::new(tenantry::DemoModel)).unwrap());
    let run = |text: &str, u: &str| agent.run(text.into(), user(u), RunOptions::default());
    run("My name is Alice", "alice").await.unwrap();
    let a = run("What's my name?", "alice").await.unwrap();
    let b = run("What's my name?", "bob").await.unwrap();
    assert_eq!(a.text, "Your name is Alice.");
    assert!(!b.text.contains("Alice"), "{}", b.text);
    assert!(!a.usage.estimated);
});

dual_test!(
    a_streaming_run_emits_tagged_events_ending_in_finish,
    async {
        use std::cell::RefCell;
        use tenantry::{EventPart, RunEvent};
        let model = ScriptModel::with_yields(0);
        let agent = agent_with(&model, 100);
        let events: Rc<RefCell<Vec<RunEvent>>> = Rc::default();
        let sink = events.clone();
        let opts = RunOptions {
            session: SessionId::parse(Some("s")).unwrap(),
            stream: Some(Rc::new(move |e| sink.borrow_mut().push(e))),
            ..Default::default()
        };
        let out = agent.run("hi".into(), user("alice"), opts).await.unwrap();
        {
            let ev = events.borrow();
            assert!(ev.iter().all(|e| e.user_id.as_deref() == Some("alice")
                && e.session_id == "s"
                && e.run_id == out.run_id));
            match &ev.last().unwrap().part {
                EventPart::Finish { text, usage, .. } => {
                    assert_eq!(text, &out.text);
                    assert_eq!(usage, &out.usage);
                }
                other => panic!("last event {other:?}"),
            }
            let json = serde_json::to_value(&ev[ev.len() - 1]).unwrap();
            assert_eq!(json["type"], "finish");
            assert_eq!(json["finishReason"], "stop");
            assert_eq!(json["userId"], "alice");
        }
        // A failed run ends in one error event and commits nothing.
        events.borrow_mut().clear();
        let sink = events.clone();
        let opts = RunOptions {
            stream: Some(Rc::new(move |e| sink.borrow_mut().push(e))),
            ..Default::default()
        };
        agent
            .run("FAIL".into(), user("bob"), opts)
            .await
            .unwrap_err();
        let ev = events.borrow();
        assert_eq!(ev.len(), 1);
        assert!(matches!(&ev[0].part, EventPart::Error { code, .. } if code == "model_error"));
        assert_eq!(agent.size(&user("bob")).unwrap(), 0);
    }
);

dual_test!(
    require_user_refuses_every_call_for_the_anonymous_bucket,
    async {
        let model = ScriptModel::with_yields(0);
        let config = AgentConfig {
            require_user: true,
            ..Default::default()
        };
        let agent = Rc::new(Agent::new(config, Rc::new(Shared(model.clone()))).unwrap());
        let anon = UserKey::Anonymous;
        let s = SessionId::default();
        let refused = |r: tenantry::Result<()>, what: &str| {
            assert_eq!(
                r.map_err(|e| e.code()),
                Err("user_required"),
                "{what} for the anonymous bucket"
            );
        };
        let run = agent.run("hi".into(), anon.clone(), RunOptions::default());
        refused(run.await.map(drop), "run");
        refused(agent.history(&anon, &s).map(drop), "history");
        refused(agent.sessions(&anon).map(drop), "sessions");
        refused(agent.size(&anon).map(drop), "size");
        refused(agent.blocks(&anon).map(drop), "blocks");
        refused(agent.properties(&anon).map(drop), "properties");
        refused(agent.recall(&anon, "hi", None).map(drop), "recall");
        let search = agent.search(&anon, "hi", Default::default());
        refused(search.await.map(drop), "search");
        refused(agent.load(&anon).await, "load");
        refused(agent.set_block(&anon, "l", "t").await, "set_block");
        refused(agent.delete_block(&anon, "l").await, "delete_block");
        let property = agent.set_property(&anon, "k", 1.into());
        refused(property.await, "set_property");
        let fact = tenantry::NewFact {
            subject: "s".into(),
            predicate: "p".into(),
            object: "o".into(),
            valid_from: None,
            source: None,
        };
        refused(agent.remember(&anon, fact).await.map(drop), "remember");
        let query = tenantry::FactQuery::default();
        refused(agent.facts(&anon, &query).await.map(drop), "facts");
        let forget_fact = agent.forget_fact(&anon, "s", "p");
        refused(forget_fact.await.map(drop), "forget_fact");
        refused(agent.export(&anon).await.map(drop), "export");
        refused(agent.forget(&anon).await, "forget");
        assert!(model.requests.borrow().is_empty(), "no model call was made");
        assert_eq!(agent.stats().users, 0, "nothing was made resident");

        // A document of the anonymous bucket (from an agent without the rule) is refused too,
        // alone or in a snapshot, before any of the snapshot is applied.
        let open = agent_with(&model, 100);
        open.run("anon".into(), anon.clone(), RunOptions::default())
            .await
            .unwrap();
        open.run("named".into(), user("alice"), RunOptions::default())
            .await
            .unwrap();
        let doc = open.export(&anon).await.unwrap();
        refused(agent.import(doc).await.map(drop), "import");
        let fresh = Agent::new(
            AgentConfig {
                require_user: true,
                ..Default::default()
            },
            Rc::new(Shared(model.clone())),
        )
        .unwrap();
        refused(fresh.restore(open.snapshot()).await.map(drop), "restore");
        assert_eq!(fresh.stats().users, 0, "a refused restore applied nothing");

        // Named users are served as ever.
        let out = agent
            .run("hello".into(), user("alice"), RunOptions::default())
            .await
            .unwrap();
        assert_eq!(out.user_id.as_deref(), Some("alice"));
        assert_eq!(agent.size(&user("alice")).unwrap(), 2);
    }
);
