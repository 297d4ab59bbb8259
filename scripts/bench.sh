#!/usr/bin/env bash
# Throughput of `mirrorcap run` next to the bare-RX ceiling (dpdk-testpmd --forward-mode=rxonly)
# on the same net_pcap infinite_rx vdev (one rx_pcap per queue), measured back to back in one
# run so the ratio holds on a noisy machine. For each inner frame size and worker count, each
# pair is repeated REPEATS times (plus a run with a session filter keeping half the packets); the table gives the median and the range, Mpps and Gbit/s of
# inner frames, the ratio to the ceiling, and mirrorcap's RX-to-commit latency per packet
# (p50/p99/p99.9 from its hdrhistogram, printed when it stops).
# With STORE_DIR set, each repeat also runs mirrorcap with its store in STORE_DIR/mirrorcap-bench
# (on the disk to measure; emptied before each run), so the table gives the ring's throughput with the
# store on next to the store-off run of the same repeats (scripts/bench-store.sh does this).
# Writes bench/results/<UTC time>.md and .json.
#
# Usage: scripts/bench.sh                      (64 512 1500 9001-byte inner frames, 1 and 2 workers, 3 repeats)
#        SIZES="64 1500" WORKERS="1" SECONDS_PER_RUN=8 REPEATS=5 scripts/bench.sh
#        HALF=0 (skip the half-filter runs)  STORE_DIR=/mnt/disk/bench STORE_COMPRESS=zstd|none STORE_SIZE=2GiB
# Ring on tmpfs (/dev/shm). Needs root for hugepages (falls back to --no-huge otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-64 512 1500 9001}
WORKERS=${WORKERS:-1 2}
REPEATS=${REPEATS:-3}
SECS=${SECONDS_PER_RUN:-6}
WARMUP=2
PORT=${BENCH_METRICS_PORT:-9391}
HALF=${HALF:-1}
STORE_DIR=${STORE_DIR:-}
STORE_COMPRESS=${STORE_COMPRESS:-zstd}
STORE_SIZE=${STORE_SIZE:-2GiB}
work=$(mktemp -d /dev/shm/mirrorcap-bench.XXXXXX)
trap 'rm -rf "$work" ${STORE_DIR:+"$STORE_DIR/mirrorcap-bench"}' EXIT

scripts/setup.sh >/dev/null 2>&1 || true
cargo build --release --locked -q
bin=target/release/mirrorcap
cpus=$(nproc)

eal_mem=(--in-memory)
[[ $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0) -gt 300 ]] || eal_mem=(--no-huge -m 2048 --no-shconf)

# The vdev: one rx_pcap (one RX queue) per worker.
vdev() {
  local pcap=$1 n=$2 v="net_pcap0" i
  for ((i = 0; i < n; i++)); do v+=",rx_pcap=$pcap"; done
  echo "$v,infinite_rx=1"
}

# lcore i on CPU i mod cpus: the main lcore shares a CPU with the last worker when there are
# fewer CPUs than lcores (it sleeps most of the time); the same map for both programs.
lcores() {
  local n=$1 l out=""
  for ((l = 0; l <= n; l++)); do out+="${out:+,}$l@$((l % cpus))"; done
  echo "$out"
}

# testpmd's Rx-pps lines after the warm-up, averaged
ceiling() {
  local pcap=$1 n=$2
  timeout -s INT $((SECS + WARMUP + 1)) dpdk-testpmd --lcores "$(lcores "$n")" --no-pci "${eal_mem[@]}" --log-level=4 \
    --vdev "$(vdev "$pcap" "$n")" -- --forward-mode=rxonly --stats-period 1 \
    --nb-cores="$n" --rxq="$n" --txq="$n" --mbuf-size=10240 --total-num-mbufs=$((16384 * n)) 2>/dev/null |
    awk -v skip="$WARMUP" '/Rx-pps:/ && !/Accumulated/ { n++; if (n > skip) { s += $2; k++ } } END { if (k) printf "%.0f", s / k; else print 0 }' ||
    true # timeout's exit status 124 is how testpmd is stopped
}

scrape() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^mirrorcap_rx_packets_total/ { s += $2 } END { printf "%.0f", s }'; }

# A session filter that keeps half the generated packets (their inner UDP source ports are
# 10000 + flow, flows 0-63).
printf '[default]\nfilter = "udp src portrange 10000-10031"\n' >"$work/half.toml"

# mirrorcap's received packets/s from two scrapes SECS apart, after the warm-up, then its
# latency percentiles and maximum (ns): "PPS P50 P99 P999 MAX". A third argument "half" runs
# with the filter, "store" with the store in STORE_DIR.
appliance() {
  local pcap=$1 n=$2 cfg=()
  [[ ${3:-} == half ]] && cfg=(--config "$work/half.toml")
  [[ ${3:-} == store ]] && cfg=(--store-dir "$STORE_DIR/mirrorcap-bench" --store-compress "$STORE_COMPRESS" --store-size "$STORE_SIZE")
  rm -rf "$work/ring"
  [[ -z $STORE_DIR ]] || rm -rf "$STORE_DIR/mirrorcap-bench"
  "$bin" run "${cfg[@]}" --vdev "$(vdev "$pcap" "$n")" --workers "$n" --ring-dir "$work/ring" \
    --segment-size 64MiB --segments 8 --metrics-addr "127.0.0.1:$PORT" 2>"$work/run.err" &
  local pid=$!
  sleep "$WARMUP"
  local a t0 b t1
  a=$(scrape); t0=$(date +%s.%N)
  sleep "$SECS"
  b=$(scrape); t1=$(date +%s.%N)
  kill -INT "$pid"; wait "$pid" || { cat "$work/run.err" >&2; return 1; }
  local lat
  lat=$(sed -n 's/.*latency RX to commit per packet: p50 \([0-9]*\) ns, p99 \([0-9]*\) ns, p99.9 \([0-9]*\) ns, max \([0-9]*\) ns.*/\1 \2 \3 \4/p' "$work/run.err")
  awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" -v lat="${lat:-0 0 0 0}" 'BEGIN { printf "%.0f %s", (b - a) / (t1 - t0), lat }'
}

median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
minmax() { tr ' ' '\n' | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }
join() { local IFS=,; echo "$*"; }

stamp=$(date -u +%Y%m%dT%H%M%SZ)
md=bench/results/$stamp.md
json=bench/results/$stamp.json
mkdir -p bench/results
store_col="" store_sep=""
if [[ -n $STORE_DIR ]]; then
  store_col=" with the store: Mpps, vs store off | with the store: latency p99.9 / max (µs) |"
  store_sep="---|---|"
fi
{
  echo "# mirrorcap bench $stamp"
  echo
  echo "host: $cpus cores, $(awk '/model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//'); DPDK $(pkg-config --modversion libdpdk); ring on tmpfs; ${SECS}s per run, ${REPEATS} repeats (median, min-max)"
  [[ -z $STORE_DIR ]] || echo "store: --store-dir $STORE_DIR/mirrorcap-bench ($(findmnt -no FSTYPE,SOURCE -T "$STORE_DIR" | tr -s ' ')) --store-compress $STORE_COMPRESS --store-size $STORE_SIZE, one run per repeat after the store-off run"
  echo
  echo "| inner bytes | workers | ceiling Mpps | mirrorcap Mpps | mirrorcap Gbit/s (inner) | ratio | latency p50 / p99 / p99.9 (µs) | BPF keeping half |$store_col"
  echo "|---:|---:|---:|---:|---:|---:|---:|---|$store_sep"
} >"$md"
echo "[" >"$json"
first=1
declare -A one_worker
for size in $SIZES; do
  pcap=$work/in-$size.pcap
  "$bin" gen -w "$pcap" --count 1024 --inner-size "$size" --vni 100 2>/dev/null
  wire=$((size + 50))
  for n in $WORKERS; do
    cs=() ms=() rs=() p50s=() p99s=() p999s=() maxs=() hs=() ss=() s999s=() smaxs=()
    for ((r = 1; r <= REPEATS; r++)); do
      c=$(ceiling "$pcap" "$n")
      read -r m p50 p99 p999 mx <<<"$(appliance "$pcap" "$n")"
      h=0
      [[ $HALF == 0 ]] || read -r h _ <<<"$(appliance "$pcap" "$n" half)"
      sm="" s999="" smax=""
      [[ -z $STORE_DIR ]] || read -r sm _ _ s999 smax <<<"$(appliance "$pcap" "$n" store)"
      ratio=$(awk -v m="$m" -v c="$c" 'BEGIN { printf "%.3f", (c > 0) ? m / c : 0 }')
      echo "size $size workers $n repeat $r: ceiling $c pps, mirrorcap $m pps, ratio $ratio, with the half filter $h pps, latency p50 $p50 p99 $p99 p99.9 $p999 max $mx ns${STORE_DIR:+, with the store $sm pps, latency p99.9 $s999 max $smax ns}" >&2
      cs+=("$c"); ms+=("$m"); rs+=("$ratio"); p50s+=("$p50"); p99s+=("$p99"); p999s+=("$p999"); maxs+=("$mx"); hs+=("$h")
      [[ -z $STORE_DIR ]] || { ss+=("$sm"); s999s+=("$s999"); smaxs+=("$smax"); }
    done
    cmed=$(echo "${cs[*]}" | median); mmed=$(echo "${ms[*]}" | median); rmed=$(echo "${rs[*]}" | median)
    crange=$(echo "${cs[*]}" | minmax); mrange=$(echo "${ms[*]}" | minmax); rrange=$(echo "${rs[*]}" | minmax)
    hmed=$(echo "${hs[*]}" | median)
    l50=$(echo "${p50s[*]}" | median); l99=$(echo "${p99s[*]}" | median); l999=$(echo "${p999s[*]}" | median)
    [[ $n -eq 1 ]] && one_worker[$size]=$mmed
    scale=""
    if [[ $n -gt 1 && -n ${one_worker[$size]:-} ]]; then
      scale=$(awk -v m="$mmed" -v o="${one_worker[$size]}" -v n="$n" 'BEGIN { printf " (%.2fx 1 worker)", (o > 0) ? m / o : 0 }')
    fi
    store_cell=""
    if [[ -n $STORE_DIR ]]; then
      store_cell=$(awk -v m="$(echo "${ss[*]}" | median)" -v r="$(echo "${ss[*]}" | minmax)" -v off="$mmed" \
        -v l="$(echo "${s999s[*]}" | median)" -v x="$(echo "${smaxs[*]}" | minmax)" 'BEGIN {
        split(r, a, "-"); split(x, b, "-");
        printf " %.2f (%.2f-%.2f), %.3f | %.1f / %.1f-%.1f |", m/1e6, a[1]/1e6, a[2]/1e6, (off > 0) ? m / off : 0, l/1e3, b[1]/1e3, b[2]/1e3 }')
    fi
    awk -v s="$size" -v n="$n" -v c="$cmed" -v m="$mmed" -v r="$rmed" -v cr="$crange" -v mr="$mrange" -v rr="$rrange" \
      -v l50="$l50" -v l99="$l99" -v l999="$l999" -v scale="$scale" -v h="$hmed" -v half="$HALF" -v st="$store_cell" 'BEGIN {
      split(cr, a, "-"); split(mr, b, "-");
      hc = half ? sprintf("%.2f Mpps, ratio %.3f", h/1e6, (c > 0) ? h / c : 0) : "-";
      printf "| %d | %d | %.2f (%.2f-%.2f) | %.2f (%.2f-%.2f)%s | %.2f | %s (%s) | %.1f / %.1f / %.1f | %s |%s\n",
        s, n, c/1e6, a[1]/1e6, a[2]/1e6, m/1e6, b[1]/1e6, b[2]/1e6, scale, m*s*8/1e9, r, rr, l50/1e3, l99/1e3, l999/1e3, hc, st }' >>"$md"
    [[ $first -eq 1 ]] || echo "," >>"$json"
    first=0
    store_json=""
    [[ -z $STORE_DIR ]] || store_json=$(printf ', "store": {"dir": "%s", "compress": "%s", "pps": [%s], "latency_ns": {"p99_9": [%s], "max": [%s]}}' \
      "$STORE_DIR" "$STORE_COMPRESS" "$(join "${ss[@]}")" "$(join "${s999s[@]}")" "$(join "${smaxs[@]}")")
    printf '  {"inner_bytes": %d, "wire_bytes": %d, "workers": %d, "ceiling_pps": [%s], "mirrorcap_pps": [%s], "ratio": [%s], "half_filter_pps": [%s], "latency_ns": {"p50": [%s], "p99": [%s], "p99_9": [%s], "max": [%s]}%s}' \
      "$size" "$wire" "$n" "$(join "${cs[@]}")" "$(join "${ms[@]}")" "$(join "${rs[@]}")" "$(join "${hs[@]}")" \
      "$(join "${p50s[@]}")" "$(join "${p99s[@]}")" "$(join "${p999s[@]}")" "$(join "${maxs[@]}")" "$store_json" >>"$json"
  done
done
printf '\n]\n' >>"$json"
cat "$md"
echo "written: $md $json" >&2
