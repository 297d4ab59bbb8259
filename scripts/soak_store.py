#!/usr/bin/env python3
"""The numbers of scripts/soak-store.sh (standard library only).

  send    a paced AF_PACKET sender: replays a pcap's frames in a loop on an interface at PPS,
          a burst every few milliseconds then a sleep (cheap: no busy polling)
  sample  one CSV row: a /metrics scrape, the appliance's /proc status, the sender's count
  report  the markdown report from the CSV (first vs last window, verdicts)
"""
import argparse
import csv
import os
import signal
import socket
import struct
import sys
import time

# ---- send ----------------------------------------------------------------------------------


def read_pcap(path):
    """Every frame of a classic pcap (either byte order, micro- or nanosecond magic)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise SystemExit(f"{path}: not a pcap (too short)")
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        end = ">"
    else:
        raise SystemExit(f"{path}: not a classic pcap (magic {magic:#x})")
    frames, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off : off + 16])
        off += 16
        frames.append(data[off : off + incl])
        off += incl
    return frames


def cmd_send(a):
    frames = read_pcap(a.pcap)
    if not frames:
        raise SystemExit(f"{a.pcap}: no frames")
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    try:  # PACKET_QDISC_BYPASS: straight to the driver, cheaper per frame
        s.setsockopt(263, 20, 1)
    except OSError:
        pass
    s.bind((a.iface, 0))
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with open(a.pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    sent = nbytes = enobufs = 0
    n = len(frames)
    i = 0
    tick = a.tick_ms / 1000.0
    t0 = time.monotonic()
    next_stats = t0
    deadline = t0 + a.duration if a.duration > 0 else float("inf")
    send = s.send
    while not stop:
        now = time.monotonic()
        if now >= deadline:
            break
        due = int((now - t0) * a.pps) - sent
        # At most one second's worth at once (after a long stall, do not flood).
        due = min(due, a.pps)
        for _ in range(due):
            fr = frames[i]
            try:
                send(fr)
            except OSError:  # ENOBUFS: the veth's queue is full; counted, frame skipped
                enobufs += 1
            sent += 1
            nbytes += len(fr)
            i += 1
            if i == n:
                i = 0
        if now >= next_stats:
            write_stats(a.stats, sent, nbytes, enobufs)
            next_stats = now + 1.0
        time.sleep(tick)
    write_stats(a.stats, sent, nbytes, enobufs)


def write_stats(path, sent, nbytes, enobufs):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{sent} {nbytes} {enobufs}\n")
    os.replace(tmp, path)


# ---- sample --------------------------------------------------------------------------------

COLUMNS = [
    "t_s", "utc", "sent_packets", "sent_bytes", "send_enobufs", "rx_packets", "rx_bytes",
    "captured_packets", "captured_bytes", "dropped_packets", "nic_missed", "nic_nombuf",
    "veth_rx_dropped", "ring_sealed", "ring_overwritten", "store_segments", "store_packets",
    "store_captured_bytes", "store_disk_bytes", "store_lag_bytes", "store_lag_segments",
    "store_overrun_segments", "store_deleted_files", "store_retention_s", "store_errors",
    "store_dir_bytes", "store_files", "mempool_in_use", "mempool_capacity", "rss_kb",
    "rss_anon_kb", "rss_file_kb", "rss_shmem_kb", "app_cpu_s", "sender_cpu_s",
]


def parse_prom(text):
    """{(name, frozenset(labels)): value}; summed lookups below."""
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        try:
            key, val = line.rsplit(" ", 1)
            v = float(val)
        except ValueError:
            continue
        if "{" in key:
            name, rest = key.split("{", 1)
            labels = []
            for part in rest.rstrip("}").split('",'):
                if "=" in part:
                    k, lv = part.split("=", 1)
                    labels.append((k.strip(), lv.strip().strip('"')))
            out[(name, frozenset(labels))] = v
        else:
            out[(key, frozenset())] = v
    return out


def total(m, name, **want):
    """The sum of every series of NAME whose labels include WANT; None when there is none."""
    vals = [v for (n, ls), v in m.items() if n == name and all((k, w) in ls for k, w in want.items())]
    return sum(vals) if vals else None


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return ""


def cpu_s(pid):
    """utime + stime of PID (all its threads), seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return ""


def dir_usage(d):
    n = size = 0
    for root, _, files in os.walk(d):
        for f in files:
            if f.endswith(".idx") or ".pcap" in f:
                try:
                    size += os.stat(os.path.join(root, f)).st_size
                    n += 1 if f.endswith(".idx") else 0
                except OSError:
                    pass
    return size, n


def cmd_sample(a):
    with open(a.prom) as f:
        m = parse_prom(f.read())
    sent = nbytes = enobufs = ""
    try:
        with open(a.sender_stats) as f:
            sent, nbytes, enobufs = f.read().split()
    except (OSError, ValueError):
        pass
    sender_pid = ""
    try:
        with open(a.sender_pidfile) as f:
            sender_pid = f.read().strip()
    except OSError:
        pass
    store_bytes, store_files = dir_usage(a.store_dir)

    def g(name, **kw):
        v = total(m, name, **kw)
        return "" if v is None else f"{v:.0f}" if v == int(v) else f"{v:.3f}"

    row = {
        "t_s": f"{a.t:.1f}",
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sent_packets": sent,
        "sent_bytes": nbytes,
        "send_enobufs": enobufs,
        "rx_packets": g("mirrorcap_rx_packets_total"),
        "rx_bytes": g("mirrorcap_rx_bytes_total"),
        "captured_packets": g("mirrorcap_captured_packets_total"),
        "captured_bytes": g("mirrorcap_captured_bytes_total"),
        "dropped_packets": g("mirrorcap_dropped_packets_total"),
        "nic_missed": g("mirrorcap_nic_rx_missed_packets_total"),
        "nic_nombuf": g("mirrorcap_nic_rx_nombuf_total"),
        "veth_rx_dropped": a.veth_rx_dropped,
        "ring_sealed": g("mirrorcap_ring_segments_sealed_total"),
        "ring_overwritten": g("mirrorcap_ring_segments_overwritten_total"),
        "store_segments": g("mirrorcap_store_segments_total"),
        "store_packets": g("mirrorcap_store_packets_total"),
        "store_captured_bytes": g("mirrorcap_store_bytes_total", kind="captured"),
        "store_disk_bytes": g("mirrorcap_store_bytes_total", kind="disk"),
        "store_lag_bytes": g("mirrorcap_store_lag_bytes"),
        "store_lag_segments": g("mirrorcap_store_lag_segments"),
        "store_overrun_segments": g("mirrorcap_store_overrun_segments_total"),
        "store_deleted_files": g("mirrorcap_store_deleted_files_total"),
        "store_retention_s": g("mirrorcap_store_retention_seconds"),
        "store_errors": g("mirrorcap_store_errors_total"),
        "store_dir_bytes": store_bytes,
        "store_files": store_files,
        "mempool_in_use": g("mirrorcap_mempool_mbufs_in_use"),
        "mempool_capacity": g("mirrorcap_mempool_mbufs_capacity"),
        "rss_kb": status_kb(a.pid, "VmRSS"),
        "rss_anon_kb": status_kb(a.pid, "RssAnon"),
        "rss_file_kb": status_kb(a.pid, "RssFile"),
        "rss_shmem_kb": status_kb(a.pid, "RssShmem"),
        "app_cpu_s": cpu_s(a.pid),
        "sender_cpu_s": cpu_s(sender_pid) if sender_pid else "",
    }
    new = not os.path.exists(a.csv) or os.path.getsize(a.csv) == 0
    with open(a.csv, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        w.writerow(row)
    # One line for the log: what moves.
    print(
        f"t={a.t:7.0f}s rx={row['rx_packets']} captured={row['captured_packets']} "
        f"stored={row['store_segments']} seg lag={row['store_lag_bytes']} B/{row['store_lag_segments']} seg "
        f"overrun={row['store_overrun_segments']} deleted={row['store_deleted_files']} "
        f"errors={row['store_errors']} mbufs={row['mempool_in_use']} rss={row['rss_kb']} kB",
        flush=True,
    )


# ---- report --------------------------------------------------------------------------------


def fnum(row, k):
    try:
        return float(row[k])
    except (KeyError, ValueError, TypeError):
        return None


def fz(row, k):
    """fnum, 0 when missing (for display)."""
    v = fnum(row, k)
    return 0.0 if v is None else v


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else float("nan")


def slope_per_hour(rows, k):
    pts = [(fnum(r, "t_s"), fnum(r, k)) for r in rows]
    pts = [(t, v) for t, v in pts if t is not None and v is not None]
    if len(pts) < 2:
        return float("nan")
    mt = sum(t for t, _ in pts) / len(pts)
    mv = sum(v for _, v in pts) / len(pts)
    den = sum((t - mt) ** 2 for t, _ in pts)
    return sum((t - mt) * (v - mv) for t, v in pts) / den * 3600 if den else float("nan")


def mib(b):
    return b / (1 << 20)


def cmd_report(a):
    with open(a.csv) as f:
        rows = list(csv.DictReader(f))
    if len(rows) < 2:
        raise SystemExit(f"{a.csv}: fewer than two samples")
    params = {}
    with open(a.params) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                params[k] = v
    t_end = fnum(rows[-1], "t_s")
    t_start = fnum(rows[0], "t_s")
    span = t_end - t_start
    win = min(a.window, span / 3)
    wl = f"{win / 60:.0f} min" if win >= 60 else f"{win:.0f} s"
    first = [r for r in rows if fnum(r, "t_s") < t_start + win]
    last = [r for r in rows if fnum(r, "t_s") > t_end - win]
    seg = float(params["segment_bytes"])
    nseg = int(params["segments"])
    r0, r1 = rows[0], rows[-1]

    def delta(k):
        a0, a1 = fnum(r0, k), fnum(r1, k)
        return (a1 - a0) if a0 is not None and a1 is not None else float("nan")

    def m(rs, k):
        return mean(fnum(r, k) for r in rs)

    lag_first, lag_last = m(first, "store_lag_bytes"), m(last, "store_lag_bytes")
    lagseg_first, lagseg_last = m(first, "store_lag_segments"), m(last, "store_lag_segments")
    max_lag = max(fnum(r, "store_lag_bytes") or 0 for r in rows)
    max_lag_seg = max(fnum(r, "store_lag_segments") or 0 for r in rows)
    rss_first, rss_last = m(first, "rss_kb"), m(last, "rss_kb")
    anon_first, anon_last = m(first, "rss_anon_kb"), m(last, "rss_anon_kb")
    mb_first, mb_last = m(first, "mempool_in_use"), m(last, "mempool_in_use")
    overrun = fnum(r1, "store_overrun_segments") or 0
    errors = fnum(r1, "store_errors") or 0

    lag_tol = seg  # one segment: the lag's natural swing (a segment seals, a poll takes it)
    rss_tol_kb = 16 * 1024  # two 8 MiB segments mapped/trimmed, the spooler's segment buffer
    mb_tol = 32 + 384  # one RX burst + the RX ring's refill threshold (tests/soak_e2e.rs)

    def verdict(ok):
        return "PASS" if ok else "FAIL"

    v_lag = abs(lag_last - lag_first) <= lag_tol and max_lag_seg < nseg - 1
    v_over = overrun == 0
    v_rss = abs(rss_last - rss_first) <= rss_tol_kb
    v_mb = abs(mb_last - mb_first) <= mb_tol
    v_err = errors == 0
    final = params.get("final", "")

    rx = delta("rx_packets")
    cap = delta("captured_packets")
    sent = delta("sent_packets")
    rx_b = delta("rx_bytes")
    cap_b = delta("captured_bytes")
    st_cap = delta("store_captured_bytes")
    st_disk = delta("store_disk_bytes")
    pps = rx / span
    out = []
    p = out.append
    p(f"# Store soak {params['stamp']}")
    p("")
    p(f"`{params['command']}`")
    p("")
    p("## Set-up")
    p("")
    p(f"- host: {params['host']}")
    p(f"- traffic: `{params['gen']}` ({params['input_frames']} frames, looped), sent by "
      f"`scripts/soak_store.py send` (AF_PACKET, a burst every {params['tick_ms']} ms) into one end of a veth pair; "
      f"the appliance on the other end in its own network namespace")
    p(f"- appliance: `{params['app']}`")
    p(f"- ring: {params['ring_dir']} (tmpfs), {nseg} x {mib(seg):.0f} MiB; store: {params['store_dir']} "
      f"({params['store_fs']}), --store-size {params['store_size']}, --store-compress {params['store_compress']}")
    p(f"- worker pinned to CPU 1 (EAL --lcores {params['lcores']}); control and store threads on CPU 0; "
      f"sender on CPU {params['sender_cpu']}")
    p(f"- samples: every {params['interval']} s after a {params['warmup']} s warm-up (the ring laps and every "
      f"segment is mapped), {len(rows)} rows in `{os.path.basename(a.csv)}`")
    p("")
    p("## Rate and totals")
    p("")
    p(f"- duration sampled: {span:.0f} s ({span / 60:.1f} min), asked {params['seconds']} s at {params['pps']} pps")
    p(f"- offered: {delta('sent_packets'):.0f} frames sent ({sent / span:.0f} pps); "
      f"received {rx:.0f} ({pps:.0f} pps, {rx_b * 8 / span / 1e6:.1f} Mbit/s = {rx_b / span / 1e6:.2f} MB/s of outer frames)")
    p(f"- captured {cap:.0f} frames, {cap_b * 8 / span / 1e6:.1f} Mbit/s = {cap_b / span / 1e6:.2f} MB/s of inner frames "
      f"into the ring; dropped {delta('dropped_packets'):.0f}; NIC missed {delta('nic_missed'):.0f}, nombuf "
      f"{delta('nic_nombuf'):.0f}; veth rx_dropped {delta('veth_rx_dropped'):.0f}; sender ENOBUFS {delta('send_enobufs'):.0f}")
    p(f"- against the disk: the store took {st_cap / span / 1e6:.2f} MB/s of pcap records and wrote "
      f"{st_disk / span / 1e6:.3f} MB/s to disk (ratio {st_cap / st_disk if st_disk else float('nan'):.1f}); "
      f"the root disk's O_DIRECT bandwidth is {params['disk_bw']} -- the capture rate is "
      f"{(st_cap / span / 1e6) / float(params['disk_bw_mbs']) * 100:.1f} % of it before compression")
    p(f"- ring: {delta('ring_sealed'):.0f} segments sealed ({delta('ring_sealed') / span:.2f}/s, one every "
      f"{span / max(delta('ring_sealed'), 1):.2f} s), {delta('ring_overwritten'):.0f} overwritten")
    p(f"- store: {delta('store_segments'):.0f} segments stored, {delta('store_packets'):.0f} packets, "
      f"{mib(st_cap):.0f} MiB captured in {mib(st_disk):.0f} MiB on disk; {fz(r1, 'store_deleted_files'):.0f} files "
      f"deleted by retention (first at t = {next((fnum(r, 't_s') for r in rows if (fnum(r, 'store_deleted_files') or 0) > 0), float('nan')):.0f} s); "
      f"at the end {fz(r1, 'store_files'):.0f} files, {mib(fz(r1, 'store_dir_bytes')):.0f} MiB, "
      f"retention {fz(r1, 'store_retention_s'):.0f} s; errors {errors:.0f}")
    p(f"- CPU: appliance {delta('app_cpu_s'):.0f} s over {span:.0f} s (worker busy-polls one core); "
      f"sender {delta('sender_cpu_s'):.1f} s ({delta('sender_cpu_s') / span * 100:.1f} % of a core)")
    if final:
        p(f"- at stop: `{final}`")
    p("")
    p(f"## First {wl} against last {wl}")
    p("")
    p(f"| | first {wl} mean | last {wl} mean | max (whole run) | slope over the run |")
    p("|---|---:|---:|---:|---:|")
    p(f"| store lag (bytes) | {lag_first:,.0f} ({mib(lag_first):.2f} MiB) | {lag_last:,.0f} ({mib(lag_last):.2f} MiB) | "
      f"{max_lag:,.0f} ({mib(max_lag):.1f} MiB) | {slope_per_hour(rows, 'store_lag_bytes') / (1 << 20):+.2f} MiB/h |")
    p(f"| store lag (segments) | {lagseg_first:.2f} | {lagseg_last:.2f} | {max_lag_seg:.0f} (ring: {nseg}) | "
      f"{slope_per_hour(rows, 'store_lag_segments'):+.2f}/h |")
    p(f"| VmRSS (kB) | {rss_first:,.0f} | {rss_last:,.0f} | {max(fnum(r, 'rss_kb') or 0 for r in rows):,.0f} | "
      f"{slope_per_hour(rows, 'rss_kb'):+,.0f} kB/h |")
    p(f"| RssAnon (kB) | {anon_first:,.0f} | {anon_last:,.0f} | {max(fnum(r, 'rss_anon_kb') or 0 for r in rows):,.0f} | "
      f"{slope_per_hour(rows, 'rss_anon_kb'):+,.0f} kB/h |")
    p(f"| mempool mbufs in use (of {fz(r1, 'mempool_capacity'):.0f}) | {mb_first:.0f} | {mb_last:.0f} | "
      f"{max(fnum(r, 'mempool_in_use') or 0 for r in rows):.0f} | {slope_per_hour(rows, 'mempool_in_use'):+.0f}/h |")
    p("")
    p("## Verdicts")
    p("")
    p(f"- store lag flat: **{verdict(v_lag)}** -- last-window mean {mib(lag_last):.2f} MiB vs first {mib(lag_first):.2f} MiB, "
      f"tolerance one segment ({mib(lag_tol):.0f} MiB: the lag swings between 0 and a segment as segments seal and the "
      f"200 ms poll takes them); max {max_lag_seg:.0f} segments, below the {nseg - 1} that would put the ring's oldest at risk")
    p(f"- zero store_overrun: **{verdict(v_over)}** -- mirrorcap_store_overrun_segments_total = {overrun:.0f}")
    p(f"- RSS flat: **{verdict(v_rss)}** -- last-window mean {rss_last:,.0f} kB vs first {rss_first:,.0f} kB "
      f"({rss_last - rss_first:+,.0f} kB), tolerance {rss_tol_kb // 1024} MiB (two ring segments mapped or trimmed "
      f"around a rotation, the spooler's one-segment buffer; tests/soak_e2e.rs allows 8 MiB heap + 2 segments per worker)")
    p(f"- mempool flat: **{verdict(v_mb)}** -- last-window mean {mb_last:.0f} vs first {mb_first:.0f} mbufs in use "
      f"({mb_last - mb_first:+.0f}), tolerance {mb_tol} (one RX burst + the RX ring's refill threshold, as tests/soak_e2e.rs); "
      f"net_af_packet keeps no mbufs in its RX ring (it copies each frame out of the kernel's ring into an mbuf per burst), "
      f"so between bursts the level is near 0 and a leak would show as a steady rise")
    p(f"- store errors: **{verdict(v_err)}** -- mirrorcap_store_errors_total = {errors:.0f}")
    p("")
    if a.tail and os.path.exists(a.tail):
        with open(a.tail) as f:
            p(f.read().rstrip("\n"))
        p("")
    with open(a.md, "w") as f:
        f.write("\n".join(out) + "\n")
    ok = v_lag and v_over and v_rss and v_mb and v_err
    print(f"verdicts: lag {verdict(v_lag)}, overrun {verdict(v_over)}, rss {verdict(v_rss)}, "
          f"mempool {verdict(v_mb)}, errors {verdict(v_err)}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--iface", required=True)
    s.add_argument("--pcap", required=True)
    s.add_argument("--pps", type=int, required=True)
    s.add_argument("--tick-ms", type=float, default=5.0)
    s.add_argument("--duration", type=float, default=0)
    s.add_argument("--stats", required=True)
    s.add_argument("--pidfile", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--prom", required=True)
    s.add_argument("--pid", required=True)
    s.add_argument("--t", type=float, required=True)
    s.add_argument("--csv", required=True)
    s.add_argument("--sender-stats", required=True)
    s.add_argument("--sender-pidfile", required=True)
    s.add_argument("--store-dir", required=True)
    s.add_argument("--veth-rx-dropped", default="")
    s = sub.add_parser("report")
    s.add_argument("--csv", required=True)
    s.add_argument("--md", required=True)
    s.add_argument("--params", required=True)
    s.add_argument("--window", type=float, default=600)
    s.add_argument("--tail", help="markdown appended at the end (the read-back section)")
    a = ap.parse_args()
    return {"send": cmd_send, "sample": cmd_sample, "report": cmd_report}[a.cmd](a) or 0


if __name__ == "__main__":
    sys.exit(main())
