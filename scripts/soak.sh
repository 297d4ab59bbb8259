#!/usr/bin/env bash
# The long soak: two workers at full speed for SECONDS (default 1800) on net_pcap, the ring
# overwriting many times; the checks are tests/soak_e2e.rs's (CI runs it for 60 s). Writes
# the report to bench/results/soak-<UTC time>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-1800}
mkdir -p bench/results
report=$PWD/bench/results/soak-$(date -u +%Y%m%dT%H%M%SZ).txt
MIRRORCAP_SOAK_SECS=$secs MIRRORCAP_SOAK_REPORT=$report \
  cargo nextest run --release --test soak_e2e --no-capture
cat "$report"
