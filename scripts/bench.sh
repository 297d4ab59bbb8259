#!/usr/bin/env bash
# Throughput of `mirrorcap run` next to the bare-RX ceiling (dpdk-testpmd --forward-mode=rxonly)
# on the same net_pcap infinite_rx vdev, measured back to back in one run so the ratio holds
# on a noisy machine. Each point is repeated REPEATS times; the table gives median and range.
# Writes bench/results/<UTC time>.md and .json.
#
# Usage: scripts/bench.sh                      (64-byte inner frames, 1 worker, 3 repeats)
#        SIZES="64 512 1500 9000" SECONDS_PER_RUN=8 REPEATS=5 scripts/bench.sh
# Ring on tmpfs (/dev/shm). Needs root for hugepages (falls back to --no-huge otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-64}
REPEATS=${REPEATS:-3}
SECS=${SECONDS_PER_RUN:-6}
WARMUP=2
PORT=${BENCH_METRICS_PORT:-9391}
work=$(mktemp -d /dev/shm/mirrorcap-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

scripts/setup.sh >/dev/null 2>&1 || true
cargo build --release --locked -q
bin=target/release/mirrorcap

eal_mem=(--in-memory)
[[ $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0) -gt 200 ]] || eal_mem=(--no-huge -m 1024 --no-shconf)

# testpmd's Rx-pps lines after the warm-up, averaged
ceiling() {
  local pcap=$1
  timeout -s INT $((SECS + WARMUP + 1)) dpdk-testpmd -l 0,1 --no-pci "${eal_mem[@]}" --log-level=4 \
    --vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" -- --forward-mode=rxonly --stats-period 1 \
    --nb-cores=1 --total-num-mbufs=16384 2>/dev/null |
    awk -v skip="$WARMUP" '/Rx-pps:/ { n++; if (n > skip) { s += $2; k++ } } END { if (k) printf "%.0f", s / k; else print 0 }' ||
    true # timeout's exit status 124 is how testpmd is stopped
}

scrape() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^mirrorcap_rx_packets_total/ { s += $2 } END { printf "%.0f", s }'; }

# mirrorcap's received packets/s from two scrapes SECS apart, after the warm-up
appliance() {
  local pcap=$1
  rm -rf "$work/ring"
  "$bin" run --vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" --ring-dir "$work/ring" \
    --segment-size 64MiB --segments 8 --metrics-addr "127.0.0.1:$PORT" 2>"$work/run.err" &
  local pid=$!
  sleep "$WARMUP"
  local a t0 b t1
  a=$(scrape); t0=$(date +%s.%N)
  sleep "$SECS"
  b=$(scrape); t1=$(date +%s.%N)
  kill -INT "$pid"; wait "$pid" || { cat "$work/run.err" >&2; return 1; }
  awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", (b - a) / (t1 - t0) }'
}

median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
minmax() { tr ' ' '\n' | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
md=bench/results/$stamp.md
json=bench/results/$stamp.json
{
  echo "# mirrorcap bench $stamp"
  echo
  echo "host: $(nproc) cores, $(awk '/model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//'); DPDK $(pkg-config --modversion libdpdk); ring on tmpfs; 1 worker; ${SECS}s per run, ${REPEATS} repeats (median, min-max)"
  echo
  echo "| inner bytes | wire bytes | ceiling Mpps | mirrorcap Mpps | mirrorcap Gbit/s (inner) | ratio |"
  echo "|---:|---:|---:|---:|---:|---:|"
} >"$md"
echo "[" >"$json"
first=1
for size in $SIZES; do
  pcap=$work/in-$size.pcap
  "$bin" gen -w "$pcap" --count 1024 --inner-size "$size" --vni 100 2>/dev/null
  wire=$((size + 50))
  cs=() ms=() rs=()
  for ((r = 1; r <= REPEATS; r++)); do
    c=$(ceiling "$pcap"); m=$(appliance "$pcap")
    ratio=$(awk -v m="$m" -v c="$c" 'BEGIN { printf "%.3f", (c > 0) ? m / c : 0 }')
    echo "size $size repeat $r: ceiling $c pps, mirrorcap $m pps, ratio $ratio" >&2
    cs+=("$c"); ms+=("$m"); rs+=("$ratio")
  done
  cmed=$(echo "${cs[*]}" | median); mmed=$(echo "${ms[*]}" | median); rmed=$(echo "${rs[*]}" | median)
  crange=$(echo "${cs[*]}" | minmax); mrange=$(echo "${ms[*]}" | minmax); rrange=$(echo "${rs[*]}" | minmax)
  awk -v s="$size" -v w="$wire" -v c="$cmed" -v m="$mmed" -v r="$rmed" -v cr="$crange" -v mr="$mrange" -v rr="$rrange" 'BEGIN {
    split(cr, a, "-"); split(mr, b, "-");
    printf "| %d | %d | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f) | %.2f | %s (%s) |\n", s, w, c/1e6, a[1]/1e6, a[2]/1e6, m/1e6, b[1]/1e6, b[2]/1e6, m*s*8/1e9, r, rr }' >>"$md"
  [[ $first -eq 1 ]] || echo "," >>"$json"
  first=0
  printf '  {"inner_bytes": %d, "wire_bytes": %d, "workers": 1, "ceiling_pps": [%s], "mirrorcap_pps": [%s], "ratio": [%s]}' \
    "$size" "$wire" "$(IFS=,; echo "${cs[*]}")" "$(IFS=,; echo "${ms[*]}")" "$(IFS=,; echo "${rs[*]}")" >>"$json"
done
printf '\n]\n' >>"$json"
cat "$md"
echo "written: $md $json" >&2
