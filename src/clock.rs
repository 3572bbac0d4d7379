//! Time, injected. The core never reads a clock of its own: wasm32 has no `SystemTime`, and
//! tests of idle eviction must not sleep. Times are milliseconds since the Unix epoch as
//! f64, the unit of JS `Date.now()`.

use std::cell::Cell;

pub trait Clock {
    fn now_ms(&self) -> f64;
}

/// The host's wall clock, for native Rust hosts (the wasm layer supplies `Date.now`).
#[cfg(not(target_arch = "wasm32"))]
pub struct SystemClock;

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now_ms(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    }
}

/// A clock that moves only when told to: for tests and deterministic benchmarks.
#[derive(Default)]
pub struct ManualClock {
    now: Cell<f64>,
}

impl ManualClock {
    pub fn new(start_ms: f64) -> Self {
        ManualClock {
            now: Cell::new(start_ms),
        }
    }
    pub fn advance(&self, ms: f64) {
        self.now.set(self.now.get() + ms);
    }
    pub fn set(&self, ms: f64) {
        self.now.set(ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> f64 {
        self.now.get()
    }
}

impl<C: Clock + ?Sized> Clock for std::rc::Rc<C> {
    fn now_ms(&self) -> f64 {
        (**self).now_ms()
    }
}
