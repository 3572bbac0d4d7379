//! JS calling back into wasm through one long-lived closure per kind, addressed by a slot.
//! A wasm-bindgen `Closure` per await (JsFuture makes two) or per model call (`onTextDelta`)
//! costs a registry entry and a finalizer each; on the per-run path that was a few µs.
//! Here the JS side makes plain arrow functions (`js/host.js`) and the slots live in
//! Rust. Each slot is taken under a ticket that is never reused (a counter, exact in an f64
//! far beyond any process lifetime), so a late callback for a slot whose owner went away
//! (an abandoned await, a finished call) can never reach the slot's next owner.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/host.js")]
extern "C" {
    #[wasm_bindgen(js_name = whenSettled)]
    fn when_settled(value: &JsValue, index: u32, ticket: f64, settled: &JsValue);
    #[wasm_bindgen(js_name = textSink)]
    fn text_sink_fn(index: u32, ticket: f64, dispatch: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = pendingPromise)]
    fn pending_promise(index: u32) -> js_sys::Promise;
    #[wasm_bindgen(js_name = settlePromise)]
    fn settle_promise(index: u32, ok: bool, value: &JsValue);
}

struct Slots<T> {
    items: Vec<(f64, Option<T>)>,
    free: Vec<u32>,
}

impl<T> Slots<T> {
    const fn new() -> Slots<T> {
        Slots {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, item: T) -> (u32, f64) {
        let ticket = next_ticket();
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.items.push((0.0, None));
                u32::try_from(self.items.len() - 1).unwrap_or(u32::MAX)
            }
        };
        if let Some(slot) = self.items.get_mut(index as usize) {
            *slot = (ticket, Some(item));
        }
        (index, ticket)
    }

    fn get_mut(&mut self, index: u32, ticket: f64) -> Option<&mut T> {
        match self.items.get_mut(index as usize) {
            Some((t, item)) if *t == ticket => item.as_mut(),
            _ => None,
        }
    }

    fn remove(&mut self, index: u32, ticket: f64) -> Option<T> {
        match self.items.get_mut(index as usize) {
            Some((t, item)) if *t == ticket && item.is_some() => {
                self.free.push(index);
                item.take()
            }
            _ => None,
        }
    }
}

fn next_ticket() -> f64 {
    thread_local!(static NEXT: Cell<f64> = const { Cell::new(0.0) });
    NEXT.with(|n| {
        n.set(n.get() + 1.0);
        n.get()
    })
}

enum Await {
    Waiting(Option<Waker>),
    Done(Result<JsValue, JsValue>),
}

type Sink = Rc<dyn Fn(&str)>;

thread_local! {
    static AWAITS: RefCell<Slots<Await>> = const { RefCell::new(Slots::new()) };
    static SINKS: RefCell<Slots<Sink>> = const { RefCell::new(Slots::new()) };
    static PROMISES: RefCell<Slots<()>> = const { RefCell::new(Slots::new()) };
    // Created once and never dropped: every await and every sink goes through these.
    static ON_SETTLED: JsValue =
        Closure::<dyn Fn(u32, f64, bool, JsValue)>::new(on_settled).into_js_value();
    static ON_TEXT: JsValue = Closure::<dyn Fn(u32, f64, JsValue)>::new(on_text).into_js_value();
}

fn on_settled(index: u32, ticket: f64, ok: bool, value: JsValue) {
    let waker = AWAITS.with(|a| {
        let mut a = a.borrow_mut();
        let slot = a.get_mut(index, ticket)?;
        let result = if ok { Ok(value) } else { Err(value) };
        match std::mem::replace(slot, Await::Done(result)) {
            Await::Waiting(w) => w,
            Await::Done(_) => None,
        }
    });
    // Woken after the borrow ends.
    if let Some(w) = waker {
        w.wake();
    }
}

fn on_text(index: u32, ticket: f64, text: JsValue) {
    let Some(text) = text.as_string() else {
        return;
    };
    // Called with no borrow held: the sink may emit an event the host answers re-entrantly.
    let sink = SINKS.with(|s| s.borrow_mut().get_mut(index, ticket).cloned());
    if let Some(sink) = sink {
        sink(&text);
    }
}

/// The settlement of a JS value (a promise or not), as `JsFuture` gives.
pub struct Settled {
    index: u32,
    ticket: f64,
}

pub fn settle(value: &JsValue) -> Settled {
    let (index, ticket) = AWAITS.with(|a| a.borrow_mut().insert(Await::Waiting(None)));
    ON_SETTLED.with(|cb| when_settled(value, index, ticket, cb));
    Settled { index, ticket }
}

impl Future for Settled {
    type Output = Result<JsValue, JsValue>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        AWAITS.with(|a| {
            let mut a = a.borrow_mut();
            match a.get_mut(self.index, self.ticket) {
                Some(Await::Waiting(w)) => {
                    *w = Some(cx.waker().clone());
                    Poll::Pending
                }
                Some(Await::Done(_)) => match a.remove(self.index, self.ticket) {
                    Some(Await::Done(r)) => Poll::Ready(r),
                    _ => Poll::Pending,
                },
                None => Poll::Pending,
            }
        })
    }
}

impl Drop for Settled {
    fn drop(&mut self) {
        // Done or abandoned, the slot is free; a late settlement finds no owner.
        AWAITS.with(|a| a.borrow_mut().remove(self.index, self.ticket));
    }
}

/// A JS function that hands text to `sink` until the returned guard is dropped.
pub fn text_sink(sink: Sink) -> (JsValue, SinkGuard) {
    let (index, ticket) = SINKS.with(|s| s.borrow_mut().insert(sink));
    let f = ON_TEXT.with(|d| text_sink_fn(index, ticket, d));
    (f, SinkGuard { index, ticket })
}

pub struct SinkGuard {
    index: u32,
    ticket: f64,
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        SINKS.with(|s| s.borrow_mut().remove(self.index, self.ticket));
    }
}

/// A future as a JS promise, like `future_to_promise` but with the promise made in JS and
/// settled through a slot, without a wasm-bindgen closure per call.
pub fn to_promise(
    future: impl Future<Output = Result<JsValue, JsValue>> + 'static,
) -> js_sys::Promise {
    let (index, ticket) = PROMISES.with(|p| p.borrow_mut().insert(()));
    let promise = pending_promise(index);
    wasm_bindgen_futures::spawn_local(async move {
        let result = future.await;
        // Settling only queues the promise's reactions, so nothing runs between it and
        // the slot's release.
        match result {
            Ok(v) => settle_promise(index, true, &v),
            Err(e) => settle_promise(index, false, &e),
        }
        PROMISES.with(|p| p.borrow_mut().remove(index, ticket));
    });
    promise
}
