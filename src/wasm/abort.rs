//! AbortSignal as a core `Cancellation`. The listener added while a run waits is removed
//! when the wait ends, so one long-lived signal shared by many runs does not accumulate them.

use crate::cancel::Cancellation;
use futures_util::future::LocalBoxFuture;
use js_sys::{Function, Promise};
use std::any::Any;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = AbortSignal)]
    #[derive(Clone)]
    pub type AbortSignal;
    #[wasm_bindgen(method, catch, getter)]
    fn aborted(this: &AbortSignal) -> Result<bool, JsValue>;
    #[wasm_bindgen(method, catch, js_name = addEventListener)]
    fn add_event_listener(
        this: &AbortSignal,
        kind: &str,
        listener: &Function,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = removeEventListener)]
    fn remove_event_listener(
        this: &AbortSignal,
        kind: &str,
        listener: &Function,
    ) -> Result<(), JsValue>;
}

/// A signal whose `aborted` cannot be read (a getter redefined to throw) counts as aborted:
/// the run stops rather than going on with a cancellation it cannot see.
fn is_aborted(signal: &AbortSignal) -> bool {
    signal.aborted().unwrap_or(true)
}

pub struct JsAbort {
    pub signal: AbortSignal,
}

/// The host's AbortSignal behind a run's cancellation, to hand on to host code (fetch, a
/// model, a tool); `undefined` when there is none or it did not come from JS.
pub fn signal_of(cancellation: Option<&dyn Cancellation>) -> JsValue {
    cancellation
        .and_then(|c| c.as_any().downcast_ref::<JsAbort>())
        .map_or(JsValue::UNDEFINED, |a| a.signal.clone().into())
}

struct Listener {
    signal: AbortSignal,
    resolve: Function,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.signal.remove_event_listener("abort", &self.resolve);
    }
}

impl Cancellation for JsAbort {
    fn is_cancelled(&self) -> bool {
        is_aborted(&self.signal)
    }

    fn cancelled(&self) -> LocalBoxFuture<'static, ()> {
        let signal = self.signal.clone();
        Box::pin(async move {
            if is_aborted(&signal) {
                return;
            }
            let mut slot = None;
            let promise = Promise::new(&mut |resolve, _reject| slot = Some(resolve));
            // The executor runs synchronously by spec; if it somehow did not, never resolve
            // rather than report a cancellation that did not happen.
            let Some(resolve) = slot else {
                return futures_util::future::pending().await;
            };
            if signal.add_event_listener("abort", &resolve).is_err() {
                return;
            }
            let _listener = Listener { signal, resolve };
            let _ = JsFuture::from(promise).await;
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
