//! A JSON Schema validator for tool arguments: the subset tool definitions use (types,
//! properties, required, additionalProperties, items, enum, const, anyOf/oneOf/allOf,
//! numeric and length bounds). Unknown keywords are ignored, as the spec says, so a richer
//! schema never blocks a call; it is only checked less strictly.

use serde_json::Value;

/// Most violations reported at once: enough for a model to fix its call.
const MAX_ERRORS: usize = 8;
/// Deeper nesting than this is refused rather than walked (a hostile schema or argument).
const MAX_DEPTH: usize = 64;

/// Every violation of `schema` by `value`, as "path: problem" lines (empty when valid).
pub fn validate(schema: &Value, value: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    check(schema, value, "$", 0, &mut errors);
    errors.truncate(MAX_ERRORS);
    errors
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n)
            if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) =>
        {
            "integer"
        }
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, v: &Value) -> bool {
    let actual = type_of(v);
    expected == actual || (expected == "number" && actual == "integer")
}

fn check(schema: &Value, value: &Value, path: &str, depth: usize, errors: &mut Vec<String>) {
    if errors.len() >= MAX_ERRORS {
        return;
    }
    if depth > MAX_DEPTH {
        errors.push(format!("{path}: nested too deeply"));
        return;
    }
    let Some(s) = schema.as_object() else {
        // `true`/`{}` accept anything; `false` accepts nothing.
        if schema == &Value::Bool(false) {
            errors.push(format!("{path}: no value is allowed here"));
        }
        return;
    };
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(t, value),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, value)),
            _ => true,
        };
        if !ok {
            errors.push(format!(
                "{path}: expected {}, got {}",
                t.to_string().replace('"', ""),
                type_of(value)
            ));
            return;
        }
    }
    if let Some(options) = s.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            errors.push(format!(
                "{path}: must be one of {}",
                Value::Array(options.clone())
            ));
        }
    }
    if let Some(c) = s.get("const") {
        if c != value {
            errors.push(format!("{path}: must be {c}"));
        }
    }
    check_composition(s, value, path, depth, errors);
    match value {
        Value::Object(o) => {
            if let Some(required) = s.get("required").and_then(Value::as_array) {
                for key in required.iter().filter_map(Value::as_str) {
                    if !o.contains_key(key) {
                        errors.push(format!("{path}: missing required property `{key}`"));
                    }
                }
            }
            let props = s.get("properties").and_then(Value::as_object);
            for (k, v) in o {
                let child = format!("{path}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => check(ps, v, &child, depth + 1, errors),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errors.push(format!("{path}: unknown property `{k}`"));
                        }
                        Some(extra @ Value::Object(_)) => {
                            check(extra, v, &child, depth + 1, errors)
                        }
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            let n = items.len() as f64;
            bound(
                s,
                "minItems",
                |m| n >= m,
                path,
                &format!("at least {{}} items, got {n}"),
                errors,
            );
            bound(
                s,
                "maxItems",
                |m| n <= m,
                path,
                &format!("at most {{}} items, got {n}"),
                errors,
            );
            if let Some(item) = s.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(item, v, &format!("{path}[{i}]"), depth + 1, errors);
                }
            }
        }
        Value::String(text) => {
            let n = text.chars().count() as f64;
            bound(
                s,
                "minLength",
                |m| n >= m,
                path,
                &format!("at least {{}} characters, got {n}"),
                errors,
            );
            bound(
                s,
                "maxLength",
                |m| n <= m,
                path,
                &format!("at most {{}} characters, got {n}"),
                errors,
            );
        }
        Value::Number(num) => {
            let x = num.as_f64().unwrap_or(0.0);
            bound(
                s,
                "minimum",
                |m| x >= m,
                path,
                &format!("at least {{}}, got {x}"),
                errors,
            );
            bound(
                s,
                "maximum",
                |m| x <= m,
                path,
                &format!("at most {{}}, got {x}"),
                errors,
            );
            bound(
                s,
                "exclusiveMinimum",
                |m| x > m,
                path,
                &format!("more than {{}}, got {x}"),
                errors,
            );
            bound(
                s,
                "exclusiveMaximum",
                |m| x < m,
                path,
                &format!("less than {{}}, got {x}"),
                errors,
            );
        }
        _ => {}
    }
}

fn bound(
    s: &serde_json::Map<String, Value>,
    key: &str,
    ok: impl Fn(f64) -> bool,
    path: &str,
    message: &str,
    errors: &mut Vec<String>,
) {
    if let Some(limit) = s.get(key).and_then(Value::as_f64) {
        if !ok(limit) {
            errors.push(format!(
                "{path}: must be {}",
                message.replace("{}", &limit.to_string())
            ));
        }
    }
}

fn check_composition(
    s: &serde_json::Map<String, Value>,
    value: &Value,
    path: &str,
    depth: usize,
    errors: &mut Vec<String>,
) {
    let passes = |sub: &Value| {
        let mut e = Vec::new();
        check(sub, value, path, depth + 1, &mut e);
        e.is_empty()
    };
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(sub, value, path, depth + 1, errors);
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(passes) {
            errors.push(format!(
                "{path}: matches none of the allowed shapes (anyOf)"
            ));
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let n = one.iter().filter(|sub| passes(sub)).count();
        if n != 1 {
            errors.push(format!(
                "{path}: must match exactly one allowed shape (oneOf), matched {n}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn weather() -> Value {
        json!({
            "type": "object",
            "properties": {
                "city": { "type": "string", "minLength": 1 },
                "unit": { "enum": ["c", "f"] },
                "days": { "type": "integer", "minimum": 1, "maximum": 7 },
                "stops": { "type": "array", "items": { "type": "object", "properties": { "at": { "type": "number" } }, "required": ["at"] } }
            },
            "required": ["city"],
            "additionalProperties": false
        })
    }

    #[test]
    fn accepts_valid_arguments() {
        assert!(validate(
            &weather(),
            &json!({"city": "Paris", "unit": "c", "days": 3, "stops": [{"at": 1.5}]})
        )
        .is_empty());
        assert!(validate(&json!({}), &json!([1, "x"])).is_empty());
        assert!(
            validate(&json!({"type": "number"}), &json!(3)).is_empty(),
            "an integer is a number"
        );
    }

    #[test]
    fn names_every_violation_with_its_path() {
        let e = validate(
            &weather(),
            &json!({"unit": "k", "days": 9.5, "extra": 1, "stops": [{}]}),
        );
        let all = e.join("\n");
        assert!(all.contains("missing required property `city`"), "{all}");
        assert!(all.contains("$.unit: must be one of"), "{all}");
        assert!(all.contains("$.days: expected integer"), "{all}");
        assert!(all.contains("unknown property `extra`"), "{all}");
        assert!(
            all.contains("$.stops[0]: missing required property `at`"),
            "{all}"
        );
        let e = validate(&weather(), &json!({"city": "", "days": 0}));
        assert!(
            e.iter()
                .any(|x| x.contains("$.city: must be at least 1 characters")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| x.contains("$.days: must be at least 1")),
            "{e:?}"
        );
        assert_eq!(
            validate(&weather(), &json!("Paris")),
            ["$: expected object, got string"]
        );
    }

    #[test]
    fn composition_and_hostile_depth() {
        let s = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
        assert!(validate(&s, &json!(1)).is_empty());
        assert_eq!(validate(&s, &json!(true)).len(), 1);
        let one = json!({"oneOf": [{"type": "number"}, {"type": "integer"}]});
        assert_eq!(validate(&one, &json!(2)).len(), 1, "2 matches both");
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let mut schema = json!({"type": "integer"});
        for _ in 0..200 {
            schema = json!({"type": "array", "items": schema});
        }
        assert!(validate(&schema, &deep)
            .iter()
            .any(|e| e.contains("nested too deeply")));
    }
}
