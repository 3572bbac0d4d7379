//! Structured output: a run asked for a JSON value of a schema answers with it, checked by
//! the same validator as tool arguments. What is asked of the model (the schema and a name
//! for it) and how its final text is read are defined here, once, for every model: the
//! provider clients express the request in their own terms, host models read it from
//! `request.output`, and the run checks the answer the same way whichever model gave it.

use crate::error::{Error, Result};
use crate::limits::{MAX_OUTPUT_SCHEMA_BYTES, MAX_TOOL_NAME_BYTES};
use crate::tools::schema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The name of the answer when the host gives none: what Anthropic's forced tool and
/// OpenAI's `json_schema` are called.
pub const DEFAULT_OUTPUT_NAME: &str = "output";

/// What a run's final answer must be: JSON valid against `schema`. Read from JSON (a
/// host calling a built-in client with `request.output`) through the same checks.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "OutputSpecDoc")]
pub struct OutputSpec {
    pub schema: Value,
    pub name: String,
}

/// With `type: "json"`, the one kind of structured output there is, named so a host model
/// can tell it from a kind added later.
impl Serialize for OutputSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut o = s.serialize_struct("OutputSpec", 3)?;
        o.serialize_field("type", "json")?;
        o.serialize_field("schema", &self.schema)?;
        o.serialize_field("name", &self.name)?;
        o.end()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSpecDoc {
    #[serde(rename = "type")]
    kind: Option<String>,
    schema: Value,
    name: Option<String>,
}

impl TryFrom<OutputSpecDoc> for OutputSpec {
    type Error = Error;
    fn try_from(d: OutputSpecDoc) -> Result<OutputSpec> {
        if d.kind.as_deref().is_some_and(|k| k != "json") {
            return Err(bad_spec("output.type must be \"json\""));
        }
        OutputSpec::new(d.schema, d.name)
    }
}

impl OutputSpec {
    /// Checks what a host asked for: `schema` a JSON Schema object within the size bound,
    /// `name` what providers accept as a function name.
    pub fn new(schema: Value, name: Option<String>) -> Result<OutputSpec> {
        if !schema.is_object() {
            return Err(bad_spec("output.schema must be a JSON Schema object"));
        }
        let size = serde_json::to_string(&schema).map_or(usize::MAX, |s| s.len());
        if size > MAX_OUTPUT_SCHEMA_BYTES {
            return Err(bad_spec(&format!(
                "output.schema is {size} bytes of JSON; the limit is {MAX_OUTPUT_SCHEMA_BYTES}"
            )));
        }
        let name = name.unwrap_or_else(|| DEFAULT_OUTPUT_NAME.to_owned());
        let valid = !name.is_empty()
            && name.len() <= MAX_TOOL_NAME_BYTES
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(bad_spec(&format!(
                "output.name must be 1 to {MAX_TOOL_NAME_BYTES} letters, digits, `_` or `-`"
            )));
        }
        Ok(OutputSpec { schema, name })
    }

    /// The value a final answer holds: its text parsed as JSON (inside a Markdown code
    /// fence too, which models add even when asked for JSON only) and valid against the
    /// schema. Anything else is `output_invalid`, naming what is wrong.
    pub fn read(&self, text: &str) -> Result<Value> {
        let body = crate::answer_json::json_body(text);
        let value: Value = serde_json::from_str(body).map_err(|e| Error::OutputInvalid {
            reason: format!("the answer is not JSON ({e})"),
        })?;
        let errors = schema::validate(&self.schema, &value);
        if !errors.is_empty() {
            return Err(Error::OutputInvalid {
                reason: format!(
                    "the answer does not match the schema: {}",
                    errors.join("; ")
                ),
            });
        }
        Ok(value)
    }
}

fn bad_spec(reason: &str) -> Error {
    Error::InvalidInput {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn city() -> OutputSpec {
        let schema = json!({
            "type": "object",
            "properties": { "city": { "type": "string" }, "people": { "type": "integer" } },
            "required": ["city"],
            "additionalProperties": false
        });
        OutputSpec::new(schema, None).unwrap()
    }

    #[test]
    fn a_valid_answer_reads_as_its_value_fenced_or_not() {
        let want = json!({ "city": "Lyon", "people": 3 });
        assert_eq!(city().read(r#"{"city":"Lyon","people":3}"#).unwrap(), want);
        assert_eq!(
            city()
                .read("```json\n{\"city\":\"Lyon\",\"people\":3}\n```")
                .unwrap(),
            want
        );
        assert_eq!(
            serde_json::to_value(city()).unwrap()["type"],
            json!("json"),
            "a host model is told what it is asked for"
        );
    }

    #[test]
    fn anything_else_is_output_invalid_naming_the_problem() {
        for (text, says) in [
            ("Lyon", "not JSON"),
            ("", "not JSON"),
            (r#"{"people":3}"#, "city"),
            (r#"{"city":7}"#, "string"),
            (r#"{"city":"Lyon","admin":true}"#, "admin"),
            ("[]", "object"),
        ] {
            let e = city().read(text).unwrap_err();
            assert_eq!(e.code(), "output_invalid", "{text}");
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn a_bad_spec_is_invalid_input() {
        for (schema, name) in [
            (json!("object"), None),
            (json!([]), None),
            (json!({}), Some(String::new())),
            (json!({}), Some("has space".into())),
            (json!({}), Some("x".repeat(65))),
            (
                json!({ "description": "x".repeat(MAX_OUTPUT_SCHEMA_BYTES) }),
                None,
            ),
        ] {
            let e = OutputSpec::new(schema, name).unwrap_err();
            assert_eq!(e.code(), "invalid_input");
        }
        assert_eq!(OutputSpec::new(json!({}), None).unwrap().name, "output");
    }
}
