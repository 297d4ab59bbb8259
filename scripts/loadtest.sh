#!/usr/bin/env bash
# RFC 2544-style load test of the appliance: for each inner frame size, the highest offered
# rate at which `mirrorcap run` captures every frame `mirrorcap gen` sent (binary search between
# a floor and the generator's own maximum), with kernel capture tools listening to the same
# traffic at the same time as peers. Every run leaves loadtest-results/<UTC time>/ (params,
# raw and summary CSV, a markdown table, a PNG chart, the appliance's metrics). docs/loadtest.md
# explains the method, the columns and the remote (EC2) procedure.
#
# This script is the plumbing: namespaces, veth, SSH, starting and stopping processes, copying
# files. The numbers (Prometheus parsing, gen's JSON report, the trials.csv rows, the binary
# search) are scripts/loadtest_trials.py's, run once per step, so they are unit-tested there.
#
# Local mode (root): two network namespaces joined by a veth pair; gen sends over
# net_af_packet on one end; on the other end the appliance (net_af_packet), tcpdump -w on the
# raw veth, tcpdump -w on a kernel VXLAN interface (external mode, so the kernel decapsulates)
# and netsniff-ng (if installed) each get their own copy of every frame.
# Remote mode: --remote GEN_HOST APP_HOST, both over SSH, DPDK-bound ENIs; no peers.
#
# Usage: scripts/loadtest.sh [options]          (scripts/loadtest.sh --help lists them)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  cat <<'EOF'
Usage: scripts/loadtest.sh [options]
  --sizes "64 512 1500"   inner frame sizes in bytes (each searched on its own)
  --duration SECS         trial length (default 10)
  --iterations N          binary-search trials per size after the max-rate trial (default 6)
  --tolerance FRACTION    loss allowed in a passing trial, as a fraction of sent (default 0)
  --floor PPS             lowest rate searched (default: 1% of the generator's maximum)
  --quick                 smoke settings: --sizes 64 --duration 2 --iterations 2 (flags given win)
  --workers N             appliance workers (default 1)
  --flows N               inner flows the generator spreads frames over (default 64)
  --peers LIST            comma list of tcpdump-veth,tcpdump-vxlan,netsniff-ng, or none
                          (default: all installed; local mode only)
  --gen-lcores MAP        gen's EAL --lcores (default 0@0,1@0: CPU 0)
  --app-lcores MAP        appliance's EAL --lcores (default: main on CPU 0, workers from CPU 1)
  --peer-cpus LIST        CPUs the peers run on (taskset; default 0: off the appliance's workers)
  --framecnt N            the appliance's net_af_packet ring frames per queue (default: 128 MiB);
                          the peers get the same memory (tcpdump -B, netsniff-ng --ring-size)
  --bin PATH              the mirrorcap binary (default: cargo build --release, target/release)
  --gen-bin PATH          the binary that runs `gen` (default: --bin)
  --out DIR               results folder (default loadtest-results/<UTC time>)
  --metrics-port PORT     appliance metrics port (default 9390)
  --dry-run               print the commands of the set-up and of one trial, run nothing
 remote mode (EC2, see docs/loadtest.md):
  --remote GEN_HOST APP_HOST   ssh destinations ([user@]host) of the generator and appliance
  --gen-device PCI / --app-device PCI   the DPDK-bound data ENIs
  --gen-ip IP / --app-ip IP    the data ENIs' private IPs (outer source / destination)
  --gen-mac MAC / --dst-mac MAC   gen ENI's MAC; next-hop MAC towards --app-ip
  --remote-bin PATH       mirrorcap on both hosts (default /usr/bin/mirrorcap)
  --ssh-opt OPT           extra ssh option (repeatable), e.g. --ssh-opt -i --ssh-opt key.pem
EOF
}

die() {
  echo "loadtest: error: $*" >&2
  exit 2
}
log() { echo "loadtest: $*" >&2; }

# ---- options ---------------------------------------------------------------------------------
SIZES="" DURATION="" ITERATIONS="" TOLERANCE=0 FLOOR="" QUICK=0 WORKERS=1 FLOWS=64
PEERS=auto PEER_CPUS=0 GEN_LCORES="" APP_LCORES="" FRAMECNT="" BIN="" GEN_BIN="" OUT="" PORT=9390 DRY=0
REMOTE=0 GEN_HOST="" APP_HOST="" GEN_DEVICE="" APP_DEVICE="" GEN_IP="" APP_IP="" GEN_MAC=""
DST_MAC="" REMOTE_BIN=/usr/bin/mirrorcap
SSH_OPTS=(-o BatchMode=yes)

need() { [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value (scripts/loadtest.sh --help)"; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
in_range() { is_uint "$1" && (($1 >= $2 && $1 <= $3)); }

while [[ $# -gt 0 ]]; do
  case $1 in
  -h | --help) usage; exit 0 ;;
  --sizes) need "$@"; SIZES=$2; shift 2 ;;
  --duration) need "$@"; DURATION=$2; shift 2 ;;
  --iterations) need "$@"; ITERATIONS=$2; shift 2 ;;
  --tolerance) need "$@"; TOLERANCE=$2; shift 2 ;;
  --floor) need "$@"; FLOOR=$2; shift 2 ;;
  --quick) QUICK=1; shift ;;
  --workers) need "$@"; WORKERS=$2; shift 2 ;;
  --flows) need "$@"; FLOWS=$2; shift 2 ;;
  --peers) need "$@"; PEERS=$2; shift 2 ;;
  --gen-lcores) need "$@"; GEN_LCORES=$2; shift 2 ;;
  --app-lcores) need "$@"; APP_LCORES=$2; shift 2 ;;
  --peer-cpus) need "$@"; PEER_CPUS=$2; shift 2 ;;
  --framecnt) need "$@"; FRAMECNT=$2; shift 2 ;;
  --bin) need "$@"; BIN=$2; shift 2 ;;
  --gen-bin) need "$@"; GEN_BIN=$2; shift 2 ;;
  --out) need "$@"; OUT=$2; shift 2 ;;
  --metrics-port) need "$@"; PORT=$2; shift 2 ;;
  --dry-run) DRY=1; shift ;;
  --remote)
    [[ $# -ge 3 && -n $2 && -n $3 && $2 != -* && $3 != -* ]] || die "--remote needs GEN_HOST APP_HOST"
    REMOTE=1; GEN_HOST=$2; APP_HOST=$3; shift 3 ;;
  --gen-device) need "$@"; GEN_DEVICE=$2; shift 2 ;;
  --app-device) need "$@"; APP_DEVICE=$2; shift 2 ;;
  --gen-ip) need "$@"; GEN_IP=$2; shift 2 ;;
  --app-ip) need "$@"; APP_IP=$2; shift 2 ;;
  --gen-mac) need "$@"; GEN_MAC=$2; shift 2 ;;
  --dst-mac) need "$@"; DST_MAC=$2; shift 2 ;;
  --remote-bin) need "$@"; REMOTE_BIN=$2; shift 2 ;;
  --ssh-opt) need "$@"; SSH_OPTS+=("$2"); shift 2 ;;
  *) die "unknown argument '$1' (scripts/loadtest.sh --help)" ;;
  esac
done

if [[ $QUICK == 1 ]]; then
  SIZES=${SIZES:-64} DURATION=${DURATION:-2} ITERATIONS=${ITERATIONS:-2}
fi
SIZES=${SIZES:-64 512 1500} DURATION=${DURATION:-10} ITERATIONS=${ITERATIONS:-6}

for s in $SIZES; do
  in_range "$s" 60 9019 || die "--sizes: '$s' is not an inner frame size in bytes (60-9019)"
done
awk -v d="$DURATION" 'BEGIN { exit !(d ~ /^[0-9]+(\.[0-9]+)?$/ && d > 0) }' ||
  die "--duration: '$DURATION' is not a positive number of seconds"
is_uint "$ITERATIONS" || die "--iterations: '$ITERATIONS' is not a whole number"
awk -v t="$TOLERANCE" 'BEGIN { exit !(t ~ /^[0-9]+(\.[0-9]+)?$/ && t < 1) }' ||
  die "--tolerance: '$TOLERANCE' is not a fraction in [0, 1)"
[[ -z $FLOOR ]] || is_uint "$FLOOR" || die "--floor: '$FLOOR' is not packets per second"
in_range "$WORKERS" 1 8 || die "--workers: '$WORKERS' is not 1-8"
in_range "$FLOWS" 1 1000000 || die "--flows: '$FLOWS' is not a positive number"
[[ -z $FRAMECNT ]] || in_range "$FRAMECNT" 64 1048576 || die "--framecnt: '$FRAMECNT' is not a number in 64-1048576"
in_range "$PORT" 1 65535 || die "--metrics-port: '$PORT' is not a TCP port"

MAXSIZE=0
for s in $SIZES; do ((s > MAXSIZE)) && MAXSIZE=$s; done
OUTER=$((MAXSIZE + 50)) # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8
CPUS=$(nproc)
USER_GEN_LCORES=$GEN_LCORES USER_APP_LCORES=$APP_LCORES
if [[ -z $APP_LCORES ]]; then
  APP_LCORES="0@0"
  for ((w = 1; w <= WORKERS; w++)); do APP_LCORES+=",$w@$((w % CPUS))"; done
fi
GEN_LCORES=${GEN_LCORES:-0@0,1@0}
# Remote hosts: each program's own lcore choice unless given.
GEN_LC=(--lcores "$GEN_LCORES") APP_LC=(--lcores "$APP_LCORES")
if [[ $REMOTE == 1 ]]; then
  [[ -n $USER_GEN_LCORES ]] || GEN_LC=() GEN_LCORES="(gen's default)"
  [[ -n $USER_APP_LCORES ]] || APP_LC=() APP_LCORES="(mirrorcap's default)"
fi

if [[ $REMOTE == 1 ]]; then
  [[ $PEERS == auto || $PEERS == none ]] || die "--peers: peers run in local mode only"
  PEERS=none
  for v in GEN_DEVICE APP_DEVICE GEN_IP APP_IP GEN_MAC DST_MAC; do
    flag=--$(echo "${v,,}" | tr _ -)
    [[ -n ${!v} ]] || die "remote mode needs $flag (docs/loadtest.md, remote mode)"
  done
  [[ $GEN_IP =~ ^[0-9]+(\.[0-9]+){3}$ && $APP_IP =~ ^[0-9]+(\.[0-9]+){3}$ ]] ||
    die "--gen-ip/--app-ip: IPv4 addresses expected"
  [[ $GEN_MAC =~ ^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$ && $DST_MAC =~ ^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$ ]] ||
    die "--gen-mac/--dst-mac: MAC addresses like 0a:1b:2c:3d:4e:5f expected"
  BIN=${BIN:-$REMOTE_BIN} GEN_BIN=${GEN_BIN:-$REMOTE_BIN}
else
  if [[ $PEERS == auto ]]; then
    PEERS=tcpdump-veth,tcpdump-vxlan
    if command -v netsniff-ng >/dev/null; then PEERS+=,netsniff-ng; fi
  fi
  [[ $PEERS == none ]] && PEERS=""
  for p in ${PEERS//,/ }; do
    case $p in
    tcpdump-veth | tcpdump-vxlan) command -v tcpdump >/dev/null || die "--peers $p: tcpdump is not installed (scripts/setup.sh)" ;;
    netsniff-ng) command -v netsniff-ng >/dev/null || die "--peers netsniff-ng: netsniff-ng is not installed (apt-get install netsniff-ng)" ;;
    *) die "--peers: unknown peer '$p' (tcpdump-veth, tcpdump-vxlan, netsniff-ng, none)" ;;
    esac
  done
  if [[ $DRY == 0 ]]; then
    [[ $(id -u) -eq 0 ]] || die "local mode needs root (network namespaces, AF_PACKET)"
    for t in ip curl capinfos; do command -v "$t" >/dev/null || die "$t is not installed (scripts/setup.sh)"; done
  fi
  if [[ -z $BIN ]]; then
    if [[ $DRY == 0 ]]; then
      cargo build --release --locked -q || die "cargo build --release failed"
    fi
    BIN=${CARGO_TARGET_DIR:-target}/release/mirrorcap
  fi
  GEN_BIN=${GEN_BIN:-$BIN}
  if [[ $DRY == 0 ]]; then
    [[ -x $BIN ]] || die "--bin: $BIN is not an executable"
    [[ -x $GEN_BIN ]] || die "--gen-bin: $GEN_BIN is not an executable"
  fi
fi
PY=python3
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null && PY=/usr/bin/python3
# acct ARGS...: one accounting step (scripts/loadtest_trials.py; standard library only).
acct() { "$PY" scripts/loadtest_trials.py "$@"; }

# ---- where commands run ----------------------------------------------------------------------
ID=$$
NS_GEN=mcl-gen-$ID NS_APP=mcl-app-$ID VETH_GEN=mclg$ID VETH_APP=mcla$ID VXLAN=mclvx$ID
GEN_IP_LOCAL=10.199.0.1 APP_IP_LOCAL=10.199.0.2
GEN_MAC_LOCAL=02:6d:63:00:00:01 APP_MAC_LOCAL=02:6d:63:00:00:02

# quoted WORD...: the words as one shell command line (quoting only the words that need it).
quoted() {
  local w out=""
  for w in "$@"; do
    if [[ $w =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then out+="$w "; else out+="$(printf '%q' "$w") "; fi
  done
  echo "${out% }"
}
# x CMD...: run (or, with --dry-run, print) a command on this host.
x() {
  if [[ $DRY == 1 ]]; then echo "+ $(quoted "$@")"; else "$@"; fi
}
# on_gen / on_app CMD...: run a command where the generator / appliance live.
on_gen() {
  if [[ $REMOTE == 1 && $DRY == 1 ]]; then echo "+ ssh ${SSH_OPTS[*]} $GEN_HOST 'sudo $(quoted "$@")'"
  elif [[ $REMOTE == 1 ]]; then x ssh "${SSH_OPTS[@]}" "$GEN_HOST" "sudo $(quoted "$@")"; else x ip netns exec "$NS_GEN" "$@"; fi
}
on_app() {
  if [[ $REMOTE == 1 && $DRY == 1 ]]; then echo "+ ssh ${SSH_OPTS[*]} $APP_HOST 'sudo $(quoted "$@")'"
  elif [[ $REMOTE == 1 ]]; then x ssh "${SSH_OPTS[@]}" "$APP_HOST" "sudo $(quoted "$@")"; else x ip netns exec "$NS_APP" "$@"; fi
}

# ---- results folder --------------------------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-loadtest-results/$STAMP}
if [[ $DRY == 0 ]]; then
  mkdir -p "$OUT/metrics" "$OUT/gen" "$OUT/logs" || die "cannot create the results folder $OUT"
  WORK=$(mktemp -d /dev/shm/mirrorcap-loadtest.XXXXXX)
else
  WORK=/dev/shm/mirrorcap-loadtest.DRYRUN
fi

APP_PID="" GEN_PID=""
declare -A PEER_PID=()
cleanup() {
  local p
  for p in "${PEER_PID[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  [[ -z $GEN_PID ]] || kill -INT "$GEN_PID" 2>/dev/null || true
  if [[ -n $APP_PID ]]; then
    kill -INT "$APP_PID" 2>/dev/null || true
    wait "$APP_PID" 2>/dev/null || true
  fi
  if [[ $REMOTE == 1 && $DRY == 0 ]]; then
    ssh "${SSH_OPTS[@]}" "$APP_HOST" "sudo pkill -INT -F /tmp/mirrorcap-loadtest-app.pid" 2>/dev/null || true
  fi
  if [[ $REMOTE == 0 && $DRY == 0 ]]; then
    ip netns del "$NS_GEN" 2>/dev/null || true
    ip netns del "$NS_APP" 2>/dev/null || true
  fi
  [[ $DRY == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- set-up ----------------------------------------------------------------------------------
# DPDK memory: hugepages when enough are free for a second process, else --no-huge.
eal_mem() {
  local free
  free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
  if [[ $REMOTE == 1 || $free -ge 256 ]]; then echo "--file-prefix $1"; else echo "--file-prefix $1 --no-huge -m 1024"; fi
}

# net_af_packet frames must hold the largest outer frame plus the TPACKET header.
# Jumbo frames get 9216-byte slots: net_af_packet refuses slots whose data (slot - 32 bytes)
# exceed the mbufs' 9728-byte data room (MAX_FRAME in src/app/run.rs), and it addresses slot i at
# i x framesz, so a block must be whole pages holding whole slots (9216 x 4 = 9 pages).
FRAMESZ=2048
for f in 2048 4096 8192 9216; do
  FRAMESZ=$f
  ((f < OUTER + 128)) || break
done
BLOCKSZ=$FRAMESZ
while ((BLOCKSZ % 4096)); do BLOCKSZ=$((BLOCKSZ + FRAMESZ)); done
# The appliance's AF_PACKET ring is its only buffer while its worker is off the CPU: 128 MiB
# (65536 frames of 2 KiB; fewer, larger ones for jumbo sizes) unless given.
# Whole blocks: the kernel wants the frame count to be a multiple of the frames per block.
PER_BLOCK=$((BLOCKSZ / FRAMESZ))
BLOCKS=$((128 * 1024 * 1024 / BLOCKSZ))
FRAMECNT=${FRAMECNT:-$((BLOCKS * PER_BLOCK))}
FRAMECNT=$(((FRAMECNT + PER_BLOCK - 1) / PER_BLOCK * PER_BLOCK))
MTU=$(((OUTER + 100) > 1500 ? OUTER + 100 : 1500))

if [[ $REMOTE == 0 ]]; then
  AF="framesz=$FRAMESZ,blocksz=$BLOCKSZ"
  GEN_PORT=(--vdev "net_af_packet0,iface=$VETH_GEN,qpairs=1,$AF,framecnt=4096")
  APP_PORT=(--vdev "net_af_packet0,iface=$VETH_APP,qpairs=$WORKERS,$AF,framecnt=$FRAMECNT")
  OUT_ADDR=(--outer-src-mac "$GEN_MAC_LOCAL" --outer-dst-mac "$APP_MAC_LOCAL" --outer-src-ip "$GEN_IP_LOCAL" --outer-dst-ip "$APP_IP_LOCAL")
  RING_DIR=$WORK/ring
  # shellcheck disable=SC2207 # words of eal_mem on purpose
  GEN_EAL=(--no-pci $(eal_mem "mcl-gen-$ID") "${GEN_LC[@]}")
  # shellcheck disable=SC2207
  APP_EAL=(--no-pci $(eal_mem "mcl-app-$ID") "${APP_LC[@]}")
  log "namespaces $NS_GEN and $NS_APP, veth $VETH_GEN <-> $VETH_APP (MTU $MTU), kernel VXLAN $VXLAN"
  x ip netns add "$NS_GEN"
  x ip netns add "$NS_APP"
  x ip link add "$VETH_GEN" type veth peer name "$VETH_APP"
  x ip link set "$VETH_GEN" netns "$NS_GEN"
  x ip link set "$VETH_APP" netns "$NS_APP"
  for ns in "$NS_GEN" "$NS_APP"; do
    # No IPv6 (no neighbour discovery or MLD frames mixed into the counts), no reverse-path filter.
    x ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
      net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    x ip -n "$ns" link set lo up
  done
  x ip -n "$NS_GEN" link set "$VETH_GEN" address "$GEN_MAC_LOCAL" mtu "$MTU" up
  x ip -n "$NS_APP" link set "$VETH_APP" address "$APP_MAC_LOCAL" mtu "$MTU" up
  x ip -n "$NS_GEN" addr add "$GEN_IP_LOCAL/24" dev "$VETH_GEN"
  x ip -n "$NS_APP" addr add "$APP_IP_LOCAL/24" dev "$VETH_APP"
  # The kernel's own VXLAN decapsulation: every VNI to UDP 4789 lands on this interface.
  x ip -n "$NS_APP" link add "$VXLAN" mtu "$MTU" type vxlan external dstport 4789
  x ip -n "$NS_APP" link set "$VXLAN" up
else
  GEN_PORT=(--device "$GEN_DEVICE")
  APP_PORT=(--device "$APP_DEVICE")
  OUT_ADDR=(--outer-src-mac "$GEN_MAC" --outer-dst-mac "$DST_MAC" --outer-src-ip "$GEN_IP" --outer-dst-ip "$APP_IP")
  RING_DIR=/dev/shm/mirrorcap-loadtest-ring
  GEN_EAL=(--file-prefix mcl-gen "${GEN_LC[@]}")
  APP_EAL=(--file-prefix mcl-app "${APP_LC[@]}")
fi

METRICS_URL=http://127.0.0.1:$PORT/metrics
APP_CMD=("$BIN" run "${APP_PORT[@]}" --workers "$WORKERS" --ring-dir "$RING_DIR" --segment-size 64MiB
  --segments 4 --metrics-addr "127.0.0.1:$PORT" --log-interval 1h --stamps -- "${APP_EAL[@]}")

# gen_cmd SIZE RATE REPORT: the generator's command for one trial.
gen_cmd() {
  GEN_CMD=("$GEN_BIN" gen "${GEN_PORT[@]}" --encap vxlan --vni 100 "${OUT_ADDR[@]}" --flows "$FLOWS"
    --proto udp --inner-size "$1" --rate "$2" --duration "${DURATION}s" --progress 0 --report-json "$3" -- "${GEN_EAL[@]}")
}

scrape() { on_app curl -sf --max-time 5 "$METRICS_URL"; }

{
  echo "# mirrorcap load test $STAMP"
  echo "mode: $([[ $REMOTE == 1 ]] && echo "remote (generator $GEN_HOST, appliance $APP_HOST)" || echo "local (veth pair between two network namespaces, net_af_packet both ends)")"
  echo "sizes (inner frame bytes): $SIZES"
  echo "trial duration s: $DURATION"
  echo "search iterations per size: $ITERATIONS (after one trial at --rate max)"
  echo "loss tolerance (fraction of sent): $TOLERANCE"
  echo "floor pps: ${FLOOR:-"1% of the generator's maximum"}"
  echo "appliance workers: $WORKERS; appliance EAL --lcores $APP_LCORES; gen EAL --lcores $GEN_LCORES"
  echo "host: $CPUS CPUs, $(awk '/model name/ { $1 = $2 = $3 = ""; print; exit }' /proc/cpuinfo | sed 's/^ *//'), kernel $(uname -r), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?')"
  if [[ $REMOTE == 0 ]]; then
    echo "net_af_packet: framesz=$FRAMESZ; the appliance's ring $FRAMECNT frames per queue, gen's 4096; veth MTU $MTU"
    echo "peers: ${PEERS:-none} (tcpdump -B $((FRAMESZ * FRAMECNT / 1024)) KiB, the appliance's ring size; on CPUs $PEER_CPUS)"
  else
    echo "peers: none (remote mode)"
  fi
  echo "flows: $FLOWS, encapsulation vxlan, VNI 100, UDP inner"
  echo "appliance: ${APP_CMD[*]}"
  gen_cmd SIZE RATE REPORT.json
  echo "gen: ${GEN_CMD[*]}"
  echo "results: $OUT"
} >"$([[ $DRY == 1 ]] && echo /dev/stdout || echo "$OUT/params.txt")"

# ---- the appliance ---------------------------------------------------------------------------
log "starting the appliance"
if [[ $DRY == 1 ]]; then
  on_app "${APP_CMD[@]}"
elif [[ $REMOTE == 1 ]]; then
  inner="$(quoted "${APP_CMD[@]}") >/tmp/mirrorcap-loadtest-app.log 2>&1 & echo \$! >/tmp/mirrorcap-loadtest-app.pid"
  # shellcheck disable=SC2029 # expanded here on purpose: the remote side gets the quoted command
  ssh "${SSH_OPTS[@]}" "$APP_HOST" "sudo sh -c $(printf '%q' "$inner")"
else
  ip netns exec "$NS_APP" "${APP_CMD[@]}" >"$OUT/logs/appliance.log" 2>&1 &
  APP_PID=$!
fi
if [[ $DRY == 0 ]]; then
  for ((i = 0; i < 60; i++)); do
    scrape >/dev/null 2>&1 && break
    if [[ -n $APP_PID ]] && ! kill -0 "$APP_PID" 2>/dev/null; then
      tail -3 "$OUT/logs/appliance.log" >&2
      die "the appliance exited at start (log: $OUT/logs/appliance.log)"
    fi
    sleep 0.5
  done
  where=$OUT/logs/appliance.log
  [[ $REMOTE == 0 ]] || where=$APP_HOST:/tmp/mirrorcap-loadtest-app.log
  scrape >/dev/null || die "the appliance's metrics never answered on $METRICS_URL (log: $where)"
fi

# ---- one trial -------------------------------------------------------------------------------
# The veth pair's kernel drop counters (gen side TX, appliance side RX): backlog overruns.
veth_drops() {
  if [[ $REMOTE == 1 ]]; then echo 0; return; fi
  local a b
  a=$(ip netns exec "$NS_GEN" cat "/sys/class/net/$VETH_GEN/statistics/tx_dropped")
  b=$(ip netns exec "$NS_APP" cat "/sys/class/net/$VETH_APP/statistics/rx_dropped")
  echo $((a + b))
}

# The appliance's worker threads' scheduler totals, "run_ns wait_ns" (local mode; their deltas
# over a trial say whether the workers had their CPU).
worker_sched() {
  if [[ $REMOTE == 1 || -z $APP_PID ]]; then echo "0 0"; return; fi
  acct sched "$APP_PID"
}

start_peers() {
  local p
  for p in ${PEERS//,/ }; do
    case $p in
    tcpdump-veth) ip netns exec "$NS_APP" taskset -c "$PEER_CPUS" tcpdump -i "$VETH_APP" -s 0 -B $((FRAMESZ * FRAMECNT / 1024)) -n -w "$WORK/$p.pcap" 2>"$WORK/$p.err" & ;;
    tcpdump-vxlan) ip netns exec "$NS_APP" taskset -c "$PEER_CPUS" tcpdump -i "$VXLAN" -s 0 -B $((FRAMESZ * FRAMECNT / 1024)) -n -w "$WORK/$p.pcap" 2>"$WORK/$p.err" & ;;
    netsniff-ng) ip netns exec "$NS_APP" taskset -c "$PEER_CPUS" netsniff-ng --in "$VETH_APP" --out "$WORK/$p.pcap" --silent --ring-size "$((FRAMESZ * FRAMECNT / 1024))KiB" >"$WORK/$p.err" 2>&1 & ;;
    esac
    PEER_PID[$p]=$!
  done
  # Listening before the first frame: tcpdump says so; netsniff-ng has opened its file.
  local i ok
  for ((i = 0; i < 50; i++)); do
    ok=1
    for p in "${!PEER_PID[@]}"; do
      case $p in
      tcpdump-*) grep -q 'listening on' "$WORK/$p.err" 2>/dev/null || ok=0 ;;
      netsniff-ng) [[ -s $WORK/$p.pcap ]] || ok=0 ;;
      esac
      kill -0 "${PEER_PID[$p]}" 2>/dev/null || die "peer $p exited at start: $(tail -2 "$WORK/$p.err")"
    done
    [[ $ok == 1 ]] && break
    sleep 0.1
  done
  [[ $ok == 1 ]] || die "peers not ready after 5 s"
}

# stop_peers: leaves each peer's `capinfos -c` output in $WORK/peers/PEER.capinfos (empty when
# it wrote nothing: counted as 0) and deletes the captures.
stop_peers() {
  local p
  for p in "${!PEER_PID[@]}"; do
    kill -INT "${PEER_PID[$p]}" 2>/dev/null || true
    wait "${PEER_PID[$p]}" 2>/dev/null || true
  done
  rm -rf "$WORK/peers"
  mkdir -p "$WORK/peers"
  for p in "${!PEER_PID[@]}"; do
    capinfos -c -M "$WORK/$p.pcap" >"$WORK/peers/$p.capinfos" 2>/dev/null || true
    rm -f "$WORK/$p.pcap"
  done
  PEER_PID=()
}

TRIAL=0
# trial SIZE RATE PHASE: one trial; its row goes to trials.csv (loadtest_trials.py trial).
trial() {
  local size=$1 rate=$2 phase=$3
  TRIAL=$((TRIAL + 1))
  local n
  n=$(printf '%03d' "$TRIAL")
  local report="$WORK/gen-$n.json"
  [[ $REMOTE == 1 ]] && report=/tmp/mirrorcap-loadtest-gen.json
  gen_cmd "$size" "$rate" "$report"
  if [[ $DRY == 1 ]]; then
    on_gen "${GEN_CMD[@]}"
    scrape
    return
  fi
  scrape >"$WORK/before.prom" || die "scrape before trial $n failed"
  local vd0 s0 t0
  vd0=$(veth_drops)
  s0=$(worker_sched)
  t0=$(date +%s%N)
  [[ $REMOTE == 1 ]] || start_peers
  if [[ $REMOTE == 1 ]]; then
    on_gen "${GEN_CMD[@]}" >"$OUT/logs/gen-$n.log" 2>&1 || die "gen failed in trial $n (log: $OUT/logs/gen-$n.log)"
    on_gen cat "$report" >"$OUT/gen/trial-$n.json"
  else
    on_gen "${GEN_CMD[@]}" >"$OUT/logs/gen-$n.log" 2>&1 &
    GEN_PID=$!
    wait "$GEN_PID" || { GEN_PID=""; tail -3 "$OUT/logs/gen-$n.log" >&2; die "gen failed in trial $n (log: $OUT/logs/gen-$n.log)"; }
    GEN_PID=""
    cp "$report" "$OUT/gen/trial-$n.json"
  fi
  # Counters settle: the appliance's received count unchanged over half a second (at most 10 s).
  local prev=-1 cur i
  for ((i = 0; i < 20; i++)); do
    sleep 0.5
    scrape >"$WORK/after.prom" || die "scrape after trial $n failed"
    cur=$(acct total "$WORK/after.prom" mirrorcap_rx_packets_total) || die "trial $n: unreadable /metrics"
    [[ $cur == "$prev" ]] && break
    prev=$cur
  done
  cp "$WORK/after.prom" "$OUT/metrics/trial-$n.prom"
  local peers=()
  if [[ $REMOTE == 0 ]]; then
    stop_peers
    peers=(--peers "$WORK/peers")
  fi
  local vd1 s1 t1
  vd1=$(veth_drops)
  s1=$(worker_sched)
  t1=$(date +%s%N)
  # shellcheck disable=SC2086 # s0 and s1 are two numbers each, on purpose
  acct trial "$OUT" --trial "$TRIAL" --size "$size" --phase "$phase" --rate "$rate" \
    --tolerance "$TOLERANCE" --workers "$WORKERS" --report "$OUT/gen/trial-$n.json" \
    --before "$WORK/before.prom" --after "$WORK/after.prom" --veth-drops "$vd0" "$vd1" \
    --sched-before $s0 --sched-after $s1 --wall-ns $((t1 - t0)) "${peers[@]}" ||
    die "the accounting of trial $n failed (scripts/loadtest_trials.py)"
}

# ---- the search ------------------------------------------------------------------------------
# loadtest_trials.py next names each size's next trial from trials.csv so far (docs/loadtest.md,
# "The search"); a dry run shows the first two.
for size in $SIZES; do
  log "size $size: trial at the generator's maximum rate"
  if [[ $DRY == 1 ]]; then
    trial "$size" max max
    trial "$size" RATEpps search
    continue
  fi
  floor=()
  [[ -z $FLOOR ]] || floor=(--floor "$FLOOR")
  while true; do
    step=$(acct next "$OUT" "$size" --iterations "$ITERATIONS" "${floor[@]}") ||
      die "the search for size $size failed (scripts/loadtest_trials.py next)"
    [[ -n $step ]] || break
    read -r rate phase <<<"$step"
    trial "$size" "$rate" "$phase"
  done
done
[[ $DRY == 1 ]] && exit 0

scrape >"$OUT/metrics-final.prom" || log "warning: the final scrape failed"
"$PY" scripts/loadtest-chart.py "$OUT" "$TOLERANCE" || die "the chart failed (scripts/loadtest-chart.py $OUT)"
cat "$OUT/summary.md"
log "results in $OUT"
