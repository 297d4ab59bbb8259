#!/usr/bin/env bash
# The store soak (issue 16): `mirrorcap run --store-dir` for SECONDS (default 3600) at a paced
# rate far below the disk's bandwidth, sampled every 10 s. Passes when the store lag stays flat,
# no segment is overrun, and RSS and the mempool stay flat (first vs last 10 minutes; the
# tolerances are in the report). Writes bench/results/soak-store-<UTC time>.md and .csv.
#
# Usage: scripts/soak-store.sh [SECONDS] [PPS]          (root; default 3600 s at 15000 pps)
#
# Traffic: `mirrorcap gen -w` builds VXLAN mirror traffic once (a mix of inner sizes, two
# VNIs); `scripts/soak_store.py send` replays it in a loop on one end of a veth pair from an
# AF_PACKET socket, a burst every 5 ms then a sleep (cheap; not a second busy-polling DPDK
# process). The appliance runs in its own network namespace on the other end with
# net_af_packet, its worker pinned to CPU 1, its main lcore (and so the store and ring helper
# threads) on CPU 0, the sender on CPU 0. Ring on tmpfs, store on the root disk (ext4, O_DIRECT).
# Nothing leaves the two namespaces the script creates; they, the processes and the ring are
# removed on exit, Ctrl-C included.
#
# Environment (all optional):
#   SOAK_STORE_SIZE=1GiB  SOAK_SEGMENT_SIZE=8MiB  SOAK_SEGMENTS=16  SOAK_INTERVAL=10
#   SOAK_WINDOW=600 (seconds compared at each end; a third of the run when shorter)
#   SOAK_WARMUP=60 (seconds of traffic before the first sample)
#   SOAK_STORE_PARENT=/var/tmp  SOAK_BIN=path/to/mirrorcap (default: cargo build --release)
#   SOAK_KEEP=1 keeps the ring, the store and the export   SOAK_DONE_FILE=FILE touched on exit
#   SOAK_OUT=bench/results
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "soak-store: error: $*" >&2
  exit 2
}
log() { echo "soak-store: $(date -u +%H:%M:%S) $*" >&2; }

SECONDS_ASKED=${1:-3600}
PPS=${2:-15000}
[[ $SECONDS_ASKED =~ ^[0-9]+$ && $SECONDS_ASKED -ge 30 ]] || die "SECONDS: '$SECONDS_ASKED' is not a whole number >= 30"
[[ $PPS =~ ^[0-9]+$ && $PPS -ge 100 && $PPS -le 200000 ]] || die "PPS: '$PPS' is not 100-200000"
# gen's payload pattern compresses about 25x: 256 MiB on disk is ~6 GiB captured, ~9 minutes at
# 15 kpps, so retention deletes files for most of the hour.
STORE_SIZE=${SOAK_STORE_SIZE:-256MiB}
SEGMENT_SIZE=${SOAK_SEGMENT_SIZE:-8MiB}
SEGMENTS=${SOAK_SEGMENTS:-16}
INTERVAL=${SOAK_INTERVAL:-10}
WINDOW=${SOAK_WINDOW:-600}
WARMUP=${SOAK_WARMUP:-60}
STORE_PARENT=${SOAK_STORE_PARENT:-/var/tmp}
OUT_DIR=${SOAK_OUT:-bench/results}
PORT=9200 # inside the appliance's own namespace: no clash with anything outside it

[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, AF_PACKET)"
for t in ip curl capinfos zstdcat python3 taskset numfmt; do
  command -v "$t" >/dev/null || die "$t is not installed (scripts/setup.sh)"
done
((SECONDS_ASKED >= 3 * INTERVAL)) || die "SECONDS must cover at least three samples ($((3 * INTERVAL)) s)"

if [[ -z ${SOAK_BIN:-} ]]; then
  nice -n 19 cargo build --release --locked -q --bin mirrorcap || die "cargo build --release failed"
  BIN=${CARGO_TARGET_DIR:-target}/release/mirrorcap
else
  BIN=$SOAK_BIN
fi
[[ -x $BIN ]] || die "$BIN is not an executable"
BIN=$(realpath "$BIN")
PY=(python3 "$PWD/scripts/soak_store.py")

# ---- names and files -------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT_DIR"
OUT_DIR=$(realpath "$OUT_DIR")
MD=$OUT_DIR/soak-store-$STAMP.md
CSV=$OUT_DIR/soak-store-$STAMP.csv
ID=$$
NS_SRC=mcss-src-$ID NS_APP=mcss-app-$ID VETH_SRC=mcsss$ID VETH_APP=mcssa$ID
WORK=$(mktemp -d /dev/shm/mirrorcap-soak-store.XXXXXX)
RING=$WORK/ring
STORE=$STORE_PARENT/mirrorcap-soak-store-$STAMP
EXPORT=$STORE_PARENT/mirrorcap-soak-store-$STAMP.export.pcap
LOG=$WORK/appliance.log
APP_PID="" SENDER_PID=""

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  local rc=$?
  set +e
  if [[ -n $SENDER_PID ]]; then kill -INT "$SENDER_PID" 2>/dev/null; wait "$SENDER_PID" 2>/dev/null; fi
  if [[ -n $APP_PID ]] && kill -0 "$APP_PID" 2>/dev/null; then
    kill -INT "$APP_PID" 2>/dev/null
    for ((i = 0; i < 300; i++)); do kill -0 "$APP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$APP_PID" 2>/dev/null
    wait "$APP_PID" 2>/dev/null
  fi
  ip netns del "$NS_SRC" 2>/dev/null
  ip netns del "$NS_APP" 2>/dev/null
  if [[ -f $LOG && $rc -ne 0 ]]; then
    cp "$LOG" "$OUT_DIR/soak-store-$STAMP.appliance.log" 2>/dev/null
    log "appliance log kept: $OUT_DIR/soak-store-$STAMP.appliance.log"
  fi
  if [[ ${SOAK_KEEP:-0} == 1 ]]; then
    log "kept: ring $WORK, store $STORE"
  else
    rm -rf "$WORK" "$STORE" "$EXPORT"
  fi
  [[ -z ${SOAK_DONE_FILE:-} ]] || touch "$SOAK_DONE_FILE"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# ---- the traffic, built once -----------------------------------------------------------------
INPUT=$WORK/mirror.pcap
GEN_ARGS=(gen -w "$INPUT" --count 20000 --inner-size 60-1500 --vni 100 --vni 200 --flows 1000 --seed 7)
"$BIN" "${GEN_ARGS[@]}" 2>"$WORK/gen.log" || die "gen -w failed: $(cat "$WORK/gen.log")"
INPUT_FRAMES=$(capinfos -c -M "$INPUT" | awk -F: '/Number of packets/ { gsub(/ /, "", $2); print $2 }')
# net_af_packet slots hold the largest outer frame (1500 + 50 bytes of VXLAN) plus the
# TPACKET header; the veth's MTU the largest outer IP packet (as scripts/loadtest.sh).
FRAMESZ=2048 BLOCKSZ=4096 FRAMECNT=32768 MTU=1650

# ---- the disk --------------------------------------------------------------------------------
mkdir -p "$STORE"
STORE_FS=$(findmnt -no FSTYPE -T "$STORE")
# O_DIRECT sequential write bandwidth of the store's disk (256 MiB, 4 MiB writes), once.
DISK_BW=$(dd if=/dev/zero of="$STORE/.ddtest" bs=4M count=64 oflag=direct conv=fsync 2>&1 | awk -F, '/copied/ { print $NF }' | sed 's/^ *//')
rm -f "$STORE/.ddtest"
DISK_BW_MBS=$(awk -v s="$DISK_BW" 'BEGIN { split(s, a, " "); v = a[1]; u = a[2]; if (u ~ /^G/) v *= 1000; else if (u ~ /^k/) v /= 1000; print v }')
log "store disk ($STORE_FS): O_DIRECT write $DISK_BW"

# ---- namespaces and veth ---------------------------------------------------------------------
ip netns add "$NS_SRC"
ip netns add "$NS_APP"
ip link add "$VETH_SRC" type veth peer name "$VETH_APP"
ip link set "$VETH_SRC" netns "$NS_SRC"
ip link set "$VETH_APP" netns "$NS_APP"
for ns in "$NS_SRC" "$NS_APP"; do
  # No IPv6 (no neighbour discovery or MLD frames in the counts); no addresses at all: the
  # frames are only ever seen by the AF_PACKET sockets at the two ends.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
done
ip -n "$NS_SRC" link set "$VETH_SRC" address 02:6d:63:00:01:01 mtu "$MTU" up
ip -n "$NS_APP" link set "$VETH_APP" address 02:6d:63:00:01:02 mtu "$MTU" up

# ---- the appliance ---------------------------------------------------------------------------
FREE_HUGE=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
EAL_MEM=(--file-prefix "mcss-$ID")
((FREE_HUGE >= 256)) || EAL_MEM+=(--no-huge -m 1024)
LCORES=0@0,1@1
APP_CMD=("$BIN" run --vdev "net_af_packet0,iface=$VETH_APP,qpairs=1,framesz=$FRAMESZ,blocksz=$BLOCKSZ,framecnt=$FRAMECNT"
  --workers 1 --ring-dir "$RING" --segment-size "$SEGMENT_SIZE" --segments "$SEGMENTS"
  --store-dir "$STORE" --store-size "$STORE_SIZE" --store-compress zstd
  --metrics-addr "127.0.0.1:$PORT" --log-interval 5m -- --no-pci "${EAL_MEM[@]}" --lcores "$LCORES")
# exec: ip netns exec becomes the appliance, so $! is its pid (for /proc/PID/status).
ip netns exec "$NS_APP" "${APP_CMD[@]}" >"$LOG" 2>&1 &
APP_PID=$!
scrape() { ip netns exec "$NS_APP" curl -sf --max-time 5 "http://127.0.0.1:$PORT/metrics"; }
for ((i = 0; i < 120; i++)); do
  scrape >/dev/null 2>&1 && break
  kill -0 "$APP_PID" 2>/dev/null || die "the appliance exited at start: $(tail -3 "$LOG")"
  sleep 0.5
done
scrape >/dev/null || die "the appliance's metrics never answered (log: $LOG)"
[[ $(cat "/proc/$APP_PID/comm") == mirrorcap* ]] || die "pid $APP_PID is $(cat "/proc/$APP_PID/comm"), not the appliance"
log "appliance pid $APP_PID: ${APP_CMD[*]}"

# ---- the sender ------------------------------------------------------------------------------
SENDER_CPU=0
ip netns exec "$NS_SRC" taskset -c "$SENDER_CPU" "${PY[@]}" send --iface "$VETH_SRC" --pcap "$INPUT" --pps "$PPS" \
  --stats "$WORK/sender.stats" --pidfile "$WORK/sender.pid" 2>"$WORK/sender.log" &
SENDER_PID=$!
# The appliance receives: rx_packets moves within 10 s.
rx_now() { scrape | awk '/^mirrorcap_rx_packets_total/ { s += $NF } END { print s + 0 }'; }
for ((i = 0; i < 20; i++)); do
  sleep 0.5
  kill -0 "$SENDER_PID" 2>/dev/null || die "the sender exited: $(cat "$WORK/sender.log")"
  (($(rx_now) > 0)) && break
done
(($(rx_now) > 0)) || die "the appliance received nothing in 10 s (sender: $(cat "$WORK/sender.stats" 2>/dev/null))"
# Warm-up: the ring laps at least once (every segment mapped: 128 MiB in about 11 s at 15 kpps)
# and the store has stored a few segments before the first sample.
log "traffic flowing at $PPS pps; warm-up $WARMUP s, then sampling every $INTERVAL s for $SECONDS_ASKED s into $CSV"
sleep "$WARMUP"

# ---- sampling --------------------------------------------------------------------------------
sample() {
  scrape >"$WORK/now.prom" || { log "warning: a scrape failed"; return 0; }
  "${PY[@]}" sample --prom "$WORK/now.prom" --pid "$APP_PID" --t "$1" --csv "$CSV" \
    --sender-stats "$WORK/sender.stats" --sender-pidfile "$WORK/sender.pid" --store-dir "$STORE" \
    --veth-rx-dropped "$(ip netns exec "$NS_APP" cat "/sys/class/net/$VETH_APP/statistics/rx_dropped")"
}
T0_NS=$(date +%s%N)
# secs NS: nanoseconds as seconds with three decimals.
secs() { printf '%d.%03d' $(($1 / 1000000000)) $(($1 % 1000000000 / 1000000)); }
n=0
while true; do
  sample "$(secs $(($(date +%s%N) - T0_NS)))" >>"$WORK/samples.log"
  if ((n % 30 == 0)); then tail -1 "$WORK/samples.log" >&2; fi
  n=$((n + 1))
  kill -0 "$APP_PID" 2>/dev/null || die "the appliance died during the soak: $(tail -3 "$LOG")"
  kill -0 "$SENDER_PID" 2>/dev/null || die "the sender died during the soak: $(cat "$WORK/sender.log")"
  ((n * INTERVAL <= SECONDS_ASKED)) || break
  wait_ns=$((T0_NS + n * INTERVAL * 1000000000 - $(date +%s%N)))
  ((wait_ns <= 0)) || sleep "$(secs "$wait_ns")"
done

# ---- stop ------------------------------------------------------------------------------------
log "stopping the sender; the store drains"
kill -INT "$SENDER_PID"
wait "$SENDER_PID" || true
SENDER_PID=""
sleep 3
scrape >"$WORK/final.prom" || true
kill -INT "$APP_PID"
APP_RC=0
wait "$APP_PID" || APP_RC=$?
APP_PID=""
FINAL=$(grep -E '^mirrorcap: store worker' "$LOG" | tail -1 || true)
STOPLINE=$(grep -E 'received' "$LOG" | tail -1 || true)
log "appliance exit $APP_RC; $FINAL"

# ---- the stored data reads -------------------------------------------------------------------
TAIL=$WORK/readback.md
{
  echo "## The stored data reads"
  echo ""
  echo "Appliance exit status $APP_RC after SIGINT; its last lines:"
  echo ""
  echo '```'
  echo "$STOPLINE"
  echo "$FINAL"
  echo '```'
  echo ""
  # The whole timeline uncompressed: the store's captured bytes still on disk (its data bytes
  # times the compression ratio) plus the ring. Bounded to the last 10 minutes when that would
  # take more than half the free space.
  STORED_DATA=$(find "$STORE" -name '*.pcap.zst' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  RATIO=$(awk -v c="$(sed -n 's/^mirrorcap_store_bytes_total{.*kind="captured".* //p' "$WORK/final.prom" | head -1)" \
    -v d="$(sed -n 's/^mirrorcap_store_bytes_total{.*kind="disk".* //p' "$WORK/final.prom" | head -1)" \
    'BEGIN { print (d > 0 ? c / d : 1) }')
  NEED=$(awk -v s="$STORED_DATA" -v r="$RATIO" -v g="$(numfmt --from=iec-i --suffix=B "$SEGMENT_SIZE" | tr -d B)" -v n="$SEGMENTS" \
    'BEGIN { printf "%.0f", s * r + g * n }')
  FREE=$(($(df -k --output=avail "$STORE_PARENT" | tail -1) * 1024))
  RANGE=()
  if ((NEED > FREE / 2)); then RANGE=(--from -10m); fi
  echo "\`mirrorcap export RING STORE ${RANGE[*]:+${RANGE[*]} }-w out.pcap\` (ring and store as one timeline; about $((NEED >> 20)) MiB of pcap), then capinfos:"
  echo ""
  echo '```'
  if "$BIN" export "$RING" "$STORE" "${RANGE[@]}" -w "$EXPORT" 2>"$WORK/export.err"; then
    cat "$WORK/export.err"
    capinfos -c -u -a -e -M "$EXPORT" 2>&1 | sed "s|$EXPORT|out.pcap|"
  else
    echo "export FAILED: $(cat "$WORK/export.err")"
  fi
  echo '```'
  echo ""
  mapfile -t IDX < <(find "$STORE" -name '*.idx' | sort)
  echo "${#IDX[@]} store files left; the oldest, a middle one and the newest through \`zstdcat FILE | capinfos -\`:"
  echo ""
  echo '```'
  if ((${#IDX[@]} > 0)); then
    for k in 0 $((${#IDX[@]} / 2)) $((${#IDX[@]} - 1)); do
      f=${IDX[$k]%.idx}.pcap.zst
      echo "# $(basename "$(dirname "$f")")/$(basename "$f") ($(stat -c %s "$f") bytes)"
      zstdcat "$f" | capinfos -c -u -M - 2>&1 | grep -E 'Number of packets|Capture duration|File type|error' || echo "capinfos FAILED"
    done
  fi
  echo '```'
} >"$TAIL"
rm -f "$EXPORT"

# ---- the report ------------------------------------------------------------------------------
PARAMS=$WORK/params
{
  echo "stamp=$STAMP"
  echo "command=scripts/soak-store.sh $SECONDS_ASKED $PPS (SOAK_STORE_SIZE=$STORE_SIZE SOAK_SEGMENT_SIZE=$SEGMENT_SIZE SOAK_SEGMENTS=$SEGMENTS)"
  echo "seconds=$SECONDS_ASKED"
  echo "pps=$PPS"
  echo "host=$(nproc) CPUs, $(awk '/model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//'), kernel $(uname -r), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'), shared with other engineers' builds"
  echo "gen=mirrorcap ${GEN_ARGS[*]/$INPUT/mirror.pcap}"
  echo "input_frames=$INPUT_FRAMES"
  echo "tick_ms=5"
  echo "app=${APP_CMD[*]}"
  echo "ring_dir=$RING"
  echo "store_dir=$STORE"
  echo "store_fs=$STORE_FS"
  echo "store_size=$STORE_SIZE"
  echo "store_compress=zstd"
  echo "segment_bytes=$(numfmt --from=iec-i --suffix=B "$SEGMENT_SIZE" | tr -d B)"
  echo "segments=$SEGMENTS"
  echo "lcores=$LCORES"
  echo "sender_cpu=$SENDER_CPU"
  echo "interval=$INTERVAL"
  echo "warmup=$WARMUP"
  echo "disk_bw=$DISK_BW (dd 256 MiB, 4 MiB O_DIRECT writes, at start)"
  echo "disk_bw_mbs=$DISK_BW_MBS"
  echo "final=$FINAL"
} >"$PARAMS"
VERDICT_RC=0
"${PY[@]}" report --csv "$CSV" --md "$MD" --params "$PARAMS" --window "$WINDOW" --tail "$TAIL" || VERDICT_RC=$?
cat "$MD"
log "report: $MD"
((APP_RC == 0)) || die "the appliance exited with status $APP_RC"
exit "$VERDICT_RC"
