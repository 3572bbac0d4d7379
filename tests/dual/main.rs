//! The core suites through the Rust API. Each `dual_test!` runs natively (`cargo test`) and
//! on wasm (`wasm-pack test --node` and `--headless --chrome`); a plain `#[test]` runs
//! natively only.

#[path = "../dual_support/mod.rs"]
mod dual_support;

mod agent;
mod budget;
mod compaction;
mod fact_extraction;
mod facts;
mod isolation;
mod mcp;
mod memory;
mod memory_tools;
mod org_budget;
mod orgs;
mod output;
mod partition_edges;
mod parts;
mod policy;
mod search;
