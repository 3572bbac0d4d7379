//! `agent.stream(...)` and `agent.streamChat(...)`: a run whose events wait in a queue here
//! until the JS `RunStream` reads them, each in the form its reader asked for: an event
//! object, UI message chunks, their SSE, plain text, or the event as SSE. The encoding is
//! the core's (`crate::ui`); this only keeps the queue and hands out strings.

use crate::agent::{Agent, Input, RunOptions};
use crate::error::{Error, Result};
use crate::events::{EventPart, RunEvent};
use crate::ids::UserKey;
use crate::ui::{self, UiMessageEncoder};
use js_sys::{Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/stream.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeRunStream)]
    fn make_run_stream(start: &JsValue) -> JsValue;
}

/// A queued event: the run's own, or the error of a call refused before its run had ids.
enum Item {
    Run(RunEvent),
    Refused(EventPart),
}

impl Item {
    fn json(&self) -> String {
        match self {
            Item::Run(ev) => serde_json::to_string(ev),
            Item::Refused(part) => serde_json::to_string(part),
        }
        .unwrap_or_default()
    }

    fn chunks(&self, ui: &mut UiMessageEncoder) -> Vec<ui::UiChunk> {
        match self {
            Item::Run(ev) => ui.push(ev),
            Item::Refused(part) => ui.push_part(part, None),
        }
    }
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Item>,
    /// The run is over: what `events` holds is all there will be.
    ended: bool,
    /// A `finish` or `error` event was queued.
    terminal: bool,
    /// The run's error when it ended without queuing one, for the end of an encoded stream.
    failure: Option<Error>,
    /// The end of the encoded stream (its last error, `[DONE]`) was handed out.
    closed: bool,
    /// One per stream: a RunStream has one reader.
    ui: UiMessageEncoder,
}

impl Queue {
    fn push(&mut self, item: Item) {
        if let Item::Run(RunEvent {
            part: EventPart::Finish { .. } | EventPart::Error { .. },
            ..
        })
        | Item::Refused(_) = &item
        {
            self.terminal = true;
        }
        self.events.push_back(item);
    }

    /// The next event in `format`; `None` when there is none yet, or no more.
    fn read(&mut self, format: Format) -> Option<String> {
        if format == Format::Peek {
            return self.events.front().map(Item::json);
        }
        match self.events.pop_front() {
            Some(item) => Some(self.encode(&item, format)),
            None if self.ended && !self.closed && format != Format::Event => {
                self.closed = true;
                let mut out = match self.failure.take() {
                    Some(e) => self.encode(&Item::Refused(EventPart::error(&e)), format),
                    None => String::new(),
                };
                if format == Format::UiSse {
                    out.push_str(ui::SSE_DONE);
                }
                Some(out)
            }
            None => None,
        }
    }

    /// An empty string when the event adds nothing in that form.
    fn encode(&mut self, item: &Item, format: Format) -> String {
        match format {
            Format::Peek | Format::Event => item.json(),
            Format::Ui => {
                let chunks = item.chunks(&mut self.ui);
                if chunks.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&chunks).unwrap_or_default()
                }
            }
            Format::UiSse => ui::sse(&item.chunks(&mut self.ui)),
            Format::Text => ui::text_of(&item.chunks(&mut self.ui)),
            Format::EventSse => match item {
                Item::Run(ev) => ui::event_sse(ev),
                Item::Refused(part) => ui::part_sse(part),
            },
        }
    }
}

/// The forms `read` hands out, by the names stream.js asks for.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    /// The next event as JSON, left in the queue.
    Peek,
    Event,
    /// UI message chunks as a JSON array.
    Ui,
    UiSse,
    Text,
    EventSse,
}

impl Format {
    fn parse(name: &str) -> Option<Format> {
        Some(match name {
            "peek" => Format::Peek,
            "event" => Format::Event,
            "ui" => Format::Ui,
            "ui-sse" => Format::UiSse,
            "text" => Format::Text,
            "event-sse" => Format::EventSse,
            _ => return None,
        })
    }
}

/// Starts the run now (so its session ticket is taken in call order) and returns the
/// stream. `abort` aborts the run's own controller, which `opts` already listens to.
pub fn start(
    agent: &Rc<Agent>,
    args: Result<(Input, UserKey, RunOptions)>,
    abort: Option<Function>,
) -> JsValue {
    let agent = agent.clone();
    let queue = Rc::new(RefCell::new(Queue::default()));
    let start = Closure::once_into_js(move |notify: Function, end: Function| -> JsValue {
        let result = match args {
            Ok((input, user, mut opts)) => {
                let sink = queue.clone();
                let wake = notify.clone();
                opts.stream = Some(Rc::new(move |ev: RunEvent| {
                    // Never borrowed across a call into JS, so this cannot fail.
                    if let Ok(mut q) = sink.try_borrow_mut() {
                        q.push(Item::Run(ev));
                    }
                    let _ = wake.call0(&JsValue::NULL);
                }));
                let run = agent.run_input(input, user, opts);
                let queue = queue.clone();
                wasm_bindgen_futures::future_to_promise(async move {
                    let r = run.await;
                    if let Ok(mut q) = queue.try_borrow_mut() {
                        q.ended = true;
                        if let Err(e) = &r {
                            if !q.terminal {
                                q.failure = Some(e.clone());
                            }
                        }
                    }
                    let _ = end.call0(&JsValue::NULL);
                    r.map(|out| super::transfer::result_to_js(&out))
                        .map_err(|e| super::error::to_js_error(&e))
                })
            }
            Err(e) => {
                // Refused before it started: one `error` event, then the end.
                if let Ok(mut q) = queue.try_borrow_mut() {
                    q.push(Item::Refused(EventPart::error(&e)));
                    q.ended = true;
                }
                let _ = end.call0(&JsValue::NULL);
                Promise::reject(&super::error::to_js_error(&e))
            }
        };
        let read = Closure::<dyn Fn(String) -> JsValue>::new(move |format: String| {
            let Some(format) = Format::parse(&format) else {
                wasm_bindgen::throw_str(&format!("RunStream: unknown format {format:?}"));
            };
            let out = queue.try_borrow_mut().ok().and_then(|mut q| q.read(format));
            out.map_or(JsValue::UNDEFINED, |s| JsValue::from_str(&s))
        });
        let handle = Object::new();
        let _ = Reflect::set(&handle, &"result".into(), &result);
        let cancel = match abort {
            Some(f) => JsValue::from(f),
            None => Closure::<dyn Fn()>::new(|| {}).into_js_value(),
        };
        let _ = Reflect::set(&handle, &"cancel".into(), &cancel);
        let _ = Reflect::set(&handle, &"read".into(), &read.into_js_value());
        handle.into()
    });
    make_run_stream(&start)
}
