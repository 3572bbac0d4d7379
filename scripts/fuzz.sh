#!/usr/bin/env bash
# Runs every fuzz target under libFuzzer (cargo-fuzz). By default a short, deterministic
# smoke run (fixed seed, FUZZ_RUNS inputs each) for `npm test`; `npm run fuzz` sets
# FUZZ_SECONDS for a longer, randomly seeded run of each target.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# cargo-fuzz passes -Z flags to rustc; these machines have only stable Rust, which
# accepts them when bootstrapping is allowed.
export RUSTC_BOOTSTRAP=1
targets=(sse tool_args import_doc ids audit_log)
for t in "${targets[@]}"; do
  if [ -n "${FUZZ_SECONDS:-}" ]; then
    args=(-max_total_time="$FUZZ_SECONDS")
  else
    args=(-seed=1 -runs="${FUZZ_RUNS:-20000}")
  fi
  log="fuzz/target/$t.log"
  mkdir -p fuzz/target
  if cargo fuzz run --sanitizer none "$t" -- -max_len=4096 "${args[@]}" >"$log" 2>&1; then
    echo "fuzz: $t: $(grep -E '^Done [0-9]+ runs' "$log" | tail -1)"
  else
    tail -40 "$log" >&2
    echo "fuzz: $t FAILED (full output: $log)" >&2
    exit 1
  fi
done
echo "fuzz: ${#targets[@]} targets, no crash"
