//! Fact extraction's exchange with the model: what it is asked and how its answer is read.
//! Plain functions, so every host gets the same rules and they are tested without a model.
//!
//! The answer is the model's text, so it is read as untrusted input: only `subject`,
//! `predicate` and `object` strings are taken from it (no field can name a user or a time),
//! and an answer that does not have the documented shape records nothing.

use super::facts::NewFact;
use crate::error::{Error, Result};
use crate::limits::MAX_EXTRACTED_FACTS;
use serde_json::Value;

pub const DEFAULT_EXTRACTION_INSTRUCTIONS: &str = "Extract lasting facts about the user \
from the exchange below, for your own later use: who they are, what they have, like, plan \
or decided. Answer with JSON only, in this shape: \
{\"facts\": [{\"subject\": \"user\", \"predicate\": \"favourite colour\", \"object\": \"green\"}]}. \
Use subject \"user\" for the user themself. To change a known fact, repeat its subject and \
predicate with the new object. Answer {\"facts\": []} when there is nothing new.";

/// The exchange as the extraction call sees it: the user's input and the final answer.
pub fn exchange(input: &str, answer: &str) -> String {
    format!("user: {input}\nassistant: {answer}")
}

/// The facts in a model's answer: `{ "facts": [...] }` or the bare list, optionally inside
/// a Markdown code fence. Each entry is `{ subject, predicate, object }` strings; other
/// fields are ignored. `source` is recorded with each fact.
pub fn read_answer(text: &str, source: &str) -> Result<Vec<NewFact>> {
    let body = crate::answer_json::json_body(text);
    let value: Value =
        serde_json::from_str(body).map_err(|e| bad(format!("the answer is not JSON ({e})")))?;
    let list = match value {
        Value::Array(list) => list,
        Value::Object(mut o) => match o.remove("facts") {
            Some(Value::Array(list)) => list,
            _ => return Err(bad("the answer has no `facts` list".into())),
        },
        _ => return Err(bad("the answer is neither a list nor { facts }".into())),
    };
    if list.len() > MAX_EXTRACTED_FACTS {
        return Err(bad(format!(
            "the answer lists {} facts; at most {MAX_EXTRACTED_FACTS} are taken from one turn",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, entry)| {
            let field = |key: &str| match entry.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                _ => Err(bad(format!("facts[{i}].{key} must be a non-empty string"))),
            };
            Ok(NewFact {
                subject: field("subject")?,
                predicate: field("predicate")?,
                object: field("object")?,
                valid_from: None,
                source: Some(source.to_owned()),
            })
        })
        .collect()
}

fn bad(reason: String) -> Error {
    Error::ModelMalformed {
        reason: format!("fact extraction: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn triples(text: &str) -> Result<Vec<(String, String, String)>> {
        Ok(read_answer(text, "run-1")?
            .into_iter()
            .map(|f| (f.subject, f.predicate, f.object))
            .collect())
    }

    #[test]
    fn both_shapes_and_a_fence_read() {
        let want = vec![("user".into(), "city".into(), "Lyon".into())];
        let one = r#"{"subject":"user","predicate":"city","object":"Lyon"}"#;
        assert_eq!(triples(&format!(r#"{{"facts":[{one}]}}"#)).unwrap(), want);
        assert_eq!(triples(&format!("[{one}]")).unwrap(), want);
        assert_eq!(
            triples(&format!("```json\n{{\"facts\": [{one}]}}\n```")).unwrap(),
            want
        );
        assert_eq!(triples("```\n[]\n```").unwrap(), vec![]);
        assert_eq!(triples(r#"{"facts":[]}"#).unwrap(), vec![]);
        let f = &read_answer(&format!("[{one}]"), "run-1").unwrap()[0];
        assert_eq!((f.valid_from, f.source.as_deref()), (None, Some("run-1")));
    }

    #[test]
    fn only_the_three_strings_are_taken_from_an_entry() {
        // A model steered into naming another user or a past time gets neither.
        let text = r#"[{"subject":"user","predicate":"p","object":"o","userId":"bob","validFrom":0,"source":"admin"}]"#;
        let f = &read_answer(text, "run-1").unwrap()[0];
        assert_eq!((f.valid_from, f.source.as_deref()), (None, Some("run-1")));
    }

    #[test]
    fn anything_else_records_nothing() {
        let too_many = serde_json::to_string(
            &(0..=MAX_EXTRACTED_FACTS)
                .map(|i| serde_json::json!({ "subject": "user", "predicate": format!("p{i}"), "object": "o" }))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        for text in [
            "",
            "The user likes green.",
            "{}",
            r#"{"facts":{}}"#,
            "42",
            r#"[{"subject":"user","predicate":"p"}]"#,
            r#"[{"subject":"user","predicate":" ","object":"o"}]"#,
            r#"[{"subject":"user","predicate":"p","object":7}]"#,
            r#"[{"subject":"user","predicate":"p","object":"o"}, "x"]"#,
            &too_many,
        ] {
            let e = read_answer(text, "r").unwrap_err();
            assert_eq!(e.code(), "model_malformed", "{text}");
        }
    }
}
