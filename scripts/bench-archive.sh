#!/usr/bin/env bash
# The S3 archive measured against a real S3-compatible server on this machine (Garage on
# loopback, its data on LOOP_DIR's disk), every figure next to a ceiling from the same run
# (docs/archive.md):
#  1. `mirrorcap gen -w` writes PACKETS mirrored packets (FLOWS flows, three VNIs); `mirrorcap
#     run` replays them through net_pcap into a ring on tmpfs, a store on LOOP_DIR and the
#     archive (appliance bench-a).
#  2. Upload rate: a second `run` (appliance bench-b, a tiny input) uploads the whole store
#     again from its start (the archive marks are removed), and says the bytes and the time
#     it spent uploading; the ceiling is boto3 (`upload_file`, 10 threads, multipart over 8 MiB)
#     putting the same files in the same run.
#  3. Queries from the archive against the same queries of the local store (cold: page cache
#     dropped; warm: best of WARM_REPEATS): one flow, one port, and the bytes fetched against
#     the stored bytes of the blocks that held a match (aim for one flow: at most 2x), and
#     whether both outputs are byte for byte the same (they must be).
# Writes bench/results/archive-<UTC time>.md. Root (drop_caches); nothing leaves this machine.
#
# Usage: scripts/bench-archive.sh            (about 3 minutes)
# Env: PACKETS (1000000), FLOWS (50000), LOOP_DIR (/var/tmp), WARM_REPEATS (3),
#      COMPRESS (none: the store's bytes are the captured bytes; zstd shrinks gen's payload 30x)
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C
PACKETS=${PACKETS:-1000000}
FLOWS=${FLOWS:-50000}
LOOP_DIR=${LOOP_DIR:-/var/tmp}
WARM_REPEATS=${WARM_REPEATS:-3}
COMPRESS=${COMPRESS:-none}

log() { echo "bench-archive: $*" >&2; }
die() {
  echo "bench-archive: error: $*" >&2
  exit 1
}
[[ $(id -u) -eq 0 ]] || die "needs root (drop_caches)"
garage=$(command -v garage || echo "$HOME/.cargo/bin/garage")
[[ -x $garage ]] || die "needs garage (scripts/setup.sh)"
[[ -x /opt/boto3/bin/python3 ]] || die "needs boto3 in /opt/boto3 (scripts/setup.sh)"

nice -n 19 cargo build --release --locked -q
bin=$PWD/target/release/mirrorcap
work=$(mktemp -d "$LOOP_DIR/mirrorcap-bench-archive.XXXXXX")
ring=$(mktemp -d /dev/shm/mirrorcap-bench-archive.XXXXXX)
gpid=""
cleanup() {
  [[ -n $gpid ]] && kill "$gpid" 2>/dev/null
  rm -rf "$work" "$ring" "/var/run/dpdk/mcba-$$"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Garage: one node, one bucket, one key of known secrets.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
rpc=$(free_port)
cat >"$work/garage.toml" <<EOF
metadata_dir = "$work/garage/meta"
data_dir = "$work/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$port"
root_domain = ".s3.garage.localhost"
EOF
"$garage" -c "$work/garage.toml" server >"$work/garage.log" 2>&1 &
gpid=$!
g() { "$garage" -c "$work/garage.toml" "$@"; }
for _ in $(seq 60); do g status >/dev/null 2>&1 && break; sleep 0.5; done
node=$(g status 2>/dev/null | awk '/HEALTHY NODES/ { getline; getline; print $1 }')
g layout assign -z dc1 -c 10G "$node" >/dev/null
g layout apply --version 1 >/dev/null
g bucket create bench >/dev/null
key=GK00000000000000000000bench
secret=$(printf '%064d' 7)
g key import -n bench --yes "$key" "$secret" >/dev/null
g bucket allow --read --write --owner bench --key bench >/dev/null
export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=garage \
  AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ALLOW_HTTP=true
url=s3://bench/fleet
log "garage on 127.0.0.1:$port, data in $work/garage"

log "gen: $PACKETS packets, $FLOWS flows"
"$bin" gen -w "$work/gen.pcap" --count "$PACKETS" --flows "$FLOWS" --vni 100 --vni 200 --vni 300 \
  --inner-size 60-1400 2>"$work/gen.err" || die "gen failed: $(tail -1 "$work/gen.err")"
runs() { # APPLIANCE INPUT: one run into the store and the archive
  "$bin" run --vdev "net_pcap0,rx_pcap=$2" --ring-dir "$ring" --segments 24 --segment-size 64MiB \
    --store-dir "$work/store" --store-compress "$COMPRESS" --store-min-free 0 \
    --archive "$url" --appliance-id "$1" --exit-when-idle 2s --metrics-addr 127.0.0.1:0 \
    -- --no-huge -m 2048 --file-prefix "mcba-$$" 2>"$work/run-$1.log" ||
    die "run failed: $(tail -3 "$work/run-$1.log")"
}
log "run: replay into ring, store and archive (appliance bench-a)"
runs bench-a "$work/gen.pcap"
store_line=$(grep "store worker 0:" "$work/run-bench-a.log" | head -1)
archive_a=$(grep "mirrorcap: archive: .* uploaded" "$work/run-bench-a.log" | head -1)
log "$store_line"
log "$archive_a"
rm -f "$work/gen.pcap"

# 2. The whole store again, as appliance bench-b, from a run that captures almost nothing.
"$bin" gen -w "$work/tiny.pcap" --count 10 2>/dev/null
rm -f "$work"/store/worker-*/archived
sync
echo 3 >/proc/sys/vm/drop_caches
runs bench-b "$work/tiny.pcap"
archive_b=$(grep "mirrorcap: archive: .* uploaded" "$work/run-bench-b.log" | head -1)
log "$archive_b"
mc_rate=$(sed -n 's/.*, \([0-9.]*\) MB\/s.*/\1/p' <<<"$archive_b")
sync
echo 3 >/proc/sys/vm/drop_caches
boto=$(/opt/boto3/bin/python3 - "$work/store" <<EOF
import boto3, os, sys, time
from boto3.s3.transfer import TransferConfig
from concurrent.futures import ThreadPoolExecutor
s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'], region_name='garage')
cfg = TransferConfig(multipart_threshold=16 << 20, multipart_chunksize=8 << 20, max_concurrency=4)
files = [os.path.join(r, f) for r, _, fs in os.walk(sys.argv[1]) for f in fs if not f.startswith('.') and f not in ('cursor', 'archived')]
t0 = time.time()
with ThreadPoolExecutor(10) as ex:
    list(ex.map(lambda p: s3.upload_file(p, 'bench', 'boto3/' + os.path.relpath(p, sys.argv[1]), Config=cfg), files))
dt = time.time() - t0
n = sum(os.path.getsize(p) for p in files)
print(f"{n} {dt:.3f} {n / dt / 1e6:.1f}")
EOF
)
read -r boto_bytes boto_secs boto_rate <<<"$boto"
log "boto3: $boto_bytes bytes in $boto_secs s: $boto_rate MB/s"

# 3. Queries: the archive against the local store.
"$bin" export "$work/store" -w "$work/all.pcap" 2>"$work/export.err"
total=$(awk '/exported/ { print $3; exit }' "$work/export.err")
read -r src sport dst dport < <(tcpdump -nr "$work/all.pcap" -c $((total / 2)) udp 2>/dev/null | tail -1 |
  awk '{ split($3, a, "."); split($5, b, "."); sub(/:$/, "", b[5]); print a[1]"."a[2]"."a[3]"."a[4], a[5], b[1]"."b[2]"."b[3]"."b[4], b[5] }')
rm -f "$work/all.pcap"
[[ -n ${dport:-} ]] || die "no UDP packet found in the export"
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
secs() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/cmd.out" 2>"$work/cmd.err"
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
best() {
  local n=$1 b="" x i
  shift
  for ((i = 0; i < n; i++)); do
    x=$(secs "$@")
    if [[ -z $b ]] || awk -v x="$x" -v b="$b" 'BEGIN { exit !(x < b) }'; then b=$x; fi
  done
  echo "$b"
}
ql() { "$bin" query "$work/store" "$1" -w /dev/null; }
qr() { "$bin" query "$url" "$1" -w /dev/null; }
rows=()
run_one() { # LABEL EXPR
  local label=$1 e=$2 lc lw rc rw same fetched
  drop
  lc=$(secs ql "$e")
  lw=$(best "$WARM_REPEATS" ql "$e")
  drop
  rc=$(secs qr "$e")
  fetched=$(grep -o 'fetched .*' "$work/cmd.err" | head -1)
  rw=$(best "$WARM_REPEATS" qr "$e")
  if cmp -s <("$bin" query "$work/store" "$e" -w - 2>/dev/null) <("$bin" query "$url" "$e" -w - 2>/dev/null); then
    same=yes
  else
    same=NO
  fi
  log "$label: local $lc s cold / $lw s warm; archive $rc s cold / $rw s warm; $fetched; identical: $same"
  rows+=("| \`$e\` | $label | $lc | $lw | $rc | $rw | ${fetched#fetched } | $same |")
}
run_one "one flow" "host $src and udp port $sport and host $dst and udp port $dport"
run_one "one port" "udp port $dport"

out=bench/results/archive-$(date -u +%Y%m%dT%H%M%SZ).md
mkdir -p bench/results
{
  echo "# bench-archive $(date -u +%FT%TZ)"
  echo
  echo "\`scripts/bench-archive.sh\` (PACKETS=$PACKETS FLOWS=$FLOWS COMPRESS=$COMPRESS, store on $LOOP_DIR, Garage $("$garage" --version 2>/dev/null | head -1) on loopback with its data on the same disk), $(nproc) cores."
  echo
  echo "- store: $store_line"
  echo "- archive while capturing (bench-a): $archive_a"
  echo "- archive of the whole store again (bench-b): $archive_b"
  echo "- ceiling, boto3 upload_file of the same files (10 threads, 8 MiB parts): $boto_bytes bytes in $boto_secs s, $boto_rate MB/s"
  echo "- mirrorcap / boto3 upload rate: $(awk -v a="${mc_rate:-0}" -v b="$boto_rate" 'BEGIN { printf "%.2f", a / b }')"
  echo
  echo "| expression | kind | local cold s | local warm s | archive cold s | archive warm s | archive fetched | identical |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$out"
log "wrote $out"
cat "$out"
