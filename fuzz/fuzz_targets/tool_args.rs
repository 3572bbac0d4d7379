//! Tool arguments and schemas: any JSON schema against any JSON value, never a panic, and
//! a value always validates against the empty schema.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tenantry::testing::validate_tool_args;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (schema, value) = text.split_once('\u{0}').unwrap_or((&text, "null"));
    let (Ok(schema), Ok(value)) = (
        serde_json::from_str::<serde_json::Value>(schema),
        serde_json::from_str::<serde_json::Value>(value),
    ) else {
        return;
    };
    let _ = validate_tool_args(&schema, &value);
    assert!(validate_tool_args(&serde_json::json!({}), &value).is_empty());
});
