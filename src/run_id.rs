//! Run ids: random, so they are unguessable across tenants and unique across isolates.
//! Generated per run, never at module load (Workers forbid randomness in global scope).

use crate::error::{Error, Result};

pub fn new_run_id() -> Result<String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal {
        message: format!("no random source for run ids: {e}"),
    })?;
    let mut s = String::with_capacity(4 + 24);
    s.push_str("run_");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
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
    }
}
