#!/usr/bin/env bash
# How closely `mirrorcap gen` holds a rate: gen over DPDK's net_null (which frees each packet
# it is given, so the generator's own pacing and frame building are all that is measured) at
# each RATE for SECONDS_PER_RUN, REPEATS times, with --report-json; prints target vs achieved
# packets per second and the error in percent (achieved over the run's own duration, from the
# queue's start to its last burst). `max` has no target: it reports the ceiling.
#
# Usage: scripts/bench-gen.sh                    (100kpps 1Mpps max, 10 s, 3 repeats, 64-byte inner)
#        RATES="100kpps 2Gbps" SECONDS_PER_RUN=5 REPEATS=5 INNER_SIZE=imix TX_QUEUES=1 scripts/bench-gen.sh
# Numbers are never asserted in tests (DESIGN.md §6).
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-100kpps 1Mpps max}
SECS=${SECONDS_PER_RUN:-10}
REPEATS=${REPEATS:-3}
INNER_SIZE=${INNER_SIZE:-64}
TX_QUEUES=${TX_QUEUES:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --locked -q
bin=${CARGO_TARGET_DIR:-target}/release/mirrorcap

printf '%-10s %-3s %14s %14s %9s %10s %8s\n' rate run target_pps achieved_pps error_% Gbit/s retries
for rate in $RATES; do
  for ((r = 1; r <= REPEATS; r++)); do
    json=$work/$rate-$r.json
    "$bin" gen --vdev net_null0 --rate "$rate" --duration "${SECS}s" --inner-size "$INNER_SIZE" \
      --tx-queues "$TX_QUEUES" --progress 0 --report-json "$json" 2>"$work/err" || {
      cat "$work/err" >&2
      exit 1
    }
    jq -r --arg rate "$rate" --arg run "$r" '
      (if .target.kind == "pps" then .target.value
       elif .target.kind == "bps" then .target.value / (.wire_bits / .sent_packets)
       else null end) as $t
      | [$rate, $run,
         (if $t == null then "-" else ($t | floor | tostring) end),
         (.achieved_pps | floor | tostring),
         (if $t == null then "-" else ((.achieved_pps - $t) / $t * 100 * 1000 | round / 1000 | tostring) end),
         (.achieved_bps / 1e9 * 1000 | round / 1000 | tostring),
         (.tx_retries | tostring)]
      | @tsv' "$json" | awk -F'\t' '{ printf "%-10s %-3s %14s %14s %9s %10s %8s\n", $1, $2, $3, $4, $5, $6, $7 }'
  done
done
