#!/usr/bin/env bash
# Fuzzes the header views, the decapsulator, the config and ring readers and the flow index
# (index bytes, tcpdump expressions, frames for its builder) and the flow records reader with cargo-fuzz (libFuzzer), seeded from the
# third-party captures in ../shared/testdata/pcaps and generated mirror traffic.
# Usage: scripts/fuzz.sh [SECONDS per target, default 60] [TARGET ...]   (targets: wire decap config ring index flows)
# The stable toolchain is used with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs -Z flags).
# Findings land in fuzz/artifacts/<target>/; the script exits 1 if any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(wire decap config ring index flows)

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
cargo run -q --example fuzz_seeds -- "$seeds" ../shared/testdata/pcaps/*.pcap ../shared/testdata/pcaps/*.pcapng 2>&1 | tail -1
status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  cp -n "$seeds"/* "fuzz/corpus/$t/" 2>/dev/null || true
  log=$(mktemp)
  if cargo fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see fuzz/artifacts/$t/)"
    status=1
  fi
  execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
  speed=$(awk '/stat::average_exec_per_sec/ { print $2 }' "$log")
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  echo "fuzz $t: ${secs}s, ${execs:-?} executions (${speed:-?}/s), $cov, corpus $(find "fuzz/corpus/$t" -type f | wc -l) inputs: $result"
  [[ $result == ok ]] || tail -40 "$log"
  rm -f "$log"
done
exit $status
