//! Inputs of parts (text, images, files) through the agent: what the model receives, what
//! memory and storage keep, what import accepts, and what the budget reserves. Run natively
//! and on wasm.

use crate::dual_support::{user, ScriptModel, Shared};
use crate::dual_test;
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, BudgetConfig, Input, LimitSet, ManualClock, MemoryStorage, Part, Role,
    RunOptions, SessionId, UserDoc, Window,
};

fn agent(storage: &Rc<MemoryStorage>, budget: BudgetConfig) -> (Rc<Agent>, Rc<ScriptModel>) {
    let model = ScriptModel::with_yields(1);
    let config = AgentConfig {
        instructions: "Be brief.".into(),
        max_output_tokens: 100,
        budget,
        model_name: "gpt-4o-mini".into(),
        ..Default::default()
    };
    let a = Agent::new(config, Rc::new(Shared(model.clone())))
        .unwrap()
        .with_clock(Rc::new(ManualClock::new(1_000.0)))
        .with_storage(storage.clone());
    (Rc::new(a), model)
}

fn png(data: String) -> Part {
    Part::Image {
        url: None,
        data: Some(data),
        media_type: Some("image/png".into()),
    }
}

/// Base64 of `bytes` bytes (its content does not matter here).
fn base64_of(bytes: usize) -> String {
    "QUJD".repeat(bytes.div_ceil(3))
}

fn sample() -> Vec<Part> {
    vec![
        Part::text("What is in"),
        png("aGk=".into()),
        Part::text("this picture?"),
    ]
}

dual_test!(parts_reach_the_model_and_are_kept_with_the_turn, async {
    let storage = Rc::new(MemoryStorage::default());
    let (a, model) = agent(&storage, BudgetConfig::default());
    let out = a
        .run_input(Input::Parts(sample()), user("alice"), RunOptions::default())
        .await
        .unwrap();
    // The text parts, one per line, are the message's text: what search and the demo read.
    assert!(
        out.text.contains("What is in\nthis picture?"),
        "{}",
        out.text
    );
    let sent = model.requests.borrow()[0].messages();
    let last = sent.last().unwrap();
    assert_eq!(last.parts, sample());

    a.run(
        "And the colour?".into(),
        user("alice"),
        RunOptions::default(),
    )
    .await
    .unwrap();
    // The next run sends the stored turn with its parts.
    let second = model.requests.borrow()[1].messages();
    let stored = second.iter().find(|m| !m.parts.is_empty()).unwrap();
    assert_eq!(stored.parts, sample());

    let history = a.history(&user("alice"), &SessionId::default()).unwrap();
    assert_eq!(history[0].role, Role::User);
    assert_eq!(history[0].parts, sample());
    assert_eq!(history[0].content, "What is in\nthis picture?");
    assert!(history[1].parts.is_empty());
    // Search reads the text of a message with parts, not its JSON.
    let hits = a.recall(&user("alice"), "picture", Some(5)).unwrap();
    assert!(hits.iter().any(|h| h.role == Role::User), "{hits:?}");

    // A restarted agent over the same storage, and an import elsewhere, hold the same.
    let (restarted, _) = agent(&storage, BudgetConfig::default());
    let doc = restarted.export(&user("alice")).await.unwrap();
    assert_eq!(doc.sessions[0].turns[0].messages[0].parts, sample());
    let (other, _) = agent(&Rc::new(MemoryStorage::default()), BudgetConfig::default());
    let text = serde_json::to_string(&doc).unwrap();
    other
        .import(serde_json::from_str(&text).unwrap())
        .await
        .unwrap();
    assert_eq!(
        other
            .history(&user("alice"), &SessionId::default())
            .unwrap(),
        history
    );
});

dual_test!(bad_parts_are_invalid_input_and_reach_no_model, async {
    let (a, model) = agent(&Rc::new(MemoryStorage::default()), BudgetConfig::default());
    let cases = [
        vec![],
        vec![png("aGk=".into())],
        vec![Part::text("x"), png("not base64!".into())],
        vec![Part::text("x"), png(base64_of(5 << 20))],
        vec![
            Part::text("x"),
            Part::Image {
                url: Some("javascript:alert(1)".into()),
                data: None,
                media_type: None,
            },
        ],
    ];
    for parts in cases {
        let e = a
            .run_input(Input::Parts(parts), user("a"), RunOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_input", "{e}");
    }
    assert!(model.requests.borrow().is_empty());
    assert!(a.export(&user("a")).await.unwrap().sessions.is_empty());
});

dual_test!(
    an_image_is_estimated_at_a_fixed_cost_not_its_base64_length,
    async {
        let budget = BudgetConfig {
            per_user: vec![LimitSet {
                max_total_tokens: Some(5_000.0),
                window: Window::Lifetime,
                ..Default::default()
            }],
            ..Default::default()
        };
        let (a, model) = agent(&Rc::new(MemoryStorage::default()), budget);
        // A 1 MB image: 1.4 MB of base64, some 350k tokens if its length were counted.
        let image = vec![Part::text("describe"), png(base64_of(1 << 20))];
        a.run_input(Input::Parts(image), user("a"), RunOptions::default())
            .await
            .unwrap();
        // A 1 MB document is read as text: about 262k tokens, over the budget.
        let pdf = vec![
            Part::text("summarise"),
            Part::File {
                url: None,
                data: Some(base64_of(1 << 20)),
                media_type: "application/pdf".into(),
                filename: None,
            },
        ];
        let e = a
            .run_input(Input::Parts(pdf), user("b"), RunOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), "budget_exceeded", "{e}");
        assert_eq!(model.requests.borrow().len(), 1);
    }
);

dual_test!(import_checks_parts_like_inputs, async {
    let storage = Rc::new(MemoryStorage::default());
    let (a, _) = agent(&storage, BudgetConfig::default());
    a.run_input(Input::Parts(sample()), user("alice"), RunOptions::default())
        .await
        .unwrap();
    let doc = a.export(&user("alice")).await.unwrap();
    let with = |f: &dyn Fn(&mut Part)| {
        let mut d: UserDoc = doc.clone();
        f(&mut d.sessions[0].turns[0].messages[0].parts[1]);
        d
    };
    let hostile = [
        with(&|p| *p = png(base64_of(100 << 20))),
        with(&|p| {
            if let Part::Image { media_type, .. } = p {
                *media_type = Some("text/html".into());
            }
        }),
        with(&|p| *p = png("%%%%".into())),
    ];
    for d in hostile {
        let e = a.import(d).await.unwrap_err();
        assert_eq!(e.code(), "invalid_import", "{e}");
    }
    // Nothing of a refused document was applied.
    assert_eq!(
        a.export(&user("alice")).await.unwrap().sessions,
        doc.sessions
    );
});
