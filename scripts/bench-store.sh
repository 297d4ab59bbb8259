#!/usr/bin/env bash
# The disk store (docs/store.md) measured against the disk it writes to, in one run:
#  1. Ceiling and store rate, on xfs and on ext4, each made on a loop device (losetup
#     --direct-io=on) over a file on the root disk: the file system's own sequential O_DIRECT
#     write bandwidth (dd with 1 MiB and with 8 MiB writes, before and after the store
#     runs), and back to back the store's rate with `mirrorcap run` on net_pcap infinite_rx:
#     "drain" (a large ring with --ring-policy stop, filled by a run without a store, then stored
#     by a run whose RX brings nothing: the store's own rate) and "overload" (bench.sh's ring,
#     RX far faster than the disk, the ring lapping the store: what it keeps, overruns
#     counted). --store-compress none, and zstd per traffic mix: `gen` (mirrorcap gen -w, its
#     fixed payload pattern), `half` (every other payload random) and `random` (all random, as
#     TLS). Rates from the store's files (one per ring segment, by mtime) and, as a check, from
#     mirrorcap_store_bytes_total{kind="disk"|"captured"} scraped every 100 ms.
#  2. The workers while the disk is saturated: RX→commit p50/p99/p99.9/max with the ring only
#     (tmpfs), the ring only with a busy loop on CPU 0 (a control: this VM's two vCPUs are not
#     independent), the store on tmpfs, and the store on the ext4 disk while dd saturates it,
#     alternated, all with a session policy capturing 1 packet in LAT_SAMPLE.
#  3. A paced source: `mirrorcap gen` into the appliance over net_memif (two processes, each
#     with its own --file-prefix), the store (none) on the ext4 loop device throttled with the
#     cgroup v1 blkio controller (blkio.throttle.write_bps_device; the appliance runs in that
#     cgroup: O_DIRECT writes are charged to the writer); dd in the same cgroup measures the
#     throttled disk, then gen runs at 50/90/110 % of that rate and the losses are gen's
#     drops, sent - received, received - captured, captured - stored. Then zstd against that
#     throttled disk, per traffic mix: a filled ring drained, captured / disk bytes per second.
#  4. scripts/bench.sh at 64 and 1500 B with the store (zstd) on the ext4 loop device next to
#     the store-off runs of the same repeats.
# Writes bench/results/store-<UTC time>.md and .json. Root; the loop file in LOOP_DIR, the ring
# on tmpfs; everything it makes (loop device, mounts, cgroup, files) is removed on exit.
#
# Usage: scripts/bench-store.sh                   (about 12 minutes)
#        SECS=3 QUICK=1 scripts/bench-store.sh     (smoke test: short windows, one repeat, ~4 min)
# Env: SECS (window per run, 10), WARMUP (3), REPEATS (latency rounds, 3), FSES ("xfs ext4"; ""
#      skips part 1), MIXES ("gen half random"), LOOP_DIR (/var/tmp), LOOP_GIB (8),
#      DD_MIB (4096), STORE_SIZE (3GiB), DRAIN_SEGMENTS (48 x 64 MiB), LAT_SAMPLE (10),
#      PACED (1), PACED_SECS (20), PACED_PCTS ("50 90 110"), PACED_SIZE (1500),
#      PACED_SEGMENTS (8 x 8 MiB), THROTTLE_MBPS (100, or auto: 110 % = 85 % of what gen
#      reaches), BENCH (1), BENCH_REPEATS (3), BENCH_SECS (6), PERF (1: profile the store
#      thread in two extra drain runs), BENCH_STORE_METRICS_PORT (9393)
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  : "${SECS:=3}" "${WARMUP:=2}" "${REPEATS:=1}" "${MIXES:=gen random}" "${LOOP_GIB:=4}" "${DD_MIB:=1024}"
  : "${STORE_SIZE:=1GiB}" "${PACED_SECS:=5}" "${BENCH_REPEATS:=1}" "${BENCH_SECS:=3}" "${DRAIN_SEGMENTS:=16}"
fi
SECS=${SECS:-10}
WARMUP=${WARMUP:-3}
REPEATS=${REPEATS:-3}
FSES=${FSES-xfs ext4}
MIXES=${MIXES:-gen half random}
LOOP_DIR=${LOOP_DIR:-/var/tmp}
LOOP_GIB=${LOOP_GIB:-8}
DD_MIB=${DD_MIB:-4096}
STORE_SIZE=${STORE_SIZE:-3GiB}
PACED=${PACED:-1}
PACED_SECS=${PACED_SECS:-20}
PACED_PCTS=${PACED_PCTS:-50 90 110}
PACED_SIZE=${PACED_SIZE:-1500}
THROTTLE_MBPS=${THROTTLE_MBPS:-100}
BENCH=${BENCH:-1}
BENCH_REPEATS=${BENCH_REPEATS:-3}
BENCH_SECS=${BENCH_SECS:-6}
PORT=${BENCH_STORE_METRICS_PORT:-9393}
URL=http://127.0.0.1:$PORT/metrics
# The ring of the rate runs: bench.sh's (8 x 64 MiB); of the paced runs: small, so 110 % overruns.
RING=(--segment-size 64MiB --segments 8)
DRAIN_SEGMENTS=${DRAIN_SEGMENTS:-48}
LAT_SAMPLE=${LAT_SAMPLE:-10}
PERF=${PERF:-1}
PACED_SEGMENTS=${PACED_SEGMENTS:-8}
THROTTLED_SEGMENTS=${THROTTLED_SEGMENTS:-16}
PACED_RING=(--segment-size 8MiB --segments "$PACED_SEGMENTS")

log() { echo "bench-store: $*" >&2; }
die() {
  echo "bench-store: error: $*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "needs root (loop devices, mkfs, mount, the blkio cgroup)"
scripts/setup.sh >/dev/null 2>&1 || true
nice -n 19 cargo build --release --locked -q
bin=target/release/mirrorcap
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
for t in losetup mkfs.ext4 mkfs.xfs dd jq curl findmnt "$PY"; do
  command -v "$t" >/dev/null || die "$t is not installed (scripts/setup.sh)"
done
cg_root=/sys/fs/cgroup/blkio
[[ $PACED == 0 || -f $cg_root/blkio.throttle.write_bps_device ]] ||
  die "no cgroup v1 blkio controller at $cg_root (PACED=0 skips the paced runs)"
! curl -s -o /dev/null "$URL" || die "port $PORT is taken (BENCH_STORE_METRICS_PORT=...)"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
md=bench/results/store-$stamp.md
json=bench/results/store-$stamp.json
mkdir -p bench/results
work=$(mktemp -d /dev/shm/mirrorcap-bench-store.XXXXXX)
mnt=$(mktemp -d /tmp/mirrorcap-bench-store-mnt.XXXXXX)
img=$LOOP_DIR/mirrorcap-bench-store.$$.img
cg=$cg_root/mirrorcap-bench-store.$$
sock=$work/memif.sock
loop="" APP_PID="" GEN_PID="" HOG_PID=""
cleanup() {
  local p
  [[ -z $HOG_PID ]] || kill -TERM "$HOG_PID" 2>/dev/null || true
  for p in "$GEN_PID" "$APP_PID" "$HOG_PID"; do
    [[ -z $p ]] && continue
    kill -INT "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if mountpoint -q "$mnt"; then umount "$mnt" || umount -l "$mnt" || true; fi
  rmdir "$mnt" 2>/dev/null || true
  [[ -z $loop ]] || losetup -d "$loop" || true
  rm -f "$img"
  [[ ! -d $cg ]] || rmdir "$cg" || true
  mkdir -p /tmp/bslogs; cp "$work"/*.log* /tmp/bslogs/ 2>/dev/null; rm -rf "$work" "/var/run/dpdk/mcbs-app-$$" "/var/run/dpdk/mcbs-gen-$$"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rows=$work/rows.jsonl
: >"$rows"
# row KIND key=value...: one JSON object per measurement (numbers stay numbers).
row() {
  local kind=$1 kv k v args=()
  shift
  for kv in "$@"; do
    k=${kv%%=*} v=${kv#*=}
    if [[ $v =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then args+=(--argjson "$k" "$v"); else args+=(--arg "$k" "$v"); fi
  done
  jq -cn --arg kind "$kind" "${args[@]}" '$ARGS.named' >>"$rows"
}

# ---- the appliance -------------------------------------------------------------------------
# app_start LOG ARGS...: `mirrorcap run` (one worker, ring on tmpfs) in the background, in the
# blkio cgroup when APP_CG is set; returns once /metrics answers.
APP_CG=""
app_start() {
  local log=$1 i
  shift
  [[ -n ${KEEP_RING:-} ]] || rm -rf "$work/ring"
  local cmd=("$bin" run --workers 1 --ring-dir "$work/ring" --metrics-addr "127.0.0.1:$PORT" --log-interval 1h "$@")
  if [[ -n $APP_CG ]]; then
    # shellcheck disable=SC2016 # $$ and $0 are the inner shell's: it joins the cgroup, then becomes mirrorcap
    sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$APP_CG" "${cmd[@]}" 2>"$log" &
  else
    "${cmd[@]}" 2>"$log" &
  fi
  APP_PID=$!
  for ((i = 0; i < 240; i++)); do
    curl -sf -o /dev/null --max-time 1 "$URL" && return 0
    kill -0 "$APP_PID" 2>/dev/null || {
      tail -3 "$log" >&2
      APP_PID=""
      die "mirrorcap run exited at start (log above)"
    }
    sleep 0.25
  done
  die "mirrorcap run's metrics never answered on $URL"
}

# app_stop LOG: SIGINT, wait (the store's final poll included), then the stop summary's numbers
# in rx cap p50 p99 p999 mx spk (stored packets) sseg (stored segments) ov (overrun segments)
# er (store errors) ratio (the store's captured / disk bytes).
# With a second argument, a crash (SIGSEGV, exit 139) returns 1 instead of ending the script.
app_stop() {
  local log=$1 rc=0
  kill -INT "$APP_PID" 2>/dev/null || true
  wait "$APP_PID" || rc=$?
  APP_PID=""
  if [[ $rc == 139 && -n ${2:-} ]]; then
    return 1
  fi
  [[ $rc == 0 ]] || {
    tail -5 "$log" >&2
    die "mirrorcap run exited $rc"
  }
  read -r rx cap p50 p99 p999 mx spk sseg ov er ratio <<<"$(awk '
    /mirrorcap: stopped: received/ { rx = $4; cap = $7 }
    /latency RX to commit per packet/ {
      for (i = 1; i <= NF; i++) {
        if ($i == "p50") p50 = $(i + 1); if ($i == "p99") p99 = $(i + 1)
        if ($i == "p99.9") p999 = $(i + 1); if ($i == "max") mx = $(i + 1)
      }
    }
    /mirrorcap: store worker [0-9]+: [0-9]+ segments/ {
      sseg += $5; spk += $7
      for (i = 1; i <= NF; i++) {
        if ($(i + 1) == "overrun") ov += $i; if ($(i + 1) == "errors") er += $i
        if ($i == "(ratio") { ratio = $(i + 1); sub(/\),?$/, "", ratio) }
      }
    }
    END { printf "%d %d %d %d %d %d %d %d %d %d %s\n", rx, cap, p50, p99, p999, mx, spk, sseg, ov, er, (ratio == "") ? 0 : ratio }' "$log")"
}

# task NAME: /proc/PID/task/TID of the appliance's thread NAME (mc-store-00: the store thread,
# rte-worker-1: the worker), "" if it has none.
task() {
  local i j
  for ((j = 0; j < 20; j++)); do
    for i in /proc/"$APP_PID"/task/*; do
      [[ $(cat "$i/comm" 2>/dev/null) == "$1" ]] && { echo "$i"; return 0; }
    done
    [[ $1 != mc-store-00 ]] || grep -q -- --store-dir "/proc/$APP_PID/cmdline" 2>/dev/null || break
    sleep 0.05
  done
  echo ""
}

# sample OUT WARMUP SECS: after WARMUP s, scrapes /metrics every 100 ms for SECS s; writes the
# rates as JSON. The store publishes its totals after each poll (a poll stores every sealed
# segment it found, so totals move in steps of up to the ring's size): its rates run from the
# first step in the window to the last, each step timed at the midpoint of the two scrapes
# around it. The ring's counters move continuously: first to last scrape.
sample() {
  "$PY" - "$URL" "$2" "$3" "$(task mc-store-00)" "$(task rte-worker-1)" "$APP_PID" >"$1" <<'PY'
import glob, json, sys, time, urllib.request

url, warm, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
tasks = {"store_thread": sys.argv[4], "worker": sys.argv[5], "store_io": ""}


def sched():
    # each thread's time on a CPU and waiting for one (ns), from its schedstat; the store's disk
    # thread (mc-store-00-io) starts with the first file, so it is looked for until found
    if not tasks["store_io"]:
        for t in glob.glob(f"/proc/{sys.argv[6]}/task/*"):
            try:
                if open(t + "/comm").read().strip() == "mc-store-00-io":
                    tasks["store_io"] = t
            except OSError:
                pass
    out = {}
    for k, path in tasks.items():
        try:
            out[k] = [int(x) for x in open(path + "/schedstat").read().split()[:2]]
        except (OSError, ValueError):
            pass
    return out


want = {
    "disk": ("mirrorcap_store_bytes_total", 'kind="disk"'),
    "captured": ("mirrorcap_store_bytes_total", 'kind="captured"'),
    "store_packets": ("mirrorcap_store_packets_total", ""),
    "store_segments": ("mirrorcap_store_segments_total", ""),
    "overrun_segments": ("mirrorcap_store_overrun_segments_total", ""),
    "lag_bytes": ("mirrorcap_store_lag_bytes", ""),
    "ring_bytes": ("mirrorcap_captured_bytes_total", ""),
    "ring_packets": ("mirrorcap_captured_packets_total", ""),
    "rx_packets": ("mirrorcap_rx_packets_total", ""),
    "sealed": ("mirrorcap_ring_segments_sealed_total", ""),
    "unprepared": ("mirrorcap_ring_rotations_unprepared_total", ""),
}


def scrape():
    v = dict.fromkeys(want, 0.0)
    body = urllib.request.urlopen(url, timeout=5).read().decode()
    for line in body.splitlines():
        if not line or line[0] == "#":
            continue
        head, _, val = line.rpartition(" ")
        name = head.split("{", 1)[0]
        for k, (n, label) in want.items():
            if name == n and label in head:
                v[k] += float(val)
    return v


time.sleep(warm)
s = []

end = time.monotonic() + secs
missed, walls, scheds = 0, [], []
while True:
    t = time.monotonic()
    try:
        s.append((t, scrape()))
        walls.append(time.time())
        scheds.append(sched())
    except OSError:
        missed += 1  # a scrape that timed out (the control core was busy): skipped
    if t >= end and (len(s) >= 2 or t >= end + 5):
        break
    time.sleep(max(0.0, 0.1 - (time.monotonic() - t)))


if len(s) < 2:  # the appliance stopped answering (it died): nothing to say
    json.dump({"scrapes": len(s), "scrapes_missed": missed, "t0_wall": 0, "t1_wall": 0}, sys.stdout)
    sys.exit(0)


def stepped(k):
    ch = [i for i in range(1, len(s)) if s[i][1][k] != s[i - 1][1][k]]
    if len(ch) < 2:
        return 0.0, len(ch), 0.0
    a, b = ch[0], ch[-1]
    ta = (s[a - 1][0] + s[a][0]) / 2
    tb = (s[b - 1][0] + s[b][0]) / 2
    return (s[b][1][k] - s[a][1][k]) / (tb - ta), len(ch), tb - ta


def smooth(k):
    return (s[-1][1][k] - s[0][1][k]) / (s[-1][0] - s[0][0])


disk, steps, span = stepped("disk")
out = {
    "window_s": round(s[-1][0] - s[0][0], 3),
    "t0_wall": walls[0],
    "t1_wall": walls[-1],
    "scrapes": len(s),
    "scrapes_missed": missed,
    "store_span_s": round(span, 3),
    "store_steps": steps,
    "disk_Bps": round(disk),
    "captured_Bps": round(stepped("captured")[0]),
    "store_pps": round(stepped("store_packets")[0]),
    "ring_Bps": round(smooth("ring_bytes")),
    "ring_pps": round(smooth("ring_packets")),
    "rx_pps": round(smooth("rx_packets")),
    "sealed_segments": round(s[-1][1]["sealed"] - s[0][1]["sealed"]),
    "stored_segments": round(s[-1][1]["store_segments"] - s[0][1]["store_segments"]),
    "overrun_segments": round(s[-1][1]["overrun_segments"] - s[0][1]["overrun_segments"]),
    "lag_bytes_end": round(s[-1][1]["lag_bytes"]),
    "rotations_unprepared": round(s[-1][1]["unprepared"] - s[0][1]["unprepared"]),
}
dt = (s[-1][0] - s[0][0]) * 1e9
for k in tasks:
    if k in scheds[0] and k in scheds[-1]:
        out[k + "_cpu"] = round((scheds[-1][k][0] - scheds[0][k][0]) / dt, 3)
        out[k + "_runq"] = round((scheds[-1][k][1] - scheds[0][k][1]) / dt, 3)
json.dump(out, sys.stdout)
PY
}

# files DIR T0 T1: the store's rate from its files (one per ring segment), independent of when
# the totals are published: the data files whose mtime (end of their last write) falls in
# [T0, T1] (Unix s), ordered by it; rate = bytes (data + index) of all but the first / the time
# from the first to the last. max_gap_s: the longest time between two files stored one after
# the other in the window (a stall of the store thread: fsync, a throttled or saturated disk).
files() {
  "$PY" - "$@" <<'PY'
import json, os, sys

d, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
fs = []
for root, _, names in os.walk(d):
    for n in names:
        if n.endswith(".pcap") or n.endswith(".pcap.zst"):
            p = os.path.join(root, n)
            idx = p[: -len(".pcap.zst")] if n.endswith(".zst") else p[: -len(".pcap")]
            st = os.stat(p)
            size = st.st_size + (os.stat(idx + ".idx").st_size if os.path.exists(idx + ".idx") else 0)
            if t0 <= st.st_mtime <= t1:
                fs.append((st.st_mtime, size))
fs.sort()
out = {"files": len(fs), "disk_Bps": 0, "span_s": 0.0, "max_gap_s": 0.0}
if len(fs) >= 2:
    span = fs[-1][0] - fs[0][0]
    out["span_s"] = round(span, 3)
    out["disk_Bps"] = round(sum(b for _, b in fs[1:]) / span) if span > 0 else 0
    out["max_gap_s"] = round(max(b[0] - a[0] for a, b in zip(fs, fs[1:])), 3)
json.dump(out, sys.stdout)
PY
}

# dd_rate FILE MIB [CGROUP] [BS_MIB]: sequential O_DIRECT writes of BS_MIB MiB (1: the store's
# block size; 8: its write size; 1 in a CGROUP), fsync at the end, in CGROUP when given (not
# empty); prints MB/s
# (10^6 bytes) from dd's own count and time.
dd_rate() {
  local out bs=${4:-1}
  if [[ -n ${3:-} ]]; then
    # shellcheck disable=SC2016 # the inner shell's $$ and arguments
    out=$(sh -c 'echo $$ >"$0/cgroup.procs" && exec dd if=/dev/zero of="$1" bs=1M count="$2" oflag=direct conv=fsync' "$3" "$1" "$2" 2>&1)
  else
    out=$(dd if=/dev/zero of="$1" bs="$bs"M count=$(($2 / bs)) oflag=direct conv=fsync 2>&1)
  fi
  rm -f "$1"
  echo "$out" | awk '/copied/ { printf "%.1f", $1 / $(NF - 3) / 1e6 }'
}


# ---- machine facts, the traffic, the loop device ---------------------------------------------
load_start=$(uptime)
root_src=$(findmnt -no SOURCE -T "$LOOP_DIR")
root_fs=$(findmnt -no FSTYPE -T "$LOOP_DIR")
root_dev=$(lsblk -no PKNAME "$root_src" 2>/dev/null | head -1)
root_dev=${root_dev:-$(basename "$root_src")}
disk_desc="$root_src ($root_fs, $(lsblk -dno SIZE "/dev/$root_dev" 2>/dev/null | tr -d ' ') $(lsblk -dno MODEL "/dev/$root_dev" 2>/dev/null | sed 's/ *$//')), rotational=$(cat "/sys/block/$root_dev/queue/rotational" 2>/dev/null || echo '?')"
cpu_model=$(awk '/model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//')
log "start: $load_start"
log "host: $(nproc) CPUs, $cpu_model, kernel $(uname -r); LOOP_DIR $LOOP_DIR on $disk_desc"

# Traffic: gen's own mix (60-1514-byte inner frames, three VNIs, its fixed payload pattern), and
# the same frames with random payloads (after the 24 bytes of sequence number and tag) in every
# other packet (`half`) or in all (`random`). 4096 frames, about 3 MiB: more than a store block,
# so replaying the file does not make a block repeat itself.
"$bin" gen -w "$work/mix-gen.pcap" --count 4096 --seed 1 2>/dev/null
randomize() {
  "$PY" - "$work/mix-gen.pcap" "$work/mix-$1.pcap" "$2" <<'PY'
import random, struct, sys

src, dst, every = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = bytearray(open(src, "rb").read())
end = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
rng = random.Random(7)
off, n = 24, 0
keep = 50 + 42 + 24  # outer headers, inner Ethernet/IPv4/UDP, gen's sequence number and tag
while off + 16 <= len(data):
    incl = struct.unpack_from(end + "I", data, off + 8)[0]
    start = off + 16
    if n % every == 0 and incl > keep:
        data[start + keep:start + incl] = rng.randbytes(incl - keep)
    off, n = start + incl, n + 1
open(dst, "wb").write(data)
PY
}
# A pcap without packets: the RX of a run that only stores what an earlier run left in the ring.
"$PY" -c 'import struct, sys; open(sys.argv[1], "wb").write(struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 262144, 1))' "$work/empty.pcap"
randomize half 2
randomize random 1
for m in $MIXES; do [[ -f $work/mix-$m.pcap ]] || die "MIXES: unknown mix '$m' (gen, half, random)"; done

log "loop file $img: ${LOOP_GIB} GiB written with O_DIRECT (no unwritten extents under the loop device)"
root_dd=$(dd if=/dev/zero of="$img" bs=1M count=$((LOOP_GIB * 1024)) oflag=direct conv=fsync 2>&1 | awk '/copied/ { printf "%.1f", $1 / $(NF - 3) / 1e6 }')
log "root disk ($root_fs on $root_src), dd 1 MiB O_DIRECT: $root_dd MB/s"
row root_disk fs="$root_fs" source="$root_src" dd_MBps="$root_dd" bytes=$((LOOP_GIB << 30))
loop=$(losetup --find --show --direct-io=on "$img")
[[ $(cat "/sys/block/${loop#/dev/}/loop/dio") == 1 ]] || die "$loop: direct I/O is off"
majmin=$(cat "/sys/block/${loop#/dev/}/dev")

mkfs_mount() {
  if mountpoint -q "$mnt"; then umount "$mnt"; fi
  case $1 in
  ext4) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$loop" ;; # no background init writes
  xfs) mkfs.xfs -q -f "$loop" ;;
  *) die "FSES: unknown file system '$1' (ext4, xfs)" ;;
  esac
  mount "$loop" "$mnt"
}

# ---- 1. ceiling and store rate ---------------------------------------------------------------
# Two kinds of run per mode and mix:
#  drain:    a ring of DRAIN_SEGMENTS x 64 MiB with --ring-policy stop: RX fills it in a second or
#            two, then drops; the store drains it at its own pace with no ring writer overtaking
#            it. Its rate is the writer's: ring reading, compression, O_DIRECT writes, fsyncs.
#  overload: the ring of bench.sh (8 x 64 MiB, overwrite) under RX far faster than the disk: what
#            the store keeps while the ring laps it (overruns counted).
rate_run() { # FS KIND MODE MIX [FLOW_INDEX [FLOW_RECORDS]]
  local fs=$1 kind=$2 mode=$3 mix=$4 fidx=${5:-on} frec=${6:-on} ring warm=$WARMUP lg=$work/rate-$1-$2-$3-$4-${5:-on}-${6:-on}.log
  rm -rf "$mnt/store"
  if [[ $kind == drain ]]; then
    # no --store-size: the file system holds the whole ring, so no file is deleted
    ring=(--segment-size 64MiB --segments "$DRAIN_SEGMENTS" --ring-policy stop)
    fill_ring "$lg.fill" "$mix" "${ring[@]}"
    warm=0.5 # the store starts on the first sealed segment: sample it all
    KEEP_RING=1 app_start "$lg" --vdev "net_pcap0,rx_pcap=$work/empty.pcap" "${ring[@]}" \
      --store-dir "$mnt/store" --store-compress "$mode" --store-flow-index "$fidx" --store-flow-records "$frec"
  else
    ring=("${RING[@]}" --store-size "$STORE_SIZE")
    app_start "$lg" --vdev "net_pcap0,rx_pcap=$work/mix-$mix.pcap,infinite_rx=1" "${ring[@]}" \
      --store-dir "$mnt/store" --store-compress "$mode" --store-flow-index "$fidx" --store-flow-records "$frec"
  fi
  sample "$work/s.json" "$warm" "$SECS"
  app_stop "$lg"
  local s f
  s=$(cat "$work/s.json")
  f=$(files "$mnt/store" "$(jq .t0_wall <<<"$s")" "$(jq .t1_wall <<<"$s")")
  log "$fs $kind $mode $mix (flow index $fidx, flow records $frec): files $f; scrapes $s; stop: rx $rx captured $cap stored $spk packets $sseg segments (ratio $ratio), $ov overrun segments, $er errors, latency p99.9 $p999 max $mx ns"
  row store_rate fs="$fs" run="$kind" mode="$mode" flow_index="$fidx" flow_records="$frec" mix="$mix" "files=$f" "window=$s" rx="$rx" captured="$cap" stored_packets="$spk" \
    stored_segments="$sseg" ratio="$ratio" overrun_segments_total="$ov" store_errors="$er" p50_ns="$p50" p99_ns="$p99" p999_ns="$p999" max_ns="$mx"
  rm -rf "$mnt/store"
}
# fill_ring LOG MIX RING...: the appliance without a store, RX from MIX until the ring (policy stop)
# is full, then stopped: the drain run that follows stores that ring at the store's own pace,
# with nothing else on the control core (a store as fast as RX fills the ring would otherwise
# measure RX).
fill_ring() {
  local lg=$1 mix=$2 i sealed
  shift 2
  app_start "$lg" --vdev "net_pcap0,rx_pcap=$work/mix-$mix.pcap,infinite_rx=1" "$@"
  for ((i = 0; i < 600; i++)); do
    sealed=$(curl -sf --max-time 1 "$URL" | awk '/^mirrorcap_ring_segments_sealed_total/ { n += $NF } END { print n + 0 }')
    ((sealed < DRAIN_SEGMENTS - 1)) || break
    sleep 0.1
  done
  app_stop "$lg"
}

for fs in $FSES; do
  mkfs_mount "$fs"
  dd1=$(dd_rate "$mnt/dd.bin" "$DD_MIB")
  dd81=$(dd_rate "$mnt/dd.bin" "$DD_MIB" "" 8)
  log "$fs: dd $dd1 MB/s (1 MiB writes), $dd81 MB/s (8 MiB writes)"
  rate_run "$fs" drain none gen
  rate_run "$fs" drain none gen on off
  rate_run "$fs" drain none gen off off
  for m in $MIXES; do rate_run "$fs" drain zstd "$m"; done
  rate_run "$fs" overload none gen
  rate_run "$fs" overload zstd gen
  dd2=$(dd_rate "$mnt/dd.bin" "$DD_MIB")
  dd82=$(dd_rate "$mnt/dd.bin" "$DD_MIB" "" 8)
  log "$fs: dd $dd2 MB/s (1 MiB writes), $dd82 MB/s (8 MiB writes) (after)"
  row ceiling fs="$fs" dd_before_MBps="$dd1" dd_after_MBps="$dd2" dd8_before_MBps="$dd81" dd8_after_MBps="$dd82" dd_MiB="$DD_MIB"
done

# ---- where the store thread's time goes (PERF=1) ---------------------------------------------
# perf record of the mc-store-00 thread in a drain run (not one of the measured ones): its top
# symbols go into the report.
profile_run() { # MODE MIX
  local lg=$work/profile-$1-$2.log tid
  rm -rf "$mnt/store"
  app_start "$lg" --vdev "net_pcap0,rx_pcap=$work/mix-$2.pcap,infinite_rx=1" --segment-size 64MiB \
    --segments "$DRAIN_SEGMENTS" --ring-policy stop --store-dir "$mnt/store" --store-compress "$1"
  tid=$(task mc-store-00)
  tid=${tid##*/}
  if [[ -n $tid ]]; then
    perf record -q -t "$tid" -o "$work/perf.data" -- sleep "$SECS" >/dev/null 2>&1 || true
    perf report -i "$work/perf.data" --no-children --stdio --sort dso,sym -g none --percent-limit 1.5 2>/dev/null |
      grep -E '^ +[0-9]' | head -15 >"$work/profile-$1-$2.txt" || true
  fi
  app_stop "$lg"
  rm -rf "$mnt/store" "$work/perf.data"
  log "profile $1 $2: $(head -3 "$work/profile-$1-$2.txt" 2>/dev/null | tr -s ' ' | tr '\n' ';')"
}
PROFILES=()
if [[ $PERF == 1 ]] && command -v perf >/dev/null; then
  mkfs_mount ext4
  profile_run none gen
  profile_run zstd random
  PROFILES=("none gen" "zstd random")
fi

# ---- 2. the workers while the disk is saturated ----------------------------------------------
# store-disk: the store (none) on the ext4 loop device while dd (on the control core) keeps the
# same disk saturated with 1 MiB O_DIRECT writes, so the store's writes queue behind it.
hog() { # FILE LOG: dd over the same 1 GiB file, again and again, until TERM
  local d=""
  trap '[[ -z $d ]] || kill "$d" 2>/dev/null; exit 0' TERM
  while :; do
    taskset -c 0 dd if=/dev/zero of="$1" bs=1M count=1024 oflag=direct conv=notrunc 2>>"$2" &
    d=$!
    wait "$d" || true
  done
}
# Every variant with the same session policy keeping 1 packet in LAT_SAMPLE: the worker still
# receives and decides on every packet, but captures about a tenth of RX, so the store writes
# without the ring lapping it at once (overload makes it lose nearly every segment it reads,
# part 1) and its writes wait behind dd's.
printf '[default]\nsample = %d\n' "$LAT_SAMPLE" >"$work/sample.toml"
mkfs_mount ext4
for ((round = 1; round <= REPEATS; round++)); do
  for variant in ring-only cpu0-busy store-tmpfs store-disk; do
    store=()
    case $variant in
    store-tmpfs) store=(--store-dir "$work/store" --store-size 2GiB --store-compress none) ;;
    store-disk) store=(--store-dir "$mnt/store" --store-size "$STORE_SIZE" --store-compress none) ;;
    esac
    rm -rf "$work/store" "$mnt/store"
    lg=$work/lat-$variant-$round.log
    hog_rate=0
    if [[ $variant == cpu0-busy ]]; then
      taskset -c 0 sh -c 'while :; do :; done' &
      HOG_PID=$!
    fi
    if [[ $variant == store-disk ]]; then
      : >"$work/hog.log"
      hog "$mnt/hog.bin" "$work/hog.log" &
      HOG_PID=$!
    fi
    app_start "$lg" --config "$work/sample.toml" --vdev "net_pcap0,rx_pcap=$work/mix-gen.pcap,infinite_rx=1" "${RING[@]}" "${store[@]}"
    sample "$work/s.json" "$WARMUP" "$SECS"
    app_stop "$lg"
    if [[ -n $HOG_PID ]]; then
      kill -TERM "$HOG_PID"
      wait "$HOG_PID" || true
      HOG_PID=""
      rm -f "$mnt/hog.bin"
      [[ $variant != store-disk ]] ||
        hog_rate=$(awk '/copied/ { b += $1; t += $(NF - 3) } END { printf "%.1f", (t > 0) ? b / t / 1e6 : 0 }' "$work/hog.log")
    fi
    s=$(cat "$work/s.json")
    f=$(files "${store[1]:-$work/none}" "$(jq .t0_wall <<<"$s")" "$(jq .t1_wall <<<"$s")")
    log "latency $variant round $round: p50 $p50 p99 $p99 p99.9 $p999 max $mx ns; dd alongside $hog_rate MB/s; files $f; scrapes $s"
    row latency variant="$variant" round="$round" "files=$f" "window=$s" rx="$rx" captured="$cap" p50_ns="$p50" p99_ns="$p99" p999_ns="$p999" max_ns="$mx" \
      overrun_segments_total="$ov" store_errors="$er" hog_dd_MBps="$hog_rate"
    rm -rf "$work/store" "$mnt/store"
  done
done

# ---- 3. a paced source over memif, the store on a throttled disk -----------------------------
eal_mem() {
  local free
  free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
  if ((free >= 300)); then echo "--file-prefix $1 --huge-unlink"; else echo "--file-prefix $1 --no-huge -m 1024"; fi
}
paced_disk=""
if [[ $PACED == 1 ]]; then
  rm -rf "$mnt/store"
  mkdir "$cg"
  APP_CG=$cg
  # shellcheck disable=SC2207 # the words of eal_mem, on purpose
  app_eal=($(eal_mem "mcbs-app-$$"))
  # shellcheck disable=SC2207
  gen_eal=(--lcores "0@0,1@0" $(eal_mem "mcbs-gen-$$"))
  memif="socket=$sock,socket-abstract=no"
  # gen retries a burst the memif ring refuses (a worker that does not drain it) up to 2^20
  # times before dropping it; its report counts both. gen runs at nice 19: its TX lcore
  # busy-polls CPU 0, the appliance's control core, and must not starve the store thread there
  # (a real source is another machine).
  gen_run() { # PCT RATE REPORT LOG [SECS]
    nice -n 19 "$bin" gen --vdev "net_memif0,role=client,id=0,$memif" --encap vxlan --vni 100 --flows 64 --proto udp \
      --inner-size "$PACED_SIZE" --rate "$2" --duration "${5:-$PACED_SECS}s" --progress 0 --report-json "$3" -- "${gen_eal[@]}" 2>"$4" &
    GEN_PID=$!
    wait "$GEN_PID" || { GEN_PID=""; tail -3 "$4" >&2; die "gen failed (rate $2)"; }
    GEN_PID=""
  }
  paced_app() { # LOG: the appliance on memif, store (none) on the loop device, in the cgroup
    app_start "$1" --vdev "net_memif0,role=server,id=0,$memif" "${PACED_RING[@]}" \
      --store-dir "$mnt/store" --store-size "$STORE_SIZE" --store-compress none -- "${app_eal[@]}"
  }
  # What gen reaches here with the store on (unthrottled); THROTTLE_MBPS=auto puts 110 % of the
  # throttled disk at 85 % of it.
  # DPDK 22.11's net_memif server can crash in rte_eth_rx_burst when its client disconnects
  # (gen exiting: the client's regions are unmapped under the worker's rx_burst). It happened in
  # about 1 run in 6 here; such a run is repeated (up to 3 times) and counted in the report.
  # The latency runs kept the disk saturated: let the host's disk settle before the throttled runs.
  sync
  sleep 10
  MEMIF_CRASHES=0
  for attempt in 1 2 3; do
    paced_app "$work/probe-app.log"
    gen_run max max "$work/probe.json" "$work/probe-gen.log" 5
    sleep 1
    app_stop "$work/probe-app.log" may-crash && break
    MEMIF_CRASHES=$((MEMIF_CRASHES + 1))
    log "the appliance crashed in net_memif's rx_burst at gen's disconnect (attempt $attempt)"
    ((attempt < 3)) || die "the appliance crashed 3 times at gen's disconnect"
  done
  reach=$(jq -r '.achieved_pps | floor' "$work/probe.json")
  if [[ $THROTTLE_MBPS == auto ]]; then
    THROTTLE_MBPS=$(awk -v p="$reach" -v s="$PACED_SIZE" 'BEGIN { printf "%.0f", 0.85 * p * (s + 16) / 1.1 / 1e6 }')
  fi
  log "gen reaches $reach pps at $PACED_SIZE B over memif; the disk throttled to $THROTTLE_MBPS MB/s"
  awk -v p="$reach" -v s="$PACED_SIZE" -v t="$THROTTLE_MBPS" 'BEGIN { exit !(1.1 * t * 1e6 / (s + 16) > p) }' &&
    log "warning: 110 % of $THROTTLE_MBPS MB/s is more than gen reaches"
  row paced_probe reach_pps="$reach" inner_bytes="$PACED_SIZE" throttle_MBps="$THROTTLE_MBPS"
  rm -rf "$mnt/store"
  echo "$majmin $((THROTTLE_MBPS * 1000000))" >"$cg/blkio.throttle.write_bps_device"
  tmib=$((THROTTLE_MBPS * (PACED_SECS < 8 ? PACED_SECS : 8) * 1000000 / 1048576))
  ((tmib <= LOOP_GIB * 256)) || tmib=$((LOOP_GIB * 256)) # a quarter of the file system
  paced_disk=$(dd_rate "$mnt/dd.bin" "$tmib" "$cg")
  log "throttled disk ($majmin at $THROTTLE_MBPS MB/s, in $cg): dd $paced_disk MB/s"
  row paced_disk memif_crashes_so_far="$MEMIF_CRASHES" throttle_MBps="$THROTTLE_MBPS" dd_MBps="$paced_disk" dd_MiB="$tmib" device="$loop" majmin="$majmin"
  for pct in $PACED_PCTS; do
    pps=$(awk -v d="$paced_disk" -v p="$pct" -v s="$PACED_SIZE" 'BEGIN { printf "%.0f", p / 100 * d * 1e6 / (s + 16) }')
    lg=$work/paced-$pct.log
    for attempt in 1 2 3; do
      rm -rf "$mnt/store"
      paced_app "$lg"
      # the window: the middle of gen's run (its first WARMUP s and last 2 s left out)
      win=$((PACED_SECS - WARMUP - 2))
      ((win >= 2)) || win=2
      sample "$work/s.json" "$((WARMUP + 1))" "$win" &
      spid=$!
      gen_t0=$(date +%s.%N)
      gen_run "$pct" "${pps}pps" "$work/gen-$pct.json" "$work/gen-$pct.log"
      gen_t1=$(date +%s.%N)
      wait "$spid" || true
      sleep 1 # the last bursts committed
      app_stop "$lg" may-crash && break
      MEMIF_CRASHES=$((MEMIF_CRASHES + 1))
      log "the appliance crashed in net_memif's rx_burst at gen's disconnect ($pct %, attempt $attempt)"
      ((attempt < 3)) || die "the appliance crashed 3 times at gen's disconnect"
    done
    s=$(cat "$work/s.json")
    g=$(jq -c '{sent: .sent_packets, tx_dropped, tx_retries, achieved_pps, duration_ns}' "$work/gen-$pct.json")
    # the store's stalls over gen's whole run
    f=$(files "$mnt/store" "$gen_t0" "$gen_t1")
    log "paced $pct % ($pps pps): gen $g; appliance rx $rx captured $cap stored $spk, $ov overrun segments; latency p99.9 $p999 max $mx ns; files $f; scrapes $s"
    row paced pct="$pct" target_pps="$pps" "gen=$g" "files=$f" "window=$s" rx="$rx" captured="$cap" stored_packets="$spk" stored_segments="$sseg" \
      overrun_segments_total="$ov" store_errors="$er" p50_ns="$p50" p99_ns="$p99" p999_ns="$p999" max_ns="$mx"
    rm -rf "$mnt/store"
  done
  row paced_crashes memif_crashes="$MEMIF_CRASHES"
  # zstd against the same throttled disk: the drain of a filled ring per traffic mix, so the
  # disk, not one core's compression, is the limit, and captured / disk shows what zstd buys.
  dring=(--segment-size 64MiB --segments "$THROTTLED_SEGMENTS" --ring-policy stop)
  for m in $MIXES; do
    lg=$work/throttled-$m.log
    rm -rf "$mnt/store"
    fill_ring "$lg.fill" "$m" "${dring[@]}"
    KEEP_RING=1 app_start "$lg" --vdev "net_pcap0,rx_pcap=$work/empty.pcap" "${dring[@]}" \
      --store-dir "$mnt/store" --store-compress zstd
    sample "$work/s.json" 0.5 "$SECS"
    app_stop "$lg"
    s=$(cat "$work/s.json")
    f=$(files "$mnt/store" "$(jq .t0_wall <<<"$s")" "$(jq .t1_wall <<<"$s")")
    log "throttled zstd $m: files $f; stop: stored $spk packets $sseg segments (ratio $ratio), $ov overrun segments, $er errors"
    row throttled_zstd mix="$m" "files=$f" "window=$s" ratio="$ratio" stored_segments="$sseg" store_errors="$er" dd_MBps="$paced_disk"
  done
  rm -rf "$mnt/store"
  APP_CG=""
fi
# ---- 4. scripts/bench.sh with the store on the ext4 loop device -------------------------------
bench_md=""
if [[ $BENCH == 1 ]]; then
  log "scripts/bench.sh at 64 and 1500 B, store off and on (zstd on ext4 $loop)"
  SIZES="64 1500" WORKERS=1 REPEATS=$BENCH_REPEATS SECONDS_PER_RUN=$BENCH_SECS HALF=0 STORE_DIR=$mnt \
    STORE_COMPRESS=zstd STORE_SIZE=$STORE_SIZE scripts/bench.sh >/dev/null 2>"$work/bench.err" ||
    { tail -5 "$work/bench.err" >&2; die "scripts/bench.sh failed"; }
  bench_md=$(sed -n 's/^written: \([^ ]*\) .*/\1/p' "$work/bench.err")
  log "bench.sh: $bench_md"
fi

load_end=$(uptime)
log "end: $load_end"

# ---- the report ------------------------------------------------------------------------------
# "window=<json>" and "gen=<json>" arrived as strings: parse them.
jq -s 'map(reduce ("window", "gen", "files") as $k (.; if has($k) then .[$k] |= fromjson else . end))' "$rows" >"$work/rows.json"
R=$work/rows.json
jq -n --slurpfile rows "$R" --arg stamp "$stamp" --arg host "$(nproc) CPUs, $cpu_model" --arg kernel "$(uname -r)" \
  --arg disk "$disk_desc" --arg dpdk "$(pkg-config --modversion libdpdk 2>/dev/null || echo '?')" \
  --arg load_start "$load_start" --arg load_end "$load_end" --arg bench "$bench_md" \
  '{stamp: $stamp, host: $host, kernel: $kernel, root_disk: $disk, dpdk: $dpdk, uptime_start: $load_start,
    uptime_end: $load_end, bench_sh_results: $bench, rows: $rows[0]}' >"$json"

{
  echo "# mirrorcap store bench $stamp"
  echo
  echo "Made by \`scripts/bench-store.sh\` (env: SECS=$SECS WARMUP=$WARMUP REPEATS=$REPEATS QUICK=$QUICK FSES=\"$FSES\" MIXES=\"$MIXES\" LOOP_GIB=$LOOP_GIB DD_MIB=$DD_MIB STORE_SIZE=$STORE_SIZE PACED_SECS=$PACED_SECS PACED_SIZE=$PACED_SIZE THROTTLE_MBPS=$THROTTLE_MBPS BENCH_REPEATS=$BENCH_REPEATS BENCH_SECS=$BENCH_SECS)."
  echo "MB = 10^6 bytes. Numbers are never asserted in tests."
  echo
  echo "- host: $(nproc) CPUs ($cpu_model), kernel $(uname -r), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?')"
  echo "- root disk: $disk_desc; dd 1 MiB O_DIRECT writes of the ${LOOP_GIB} GiB loop file: **$root_dd MB/s**"
  echo "- store file systems: on \`losetup --direct-io=on\` over that file ($loop), made fresh for each part"
  echo "- uptime at start: \`$load_start\`"
  echo "- uptime at end: \`$load_end\`"
  echo "- ring: tmpfs (/dev/shm), one worker (lcore 1 on CPU 1), main lcore and the mc-store-00 thread on CPU 0"
  echo
  echo "## 1. Store rate against the disk's own O_DIRECT bandwidth"
  echo
  echo "Ceiling: \`dd if=/dev/zero of=FS/dd.bin bs=1M count=$DD_MIB oflag=direct conv=fsync\` on the same file system just before and just after its store runs, with 1 MiB writes (the store's block size) and with 8 MiB writes (\`bs=8M\`: the size of the store's O_DIRECT writes); \"/ dd\" divides by the higher of the two means. Store: \`mirrorcap run --vdev net_pcap0,rx_pcap=MIX.pcap,infinite_rx=1 --workers 1 --ring-dir /dev/shm/... RING --store-dir FS/store --store-size $STORE_SIZE --store-compress MODE\`, \`mirrorcap_store_bytes_total{kind=\"disk\"|\"captured\"}\` scraped every 100 ms for ${SECS} s, the rate from the first to the last step of the totals (the store publishes them after each poll, which stores every sealed segment it found). Ratio = captured / disk bytes."
  echo
  echo "- **drain**: RING = \`--segment-size 64MiB --segments $DRAIN_SEGMENTS --ring-policy stop\`, first filled by a run without a store (RX until the ring is full), then stored by a run whose RX brings nothing (\`rx_pcap=empty.pcap\`), sampled from 0.5 s after its start. This is the store's own rate (ring read, compression, O_DIRECT writes, fsyncs) against the disk, with nothing else on the control core."
  echo "- **overload**: RING = \`${RING[*]}\` (bench.sh's), sampled after ${WARMUP} s: RX far faster than the disk, the ring laps the store, and a segment rotated over while the store reads it is lost (overrun, counted)."
  echo
  echo "| fs | dd MB/s before / after | run | mode | mix | captured MB/s | disk MB/s | ratio | disk / dd | captured / dd | store files in the window (longest gap s) | store thread on a CPU / waiting for one; its disk thread on a CPU | into the ring MB/s | ring segments sealed / stored / overrun in the window | worker on a CPU; unprepared rotations | RX→commit p99.9 / max µs |"
  echo "|---|---|---|---|---|---:|---:|---:|---:|---:|---|---|---:|---|---|---|"
  jq -r '
    (map(select(.kind == "ceiling")) | map({(.fs): .}) | add // {}) as $c
    | .[] | select(.kind == "store_rate") | . as $r | $c[$r.fs] as $d
    | ([($d.dd_before_MBps + $d.dd_after_MBps) / 2, (($d.dd8_before_MBps // 0) + ($d.dd8_after_MBps // 0)) / 2] | max) as $ceil
    | ($r.files.disk_Bps / 1e6) as $disk | ($disk * $r.ratio) as $capt
    | [$r.fs, "\($d.dd_before_MBps) / \($d.dd_after_MBps); 8 MiB: \($d.dd8_before_MBps) / \($d.dd8_after_MBps)", $r.run, "\($r.mode)\(if ($r.flow_index // "on") == "off" then " (flow index off)" else "" end)\(if ($r.flow_records // "on") == "off" then " (flow records off)" else "" end)", $r.mix,
       ($capt * 10 | round / 10), ($disk * 10 | round / 10), $r.ratio,
       ($disk / $ceil * 1000 | round / 1000), ($capt / $ceil * 1000 | round / 1000),
       "\($r.files.files) (\($r.files.max_gap_s))", "\((($r.window.store_thread_cpu // 0) * 100) | round) % / \((($r.window.store_thread_runq // 0) * 100) | round) %; disk thread \((($r.window.store_io_cpu // 0) * 100) | round) %", ($r.window.ring_Bps / 1e6 | round),
       "\($r.window.sealed_segments) / \($r.window.stored_segments) / \($r.window.overrun_segments)",
       "\((($r.window.worker_cpu // 0) * 100) | round) %; \($r.window.rotations_unprepared)",
       (if $r.run == "overload" then "\($r.p999_ns / 1e3 * 10 | round / 10) / \($r.max_ns / 1e3 * 10 | round / 10)" else "-" end)]
    | "| " + (map(tostring) | join(" | ")) + " |"' "$R"
  echo
  echo "Disk MB/s: the store's files (data + index) stored in the window over the time between the first and the last of them (their mtimes; one file per 64 MiB ring segment); captured MB/s = disk MB/s × the run's compression ratio (from its stop summary). Store thread: the share of the window mc-store-00 (reads segments, checksums, compresses) spent on a CPU and waiting in a run queue for one (its schedstat); the rest it waited for its disk thread or was idle between polls. Disk thread: mc-store-00-io (O_DIRECT writes, fsyncs, renames) on a CPU; it is blocked on the disk the rest of the time."
  for p in "${PROFILES[@]}"; do
    read -r pm px <<<"$p"
    echo
    echo "Where the store thread's time goes in a drain run, \`--store-compress $pm\`, \`$px\` mix on ext4 (\`perf record -t <mc-store-00> -- sleep $SECS\`; \`perf report --no-children --sort dso,sym\`, entries ≥ 1.5 %):"
    echo
    echo '```'
    cat "$work/profile-$pm-$px.txt" 2>/dev/null || true
    echo '```'
  done
  echo
  echo "## 2. The workers while the disk is saturated"
  echo
  echo "The appliance with \`--config\` \`[default] sample = $LAT_SAMPLE\` (every packet received and decided on, 1 in $LAT_SAMPLE captured: the store writes steadily instead of losing nearly every segment to a lapping ring as in the overload runs), \`${RING[*]}\`, \`gen\` mix, ${SECS} s windows after ${WARMUP} s, variants alternated in each round: ring only (tmpfs); ring only with a shell busy loop pinned to CPU 0 (a control: the cost to the worker of any CPU work on the control core of this VM, whose two vCPUs are not independent); store (\`none\`) on tmpfs (the store's CPU work, no disk); store (\`none\`) on the ext4 loop device while \`taskset -c 0 dd bs=1M oflag=direct\` rewrites a 1 GiB file on the same file system in a loop, so the disk is saturated and the store's writes queue behind dd's. RX→commit per packet from mirrorcap's stop summary (its hdrhistogram over the whole run). The worker (rte-worker-1) has CPU 1; CPU 0 carries the main lcore, the ring's helper thread (mc-ring-00, which extends and pre-faults the next segment), the store thread, dd and the scrapes. \"worker on a CPU\": the share of the window rte-worker-1 ran (its schedstat; below 100 % = preempted on its own CPU); unprepared rotations: \`mirrorcap_ring_rotations_unprepared_total\` in the window (the helper was late and the worker faulted the segment in itself)."
  echo
  echo "| variant | round | RX Mpps | worker on a CPU | unprepared rotations | store disk MB/s | store thread on a CPU | dd alongside MB/s | p50 µs | p99 µs | p99.9 µs | max µs |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  jq -r '.[] | select(.kind == "latency")
    | [.variant, .round, (.window.rx_pps / 1e6 * 100 | round / 100), "\(((.window.worker_cpu // 0) * 100) | round) %", .window.rotations_unprepared, (.files.disk_Bps / 1e6 | round), "\(((.window.store_thread_cpu // 0) * 100) | round) %", .hog_dd_MBps,
       (.p50_ns / 1e3 * 10 | round / 10), (.p99_ns / 1e3 * 10 | round / 10), (.p999_ns / 1e3 * 10 | round / 10), (.max_ns / 1e3 * 10 | round / 10)]
    | "| " + (map(tostring) | join(" | ")) + " |"' "$R"
  echo
  echo "Median over rounds:"
  echo
  echo "| variant | RX Mpps | p99.9 µs | max µs (highest round) |"
  echo "|---|---:|---:|---:|"
  jq -r 'map(select(.kind == "latency")) | group_by(.variant)[]
    | def med: sort | .[(length - 1) / 2 | floor];
      [.[0].variant, (map(.window.rx_pps) | med / 1e6 * 100 | round / 100), (map(.p999_ns) | med / 1e3 * 10 | round / 10),
       (map(.max_ns) | max / 1e3 * 10 | round / 10)]
    | "| " + (map(tostring) | join(" | ")) + " |"' "$R"
  if [[ $PACED == 1 ]]; then
    echo
    echo "## 3. Paced source over memif, store on a throttled disk"
    echo
    echo "\`nice -n 19 mirrorcap gen --vdev net_memif0,role=client,... --inner-size $PACED_SIZE --rate Npps --duration ${PACED_SECS}s -- --lcores 0@0,1@0 --file-prefix mcbs-gen-PID\` (CPU 0, niced: a real source is another machine, and it must not starve the store thread on the control core) into \`mirrorcap run --vdev net_memif0,role=server,... ${PACED_RING[*]} --store-dir LOOP/store --store-compress none -- --file-prefix mcbs-app-PID\`, the appliance in blkio cgroup $cg with \`blkio.throttle.write_bps_device = $majmin $((THROTTLE_MBPS * 1000000))\` on the ext4 loop device; the throttled disk measured first by dd in that cgroup: **$paced_disk MB/s**. Rates are of records (inner frame + 16-byte pcap header) against that. Loss: gen's drops (the ring refused a burst ~1M times), sent − received by the appliance, received − captured (drops by reason), captured − stored (the store overrun)."
    echo
    jq -r '.[] | select(.kind == "paced_probe") | "gen at --rate max reached \(.reach_pps) pps (store on, unthrottled); the disk was throttled to \(.throttle_MBps) MB/s."' "$R"
    jq -r '.[] | select(.kind == "paced_crashes") | "Runs repeated because the appliance crashed inside DPDK 22.11 net_memif'"'"'s rx_burst when gen (the memif client) disconnected at its end: \(.memif_crashes) (each repeated run is a fresh appliance and store; the table has the completed runs)."' "$R"
    echo
    echo "| % of disk | target pps | gen sent pps | gen retries / drops | received | RX loss | captured | stored | store loss (overrun segments) | store disk MB/s (longest gap between files, s) | unprepared rotations | RX→commit p99.9 / max µs |"
    echo "|---:|---:|---:|---|---:|---:|---:|---:|---|---|---:|---|"
    jq -r '.[] | select(.kind == "paced")
      | (.gen.sent + .gen.tx_dropped) as $offered
      | [.pct, .target_pps, (.gen.achieved_pps | round), "\(.gen.tx_retries) / \(.gen.tx_dropped)", .rx,
         "\($offered - .rx) (\(if $offered > 0 then (($offered - .rx) / $offered * 10000 | round / 100) else 0 end) %)", .captured, .stored_packets,
         "\(.captured - .stored_packets) (\(if .captured > 0 then ((.captured - .stored_packets) / .captured * 10000 | round / 100) else 0 end) %; \(.overrun_segments_total))",
         "\(.files.disk_Bps / 1e6 * 10 | round / 10) (\(.files.max_gap_s))", .window.rotations_unprepared, "\(.p999_ns / 1e3 * 10 | round / 10) / \(.max_ns / 1e3 * 10 | round / 10)"]
      | "| " + (map(tostring) | join(" | ")) + " |"' "$R"
    echo
    echo "zstd against the same throttled disk: per traffic mix, a ${THROTTLED_SEGMENTS} × 64 MiB ring filled first (RX until full, no store), then stored (\`--store-compress zstd\`, RX bringing nothing) by the appliance in the cgroup; rates from the store files' mtimes over ${SECS} s from 0.5 s; captured = disk × the run's ratio:"
    echo
    echo "| mix | ratio | disk MB/s | captured MB/s | captured / throttled dd | store files (longest gap s) | store thread on a CPU |"
    echo "|---|---:|---:|---:|---:|---|---:|"
    jq -r '.[] | select(.kind == "throttled_zstd")
      | (.files.disk_Bps / 1e6) as $disk
      | [.mix, .ratio, ($disk * 10 | round / 10), ($disk * .ratio * 10 | round / 10), ($disk * .ratio / .dd_MBps * 100 | round / 100),
         "\(.files.files) (\(.files.max_gap_s))", "\(((.window.store_thread_cpu // 0) * 100) | round) %"]
      | "| " + (map(tostring) | join(" | ")) + " |"' "$R"
  fi
  if [[ -n $bench_md ]]; then
    echo
    echo "## 4. scripts/bench.sh, store off and on"
    echo
    echo "\`SIZES=\"64 1500\" WORKERS=1 REPEATS=$BENCH_REPEATS SECONDS_PER_RUN=$BENCH_SECS HALF=0 STORE_DIR=<ext4 loop fs> STORE_COMPRESS=zstd STORE_SIZE=$STORE_SIZE scripts/bench.sh\` ($bench_md): each repeat runs testpmd, mirrorcap with the store off, then with it on. \"vs store off\" = store-on median / store-off median; the store-off range is the spread to compare with."
    echo
    sed -n '/^|/p' "$bench_md"
  fi
} >"$md"
cat "$md"
log "written: $md $json"
