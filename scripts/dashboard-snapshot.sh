#!/usr/bin/env bash
# Renders docs/img/dashboard.png from a real run: mirrorcap captures a generated capture fed
# through a named pipe at a changing pace (net_pcap reads it like a file), a local Prometheus
# scrapes it every second, then scripts/render-dashboard.py draws the dashboard's main panels
# from that Prometheus. Takes RUN_SECONDS (default 180) plus the build.
# Usage: scripts/dashboard-snapshot.sh      (OUT=docs/img/dashboard.png RUN_SECONDS=180)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-docs/img/dashboard.png}
RUN_SECONDS=${RUN_SECONDS:-180}

scripts/setup.sh
cargo build --release --locked
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/mirrorcap
work=$(mktemp -d /dev/shm/mirrorcap-snapshot.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mport=$(free_port)
pport=$(free_port)

# Three sessions (VNI 100 with half the traffic), some copies truncated by "AWS" (frames
# above 1400 bytes), a little noise.
"$bin" gen -w "$work/mirror.pcap" --count 20000 --vni 100 --vni 200 --vni 100 --vni 300 \
  --inner-size 60-1514 --noise-every 40 --truncate 1400
mkfifo "$work/feed"

# The pace, packets/s over time: steady, a ramp, a peak, back down.
python3 - "$work/mirror.pcap" "$work/feed" "$RUN_SECONDS" <<'PY' &
import struct, sys, time
data = open(sys.argv[1], "rb").read()
recs, off = [], 24
while off + 16 <= len(data):
    n = struct.unpack_from("<I", data, off + 8)[0]
    recs.append(data[off:off + 16 + n]); off += 16 + n
run = float(sys.argv[3])
def pps(t):
    f = t / run
    if f < 0.2: return 4000
    if f < 0.45: return 4000 + (f - 0.2) / 0.25 * 26000
    if f < 0.6: return 30000
    return 8000
with open(sys.argv[2], "wb", buffering=0) as out:
    out.write(data[:24])
    start, sent, i = time.time(), 0.0, 0
    while (t := time.time() - start) < run:
        due = pps(t) * 0.05
        chunk = []
        for _ in range(int(due)):
            chunk.append(recs[i % len(recs)]); i += 1
        out.write(b"".join(chunk))
        time.sleep(max(0.0, 0.05 - (time.time() - start - t)))
PY
pids+=($!)

"$bin" run --vdev "net_pcap0,rx_pcap=$work/feed" --ring-dir "$work/ring" \
  --segment-size 16MiB --segments 8 --metrics-addr "127.0.0.1:$mport" --log-interval 30s &
pids+=($!)

cat >"$work/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: mirrorcap-snapshot
    static_configs: [ { targets: ["127.0.0.1:$mport"] } ]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
pids+=($!)

start=$(date +%s)
sleep "$((RUN_SECONDS + 5))"
end=$(date +%s)
mkdir -p "$(dirname "$OUT")"
scripts/render-dashboard.py --prometheus "http://127.0.0.1:$pport" \
  --start "$start" --end "$end" --out "$OUT"
