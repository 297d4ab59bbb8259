#!/usr/bin/env bash
# The embedded default: builds mirrorcap, generates a capture of mirrored VXLAN traffic
# (3 VNIs, inner frames 60-1514 bytes, some noise), feeds it in a loop at DEMO_PPS packets/s
# (scripts/paced_pcap.py into a named pipe that a DPDK net_pcap vdev reads), writes the ring to
# DEMO_DIR (tmpfs) and its sealed segments to a disk store in DEMO_STORE, and serves metrics on
# localhost.
# Two mirror sessions are configured (DEMO_DIR/mirrorcap.toml): VNI 100 as "web" with a
# filter, VNI 200 as "db" sampled 1 in 10; VNI 300 goes to the default (captured as vni-300).
# Ctrl-C stops it cleanly; the ring and the store stay for export.
# Usage: scripts/demo.sh     (DEMO_DIR=/dev/shm/mirrorcap-demo DEMO_STORE=/var/tmp/mirrorcap-demo-store
#                             DEMO_PPS=20000 METRICS=127.0.0.1:9200)
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-/dev/shm/mirrorcap-demo}
DEMO_STORE=${DEMO_STORE:-/var/tmp/mirrorcap-demo-store}
DEMO_PPS=${DEMO_PPS:-20000}
METRICS=${METRICS:-127.0.0.1:9200}

scripts/setup.sh
cargo build --release --locked
bin=$PWD/target/release/mirrorcap
mkdir -p "$DEMO_DIR"
"$bin" gen -w "$DEMO_DIR/mirror.pcap" --count 5000 --vni 100 --vni 200 --vni 300 \
  --inner-size 60-1514 --noise-every 50

cat >"$DEMO_DIR/mirrorcap.toml" <<'TOML'
[[session]]
name = "web"
vni = 100
filter = "udp and len > 200"

[[session]]
name = "db"
vni = 200
sample = 10
snaplen = 128
TOML
"$bin" check-config "$DEMO_DIR/mirrorcap.toml" >/dev/null

cat <<MSG

mirrorcap demo: $DEMO_DIR/mirror.pcap in a loop at $DEMO_PPS packets/s through net_pcap0;
the ring in $DEMO_DIR/ring, its sealed segments stored in $DEMO_STORE (zstd, 2 GiB).
While it runs, in another terminal:
  curl -s http://$METRICS/metrics | grep -v '^#'      # counters, drops by reason, mirrorcap_store_*
  curl -s http://$METRICS/healthz
  $bin tail $DEMO_DIR/ring | tcpdump -nr - -c 10      # follow the live ring
  $bin tail --from-start $DEMO_DIR/ring $DEMO_STORE | tcpdump -nr - -c 10   # from the store's oldest
  $bin tail --vni 100 --format pcapng $DEMO_DIR/ring | tshark -r - -c 5 -T fields -e frame.interface_name -e frame.len
  kill -HUP \$(pidof mirrorcap)                        # reload $DEMO_DIR/mirrorcap.toml
After Ctrl-C (everything committed is kept):
  $bin export $DEMO_DIR/ring $DEMO_STORE -w - | tcpdump -nr - | head     # ring and store, one timeline
  $bin export $DEMO_DIR/ring $DEMO_STORE -w /tmp/all.pcapng --format pcapng && capinfos /tmp/all.pcapng
  ls $DEMO_STORE/worker-00; zstdcat "\$(ls $DEMO_STORE/worker-00/*.pcap.zst | head -1)" | tcpdump -nr - | head

MSG
fifo=$DEMO_DIR/mirror.fifo
rm -f "$fifo"
mkfifo "$fifo"
python3 scripts/paced_pcap.py "$DEMO_DIR/mirror.pcap" "$fifo" "$DEMO_PPS" &
feeder=$!
trap 'kill $feeder 2>/dev/null || true' EXIT
"$bin" run --config "$DEMO_DIR/mirrorcap.toml" --vdev "net_pcap0,rx_pcap=$fifo" \
  --ring-dir "$DEMO_DIR/ring" --segment-size 16MiB --segments 8 \
  --store-dir "$DEMO_STORE" --store-size 2GiB --metrics-addr "$METRICS"
