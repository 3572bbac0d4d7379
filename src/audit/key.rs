//! The secret audit key. It has no default: a chain keyed by a constant would be
//! forgeable by anyone who read this source.
//!
//! Key text (an environment variable, a config string, a key file) is decoded the same way
//! here and in `pkg-template/cli/verify-audit.mjs`:
//! - `hex:<digits>`: the bytes the hex digits spell (either case, even count);
//! - `base64:<text>`: standard base64 (`A-Z a-z 0-9 + /`), padded with `=` to a multiple of
//!   4 characters; leftover bits in the last character are ignored (as Node does);
//! - anything else: the UTF-8 bytes of the whole text, as is (no trimming).
//!
//! The CLI removes one trailing newline (LF or CRLF) from a key *file* before decoding,
//! because editors add one; an environment variable is taken as is. The decoded key must
//! be at least `MIN_KEY_BYTES` long.

use super::error::AuditError;
use super::hash::from_hex;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

pub use crate::limits::MIN_AUDIT_KEY_BYTES as MIN_KEY_BYTES;

/// The config field named in key errors.
pub(crate) const KEY_FIELD: &str = "audit.key";

/// The HMAC state, keyed once. It holds key-derived material only, and its `Debug` is
/// redacted so that no `{:?}` of a chain can print it.
#[derive(Clone)]
pub(crate) struct MacKey(Hmac<Sha256>);

impl MacKey {
    /// For writing: refuses a key that is empty or short.
    pub(crate) fn new(key: &[u8]) -> Result<MacKey, AuditError> {
        check_key(key, KEY_FIELD)?;
        MacKey::any_length(key)
            .ok_or_else(|| AuditError::config(KEY_FIELD, "the key could not be used for HMAC"))
    }

    /// For verifying: any key is accepted, because a wrong key is a verification result
    /// ("wrong key") rather than an error. HMAC takes keys of every length, so `None` is
    /// unreachable in practice.
    pub(crate) fn any_length(key: &[u8]) -> Option<MacKey> {
        <Hmac<Sha256> as Mac>::new_from_slice(key).ok().map(MacKey)
    }

    pub(crate) fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut m = self.0.clone();
        m.update(message);
        m.finalize().into_bytes().into()
    }

    /// Constant-time check of a written MAC, which must be exactly 64 lowercase hex digits.
    pub(crate) fn verify(&self, message: &[u8], mac_hex: &str) -> bool {
        let Ok(tag) = from_hex(mac_hex, true) else {
            return false;
        };
        let mut m = self.0.clone();
        m.update(message);
        m.verify_slice(&tag).is_ok()
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

/// Refuses a key that is empty or shorter than `MIN_KEY_BYTES`, naming `field`: the rule
/// for writing a chain, and for `verifyAudit`'s key.
pub fn check_key(key: &[u8], field: &str) -> Result<(), AuditError> {
    let len = key.len();
    if len == 0 {
        return Err(AuditError::config(
            field,
            "an audit key is required (there is no default); pass at least 16 random bytes",
        ));
    }
    if len < MIN_KEY_BYTES {
        return Err(AuditError::config(
            field,
            format!("the audit key must be at least {MIN_KEY_BYTES} bytes, got {len}"),
        ));
    }
    Ok(())
}

/// Decodes key text by the rules in the module comment and checks its length. Errors say
/// what is wrong by position and length only, never by quoting the text.
pub fn key_from_text(text: &str) -> Result<Vec<u8>, AuditError> {
    let bytes = if let Some(hex) = text.strip_prefix("hex:") {
        from_hex(hex, false)
            .map_err(|e| AuditError::config(KEY_FIELD, format!("`hex:` key: {e}")))?
    } else if let Some(b64) = text.strip_prefix("base64:") {
        from_base64(b64)
            .map_err(|e| AuditError::config(KEY_FIELD, format!("`base64:` key: {e}")))?
    } else {
        text.as_bytes().to_vec()
    };
    check_key(&bytes, KEY_FIELD)?;
    Ok(bytes)
}

fn from_base64(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "length must be a multiple of 4 (pad with `=`), got {}",
            bytes.len()
        ));
    }
    let padding = bytes.iter().rev().take_while(|&&c| c == b'=').count();
    if padding > 2 {
        return Err("at most two `=` of padding".into());
    }
    let body = &bytes[..bytes.len() - padding];
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, &c) in body.iter().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("not a base64 character at position {i}")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
