//! One-at-a-time execution per key, in arrival order, for single-threaded async hosts.
//!
//! A ticket joins its key's queue when it is *created* (when `run` is called), not when it
//! is first polled, so arrival order is call order even if the executor polls later.
//! Dropping a waiting ticket (an abandoned run) leaves the queue without blocking others.
//! Keys with no holder and no waiter are removed, so the map stays as small as the load.

use crate::keyed::KeyedMap;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Waiter {
    id: u64,
    waker: Option<Waker>,
}

struct State<K> {
    queues: KeyedMap<K, VecDeque<Waiter>>,
    next_id: u64,
}

pub struct KeyedLock<K: Eq + Hash + Clone> {
    state: Rc<RefCell<State<K>>>,
}

impl<K: Eq + Hash + Clone> Default for KeyedLock<K> {
    fn default() -> Self {
        KeyedLock {
            state: Rc::new(RefCell::new(State {
                queues: KeyedMap::default(),
                next_id: 0,
            })),
        }
    }
}

impl<K: Eq + Hash + Clone> KeyedLock<K> {
    /// Joins the queue of `key` now; await the ticket to hold the key.
    pub fn ticket(&self, key: K) -> Ticket<K> {
        let id = {
            let mut st = self.state.borrow_mut();
            st.next_id += 1;
            let id = st.next_id;
            st.queues
                .entry(key.clone())
                .or_default()
                .push_back(Waiter { id, waker: None });
            id
        };
        Ticket {
            state: self.state.clone(),
            key: Some(key),
            id,
        }
    }

    /// Keys currently held or awaited (for tests and stats).
    #[cfg(test)]
    pub fn active_keys(&self) -> usize {
        self.state.borrow().queues.len()
    }
}

/// A place in a key's queue. Resolves to a `Guard` when it reaches the front.
pub struct Ticket<K: Eq + Hash + Clone> {
    state: Rc<RefCell<State<K>>>,
    key: Option<K>,
    id: u64,
}

// A ticket never relies on its address (no self-references), so it may move after polling.
impl<K: Eq + Hash + Clone> Unpin for Ticket<K> {}

impl<K: Eq + Hash + Clone> Future for Ticket<K> {
    type Output = Guard<K>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Guard<K>> {
        let Some(key) = self.key.clone() else {
            // Polled after completion: a logic error in the caller; stay pending rather than panic.
            return Poll::Pending;
        };
        let at_front = {
            let mut st = self.state.borrow_mut();
            match st.queues.get_mut(&key) {
                Some(q) => match q.iter_mut().position(|w| w.id == self.id) {
                    Some(0) => true,
                    Some(i) => {
                        q[i].waker = Some(cx.waker().clone());
                        false
                    }
                    None => false,
                },
                None => false,
            }
        };
        if at_front {
            // Ownership of the queue slot moves to the guard; our Drop must not release it.
            self.key = None;
            Poll::Ready(Guard {
                state: self.state.clone(),
                key: Some(key),
                id: self.id,
            })
        } else {
            Poll::Pending
        }
    }
}

impl<K: Eq + Hash + Clone> Drop for Ticket<K> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            release(&self.state, &key, self.id);
        }
    }
}

/// Holding the key. Dropping it lets the next ticket in line run.
pub struct Guard<K: Eq + Hash + Clone> {
    state: Rc<RefCell<State<K>>>,
    key: Option<K>,
    id: u64,
}

impl<K: Eq + Hash + Clone> Drop for Guard<K> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            release(&self.state, &key, self.id);
        }
    }
}

/// Removes `id` from the queue of `key` and wakes whoever is now at the front.
fn release<K: Eq + Hash + Clone>(state: &Rc<RefCell<State<K>>>, key: &K, id: u64) {
    let waker = {
        let mut st = state.borrow_mut();
        let Some(q) = st.queues.get_mut(key) else {
            return;
        };
        let was_front = q.front().is_some_and(|w| w.id == id);
        q.retain(|w| w.id != id);
        if q.is_empty() {
            st.queues.remove(key);
            None
        } else if was_front {
            q.front_mut().and_then(|w| w.waker.take())
        } else {
            None
        }
    };
    // Wake outside the borrow: a waker may poll synchronously and re-enter the lock.
    if let Some(w) = waker {
        w.wake();
    }
}

#[cfg(test)]
mod tests;
