//! Hex encoding. It is written here rather than pulled in as a crate: it is a dozen lines
//! and the audit format depends on its exact (lowercase) form.

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex, the only form MACs and hashes are written in.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
        out.push(char::from(HEX_DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decodes hex; `lowercase_only` is for MACs, whose written form must be exactly the one
/// the writer produced (an uppercase MAC would verify in one implementation and not another).
/// The error names a position, never the offending text (which may be a secret key).
pub(crate) fn from_hex(text: &str, lowercase_only: bool) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err(format!(
            "hex must have an even number of digits, got {}",
            bytes.len()
        ));
    }
    let digit = |i: usize, c: u8| -> Result<u8, String> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' if !lowercase_only => Ok(c - b'A' + 10),
            _ => Err(format!("not a hex digit at position {i}")),
        }
    };
    bytes
        .chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| Ok((digit(2 * i, pair[0])? << 4) | digit(2 * i + 1, pair[1])?))
        .collect()
}

/// Lowercase hex SHA-256, for test data. The committed fixture's content fields hold such
/// values; it is about MAC chains (any string would do there), and keeping its bytes keeps
/// both verifiers checked against the same file. Real entries hold keyed hashes
/// (`ContentKeys`), which no one can recompute from a guess.
#[cfg(test)]
pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    to_hex(&Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn hex_round_trips_and_refuses_bad_digits_without_echoing_them() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(to_hex(&bytes), "0001abff");
        assert_eq!(from_hex("0001abff", true).unwrap(), bytes);
        assert_eq!(from_hex("0001ABFF", false).unwrap(), bytes);
        assert!(from_hex("0001ABFF", true).is_err());
        assert!(from_hex("abc", false).is_err());
        let err = from_hex("00zq", false).unwrap_err();
        assert!(err.contains("position 2") && !err.contains('z'), "{err}");
        assert_eq!(from_hex("", true).unwrap(), Vec::<u8>::new());
    }
}
