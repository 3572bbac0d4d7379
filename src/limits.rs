//! Bounds and defaults shared by both hosts. A leaf: it imports nothing from the crate, so
//! any layer may read a limit without depending on the layer that enforces it.

/// Longest accepted input, in bytes. Larger inputs are refused rather than sent to a model
/// that would bill for them and likely reject them anyway.
pub const MAX_INPUT_BYTES: usize = 1 << 20;
