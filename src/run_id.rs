//! Run ids: random, so they are unguessable across tenants and unique across isolates.
//! Generated per run, never at module load (Workers forbid randomness in global scope).

use crate::error::{Error, Result};
use std::cell::RefCell;

const ID_BYTES: usize = 12;
/// Random bytes drawn per call to the host's source: one draw serves 340 run ids, since
/// each draw is a call out to JS (`crypto.getRandomValues`), a measurable share of a run.
const POOL: usize = ID_BYTES * 340;

thread_local! {
    static POOL_BYTES: RefCell<(Vec<u8>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

pub fn new_run_id() -> Result<String> {
    let mut bytes = [0u8; ID_BYTES];
    POOL_BYTES.with(|pool| -> Result<()> {
        let mut pool = pool.borrow_mut();
        let (buf, used) = &mut *pool;
        if buf.len() != POOL || *used + ID_BYTES > POOL {
            buf.resize(POOL, 0);
            getrandom::fill(buf).map_err(|e| Error::Internal {
                message: format!("no random source for run ids: {e}"),
            })?;
            *used = 0;
        }
        bytes.copy_from_slice(&buf[*used..*used + ID_BYTES]);
        // Used bytes are wiped so the pool never holds an id that was handed out.
        buf[*used..*used + ID_BYTES].fill(0);
        *used += ID_BYTES;
        Ok(())
    })?;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(4 + 2 * ID_BYTES);
    s.push_str("run_");
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    // The same unit tests run natively and under wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    #[test]
    fn run_ids_are_distinct() {
        let a = super::new_run_id().unwrap();
        let b = super::new_run_id().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 28);
        // Across pool refills too.
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| super::new_run_id().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|i| i.starts_with("run_") && i.len() == 28));
    }
}
