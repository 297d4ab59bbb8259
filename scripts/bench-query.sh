#!/usr/bin/env bash
# mirrorcap query against the way without an index (a full export piped to tcpdump), over a ring
# and a store made in the same run (docs/index.md):
#  1. `mirrorcap gen -w` writes N mirrored packets (many flows, three VNIs, mixed sizes);
#     `mirrorcap run` replays them through net_pcap into a ring on tmpfs and a store (zstd, flow
#     index on) on LOOP_DIR's disk.
#  2. For each expression (one flow, one host, one port, a /24, a negation, a VNI): the time of
#     `mirrorcap query RING STORE EXPR` and of `mirrorcap export RING STORE | tcpdump -r - EXPR`,
#     cold (page cache dropped before each) and warm (best of 3), the blocks the query read, and
#     whether both outputs are byte for byte the same (they must be).
#  3. The flow index's size against the bytes stored (aim: at most 1 %).
#  4. `mirrorcap flows RING STORE --top 10` (from the flow records), cold and warm, and the flow
#     records' size and rows.
# Writes bench/results/query-<UTC time>.md. Root (drop_caches); nothing leaves this machine.
#
# Usage: scripts/bench-query.sh            (about 3 minutes)
# Env: PACKETS (2000000), FLOWS (50000, gen's most), LOOP_DIR (/var/tmp), WARM_REPEATS (3),
#      COMPRESS (zstd; none stores gen's very compressible payload as it is, so the store's
#      bytes on disk are the captured bytes: the honest size for a 10 GB run),
#      INNER_SIZE (60-1400), CHUNKS (1) runs of PACKETS / CHUNKS into the same ring and store,
#      RING_SEGMENTS (8) of 64 MiB: make it hold a chunk, or net_pcap's replay laps the store.
#      Each chunk's pcap is deleted once replayed. For the issue's 10 GB:
#      PACKETS=15000000 CHUNKS=5 RING_SEGMENTS=48 COMPRESS=none (about 15 minutes, 11 GB of disk
#      and 3 GB of tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
PACKETS=${PACKETS:-2000000}
FLOWS=${FLOWS:-50000}
LOOP_DIR=${LOOP_DIR:-/var/tmp}
WARM_REPEATS=${WARM_REPEATS:-3}
COMPRESS=${COMPRESS:-zstd}
INNER_SIZE=${INNER_SIZE:-60-1400}
CHUNKS=${CHUNKS:-1}
RING_SEGMENTS=${RING_SEGMENTS:-8}

log() { echo "bench-query: $*" >&2; }
die() {
  echo "bench-query: error: $*" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || die "needs root (drop_caches)"
for t in tcpdump cmp; do command -v "$t" >/dev/null || die "needs $t"; done

nice -n 19 cargo build --release --locked -q
bin=$PWD/target/release/mirrorcap
work=$(mktemp -d "$LOOP_DIR/mirrorcap-bench-query.XXXXXX")
ring=$(mktemp -d /dev/shm/mirrorcap-bench-query.XXXXXX)
trap 'rm -rf "$work" "$ring" "/var/run/dpdk/mcbq-$$"' EXIT
trap 'exit 130' INT TERM

# CHUNKS runs of PACKETS / CHUNKS packets each into the same ring and store: a ring that holds
# a whole chunk is never lapped by net_pcap's replay (which outruns any disk), so the store
# gets every packet; the chunk files are made and deleted one at a time.
per=$((PACKETS / CHUNKS))
store_lines=()
for ((c = 1; c <= CHUNKS; c++)); do
  log "gen: chunk $c of $CHUNKS: $per packets, $FLOWS flows"
  "$bin" gen -w "$work/gen.pcap" --count "$per" --flows "$FLOWS" --vni 100 --vni 200 --vni 300 \
    --inner-size "$INNER_SIZE" --seed "$c" 2>"$work/gen.err" || die "gen failed: $(tail -1 "$work/gen.err")"
  log "run: replay into ring ($ring) and store ($work/store)"
  "$bin" run --vdev "net_pcap0,rx_pcap=$work/gen.pcap" --ring-dir "$ring" --segments "$RING_SEGMENTS" \
    --segment-size 64MiB --store-dir "$work/store" --store-compress "$COMPRESS" --store-min-free 0 \
    --exit-when-idle 3s --metrics-addr 127.0.0.1:0 -- --no-huge -m 2048 --file-prefix "mcbq-$$" \
    2>"$work/run.log" || die "run failed: $(tail -3 "$work/run.log")"
  store_lines+=("$(grep "store worker 0:" "$work/run.log" | head -1)")
  log "${store_lines[-1]}"
  rm -f "$work/gen.pcap" # as large as the store's share: the disk space goes to the store
done
# An inner flow of the traffic: the 5-tuple of a packet from the middle of the export.
"$bin" export "$ring" "$work/store" -w "$work/all.pcap" 2>"$work/export.err"
total=$(awk '/exported/ { print $3; exit }' "$work/export.err")
read -r src sport dst dport < <(tcpdump -nr "$work/all.pcap" -c $((total / 2)) udp 2>/dev/null | tail -1 |
  awk '{ split($3, a, "."); split($5, b, "."); sub(/:$/, "", b[5]); print a[1]"."a[2]"."a[3]"."a[4], a[5], b[1]"."b[2]"."b[3]"."b[4], b[5] }')
[[ -n ${dport:-} ]] || die "no UDP packet found in the export"
net=${src%.*}.0/24
exprs=("host $src and udp port $sport and host $dst and udp port $dport" "host $src" "udp port $dport"
  "net $net" "not host $src")

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
secs() { # CMD...: wall seconds of CMD (stdout and stderr to files in $work)
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/cmd.out" 2>"$work/cmd.err"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
# Timed runs write to /dev/null (a broad query's output is as large as the store: two of them
# filled the disk of a 10 GB run); the outputs are compared as streams (cmp) in an untimed run.
q() { "$bin" query "$ring" "$work/store" "$@" -w /dev/null; }
qs() { "$bin" query "$ring" "$work/store" "$@" -w - 2>/dev/null; }
t() { # EXPR [--vni N]: the export and tcpdump way
  local e=$1
  shift
  ts "$e" "$@" >/dev/null
}
ts() {
  local e=$1
  shift
  "$bin" export "$ring" "$work/store" "$@" -w - 2>/dev/null |
    tcpdump --time-stamp-precision=nano -r - -w - "$e" 2>/dev/null
}
best() { # N CMD...: the lowest of N warm runs
  local n=$1 b="" x i
  shift
  for ((i = 0; i < n; i++)); do
    x=$(secs "$@")
    if [[ -z $b ]] || awk -v x="$x" -v b="$b" 'BEGIN { exit !(x < b) }'; then b=$x; fi
  done
  echo "$b"
}

rows=()
run_one() { # LABEL EXPR [ARGS...]
  local label=$1 e=$2 qc qw tc tw same blocks
  shift 2
  drop
  qc=$(secs q "$e" "$@")
  blocks=$(grep -o 'read [0-9]* of [0-9]* store block(s)' "$work/cmd.err" | head -1 || true)
  qw=$(best "$WARM_REPEATS" q "$e" "$@")
  drop
  tc=$(secs t "$e" "$@")
  tw=$(best "$WARM_REPEATS" t "$e" "$@")
  if cmp -s <(qs "$e" "$@") <(ts "$e" "$@"); then same=yes; else same=NO; fi
  log "$label: query $qc s cold / $qw s warm ($blocks); export|tcpdump $tc / $tw s; identical: $same"
  rows+=("| \`$e\`${*:+ $*} | $label | $qc | $qw | $tc | $tw | ${blocks#read } | $same |")
}
run_one "one flow" "${exprs[0]}"
run_one "one host" "${exprs[1]}"
run_one "one port" "${exprs[2]}"
run_one "a /24" "${exprs[3]}"
run_one "a negation (scan)" "${exprs[4]}"
run_one "one host in one VNI" "${exprs[1]}" --vni 200

fidx=$(find "$work/store" -name '*.fidx' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
data=$(find "$work/store" \( -name '*.pcap.zst' -o -name '*.pcap' \) -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
flows_bytes=$(find "$work/store" -name '*.flows.parquet' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
files=$(find "$work/store" -name '*.flows.parquet' | wc -l)
drop
flows_cold=$(secs "$bin" flows "$ring" "$work/store" --top 10)
flows_err=$(tail -1 "$work/cmd.err")
flows_warm=$(best "$WARM_REPEATS" "$bin" flows "$ring" "$work/store" --top 10)
flow_rows=$("$bin" flows "$work/store" --json 2>/dev/null | wc -l)
log "flows --top 10: $flows_cold s cold, $flows_warm s warm ($flows_err)"
captured=$(printf '%s\n' "${store_lines[@]}" | awk '{ for (i = 1; i <= NF; i++) if ($(i + 2) == "captured") s += $i * ($(i + 1) == "GiB" ? 1073741824 : 1048576) } END { printf "%.0f", s }')

mkdir -p bench/results
out=bench/results/query-$(date -u +%Y%m%dT%H%M%SZ).md
{
  echo "# mirrorcap query bench $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Made by \`scripts/bench-query.sh\` (PACKETS=$PACKETS FLOWS=$FLOWS WARM_REPEATS=$WARM_REPEATS). Host: $(nproc) CPUs, $(uname -r); store on $(findmnt -no FSTYPE,SOURCE -T "$work"). Timings are wall seconds of one process (query) or of the pipeline (export | tcpdump), never asserted in tests."
  echo
  echo "- traffic: \`mirrorcap gen -w --count $PACKETS --flows $FLOWS --vni 100 --vni 200 --vni 300 --inner-size $INNER_SIZE\` in $CHUNKS run(s) of $per packets (\`--seed\` 1..$CHUNKS), each replayed by \`mirrorcap run\` (net_pcap) into a ring of $RING_SEGMENTS x 64 MiB on tmpfs and a store ($COMPRESS, flow index and flow records on) on the disk"
  for l in "${store_lines[@]}"; do echo "- ${l#mirrorcap: }"; done
  echo "- export of ring + store: $total packets"
  echo "- flow records: $flows_bytes bytes in $files files = $(awk -v a="$flows_bytes" -v b="$captured" 'BEGIN { printf "%.2f", a / b * 100 }') % of the bytes stored (captured); $flow_rows flows over the store after merging files"
  echo "- \`mirrorcap flows RING STORE --top 10\`: $flows_cold s cold, $flows_warm s warm (${flows_err#mirrorcap: })"
  echo "- flow index: $fidx bytes = $(awk -v a="$fidx" -v b="$captured" 'BEGIN { printf "%.2f", a / b * 100 }') % of the $captured bytes stored (captured), $(awk -v a="$fidx" -v b="$data" 'BEGIN { printf "%.1f", a / b * 100 }') % of the data files"
  echo
  echo "| expression | what | query cold s | query warm s | export \\| tcpdump cold s | warm s | store blocks read | identical |"
  echo "|---|---|---:|---:|---:|---:|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$out"
log "written: $out"
cat "$out"
