//! Which accounts of one level (users, or orgs) are resident: a slab indexed by id, and
//! erased ids' accounts retained under a pseudonym. Kept apart from the ledger so every way an account
//! enters or leaves RAM (open, evict, forget, revive, sweep) goes through one place that
//! keeps the index, the free list and the retained map consistent.

use crate::budget::account::Account;
use crate::budget::policy::Layout;
use crate::keyed::KeyedMap;
use std::hash::Hash;

/// A keyed hash of a user id (HMAC-SHA256 under the agent's secret): the only name an
/// erased user's counters keep.
pub type Pseudonym = [u8; 32];

/// One incarnation of one account. A reservation finds its account again by index (no key
/// clone, no hashing on settle); the epoch catches a slot reused since, or an account
/// forgotten and opened afresh.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Handle {
    slot: usize,
    epoch: u64,
}

#[derive(Debug)]
pub(super) struct Table<K> {
    index: KeyedMap<K, usize>,
    /// Boxed so the holes a sweep leaves cost a pointer each.
    slots: Vec<Option<Box<Account>>>,
    free: Vec<usize>,
    /// Accounts of erased users: what they spent in windows still open keeps counting (an
    /// erasure must not be a way around a limit), under a pseudonym instead of the id.
    /// Reservations in flight still settle here (the slot and epoch are unchanged).
    retained: KeyedMap<Pseudonym, usize>,
    /// The last epoch given to an account.
    epochs: u64,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            index: KeyedMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            retained: KeyedMap::default(),
            epochs: 0,
        }
    }
}

impl<K: Eq + Hash + Clone> Table<K> {
    /// No accounts, while epochs keep counting: a reservation made before can never settle
    /// into an account opened after, even in the same slot.
    pub fn clear(&mut self) {
        *self = Table {
            epochs: self.epochs,
            ..Table::default()
        };
    }

    /// Accounts held: users with any state, and erased users' retained counters.
    pub fn len(&self) -> usize {
        self.index.len() + self.retained.len()
    }

    pub fn retained(&self) -> usize {
        self.retained.len()
    }

    /// The ids with an account (retained ones have none).
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.index.keys()
    }

    pub fn has(&self, user: &K) -> bool {
        self.index.contains_key(user)
    }

    pub fn get(&self, user: &K) -> Option<&Account> {
        let slot = *self.index.get(user)?;
        self.slots.get(slot)?.as_deref()
    }

    pub fn get_mut(&mut self, user: &K) -> Option<&mut Account> {
        let slot = *self.index.get(user)?;
        self.slots.get_mut(slot)?.as_deref_mut()
    }

    /// The user's account, a fresh one (new epoch) if they have none.
    pub fn open(&mut self, user: &K, layout: &Layout) -> (Handle, &mut Account) {
        let slot = match self.index.get(user) {
            Some(&s) => s,
            None => {
                let s = self.free.pop().unwrap_or(self.slots.len());
                self.index.insert(user.clone(), s);
                s
            }
        };
        if slot >= self.slots.len() {
            self.slots.resize_with(slot + 1, || None);
        }
        let epochs = &mut self.epochs;
        let acct = self.slots[slot].get_or_insert_with(|| {
            *epochs += 1;
            Box::new(Account::new(layout, *epochs))
        });
        let handle = Handle {
            slot,
            epoch: acct.epoch(),
        };
        (handle, acct)
    }

    /// The account `handle` was taken from, if it is still that incarnation.
    pub fn resolve(&mut self, handle: Handle) -> Option<&mut Account> {
        self.slots
            .get_mut(handle.slot)?
            .as_deref_mut()
            .filter(|a| a.epoch() == handle.epoch)
    }

    /// Gives an erased user's retained account back to their id. Whether they have one.
    pub fn revive(&mut self, user: &K, pseudonym: &Pseudonym) -> bool {
        if self.index.contains_key(user) {
            return true;
        }
        match self.retained.remove(pseudonym) {
            Some(slot) => {
                self.index.insert(user.clone(), slot);
                true
            }
            None => false,
        }
    }

    /// Drops the user's account if `droppable` says so. Whether it was dropped.
    pub fn remove_if(&mut self, user: &K, droppable: impl FnOnce(&mut Account) -> bool) -> bool {
        if !self.get_mut(user).is_some_and(droppable) {
            return false;
        }
        if let Some(slot) = self.index.remove(user) {
            self.free_slot(slot);
            self.trim();
        }
        true
    }

    /// Takes the user's id off their account. The account stays under `pseudonym` when
    /// `keep` says it still holds something; otherwise (or without a pseudonym) it goes.
    pub fn forget(
        &mut self,
        user: &K,
        pseudonym: Option<Pseudonym>,
        keep: impl FnOnce(&mut Account) -> bool,
    ) {
        let Some(slot) = self.index.remove(user) else {
            return;
        };
        let kept = self
            .slots
            .get_mut(slot)
            .and_then(|s| s.as_deref_mut())
            .is_some_and(keep);
        if let (true, Some(pseudonym)) = (kept, pseudonym) {
            if let Some(old) = self.retained.insert(pseudonym, slot) {
                self.free_slot(old);
            }
        } else {
            self.free_slot(slot);
            self.trim();
        }
    }

    /// Drops every account, retained ones included, that `keep` refuses. How many went.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Account) -> bool) -> usize {
        let before = self.len();
        let Table {
            index,
            slots,
            free,
            retained,
            ..
        } = self;
        let mut keep_slot = |slot: &mut usize| {
            let held = slots
                .get_mut(*slot)
                .and_then(|s| s.as_deref_mut())
                .is_some_and(&mut keep);
            if !held {
                if let Some(s) = slots.get_mut(*slot) {
                    *s = None;
                }
                free.push(*slot);
            }
            held
        };
        retained.retain(|_, slot| keep_slot(slot));
        index.retain(|_, slot| keep_slot(slot));
        self.trim();
        before - self.len()
    }

    fn free_slot(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            *s = None;
        }
        self.free.push(slot);
    }

    /// Gives back memory after a flood of ids has been swept.
    fn trim(&mut self) {
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len();
        self.free.retain(|&s| s < len);
        if self.slots.capacity() > 2 * len + 64 {
            self.slots.shrink_to_fit();
            self.free.shrink_to_fit();
        }
    }
}
