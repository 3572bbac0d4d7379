//! `agent.stream(...)`: a run whose events go to a JS `RunStream` as they happen.

use super::error::{to_js_error, to_plain_js};
use crate::agent::{Agent, Input, RunOptions};
use crate::error::Result;
use crate::events::RunEvent;
use crate::ids::UserKey;
use js_sys::{Function, Object, Promise, Reflect};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/stream.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeRunStream)]
    fn make_run_stream(start: &JsValue) -> JsValue;
}

/// Starts the run now (so its session ticket is taken in call order) and returns the
/// stream. `abort` aborts the run's own controller, which `opts` already listens to.
pub fn start(
    agent: &Rc<Agent>,
    args: Result<(Input, UserKey, RunOptions)>,
    abort: Option<Function>,
) -> JsValue {
    let agent = agent.clone();
    let start = Closure::once_into_js(move |push: Function, end: Function| -> JsValue {
        let result = match args {
            Ok((input, user, mut opts)) => {
                let sink = push.clone();
                opts.stream = Some(Rc::new(move |ev: RunEvent| {
                    let _ = sink.call1(&JsValue::NULL, &to_plain_js(&ev));
                }));
                let run = agent.run_input(input, user, opts);
                let end = end.clone();
                wasm_bindgen_futures::future_to_promise(async move {
                    let r = run.await;
                    let _ = end.call0(&JsValue::NULL);
                    r.map(|out| super::transfer::result_to_js(&out))
                        .map_err(|e| to_js_error(&e))
                })
            }
            Err(e) => {
                // Refused before it started: one `error` event, then the end.
                let part = crate::events::EventPart::error(&e);
                let _ = push.call1(&JsValue::NULL, &to_plain_js(&part));
                let _ = end.call0(&JsValue::NULL);
                Promise::reject(&to_js_error(&e))
            }
        };
        let handle = Object::new();
        let _ = Reflect::set(&handle, &"result".into(), &result);
        let cancel = match abort {
            Some(f) => JsValue::from(f),
            None => Closure::<dyn Fn()>::new(|| {}).into_js_value(),
        };
        let _ = Reflect::set(&handle, &"cancel".into(), &cancel);
        handle.into()
    });
    make_run_stream(&start)
}
