//! The host's storage adapter: an async key-value store (`get`, `put`, `delete`,
//! `list(prefix)`) over Durable Object storage, KV, IndexedDB or a file, and an in-memory
//! one for native hosts and tests.

use crate::error::{Error, Result};
use futures_util::future::LocalBoxFuture;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Keys are plain strings from `keys`; values are JSON text.
pub trait Storage {
    fn get(&self, key: &str) -> LocalBoxFuture<'static, Result<Option<String>>>;
    fn put(&self, key: &str, value: String) -> LocalBoxFuture<'static, Result<()>>;
    fn delete(&self, key: &str) -> LocalBoxFuture<'static, Result<()>>;
    /// Every key starting with `prefix`, in any order.
    fn list(&self, prefix: &str) -> LocalBoxFuture<'static, Result<Vec<String>>>;
}

/// `fail_writes` makes every put and delete fail, to test that a failed write leaves RAM
/// as it was.
#[derive(Default)]
pub struct MemoryStorage {
    pub map: RefCell<BTreeMap<String, String>>,
    pub fail_writes: std::cell::Cell<bool>,
}

impl MemoryStorage {
    fn check(&self, op: &str) -> Result<()> {
        if self.fail_writes.get() {
            Err(Error::storage(op, "injected failure"))
        } else {
            Ok(())
        }
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &str) -> LocalBoxFuture<'static, Result<Option<String>>> {
        let v = self.map.borrow().get(key).cloned();
        Box::pin(async move { Ok(v) })
    }
    fn put(&self, key: &str, value: String) -> LocalBoxFuture<'static, Result<()>> {
        let r = self.check("put").map(|()| {
            self.map.borrow_mut().insert(key.to_owned(), value);
        });
        Box::pin(async move { r })
    }
    fn delete(&self, key: &str) -> LocalBoxFuture<'static, Result<()>> {
        let r = self.check("delete").map(|()| {
            self.map.borrow_mut().remove(key);
        });
        Box::pin(async move { r })
    }
    fn list(&self, prefix: &str) -> LocalBoxFuture<'static, Result<Vec<String>>> {
        let keys = self
            .map
            .borrow()
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        Box::pin(async move { Ok(keys) })
    }
}
