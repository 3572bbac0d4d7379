//! The two values that cross the boundary on every run, built into JS objects from one
//! string plus a layout of UTF-16 offsets instead of JSON text: the model request (a
//! host model receives one per call) and the run result. `JSON.parse` of a 20-message
//! request was 6 µs of a run; slicing one decoded string into `{ role, content }` objects
//! is a fraction of that. The JS half is `modelRequest` / `runResult` in `js/host.js`;
//! the shapes are the documented ones (the same as the serde forms, checked in tests).

use crate::agent::RunOutput;
use crate::message::Role;
use crate::model::{ModelRequest, RawModelResponse, RawUsage};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/host.js")]
extern "C" {
    #[wasm_bindgen(js_name = modelRequest)]
    fn model_request(text: &str, layout: &[u32], signal: &JsValue, on_text: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = runResult)]
    fn run_result(text: &str, layout: &[u32], numbers: &[f64]) -> JsValue;
    #[wasm_bindgen(js_name = readResponse)]
    fn read_response(value: &JsValue, out: &mut [f64]) -> Option<String>;
}

/// `FINISH` in host.js: the names `FinishReason::parse` knows.
const FINISH: [&str; 13] = [
    "stop",
    "length",
    "content-filter",
    "tool-calls",
    "error",
    "other",
    "end_turn",
    "stop_sequence",
    "max_tokens",
    "content_filter",
    "refusal",
    "tool_calls",
    "tool_use",
];

/// A model's answer in its common shape (text, numeric usage, a known finish reason) read
/// without JSON; `None` for anything else, which the caller reads through JSON so that its
/// errors stay what they were. NaN is what JSON would have made `null`: no figure.
pub fn response_from_js(value: &JsValue) -> Option<RawModelResponse> {
    let mut out = [f64::NAN, f64::NAN, -1.0];
    let text = read_response(value, &mut out)?;
    let figure = |v: f64| (!v.is_nan()).then_some(v);
    let finish_reason = match out[2] {
        k if k >= 0.0 => FINISH.get(k as usize).map(|s| (*s).to_owned()),
        _ => None,
    };
    Some(RawModelResponse {
        text: Some(text),
        tool_calls: None,
        usage: Some(RawUsage {
            input_tokens: figure(out[0]),
            output_tokens: figure(out[1]),
        }),
        finish_reason,
    })
}

/// Marks an absent (null) string in a layout.
const NONE: u32 = u32::MAX;
/// Message kinds 0..=3 are plain messages of that role; this one is a whole message as
/// JSON text (tool calls and tool results carry more than role and text).
const STRUCTURED: u32 = 4;

/// Text with the UTF-16 offsets JS needs to slice it.
struct Packer {
    text: String,
    units: u32,
    layout: Vec<u32>,
}

impl Packer {
    fn new(capacity: usize) -> Packer {
        Packer {
            text: String::with_capacity(capacity),
            units: 0,
            layout: Vec::new(),
        }
    }

    /// Appends `s` and records its [start, end) in UTF-16 units.
    fn push(&mut self, s: &str) {
        let start = self.units;
        self.text.push_str(s);
        let len = if s.is_ascii() {
            s.len()
        } else {
            s.chars().map(char::len_utf16).sum()
        };
        self.units = start.saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
        self.layout.extend([start, self.units]);
    }

    fn push_opt(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.push(s),
            None => self.layout.extend([NONE, NONE]),
        }
    }
}

/// Layout: `[messages, tools start, tools end, maxOutputTokens, userId start, end,
/// sessionId start, end, runId start, end]`, then `[kind, start, end]` per message.
pub fn request_to_js(request: &ModelRequest, signal: &JsValue, on_text: &JsValue) -> JsValue {
    let count = request.prompt.len();
    let mut p = Packer::new(64 + 48 * count);
    p.layout.reserve_exact(10 + 3 * count);
    p.layout.push(u32::try_from(count).unwrap_or(0));
    if request.tools.is_empty() {
        p.push("");
    } else {
        p.push(&serde_json::to_string(&request.tools).unwrap_or_else(|_| "[]".into()));
    }
    p.layout.push(request.max_output_tokens);
    p.push_opt(request.user_id.as_deref());
    p.push(&request.session_id);
    p.push(&request.run_id);
    let mut json = String::new();
    for m in request.prompt.iter() {
        match m.plain_text() {
            Some(text) => {
                p.layout.push(role_kind(m.role()));
                p.push(text);
            }
            None => {
                p.layout.push(STRUCTURED);
                json.clear();
                m.write_json(&mut json);
                p.push(&json);
            }
        }
    }
    model_request(&p.text, &p.layout, signal, on_text)
}

/// The index of the role in `ROLES` in host.js.
fn role_kind(role: Role) -> u32 {
    match role {
        Role::System => 0,
        Role::User => 1,
        Role::Assistant => 2,
        Role::Tool => 3,
    }
}

/// Strings `[text, runId, finishReason, userId, sessionId]` as a layout; numbers
/// `[inputTokens, outputTokens, totalTokens, estimated, costUsd, steps]`.
pub fn result_to_js(out: &RunOutput) -> JsValue {
    let mut p = Packer::new(out.text.len() + 64);
    p.layout.reserve_exact(10);
    p.push(&out.text);
    p.push(&out.run_id);
    p.push(out.finish_reason.as_str());
    p.push_opt(out.user_id.as_deref());
    p.push(&out.session_id);
    let u = &out.usage;
    let numbers = [
        u.input_tokens as f64,
        u.output_tokens as f64,
        u.total_tokens as f64,
        if u.estimated { 1.0 } else { 0.0 },
        u.cost_usd,
        f64::from(out.steps),
        if u.overrun { 1.0 } else { 0.0 },
    ];
    run_result(&p.text, &p.layout, &numbers)
}
