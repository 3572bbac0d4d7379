//! The keyed pseudonym of a user id, under which counters are stored and an erased user's
//! spend keeps counting. The key lives in storage (or in RAM without storage) and is made
//! on first use, never at construction: Workers refuse randomness at module scope.

use super::Agent;
use crate::budget::Pseudonym;
use crate::error::{Error, Result};
use crate::ids::{OrgId, UserKey};
use crate::persist::keys;
use std::rc::Rc;

impl Agent {
    /// The pseudonym key, if this agent has one already (made now when there is no storage).
    pub(super) fn secret_now(&self) -> Option<Rc<[u8; 32]>> {
        if let Some(s) = self.secret.borrow().as_ref() {
            return Some(s.clone());
        }
        if self.storage.is_some() {
            return None;
        }
        let fresh = Rc::new(random_key().ok()?);
        *self.secret.borrow_mut() = Some(fresh.clone());
        Some(fresh)
    }

    /// The pseudonym key: with storage, the stored one (written on first use), so that a
    /// restarted agent finds the same counters.
    async fn secret(&self) -> Result<Rc<[u8; 32]>> {
        if let Some(s) = self.secret_now() {
            return Ok(s);
        }
        let Some(storage) = &self.storage else {
            return Err(Error::Internal {
                message: "no randomness for the pseudonym key".into(),
            });
        };
        let stored = storage.get(keys::SECRET_KEY).await?;
        let key = match stored {
            Some(hex) => parse_key(&hex).ok_or_else(|| {
                Error::storage(
                    "load",
                    format!("record {:?} is not a key", keys::SECRET_KEY),
                )
            })?,
            None => {
                let key = random_key()?;
                storage.put(keys::SECRET_KEY, hex_key(&key)).await?;
                key
            }
        };
        // A concurrent first use may have set it meanwhile; the first one wins.
        let mut slot = self.secret.borrow_mut();
        Ok(slot.get_or_insert_with(|| Rc::new(key)).clone())
    }

    pub(super) async fn pseudonym(&self, user: &UserKey) -> Result<Pseudonym> {
        let secret = self.secret().await?;
        Ok(pseudonym_of(&secret, user))
    }

    pub(super) async fn org_pseudonym(&self, org: &OrgId) -> Result<Pseudonym> {
        let secret = self.secret().await?;
        Ok(org_pseudonym_of(&secret, org))
    }
}

/// HMAC-SHA256 of the user's storage name (and org) under the agent's secret.
pub(super) fn pseudonym_of(secret: &[u8; 32], user: &UserKey) -> Pseudonym {
    keyed_hash(secret, &pseudonym_message(user))
}

/// The pseudonym of an org's own counters (the org level of budgets), in a domain of its
/// own so that no user's pseudonym can equal an org's.
pub(super) fn org_pseudonym_of(secret: &[u8; 32], org: &OrgId) -> Pseudonym {
    let message = [
        b"tenantry.pseudonym.orgbudget\0".as_slice(),
        org.as_str().as_bytes(),
    ]
    .concat();
    keyed_hash(secret, &message)
}

fn keyed_hash(secret: &[u8; 32], message: &[u8]) -> Pseudonym {
    use hmac::{Hmac, Mac};
    match <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(message);
            mac.finalize().into_bytes().into()
        }
        // HMAC takes keys of any length: not reached, but no panic path either.
        Err(_) => {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(secret);
            h.update(message);
            h.finalize().into()
        }
    }
}

/// What is hashed: the default org's users under one domain, an org's under another with
/// the org id and a NUL before the user's name (ids hold no control characters), so no
/// (org, user) pair can spell another's.
fn pseudonym_message(user: &UserKey) -> Vec<u8> {
    let name = user.storage_name().as_bytes();
    match user.org() {
        None => [b"tenantry.pseudonym\0".as_slice(), name].concat(),
        Some(org) => [
            b"tenantry.pseudonym.org\0".as_slice(),
            org.as_bytes(),
            b"\0",
            name,
        ]
        .concat(),
    }
}

fn random_key() -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::Internal {
        message: format!("no randomness for the pseudonym key: {e}"),
    })?;
    Ok(key)
}

fn hex_key(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_key(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}
