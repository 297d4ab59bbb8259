#!/usr/bin/env bash
# mirrorcap against Debian's Stenographer (1.0.1) on the same traffic (issue 17, docs/index.md
# "Compared with Stenographer"):
#  1. `mirrorcap gen -w` writes PACKETS mirrored (VXLAN) packets: FLOWS inner UDP flows, three
#     VNIs, inner frames of 60-1400 bytes. gen's flow f is 192.0.2.(f % 250 + 1):(10000 + f)
#     -> 203.0.113.7:443, so flow MARK_FLOW is the marked flow both tools are asked for.
#     `mirrorcap run` replays them through net_pcap into a ring on tmpfs (large enough to hold
#     them all) and a store (zstd, flow index on) on LOOP_DIR's disk, as scripts/bench-query.sh
#     does; `mirrorcap export` of ring + store gives the decapsulated inner frames (inner.pcap).
#  2. A network namespace of its own with a veth pair: Stenographer (its own config, one
#     thread, packet and index directories under LOOP_DIR, certificates made by stenokeys,
#     HTTPS on the namespace's loopback, run as the stenographer user as the package's unit
#     does) captures on one end while tcpreplay sends inner.pcap into the other at RATE packets
#     a second. Packets sent (tcpreplay), captured and dropped (stenotype's own AF_PACKET
#     counters, its "Thread 0 stats" line), and served (a query for every IPv4 packet).
#  3. For the marked flow (`host A and port P`, its 5-tuple, and `host A`, which every 250th
#     flow shares): `stenoread EXPR -w FILE` against `mirrorcap query RING STORE EXPR`, cold
#     (page cache dropped; Stenographer's server keeps running, as deployed) and warm (best of
#     WARM_REPEATS), packets returned, the count tcpdump finds in inner.pcap, and whether both
#     give the same frames (tcpdump -xx without timestamps: Stenographer's are the replay's).
#     Index sizes: Stenographer's index files against its packet files and the frame bytes,
#     mirrorcap's .fidx against the bytes stored and its zstd files.
#  4. A second Stenographer (fresh directories) fed the ORIGINAL mirrored pcap, as it would be
#     on an AWS mirror target: it indexes the outer headers (198.51.100.x, UDP 4789), so the
#     same inner-flow queries find nothing there.
# Writes bench/results/steno-<UTC time>.md. Root (namespaces, drop_caches). Traffic stays in
# the namespace it creates; everything it makes (namespace, processes, files) goes on exit.
#
# Usage: scripts/bench-steno.sh            (about 4 minutes; needs scripts/setup.sh's packages)
# Env: PACKETS (1500000), FLOWS (50000), MARK_FLOW (12345), RATE (100000 packets/s),
#      RING_SEGMENTS (64 MiB each; default: PACKETS x 800 B + 2),
#      LOOP_DIR (/var/tmp), WARM_REPEATS (3), STENO_BLOCKS (512: stenotype's 1 MiB AF_PACKET
#      blocks), STENO_FILEAGE (60: stenotype's file rotation in seconds, its default)
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
PACKETS=${PACKETS:-1500000}
FLOWS=${FLOWS:-50000}
MARK_FLOW=${MARK_FLOW:-12345}
RATE=${RATE:-100000}
LOOP_DIR=${LOOP_DIR:-/var/tmp}
WARM_REPEATS=${WARM_REPEATS:-3}
STENO_BLOCKS=${STENO_BLOCKS:-512}
STENO_FILEAGE=${STENO_FILEAGE:-60}
# A ring that holds all of gen's packets (~730 B each): net_pcap replays far faster than the
# store writes, and a ring lapping a store that fell behind (a busy shared disk) loses packets
# (store_overrun) that the comparison needs.
RING_SEGMENTS=${RING_SEGMENTS:-$((PACKETS * 800 / (64 << 20) + 2))}

log() { echo "bench-steno: $*" >&2; }
die() {
  echo "bench-steno: error: $*" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || die "needs root (network namespace, drop_caches)"
for t in stenographer stenotype stenoread stenocurl stenokeys tcpreplay tcpdump ip setpriv jq curl md5sum; do
  command -v "$t" >/dev/null || die "needs $t (scripts/setup.sh installs it)"
done
id stenographer >/dev/null 2>&1 || die "no stenographer user (Debian's stenographer-common makes it)"
((MARK_FLOW < FLOWS)) || die "MARK_FLOW ($MARK_FLOW) must be below FLOWS ($FLOWS)"

nice -n 19 cargo build --release --locked -q
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/mirrorcap
work=$(mktemp -d "$LOOP_DIR/mirrorcap-bench-steno.XXXXXX")
chmod 755 "$work" # the stenographer user reaches its directories below
ring=$(mktemp -d /dev/shm/mirrorcap-bench-steno.XXXXXX)
ns=mcsteno-$$
steno_pid=""

stop_steno() { # stenographer first (it would restart stenotype), then whatever is left in $ns
  local p i
  if [[ -n $steno_pid ]]; then
    kill "$steno_pid" 2>/dev/null || true
    wait "$steno_pid" 2>/dev/null || true
    steno_pid=""
  fi
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    [[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && return 0
    sleep 0.1
  done
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
}
cleanup() {
  set +e
  stop_steno
  ip netns del "$ns" 2>/dev/null
  rm -rf "$work" "$ring" "/var/run/dpdk/mcbs-$$"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
secs() { # CMD...: wall seconds of CMD (stdout and stderr to files in $work)
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/cmd.out" 2>"$work/cmd.err"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
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
count() { tcpdump --count -r "$@" 2>/dev/null | awk '{ print $1; exit }'; }
frames() { tcpdump -nr "$1" -t -xx 2>/dev/null | md5sum | cut -c1-32; } # the bytes, not the times
sum_sizes() { find "$@" -maxdepth 1 -type f -name '[0-9]*' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b ? a / b * 100 : 0 }'; }

# 1. Traffic, mirrorcap's ring + store, the inner frames.
log "gen: $PACKETS packets, $FLOWS flows, marked flow $MARK_FLOW"
"$bin" gen -w "$work/gen.pcap" --count "$PACKETS" --flows "$FLOWS" --vni 100 --vni 200 --vni 300 \
  --inner-size 60-1400 2>/dev/null
log "run: replay into ring ($ring) and store ($work/store)"
"$bin" run --vdev "net_pcap0,rx_pcap=$work/gen.pcap" --ring-dir "$ring" --segments "$RING_SEGMENTS" \
  --segment-size 64MiB --store-dir "$work/store" --exit-when-idle 3s \
  --metrics-addr 127.0.0.1:0 -- --no-huge -m 2048 --file-prefix "mcbs-$$" 2>"$work/run.log" ||
  die "run failed: $(tail -3 "$work/run.log")"
store_line=$(grep "store worker 0:" "$work/run.log" | head -1)
"$bin" export "$ring" "$work/store" -w "$work/inner.pcap" 2>"$work/export.err"
total=$(awk '/exported/ { print $3; exit }' "$work/export.err")
((total == PACKETS)) || die "export has $total packets, gen wrote $PACKETS: $(cat "$work/export.err"); $store_line"
inner_bytes=$(stat -c %s "$work/inner.pcap")
frame_bytes=$((inner_bytes - 24 - 16 * total)) # the pcap's records without their headers

A=192.0.2.$((MARK_FLOW % 250 + 1))
P=$((10000 + MARK_FLOW))
exprs=("host $A and port $P" "host $A and port $P and host 203.0.113.7 and port 443 and udp" "host $A")
labels=("the marked flow" "its 5-tuple" "its host: $(((FLOWS - 1 - MARK_FLOW % 250) / 250 + 1)) flows")
expect=()
for e in "${exprs[@]}"; do expect+=("$(count "$work/inner.pcap" "$e")"); done
log "marked flow: ${exprs[0]}: ${expect[0]} packets in inner.pcap"

# 2. Stenographer in a namespace of its own.
ip netns add "$ns"
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$ns" link set lo up
ip -n "$ns" link add stcap type veth peer name stsend
ip -n "$ns" link set stcap mtu 9000 up
ip -n "$ns" link set stsend mtu 9000 up

# DIR: the config of a stenographer whose directories are under DIR. stenotype's flags: -v for
# its INFO lines (the per-block stats with its AF_PACKET drop counter), --no_watchdogs because
# its watchdog aborts it after 2 x fileage_sec without a packet, and the bench idles that long
# between replays and queries (a mirror link in service never does). DiskFreePercentage 1: its
# default (10) would have it delete the capture under test on a shared disk that is nearly full.
steno_config() {
  cat <<EOF
{
  "Threads": [
    { "PacketsDirectory": "$1/pkt", "IndexDirectory": "$1/idx", "DiskFreePercentage": 1, "MaxDirectoryFiles": 30000 }
  ],
  "StenotypePath": "/usr/sbin/stenotype",
  "Interface": "stcap",
  "Port": 1234,
  "Host": "127.0.0.1",
  "Flags": ["--blocks=$STENO_BLOCKS", "--fileage_sec=$STENO_FILEAGE", "--stats_blocks=1", "--no_watchdogs", "-v"],
  "CertPath": "$work/certs"
}
EOF
}
sd="" # the running stenographer's directory
start_steno() { # NAME
  local i
  sd=$work/steno-$1
  mkdir -p "$sd/pkt" "$sd/idx" "$sd/tmp"
  steno_config "$sd" >"$sd/config"
  [[ -e $work/certs/ca_cert.pem ]] ||
    STENOGRAPHER_CONFIG=$sd/config stenokeys stenographer stenographer >"$work/stenokeys.log" 2>&1 ||
    die "stenokeys failed: $(tail -3 "$work/stenokeys.log")"
  chown -R stenographer:stenographer "$sd"
  chmod 644 "$sd/config"
  : >"$sd/steno.log" # before the background job opens it: the loop below reads it at once
  # TMPDIR: stenographer's own temp directory (its PKT0/IDX0 links for stenotype) goes with ours.
  ip netns exec "$ns" env TMPDIR="$sd/tmp" setpriv --reuid=stenographer --regid=stenographer \
    --init-groups /usr/sbin/stenographer -config "$sd/config" -syslog=false -v 1 >"$sd/steno.log" 2>&1 &
  steno_pid=$!
  for ((i = 0; i < 300; i++)); do
    if grep -q 'starting to process packets' "$sd/steno.log" &&
      ip netns exec "$ns" env STENOGRAPHER_CONFIG="$sd/config" stenocurl /debug/stats --silent -o /dev/null 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$steno_pid" 2>/dev/null; then
      grep -v '^/lib' "$sd/steno.log" | tail -25 >&2
      die "stenographer exited (its log above)"
    fi
    sleep 0.1
  done
  die "stenographer did not start in 30 s: $(tail -5 "$sd/steno.log")"
}
replay() { # PCAP: into the veth at RATE; sets sent, sent_pps, t_end (µs)
  ip netns exec "$ns" tcpreplay --pps="$RATE" -i stsend "$1" >"$sd/tcpreplay.log" 2>&1 ||
    die "tcpreplay failed: $(tail -5 "$sd/tcpreplay.log")"
  t_end=$(date +%s%6N)
  sent=$(awk '/Actual:/ { print $2; exit }' "$sd/tcpreplay.log")
  sent_pps=$(awk '/Rated:/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "pps") print $i; exit }' "$sd/tcpreplay.log")
}
wait_indexed() { # until the file holding the last packet is rotated, indexed and served
  local n f ok deadline=$((SECONDS + STENO_FILEAGE + 90))
  while ((SECONDS < deadline)); do
    # stenotype names a file by the µs it opened it. A hidden (open) one opened over 11 s after
    # the replay's end (its AF_PACKET blocks are handed over within 10 s, --blockage_sec) means
    # the file with the last packet is closed.
    ok=0
    for f in "$sd"/pkt/.[0-9]*; do
      n=${f##*/.}
      if [[ -e $f ]] && ((n > t_end + 11000000)); then ok=1; fi
    done
    if ((ok)); then
      for f in "$sd"/pkt/[0-9]*; do
        n=${f##*/}
        if ! [[ -e $f && -e $sd/idx/$n ]] || ! grep -q "new blockfile \".*/PKT0/$n\"" "$sd/steno.log"; then ok=0; fi
      done
      if ((ok)); then return 0; fi
    fi
    sleep 0.1
  done
  die "stenographer did not serve the capture in $((STENO_FILEAGE + 90)) s: $(tail -5 "$sd/steno.log")"
}
sread() { # EXPR OUT
  ip netns exec "$ns" env STENOGRAPHER_CONFIG="$sd/config" stenoread "$1" -w "$2"
}
steno_stats() { # sets captured and dropped from stenotype's last stats line
  local l
  l=$(grep 'Thread 0 stats:' "$sd/steno.log" | tail -1 || true)
  captured=$(grep -o 'packets=[0-9]*' <<<"$l" | cut -d= -f2 || true)
  dropped=$(grep -o 'drops=[0-9]*' <<<"$l" | cut -d= -f2 || true)
}

log "stenographer (inner frames): replay inner.pcap at $RATE pps"
start_steno inner
replay "$work/inner.pcap"
log "sent $sent packets at $sent_pps pps; waiting for stenotype to rotate and index (up to $STENO_FILEAGE s)"
wait_indexed
steno_stats
sread "net 0.0.0.0/0" "$work/steno-all.pcap" 2>/dev/null
served=$(count "$work/steno-all.pcap")
rm -f "$work/steno-all.pcap"
s_idx=$(sum_sizes "$sd/idx")
s_pkt=$(sum_sizes "$sd/pkt")
s_files=$(find "$sd/pkt" -maxdepth 1 -type f -name '[0-9]*' | wc -l)
log "stenographer: captured ${captured:-?}, dropped ${dropped:-?}, served $served of $sent sent; index $s_idx B, packets $s_pkt B"

# 3. The marked flow, both ways.
q() { "$bin" query "$ring" "$work/store" "$1" -w "$2"; }
rows=()
for k in "${!exprs[@]}"; do
  e=${exprs[$k]}
  drop
  sc=$(secs sread "$e" "$work/s.pcap")
  sw=$(best "$WARM_REPEATS" sread "$e" "$work/s.pcap")
  sn=$(count "$work/s.pcap")
  drop
  qc=$(secs q "$e" "$work/q.pcap")
  blocks=$(grep -o 'read [0-9]* of [0-9]* store block(s)' "$work/cmd.err" | head -1 || true)
  segs=$(grep -o '[0-9]* ring segment(s) scanned' "$work/cmd.err" | head -1 || true)
  qw=$(best "$WARM_REPEATS" q "$e" "$work/q.pcap")
  qn=$(count "$work/q.pcap")
  if [[ $(frames "$work/s.pcap") == "$(frames "$work/q.pcap")" ]]; then same=yes; else same=NO; fi
  log "$e: stenoread $sc s cold / $sw s warm, $sn packets; query $qc / $qw s, $qn packets ($blocks); expected ${expect[$k]}; same frames: $same"
  rows+=("| \`$e\` | ${labels[$k]} | $sc | $sw | $sn | $qc | $qw | $qn | ${blocks#read }, ${segs:-? ring segment(s) scanned} | ${expect[$k]} | $same |")
done
in_captured=$captured in_dropped=$dropped in_sent=$sent in_pps=$sent_pps
stop_steno

# 4. Stenographer on the mirrored (VXLAN) packets, as an AWS mirror target hands them over.
log "stenographer (VXLAN): replay the mirrored gen.pcap at $RATE pps"
start_steno vxlan
replay "$work/gen.pcap"
wait_indexed
steno_stats
outer=()
for e in "${exprs[@]}"; do
  sread "$e" "$work/v.pcap" 2>/dev/null
  outer+=("$(count "$work/v.pcap")")
done
sread "host 198.51.100.1 and port 4789" "$work/v.pcap" 2>/dev/null
v_outer=$(count "$work/v.pcap")
rm -f "$work/v.pcap"
v_idx=$(sum_sizes "$sd/idx")
v_pkt=$(sum_sizes "$sd/pkt")
log "stenographer (VXLAN): captured ${captured:-?}, dropped ${dropped:-?} of $sent; inner flow: ${outer[0]} packets; outer target 198.51.100.1:4789: $v_outer"
stop_steno

fidx=$(find "$work/store" -name '*.fidx' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
data=$(find "$work/store" -name '*.pcap.zst' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
stored=$(awk '{ for (i = 1; i <= NF; i++) if ($(i + 1) == "MiB" && $(i + 2) == "captured") printf "%d\n", $i * 1048576 }' <<<"$store_line" | head -1)
: "${stored:=$frame_bytes}"

mkdir -p bench/results
out=bench/results/steno-$(date -u +%Y%m%dT%H%M%SZ).md
{
  echo "# mirrorcap against Stenographer $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo
  echo "Made by \`scripts/bench-steno.sh\` at $(git rev-parse --short HEAD 2>/dev/null || echo '?') (PACKETS=$PACKETS FLOWS=$FLOWS MARK_FLOW=$MARK_FLOW RATE=$RATE WARM_REPEATS=$WARM_REPEATS STENO_BLOCKS=$STENO_BLOCKS STENO_FILEAGE=$STENO_FILEAGE). Host: $(nproc) CPUs, $(uname -r); files on $(findmnt -no FSTYPE,SOURCE -T "$work"). Stenographer $(dpkg-query -W -f='${Version}' stenographer) (Debian), one thread; tcpreplay $(dpkg-query -W -f='${Version}' tcpreplay). Wall seconds of one process (\`mirrorcap query\`) or of stenoread (curl over HTTPS to the server, piped to tcpdump -w), cold = page cache dropped, warm = best of $WARM_REPEATS; never asserted in tests."
  echo
  echo "- traffic: \`mirrorcap gen -w --count $PACKETS --flows $FLOWS --vni 100 --vni 200 --vni 300 --inner-size 60-1400\`; marked flow $MARK_FLOW = $A:$P -> 203.0.113.7:443 (UDP)"
  echo "- mirrorcap: \`mirrorcap run\` (net_pcap) into a ring of $RING_SEGMENTS x 64 MiB on tmpfs and a store (zstd, flow index on); ${store_line#mirrorcap: }; \`export\` of ring + store: $total inner frames, $inner_bytes bytes of pcap ($frame_bytes bytes of frames) = inner.pcap"
  echo "- Stenographer, inner frames: inner.pcap sent by tcpreplay over a veth in a network namespace, $in_sent packets at $in_pps pps; stenotype captured ${in_captured:-?}, dropped ${in_dropped:-?} (its AF_PACKET counters); the server answers \`net 0.0.0.0/0\` with $served packets"
  echo
  echo "| | Stenographer | mirrorcap |"
  echo "|---|---:|---:|"
  echo "| index bytes | $s_idx | $fidx (.fidx) |"
  echo "| data bytes | $s_pkt (packet files, $s_files) | $data (zstd files) |"
  echo "| index % of data files | $(pct "$s_idx" "$s_pkt") % | $(pct "$fidx" "$data") % |"
  echo "| index % of the frame bytes | $(pct "$s_idx" "$frame_bytes") % | $(pct "$fidx" "$stored") % (of the $stored bytes stored) |"
  echo "| what the index speaks of | the headers it sees | the inner frame and VNI |"
  echo
  echo "The marked flow (\`stenoread EXPR -w FILE\` against \`mirrorcap query RING STORE EXPR -w FILE\`; expected = \`tcpdump --count -r inner.pcap EXPR\`; same frames = the two outputs' frames byte for byte, timestamps aside):"
  echo
  echo "| expression | what | stenoread cold s | warm s | packets | mirrorcap query cold s | warm s | packets | read | expected | same frames |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Stenographer on the mirrored packets themselves (gen.pcap, VXLAN, as on an AWS mirror target): $sent packets sent at $sent_pps pps, captured ${captured:-?}, dropped ${dropped:-?}; index $v_idx bytes for $v_pkt bytes of packet files ($(pct "$v_idx" "$v_pkt") %). It indexes the outer headers:"
  echo
  echo "| stenoread expression | packets | in the inner frames |"
  echo "|---|---:|---:|"
  for k in "${!exprs[@]}"; do echo "| \`${exprs[$k]}\` (${labels[$k]}) | ${outer[$k]} | ${expect[$k]} |"; done
  echo "| \`host 198.51.100.1 and port 4789\` (the mirror target, outer) | $v_outer | - |"
} >"$out"
log "written: $out"
cat "$out"
