//! The layout of the values that cross between wasm and `js/host.js` on every run: offsets
//! into `u32` layouts and `f64` arrays, kinds and name tables, all positional. Plain data,
//! so native tests check host.js against it. `wasm/transfer.rs`
//! builds and reads them by these definitions; host.js keeps literal copies (module
//! constants: nothing to fetch or look up per run), and the tests below fail when any copy
//! differs from this file or when this file changes without a new `BOUNDARY_VERSION`.
//! The role and finish-reason tables themselves live in the core (`Role::BY_INDEX`,
//! `FinishReason::NAMES`), which also uses them; this file only places them on the boundary.

use crate::message::Role;
use crate::model::FinishReason;

/// The version of everything in this file. Host.js states the one it was written for; the
/// approval test pins this schema's hash to it, so a change to the layout cannot go
/// unnoticed by either side.
// Read by the schema tests here and mirrored in host.js; nothing reads it at run time.
#[allow(dead_code)]
pub const BOUNDARY_VERSION: u32 = 3;

/// Marks an absent (null) string in a layout.
pub const NONE: u32 = u32::MAX;

/// A request message's kind: `Role::index` for a plain message of that role, or this one
/// for a whole message as JSON text (tool calls and tool results carry more than role and
/// text).
pub const KIND_STRUCTURED: u32 = Role::BY_INDEX.len() as u32;

/// The model request (`modelRequest` in host.js): one text, and a `u32` layout whose string
/// fields are two slots, the [start, end) UTF-16 offsets of the string in the text.
pub mod request {
    /// How many messages follow the head.
    pub const MESSAGE_COUNT: usize = 0;
    /// The tools as JSON text; empty when there are none.
    pub const TOOLS: usize = 1;
    pub const MAX_OUTPUT_TOKENS: usize = 3;
    /// `NONE` for the anonymous bucket.
    pub const USER_ID: usize = 4;
    pub const SESSION_ID: usize = 6;
    pub const RUN_ID: usize = 8;
    /// The structured output asked for, as JSON text; `NONE` when there is none.
    pub const OUTPUT: usize = 10;
    /// `NONE` for the default org.
    pub const ORG_ID: usize = 12;
    /// Where the messages start (the head's length): `[kind, start, end]` each.
    pub const MESSAGES: usize = 14;
    pub const MESSAGE_STRIDE: usize = 3;
}

/// The run result (`runResult` in host.js): strings as a layout like the request's, and
/// the figures as `f64`s (booleans as 1 or 0).
pub mod result {
    pub const TEXT: usize = 0;
    pub const RUN_ID: usize = 2;
    pub const FINISH_REASON: usize = 4;
    /// `NONE` for the anonymous bucket.
    pub const USER_ID: usize = 6;
    pub const SESSION_ID: usize = 8;
    /// The structured output's value as JSON text; `NONE` when the run asked for none.
    pub const OBJECT: usize = 10;
    /// `NONE` for the default org.
    pub const ORG_ID: usize = 12;
    /// The layout's length.
    pub const STRINGS: usize = 14;

    pub const NUM_INPUT_TOKENS: usize = 0;
    pub const NUM_OUTPUT_TOKENS: usize = 1;
    pub const NUM_TOTAL_TOKENS: usize = 2;
    pub const NUM_ESTIMATED: usize = 3;
    pub const NUM_COST_USD: usize = 4;
    pub const NUM_STEPS: usize = 5;
    pub const NUM_OVERRUN: usize = 6;
    /// The numbers' length.
    pub const NUMBERS: usize = 7;
}

/// A host model's answer read without JSON (`readResponse` in host.js): the text is
/// returned, the rest written into `out` (NaN for an absent figure, -1 for no finish
/// reason, else its index in `FinishReason::NAMES`).
pub mod response {
    pub const INPUT_TOKENS: usize = 0;
    pub const OUTPUT_TOKENS: usize = 1;
    pub const FINISH: usize = 2;
    /// `out`'s length.
    pub const SLOTS: usize = 3;
}

/// The finish-reason name at `index` in the response's `FINISH` slot.
pub fn finish_name(index: f64) -> Option<&'static str> {
    if index < 0.0 {
        return None;
    }
    FinishReason::NAMES
        .get(index as usize)
        .map(|(name, _)| *name)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// A constant as host.js spells it.
    #[derive(Debug, PartialEq)]
    enum Js {
        Int(u64),
        Names(Vec<String>),
    }

    /// Everything host.js must hold, under its JS name. A slot added above and used there
    /// belongs here too.
    fn schema() -> Vec<(&'static str, Js)> {
        let int = |v: usize| Js::Int(v as u64);
        let names = |v: &[&str]| Js::Names(v.iter().map(|s| (*s).to_owned()).collect());
        vec![
            ("BOUNDARY_VERSION", Js::Int(BOUNDARY_VERSION.into())),
            ("NONE", Js::Int(NONE.into())),
            ("KIND_STRUCTURED", Js::Int(KIND_STRUCTURED.into())),
            ("ROLES", names(&Role::BY_INDEX.map(Role::as_str))),
            ("FINISH", names(&FinishReason::NAMES.map(|(n, _)| n))),
            ("REQUEST_MESSAGE_COUNT", int(request::MESSAGE_COUNT)),
            ("REQUEST_TOOLS", int(request::TOOLS)),
            ("REQUEST_MAX_OUTPUT_TOKENS", int(request::MAX_OUTPUT_TOKENS)),
            ("REQUEST_USER_ID", int(request::USER_ID)),
            ("REQUEST_SESSION_ID", int(request::SESSION_ID)),
            ("REQUEST_RUN_ID", int(request::RUN_ID)),
            ("REQUEST_OUTPUT", int(request::OUTPUT)),
            ("REQUEST_ORG_ID", int(request::ORG_ID)),
            ("REQUEST_MESSAGES", int(request::MESSAGES)),
            ("REQUEST_MESSAGE_STRIDE", int(request::MESSAGE_STRIDE)),
            ("RESULT_TEXT", int(result::TEXT)),
            ("RESULT_RUN_ID", int(result::RUN_ID)),
            ("RESULT_FINISH_REASON", int(result::FINISH_REASON)),
            ("RESULT_USER_ID", int(result::USER_ID)),
            ("RESULT_SESSION_ID", int(result::SESSION_ID)),
            ("RESULT_OBJECT", int(result::OBJECT)),
            ("RESULT_ORG_ID", int(result::ORG_ID)),
            ("RESULT_NUM_INPUT_TOKENS", int(result::NUM_INPUT_TOKENS)),
            ("RESULT_NUM_OUTPUT_TOKENS", int(result::NUM_OUTPUT_TOKENS)),
            ("RESULT_NUM_TOTAL_TOKENS", int(result::NUM_TOTAL_TOKENS)),
            ("RESULT_NUM_ESTIMATED", int(result::NUM_ESTIMATED)),
            ("RESULT_NUM_COST_USD", int(result::NUM_COST_USD)),
            ("RESULT_NUM_STEPS", int(result::NUM_STEPS)),
            ("RESULT_NUM_OVERRUN", int(result::NUM_OVERRUN)),
            ("RESPONSE_INPUT_TOKENS", int(response::INPUT_TOKENS)),
            ("RESPONSE_OUTPUT_TOKENS", int(response::OUTPUT_TOKENS)),
            ("RESPONSE_FINISH", int(response::FINISH)),
        ]
    }

    /// FNV-1a of the schema's rendering.
    fn hash(schema: &[(&str, Js)]) -> u64 {
        let text: String = schema.iter().map(|(k, v)| format!("{k}={v:?}\n")).collect();
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    #[test]
    fn the_schema_is_the_approved_one_for_its_version() {
        // Fails on any change to the schema: bump BOUNDARY_VERSION (here and in host.js),
        // then approve the new pair.
        const APPROVED: (u32, u64) = (3, 0xeee8_c035_7316_d128);
        assert_eq!(
            (BOUNDARY_VERSION, hash(&schema())),
            APPROVED,
            "the JS boundary schema changed: bump BOUNDARY_VERSION and approve the new hash"
        );
    }

    /// Marks `width` slots from `at` as taken, failing on an overlap or a slot past `len`.
    fn take(taken: &mut [bool], at: usize, width: usize) {
        for slot in &mut taken[at..at + width] {
            assert!(!*slot, "slot {at} overlaps another");
            *slot = true;
        }
    }

    #[test]
    fn slots_are_distinct_and_fill_their_arrays() {
        use request as q;
        let mut head = [false; q::MESSAGES];
        take(&mut head, q::MESSAGE_COUNT, 1);
        take(&mut head, q::MAX_OUTPUT_TOKENS, 1);
        for s in [
            q::TOOLS,
            q::USER_ID,
            q::SESSION_ID,
            q::RUN_ID,
            q::OUTPUT,
            q::ORG_ID,
        ] {
            take(&mut head, s, 2);
        }
        assert!(head.iter().all(|t| *t));
        assert_eq!(q::MESSAGE_STRIDE, 3);

        use result as r;
        let mut strings = [false; r::STRINGS];
        for s in [
            r::TEXT,
            r::RUN_ID,
            r::FINISH_REASON,
            r::USER_ID,
            r::SESSION_ID,
            r::OBJECT,
            r::ORG_ID,
        ] {
            take(&mut strings, s, 2);
        }
        assert!(strings.iter().all(|t| *t));
        let mut numbers = [false; r::NUMBERS];
        for s in [
            r::NUM_INPUT_TOKENS,
            r::NUM_OUTPUT_TOKENS,
            r::NUM_TOTAL_TOKENS,
            r::NUM_ESTIMATED,
            r::NUM_COST_USD,
            r::NUM_STEPS,
            r::NUM_OVERRUN,
        ] {
            take(&mut numbers, s, 1);
        }
        assert!(numbers.iter().all(|t| *t));

        let mut out = [false; response::SLOTS];
        for s in [
            response::INPUT_TOKENS,
            response::OUTPUT_TOKENS,
            response::FINISH,
        ] {
            take(&mut out, s, 1);
        }
        assert!(out.iter().all(|t| *t));
    }

    #[test]
    fn a_finish_index_names_its_reason() {
        for (i, (name, _)) in FinishReason::NAMES.iter().enumerate() {
            assert_eq!(finish_name(i as f64), Some(*name));
        }
        assert_eq!(finish_name(-1.0), None);
        assert_eq!(finish_name(FinishReason::NAMES.len() as f64), None);
    }

    /// The host.js section between the two markers.
    fn boundary_section() -> &'static str {
        let js = include_str!("js/host.js");
        let start = js
            .find("// ---- boundary schema")
            .expect("host.js has a boundary schema section");
        let end = start
            + js[start..]
                .find("// ---- end of boundary schema")
                .expect("the section ends");
        &js[start..end]
    }

    /// `const NAME = value;` lines of host.js's boundary section.
    fn host_constants() -> Vec<(String, Js)> {
        let mut out = Vec::new();
        for line in boundary_section().lines() {
            let Some(rest) = line.strip_prefix("const ") else {
                continue;
            };
            let (name, value) = rest.split_once(" = ").expect("`const NAME = value;`");
            let value = value.strip_suffix(';').expect("one constant per line");
            let parsed = if value.starts_with('[') {
                Js::Names(serde_json::from_str(value).expect("a list of strings"))
            } else if let Some(hex) = value.strip_prefix("0x") {
                Js::Int(u64::from_str_radix(hex, 16).expect("a hex integer"))
            } else {
                Js::Int(value.parse().expect("an integer"))
            };
            out.push((name.to_owned(), parsed));
        }
        out
    }

    #[test]
    fn host_js_holds_the_same_schema() {
        let host = host_constants();
        let schema = schema();
        for (name, value) in &schema {
            let found = host.iter().find(|(n, _)| n == name);
            assert_eq!(
                found.map(|(_, v)| v),
                Some(value),
                "host.js `{name}` differs from src/boundary.rs"
            );
        }
        for (name, _) in &host {
            assert!(
                schema.iter().any(|(n, _)| n == name),
                "host.js `{name}` is not in src/boundary.rs"
            );
        }
    }

    #[test]
    fn host_js_reads_positions_only_through_the_schema() {
        // A bare index such as `layout[3]` would escape the check above.
        let js = include_str!("js/host.js");
        let start = js.find("// ---- per-run values").expect("section");
        let end = start
            + js[start..]
                .find("// ---- reading host values")
                .expect("end");
        let code = &js[start..end];
        for array in ["layout[", "n[", "out["] {
            for (at, _) in code.match_indices(array) {
                let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
                let prev = code[..at].chars().next_back();
                let next = code[at + array.len()..].chars().next();
                assert!(
                    prev.is_some_and(word) || !next.is_some_and(|c| c.is_ascii_digit()),
                    "host.js indexes `{array}` with a literal: {}",
                    &code[at..code.len().min(at + 24)]
                );
            }
        }
    }
}
