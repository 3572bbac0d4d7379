// The same unit tests run natively and under wasm-bindgen-test.
use super::*;
use futures_executor::LocalPool;
use futures_util::task::LocalSpawnExt;
use std::cell::RefCell;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// Gives the executor a chance to run other tasks inside a critical section.
async fn yield_once() {
    let mut yielded = false;
    futures_util::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

#[test]
fn same_key_runs_in_arrival_order_and_keys_are_independent() {
    let lock = Rc::new(KeyedLock::<&'static str>::default());
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    // Tickets are taken in this order, before anything is polled.
    let tickets: Vec<_> = (0..5)
        .map(|i| (i, if i % 2 == 0 { "a" } else { "b" }))
        .map(|(i, k)| (i, k, lock.ticket(k)))
        .collect();
    for (i, k, t) in tickets.into_iter().rev() {
        let log = log.clone();
        spawner
            .spawn_local(async move {
                let _g = t.await;
                log.borrow_mut().push((k, i, "in"));
                yield_once().await;
                log.borrow_mut().push((k, i, "out"));
            })
            .unwrap();
    }
    pool.run();
    let log = log.borrow();
    let a: Vec<_> = log
        .iter()
        .filter(|e| e.0 == "a")
        .map(|e| (e.1, e.2))
        .collect();
    assert_eq!(
        a,
        vec![
            (0, "in"),
            (0, "out"),
            (2, "in"),
            (2, "out"),
            (4, "in"),
            (4, "out")
        ]
    );
    // Key "b" was not held back by "a": it entered while "a" was still inside.
    let first_b = log.iter().position(|e| e.0 == "b").unwrap();
    let last_a = log.iter().rposition(|e| e.0 == "a").unwrap();
    assert!(first_b < last_a, "{log:?}");
    assert_eq!(lock.active_keys(), 0);
}

#[test]
fn dropping_a_waiting_ticket_does_not_block_the_queue() {
    let lock = KeyedLock::<u8>::default();
    let first = lock.ticket(1);
    let second = lock.ticket(1);
    let third = lock.ticket(1);
    drop(second);
    let g1 = futures_executor::block_on(first);
    drop(g1);
    let g3 = futures_executor::block_on(third);
    drop(g3);
    assert_eq!(lock.active_keys(), 0);
}
