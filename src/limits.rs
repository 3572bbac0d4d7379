//! Bounds and defaults shared by both hosts. A leaf: it imports nothing from the crate, so
//! any layer may read a limit without depending on the layer that enforces it.

/// Longest accepted input, in bytes. Larger inputs are refused rather than sent to a model
/// that would bill for them and likely reject them anyway.
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// Bytes of text counted as one token where no tokenizer is at hand (about four of English
/// per token): estimates of what a model did not report, and a cap in tokens read as bytes.
pub const BYTES_PER_TOKEN: u64 = 4;

/// Largest per-call token figure taken at face value; beyond it a report is treated as bogus.
pub const MAX_REPORTED_TOKENS: f64 = 1e9;
