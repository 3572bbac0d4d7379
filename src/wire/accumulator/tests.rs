use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn start(index: usize, id: &str, name: &str) -> StreamPart {
    StreamPart::ToolCallStart {
        index,
        id: id.into(),
        name: name.into(),
    }
}

fn delta(index: usize, arguments: &str) -> StreamPart {
    StreamPart::ToolCallDelta {
        index,
        arguments: arguments.into(),
    }
}

#[test]
fn folds_interleaved_tool_calls_by_index_in_index_order() {
    let mut acc = Accumulator::new();
    acc.extend([
        StreamPart::TextDelta("Let me ".into()),
        StreamPart::TextDelta("check.".into()),
        start(3, "call_b", "time"),
        start(1, "call_a", "weather"),
        delta(1, "{\"city\":"),
        delta(3, "{}"),
        delta(1, "\"Paris\"}"),
        StreamPart::Finish {
            reason: "tool_calls".into(),
        },
        StreamPart::Done,
    ]);
    assert!(acc.finished() && acc.done());
    let r = acc.into_response();
    assert_eq!(r.text, "Let me check.");
    assert_eq!(
        r.tool_calls,
        vec![
            ToolCall {
                id: "call_a".into(),
                name: "weather".into(),
                arguments: "{\"city\":\"Paris\"}".into(),
            },
            ToolCall {
                id: "call_b".into(),
                name: "time".into(),
                arguments: "{}".into(),
            },
        ]
    );
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn usage_keeps_the_last_figure_of_each_field() {
    let mut acc = Accumulator::new();
    acc.extend([
        StreamPart::Usage {
            input_tokens: Some(25),
            output_tokens: Some(1),
        },
        StreamPart::Usage {
            input_tokens: None,
            output_tokens: Some(15),
        },
    ]);
    let r = acc.response();
    assert_eq!((r.input_tokens, r.output_tokens), (Some(25), Some(15)));
}

#[test]
fn a_repeated_start_fills_gaps_without_erasing() {
    let mut acc = Accumulator::new();
    acc.extend([
        start(0, "call_1", ""),
        delta(0, "{\"a\""),
        start(0, "", "lookup"),
        delta(0, ":1}"),
    ]);
    let r = acc.into_response();
    assert_eq!(r.tool_calls.len(), 1);
    assert_eq!(r.tool_calls[0].id, "call_1");
    assert_eq!(r.tool_calls[0].name, "lookup");
    assert_eq!(r.tool_calls[0].arguments, "{\"a\":1}");
}

#[test]
fn a_cut_off_stream_reports_what_arrived_and_that_it_did_not_finish() {
    let mut acc = Accumulator::new();
    acc.extend([
        StreamPart::TextDelta("partial".into()),
        start(0, "call_1", "f"),
        delta(0, "{\"x\":"),
    ]);
    assert!(!acc.finished());
    assert!(!acc.done());
    let r = acc.response();
    assert_eq!(r.text, "partial");
    assert_eq!(r.tool_calls[0].arguments, "{\"x\":");
    assert_eq!(r.finish_reason, None);
    assert_eq!((r.input_tokens, r.output_tokens), (None, None));
}
