//! The two values that cross the boundary on every run, built into JS objects from one
//! string plus a layout of UTF-16 offsets instead of JSON text: the model request (a
//! host model receives one per call) and the run result. `JSON.parse` of a 20-message
//! request was 6 µs of a run; slicing one decoded string into `{ role, content }` objects
//! is a fraction of that. The JS half is `modelRequest` / `runResult` in `js/host.js`;
//! the shapes are the documented ones (the same as the serde forms, checked in tests). The
//! positions both halves use are defined in `boundary`.

use crate::agent::RunOutput;
use crate::boundary::{finish_name, request, response, result, KIND_STRUCTURED, NONE};
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

/// A model's answer in its common shape (text, numeric usage, a known finish reason) read
/// without JSON; `None` for anything else, which the caller reads through JSON so that its
/// errors stay what they were. NaN is what JSON would have made `null`: no figure.
pub fn response_from_js(value: &JsValue) -> Option<RawModelResponse> {
    let mut out = [0.0; response::SLOTS];
    out[response::INPUT_TOKENS] = f64::NAN;
    out[response::OUTPUT_TOKENS] = f64::NAN;
    out[response::FINISH] = -1.0;
    let text = read_response(value, &mut out)?;
    let figure = |v: f64| (!v.is_nan()).then_some(v);
    Some(RawModelResponse {
        text: Some(text),
        tool_calls: None,
        usage: Some(RawUsage {
            input_tokens: figure(out[response::INPUT_TOKENS]),
            output_tokens: figure(out[response::OUTPUT_TOKENS]),
        }),
        finish_reason: finish_name(out[response::FINISH]).map(str::to_owned),
    })
}

/// Text with the UTF-16 offsets JS needs to slice it.
struct Packer {
    text: String,
    units: u32,
    layout: Vec<u32>,
}

impl Packer {
    /// `head` slots come first, filled by `put`; `push` appends after them.
    fn new(capacity: usize, head: usize, entries: usize) -> Packer {
        let mut layout = Vec::with_capacity(head + entries);
        layout.resize(head, 0);
        Packer {
            text: String::with_capacity(capacity),
            units: 0,
            layout,
        }
    }

    /// Appends `s` to the text and returns its [start, end) in UTF-16 units.
    fn append(&mut self, s: &str) -> [u32; 2] {
        let start = self.units;
        self.text.push_str(s);
        let len = if s.is_ascii() {
            s.len()
        } else {
            s.chars().map(char::len_utf16).sum()
        };
        self.units = start.saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
        [start, self.units]
    }

    /// `s` (or `NONE` for no string) into the head's two slots at `slot`.
    fn put(&mut self, slot: usize, s: Option<&str>) {
        let range = s.map_or([NONE, NONE], |s| self.append(s));
        self.layout[slot..slot + 2].copy_from_slice(&range);
    }

    fn push(&mut self, s: &str) {
        let range = self.append(s);
        self.layout.extend(range);
    }
}

/// See `boundary::request`.
pub fn request_to_js(request: &ModelRequest, signal: &JsValue, on_text: &JsValue) -> JsValue {
    let count = request.prompt.len();
    let mut p = Packer::new(
        64 + 48 * count,
        request::MESSAGES,
        request::MESSAGE_STRIDE * count,
    );
    p.layout[request::MESSAGE_COUNT] = u32::try_from(count).unwrap_or(0);
    if request.tools.is_empty() {
        p.put(request::TOOLS, Some(""));
    } else {
        let tools = serde_json::to_string(&request.tools).unwrap_or_else(|_| "[]".into());
        p.put(request::TOOLS, Some(&tools));
    }
    p.layout[request::MAX_OUTPUT_TOKENS] = request.max_output_tokens;
    p.put(request::USER_ID, request.user_id.as_deref());
    p.put(request::ORG_ID, request.org_id.as_deref());
    p.put(request::SESSION_ID, Some(&request.session_id));
    p.put(request::RUN_ID, Some(&request.run_id));
    let output = request
        .output
        .as_ref()
        .and_then(|o| serde_json::to_string(o).ok());
    p.put(request::OUTPUT, output.as_deref());
    let mut json = String::new();
    for m in request.prompt.iter() {
        match m.plain_text() {
            Some(text) => {
                p.layout.push(u32::from(m.role().index()));
                p.push(text);
            }
            None => {
                p.layout.push(KIND_STRUCTURED);
                json.clear();
                m.write_json(&mut json);
                p.push(&json);
            }
        }
    }
    model_request(&p.text, &p.layout, signal, on_text)
}

/// See `boundary::result`.
pub fn result_to_js(out: &RunOutput) -> JsValue {
    let mut p = Packer::new(out.text.len() + 64, result::STRINGS, 0);
    p.put(result::TEXT, Some(&out.text));
    p.put(result::RUN_ID, Some(&out.run_id));
    p.put(result::FINISH_REASON, Some(out.finish_reason.as_str()));
    p.put(result::USER_ID, out.user_id.as_deref());
    p.put(result::ORG_ID, out.org_id.as_deref());
    p.put(result::SESSION_ID, Some(&out.session_id));
    let object = out
        .object
        .as_ref()
        .and_then(|o| serde_json::to_string(o).ok());
    p.put(result::OBJECT, object.as_deref());
    let u = &out.usage;
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let mut numbers = [0.0; result::NUMBERS];
    numbers[result::NUM_INPUT_TOKENS] = u.input_tokens as f64;
    numbers[result::NUM_OUTPUT_TOKENS] = u.output_tokens as f64;
    numbers[result::NUM_TOTAL_TOKENS] = u.total_tokens as f64;
    numbers[result::NUM_ESTIMATED] = flag(u.estimated);
    numbers[result::NUM_COST_USD] = u.cost_usd;
    numbers[result::NUM_STEPS] = f64::from(out.steps);
    numbers[result::NUM_OVERRUN] = flag(u.overrun);
    run_result(&p.text, &p.layout, &numbers)
}
