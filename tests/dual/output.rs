//! Structured output through the agent: the final answer parsed and checked against the
//! run's schema, anything else refused with nothing committed. Run natively and on wasm.

use crate::dual_support::user;
use crate::dual_test;
use futures_util::future::LocalBoxFuture;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;
use tenantry::{
    Agent, AgentConfig, CallContext, Model, ModelRequest, OutputSpec, RawModelResponse, RunOptions,
    SessionId,
};

/// Answers with the next scripted text, recording each request.
#[derive(Default)]
struct Scripted {
    answers: RefCell<Vec<String>>,
    seen: RefCell<Vec<ModelRequest>>,
}

struct M(Rc<Scripted>);

impl Model for M {
    fn generate(
        &self,
        request: ModelRequest,
        _ctx: CallContext,
    ) -> LocalBoxFuture<'static, tenantry::Result<RawModelResponse>> {
        self.0.seen.borrow_mut().push(request);
        let text = self.0.answers.borrow_mut().remove(0);
        Box::pin(async move {
            Ok(RawModelResponse {
                text: Some(text),
                ..Default::default()
            })
        })
    }
}

fn agent() -> (Rc<Agent>, Rc<Scripted>) {
    let m = Rc::new(Scripted::default());
    let a = Agent::new(AgentConfig::default(), Rc::new(M(m.clone()))).unwrap();
    (Rc::new(a), m)
}

fn city() -> OutputSpec {
    OutputSpec::new(
        json!({
            "type": "object",
            "properties": { "city": { "type": "string" } },
            "required": ["city"],
            "additionalProperties": false
        }),
        Some("place".into()),
    )
    .unwrap()
}

fn with_output() -> RunOptions {
    RunOptions {
        output: Some(city()),
        ..Default::default()
    }
}

dual_test!(a_valid_answer_is_returned_as_the_object, async {
    let (a, m) = agent();
    m.answers
        .borrow_mut()
        .push("```json\n{\"city\":\"Lyon\"}\n```".into());
    let out = a
        .run("where?".into(), user("alice"), with_output())
        .await
        .unwrap();
    assert_eq!(out.object, Some(json!({ "city": "Lyon" })));
    // The model was told what to answer with.
    let first = m.seen.borrow()[0].clone();
    assert_eq!(
        first.output.as_ref().map(|o| o.name.as_str()),
        Some("place")
    );
    let wire = serde_json::to_value(&first).unwrap();
    assert_eq!(wire["output"]["type"], "json");
    assert_eq!(wire["output"]["schema"]["required"], json!(["city"]));
    // A run without it returns no object and sends no output.
    m.answers.borrow_mut().push("plain".into());
    let out = a
        .run("hi".into(), user("alice"), RunOptions::default())
        .await
        .unwrap();
    assert_eq!(out.object, None);
    assert!(m.seen.borrow()[1].output.is_none());
    assert!(serde_json::to_value(&out).unwrap().get("object").is_none());
});

dual_test!(
    an_answer_that_is_not_the_output_fails_and_commits_nothing,
    async {
        let (a, m) = agent();
        for bad in [
            "Lyon",
            r#"{"town":"Lyon"}"#,
            r#"{"city":"Lyon","admin":true}"#,
        ] {
            m.answers.borrow_mut().push(bad.into());
            let e = a
                .run("where?".into(), user("alice"), with_output())
                .await
                .unwrap_err();
            assert_eq!(e.code(), "output_invalid", "{bad}");
        }
        assert!(a
            .history(&user("alice"), &SessionId::default())
            .unwrap()
            .is_empty());
        // The model answered each time: charged, though nothing was kept.
        assert_eq!(a.usage(&user("alice")).totals.requests, 3);
    }
);
