#!/usr/bin/env bash
# Runs every check mirrorcap has: system set-up (packages, hugepages when root), rustfmt,
# clippy with warnings as errors, unit + integration tests (cargo-nextest: one process per
# test, which real-DPDK tests need since the EAL initialises once per process), doc tests
# (including the compile_fail checks of the teardown order), and a short fuzz smoke of every
# cargo-fuzz target (FUZZ_SECONDS per target, default 15; 0 skips it).
# Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast "$@"
else
  echo "cargo-nextest not found: running each test binary's tests one per process is not possible; installing it" >&2
  cargo install --locked cargo-nextest
  cargo nextest run --locked --no-fail-fast "$@"
fi
echo "== doc tests"
cargo test --doc --locked
if [[ ${FUZZ_SECONDS:-15} -gt 0 ]]; then
  echo "== fuzz smoke"
  scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
fi
