//! Test helpers shared by the native and wasm runs of the core suites.
#![allow(dead_code)]

use futures_util::future::LocalBoxFuture;
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Poll, Waker};
use tenantry::{CallContext, RawUsage};
use tenantry::{Cancellation, Model, ModelRequest, RawModelResponse, Result, UserKey};

/// Runs an async test body on native (block_on) and on wasm (wasm-bindgen-test's executor).
#[macro_export]
macro_rules! dual_test {
    ($name:ident, $body:expr) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        fn $name() {
            futures_executor::block_on($body)
        }
        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn $name() {
            $body.await
        }
    };
}

pub fn user(s: &str) -> UserKey {
    UserKey::parse(Some(s)).unwrap()
}

/// Returns Pending `n` times (waking itself) so concurrent futures really interleave.
pub async fn yield_n(n: usize) {
    let mut left = n;
    futures_util::future::poll_fn(move |cx| {
        if left == 0 {
            Poll::Ready(())
        } else {
            left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// A scripted model: records every request, yields before answering, and fails on inputs
/// containing "FAIL" or answers malformed on "MALFORMED".
#[derive(Default)]
pub struct ScriptModel {
    pub requests: RefCell<Vec<ModelRequest>>,
    pub in_flight: Cell<usize>,
    pub max_in_flight: Cell<usize>,
    pub yields: usize,
}

impl ScriptModel {
    pub fn with_yields(yields: usize) -> Rc<ScriptModel> {
        Rc::new(ScriptModel {
            yields,
            ..Default::default()
        })
    }
}

struct InFlight(Rc<ScriptModel>);
impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get() - 1);
    }
}

/// `Model` is implemented on Rc so the test keeps a handle to inspect it.
pub struct Shared(pub Rc<ScriptModel>);

impl Model for Shared {
    fn generate(
        &self,
        request: ModelRequest,
        _ctx: CallContext,
    ) -> LocalBoxFuture<'static, Result<RawModelResponse>> {
        let m = self.0.clone();
        Box::pin(async move {
            m.in_flight.set(m.in_flight.get() + 1);
            m.max_in_flight
                .set(m.max_in_flight.get().max(m.in_flight.get()));
            let _g = InFlight(m.clone());
            let last = request
                .messages()
                .last()
                .map(|x| x.content.clone())
                .unwrap_or_default();
            let seen = request.prompt.len();
            m.requests.borrow_mut().push(request);
            yield_n(m.yields).await;
            if last.contains("FAIL") {
                return Err(tenantry::Error::Model {
                    message: "provider exploded".into(),
                });
            }
            if last.contains("MALFORMED") {
                return Ok(RawModelResponse::default());
            }
            if last.contains("HUGE") {
                return Ok(RawModelResponse {
                    text: Some("x".repeat(tenantry::MAX_REPLY_BYTES + 1)),
                    ..Default::default()
                });
            }
            if last.contains("OVER") {
                // Ignores its output cap and says so.
                return Ok(RawModelResponse {
                    text: Some("a very long answer".into()),
                    usage: Some(RawUsage {
                        input_tokens: Some(10.0),
                        output_tokens: Some(500.0),
                    }),
                    ..Default::default()
                });
            }
            Ok(RawModelResponse {
                text: Some(format!("reply to {last} (saw {seen})")),
                usage: Some(RawUsage {
                    input_tokens: Some(seen as f64 * 10.0),
                    output_tokens: Some(5.0),
                }),
                ..Default::default()
            })
        })
    }
}

/// A cancellation the test triggers by hand.
#[derive(Default)]
pub struct ManualCancel {
    pub cancelled: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl ManualCancel {
    pub fn cancel(&self) {
        self.cancelled.set(true);
        for w in self.wakers.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

pub struct CancelHandle(pub Rc<ManualCancel>);

impl Cancellation for CancelHandle {
    fn is_cancelled(&self) -> bool {
        self.0.cancelled.get()
    }
    fn cancelled(&self) -> LocalBoxFuture<'static, ()> {
        let c = self.0.clone();
        Box::pin(futures_util::future::poll_fn(move |cx| {
            if c.cancelled.get() {
                Poll::Ready(())
            } else {
                c.wakers.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        }))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Storage that fails its `n`-th write (put or delete) from now, once, and can fail every
/// list; reads always work. Wraps the in-memory adapter, whose map the test inspects.
#[derive(Default)]
pub struct FaultyStorage {
    pub inner: tenantry::MemoryStorage,
    pub fail_write_in: Cell<Option<usize>>,
    pub fail_lists: Cell<bool>,
}

impl FaultyStorage {
    fn write_fails(&self) -> bool {
        match self.fail_write_in.get() {
            Some(0) => {
                self.fail_write_in.set(None);
                true
            }
            Some(n) => {
                self.fail_write_in.set(Some(n - 1));
                false
            }
            None => false,
        }
    }

    pub fn snapshot(&self) -> std::collections::BTreeMap<String, String> {
        self.inner.map.borrow().clone()
    }
}

fn injected(op: &str) -> LocalBoxFuture<'static, Result<()>> {
    let e = tenantry::Error::Storage {
        operation: op.into(),
        message: "injected failure".into(),
    };
    Box::pin(async move { Err(e) })
}

impl tenantry::Storage for FaultyStorage {
    fn get(&self, key: &str) -> LocalBoxFuture<'static, Result<Option<String>>> {
        self.inner.get(key)
    }
    fn put(&self, key: &str, value: String) -> LocalBoxFuture<'static, Result<()>> {
        if self.write_fails() {
            return injected("put");
        }
        self.inner.put(key, value)
    }
    fn delete(&self, key: &str) -> LocalBoxFuture<'static, Result<()>> {
        if self.write_fails() {
            return injected("delete");
        }
        self.inner.delete(key)
    }
    fn list(&self, prefix: &str) -> LocalBoxFuture<'static, Result<Vec<String>>> {
        if self.fail_lists.get() {
            let e = tenantry::Error::Storage {
                operation: "list".into(),
                message: "injected failure".into(),
            };
            return Box::pin(async move { Err(e) });
        }
        self.inner.list(prefix)
    }
}

/// splitmix64: deterministic sizes and interleavings, reproducible from the seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in 0..n for tests (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
