//! The JS surface of the wasm build, under `wasm-pack test --node` and `--headless --chrome`.
//! Natively this binary is empty.
#![cfg(target_arch = "wasm32")]

#[path = "../wasm_support/mod.rs"]
mod wasm_support;

mod api;
mod audit;
mod budget;
mod memory;
mod stream;
mod tools;
