//! JSON text written by hand for the per-run path: a tool-call or tool-result message in
//! the model request a host function gets on every call (plain messages need no JSON at
//! all, see `wasm::transfer`). serde_json is right everywhere else, but at opt-level "z"
//! its byte-by-byte escaper through `io::Write` was a fifth of a run; this copies each
//! run of clean bytes in one go. The output is checked against serde_json's in tests.

/// Appends `s` as a JSON string literal.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is an ASCII byte, so both ends of the clean run are char boundaries.
        out.push_str(s.get(start..i).unwrap_or_default());
        if escaped.is_empty() {
            push_control(out, b);
        } else {
            out.push_str(escaped);
        }
        start = i + 1;
    }
    out.push_str(s.get(start..).unwrap_or_default());
    out.push('"');
}

fn push_control(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u00");
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// Appends `"key":` (keys here are fixed ASCII names, never escaped).
pub(crate) fn push_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn strings_match_serde_json_byte_for_byte() {
        let mut samples: Vec<String> = vec![
            String::new(),
            "plain".into(),
            "quote \" backslash \\ slash /".into(),
            "new\nline\r\ttab".into(),
            "héllo wörld — 日本語 🎉".into(),
            "\u{2028}\u{2029}\u{7f}".into(),
            "\"\"\\\\".into(),
        ];
        samples.push((0u8..0x20).map(char::from).collect());
        // Every control byte at the start, middle and end of multi-byte text.
        for b in 0u8..0x20 {
            let c = char::from(b);
            samples.push(format!("{c}é{c}x{c}"));
        }
        for s in samples {
            let mut ours = String::new();
            push_str(&mut ours, &s);
            assert_eq!(ours, serde_json::to_string(&s).unwrap(), "for {s:?}");
        }
    }
}
