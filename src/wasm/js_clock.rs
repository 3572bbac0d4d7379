//! The clock of a wasm agent: `memory.clock` when the host gives one (tests, replays),
//! else `Date.now()`.

use crate::clock::Clock;
use js_sys::Function;
use wasm_bindgen::JsValue;

#[derive(Clone)]
pub struct JsClock {
    pub func: Option<Function>,
}

impl JsClock {
    /// The wall clock, `Date.now()`: the one place the bindings read time themselves.
    pub fn wall() -> JsClock {
        JsClock { func: None }
    }
}

impl Clock for JsClock {
    fn now_ms(&self) -> f64 {
        // A host clock that throws or returns a non-number cannot stop a run: fall back to
        // the real time rather than poisoning timestamps with NaN.
        self.func
            .as_ref()
            .and_then(|f| f.call0(&JsValue::NULL).ok())
            .and_then(|v| v.as_f64())
            .filter(|v| v.is_finite())
            .unwrap_or_else(js_sys::Date::now)
    }
}
