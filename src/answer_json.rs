//! Where the JSON is in a model's answer when JSON was asked for: the whole text, or the
//! inside of the Markdown code fence models add even when told not to. Shared by structured
//! output and fact extraction, so both read answers alike.

/// The JSON text of `answer`: trimmed, and unwrapped from a ```` ``` ```` or ```` ```json ````
/// fence when it is in one.
pub(crate) fn json_body(answer: &str) -> &str {
    let text = answer.trim();
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let rest = rest.split_once('\n').map_or("", |(_, body)| body);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::json_body;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn fences_are_unwrapped_and_bare_text_kept() {
        assert_eq!(json_body("  {\"a\":1} \n"), "{\"a\":1}");
        assert_eq!(json_body("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(json_body("```\n[1]\n```\n"), "[1]");
        assert_eq!(json_body("```json\n{\"a\":1}"), "{\"a\":1}");
        assert_eq!(json_body("```"), "");
        assert_eq!(json_body("not json"), "not json");
    }
}
