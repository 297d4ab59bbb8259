#!/usr/bin/env bash
# The embedded default: builds mirrorcap, generates a capture of mirrored VXLAN traffic
# (3 VNIs, inner frames 60-1514 bytes, some noise), replays it in a loop through a DPDK
# net_pcap vdev (infinite_rx), writes the ring to DEMO_DIR and serves metrics on localhost.
# Two mirror sessions are configured (DEMO_DIR/mirrorcap.toml): VNI 100 as "web" with a
# filter, VNI 200 as "db" sampled 1 in 10; VNI 300 goes to the default (captured as vni-300).
# Ctrl-C stops it cleanly; the ring stays for export.
# Usage: scripts/demo.sh     (DEMO_DIR=/dev/shm/mirrorcap-demo METRICS=127.0.0.1:9200)
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-/dev/shm/mirrorcap-demo}
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

mirrorcap demo: replaying $DEMO_DIR/mirror.pcap forever through net_pcap0.
While it runs, in another terminal:
  curl -s http://$METRICS/metrics | grep -v '^#'      # counters, drops by reason
  curl -s http://$METRICS/healthz
  $bin tail $DEMO_DIR/ring | tcpdump -nr - -c 10      # follow the live ring
  $bin tail --vni 100 --format pcapng $DEMO_DIR/ring | tshark -r - -c 5 -T fields -e frame.interface_name -e frame.len
  kill -HUP \$(pidof mirrorcap)                        # reload $DEMO_DIR/mirrorcap.toml
After Ctrl-C (everything committed is kept):
  $bin export $DEMO_DIR/ring -w - | tcpdump -nr - | head
  $bin export $DEMO_DIR/ring -w /tmp/all.pcapng --format pcapng && capinfos /tmp/all.pcapng

MSG
exec "$bin" run --config "$DEMO_DIR/mirrorcap.toml" --vdev "net_pcap0,rx_pcap=$DEMO_DIR/mirror.pcap,infinite_rx=1" \
  --ring-dir "$DEMO_DIR/ring" --segment-size 64MiB --segments 4 --metrics-addr "$METRICS"
