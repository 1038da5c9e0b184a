#!/usr/bin/env bash
# Model-checks Spectrum's lock-free structures and state machines with loom.
#
# Runs each crate's in-crate loom tests (`cargo test --lib -- loom`) and any integration test
# file named `tests/loom*.rs`, all built with `--cfg loom`. Preemptions are bounded (3 unless
# LOOM_MAX_PREEMPTIONS says otherwise) so the suite stays within CI's budget on two cores; a
# separate target dir keeps the cfg(loom) build apart from the normal one.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}/loom"
for dir in crates/*/; do
  manifest="$dir/Cargo.toml"
  [ -f "$manifest" ] || continue
  name=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)
  has_lib_loom=$(grep -rl "cfg(all(test, loom))" "$dir/src" 2>/dev/null | head -1 || true)
  tests=()
  for t in "$dir"/tests/loom*.rs; do
    [ -f "$t" ] && tests+=(--test "$(basename "$t" .rs)")
  done
  if [ -n "$has_lib_loom" ]; then
    echo "-- loom: $name (lib)"
    cargo test --release -p "$name" --lib -- loom
  fi
  if [ ${#tests[@]} -gt 0 ]; then
    echo "-- loom: $name (${tests[*]})"
    cargo test --release -p "$name" "${tests[@]}"
  fi
done
