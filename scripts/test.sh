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
echo "== doc tests"
cargo test --doc --locked
if [[ ${FUZZ_SECONDS:-15} -gt 0 ]]; then
  echo "== fuzz smoke"
  scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
fi
# The unit and integration tests last, so the run closes on nextest's summary.
echo "== tests"
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "cargo-nextest not found (real-DPDK tests need one process per test): installing it" >&2
  cargo install --locked cargo-nextest
fi
cargo nextest run --locked --no-fail-fast "$@"
