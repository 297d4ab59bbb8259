#!/usr/bin/env bash
# Runs every check mirrorcap has: system set-up (packages, hugepages when root), rustfmt,
# clippy with warnings as errors, unit + integration tests (cargo-nextest: one process per
# test, which real-DPDK tests need since the EAL initialises once per process), doc tests
# (including the compile_fail checks of the teardown order), and a short fuzz smoke of every
# cargo-fuzz target (FUZZ_SECONDS per target, default 15; 0 skips it), and under CI the AMI's
# provisioning in a fresh Debian 13 chroot (scripts/check-ami-provision.sh, ~3 minutes).
# Usage: scripts/test.sh [extra nextest args]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== rustfmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings -D clippy::undocumented_unsafe_blocks
# The reading build (no DPDK, tests/no_dpdk_build.rs runs it) is linted too, so what the
# `dpdk` feature leaves out never leaves warnings behind.
cargo clippy --locked --no-default-features --lib --bin mirrorcap --target-dir target/no-dpdk -- -D warnings
echo "== doc tests"
cargo test --workspace --doc --locked
if [[ ${FUZZ_SECONDS:-15} -gt 0 ]]; then
  echo "== fuzz smoke"
  scripts/fuzz.sh "${FUZZ_SECONDS:-15}"
fi
# ami/provision.sh for real in a fresh Debian 13 chroot (debootstrap + DPDK 24.11 + release
# build + self-test): about 3 minutes, so CI runs it (CI=true, root); AMI_PROVISION=1 forces
# it elsewhere, AMI_PROVISION=0 skips it.
if [[ ${AMI_PROVISION:-$([[ ${CI:-} == true ]] && echo 1 || echo 0)} == 1 ]]; then
  echo "== AMI provisioning in a Debian 13 chroot"
  if [[ $(id -u) -eq 0 ]]; then
    scripts/check-ami-provision.sh
  else
    echo "skipped: scripts/check-ami-provision.sh needs root (debootstrap, chroot)"
  fi
else
  echo "== AMI provisioning: skipped (not CI; AMI_PROVISION=1 runs scripts/check-ami-provision.sh)"
fi
# The unit and integration tests last, so the run closes on nextest's summary.
echo "== tests"
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "cargo-nextest not found (real-DPDK tests need one process per test): installing it" >&2
  cargo install --locked cargo-nextest
fi
cargo nextest run --workspace --locked --no-fail-fast "$@"
