#!/usr/bin/python3
"""The trial accounting of scripts/loadtest.sh: the numbers, not the plumbing.

loadtest.sh sets up the namespaces, the veth pair, SSH, and starts and stops the processes;
for every step that turns their output into numbers it runs this module (Python 3 standard
library only, so Debian 12's /usr/bin/python3 runs it as is):

  total PROM NAME          the sum of every series of metric NAME in a /metrics text
                           (the "counters have settled" loop)
  report JSON              the five numbers the load test takes from `mirrorcap gen
                           --report-json`: sent_packets bytes duration_ns achieved_pps
                           achieved_bps, one line, space-separated
  sched PID                "run_ns wait_ns": the appliance's rte-worker-* threads' time on a
                           CPU and time runnable but waiting for one, from /proc
  trial OUT ...            one trial's row of OUT/trials.csv (written with its header on the
                           first trial), from gen's report, the /metrics texts before and
                           after, the veth drop counters, the workers' scheduler totals and
                           the peers' capinfos output; logs the outcome on stderr
  next OUT SIZE ...        the next trial of SIZE's binary search ("RATE PHASE"), worked out
                           from the rows of OUT/trials.csv so far; prints nothing when SIZE
                           is done

docs/loadtest.md describes the method and every column; scripts/test_loadtest_trials.py
tests this module against a real gen report and real /metrics texts
(tests/data/loadtest/).
"""
import argparse
import csv
import json
import re
import sys
from pathlib import Path

# What the load test reads from gen's JSON report. gen writes these keys (src/gentx/report.rs,
# JsonReport; docs/loadtest.md lists all of them): a missing one is an error, never a guess.
REPORT_KEYS = ("sent_packets", "bytes", "duration_ns", "achieved_pps", "achieved_bps")

# The appliance's counters a trial needs (docs/metrics.md): our short name -> metric name.
# Every series of a metric is summed (they are per worker or per port).
COUNTERS = {
    "rx": "mirrorcap_rx_packets_total",
    "captured": "mirrorcap_captured_packets_total",
    "captured_bytes": "mirrorcap_captured_bytes_total",
    "nic_rx": "mirrorcap_nic_rx_packets_total",
    "nic_missed": "mirrorcap_nic_rx_missed_packets_total",
    "stamp_gaps": "mirrorcap_stamp_gaps_total",
    "stamp_late": "mirrorcap_stamp_late_total",
    "stamp_latency_sum_s": "mirrorcap_stamp_latency_seconds_sum",
    "stamp_latency_count": "mirrorcap_stamp_latency_seconds_count",
}
DROPS = "mirrorcap_dropped_packets_total"  # one series per reason="..."

# The peers in their fixed column order (CSV column, name loadtest.sh gives the peer).
PEERS = (("tcpdump_veth", "tcpdump-veth"), ("tcpdump_vxlan", "tcpdump-vxlan"),
         ("netsniff_ng", "netsniff-ng"))

HEAD = ["trial", "size", "phase", "target_rate", "offered_pps", "offered_bps", "duration_s",
        "sent", "sent_bytes", "app_rx", "captured", "captured_bytes", "loss", "loss_ratio",
        "pass", "not_delivered", "veth_dropped", "socket_dropped"]
TAIL = [p for p, _ in PEERS] + ["worker_cpu_share", "worker_wait_share", "loadavg_1m",
                                "stamp_gaps", "stamp_late", "latency_mean_us"]


class AccountingError(Exception):
    """An input the accounting cannot trust: the message says which and why."""


# ---- the appliance's /metrics ---------------------------------------------------------------

# name{labels} value [timestamp]; label values may hold escaped quotes and braces.
_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """The samples of a Prometheus text exposition: a list of (name, {label: value}, float).

    Comments (# HELP, # TYPE and any other '#' line) and blank lines are skipped; a line that
    is neither is an error, so a truncated or HTML answer is not read as zeros.
    """
    samples = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise AccountingError("line %d is not a Prometheus sample: %r" % (n, line[:80]))
        labels = {k: re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), v)
                  for k, v in _LABEL.findall(m.group(2) or "")}
        try:
            value = float(m.group(3))
        except ValueError:
            raise AccountingError("line %d: %r is not a number" % (n, m.group(3))) from None
        samples.append((m.group(1), labels, value))
    return samples


def metric_total(text, name):
    """The sum of every series of metric `name` (exact name: a longer one is another metric)."""
    return sum(v for n, _, v in parse_prometheus(text) if n == name)


def counters(text):
    """The trial's totals in one /metrics text: the COUNTERS keys (0 when absent) and
    drop_<reason> for each reason of mirrorcap_dropped_packets_total."""
    out = dict.fromkeys(COUNTERS, 0.0)
    by_name = {metric: key for key, metric in COUNTERS.items()}
    for name, labels, value in parse_prometheus(text):
        if name in by_name:
            out[by_name[name]] += value
        elif name == DROPS:
            key = "drop_" + labels.get("reason", "unknown")
            out[key] = out.get(key, 0.0) + value
    return out


# ---- the generator's report -----------------------------------------------------------------

def read_gen_report(path):
    """REPORT_KEYS out of gen's --report-json file, as numbers (ints where gen counts)."""
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise AccountingError("gen's report %s: %s" % (path, e)) from None
    if not isinstance(report, dict):
        raise AccountingError("gen's report %s is not a JSON object" % path)
    out = {}
    for key in REPORT_KEYS:
        v = report.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise AccountingError("gen's report %s has no number %r (gen writes %s)"
                                  % (path, key, ", ".join(sorted(report))))
        out[key] = v
    return out


# ---- the peers and the scheduler ------------------------------------------------------------

def capinfos_count(text):
    """Packets in a `capinfos -c -M` output; 0 when it has none (the peer wrote no file)."""
    m = re.search(r"^Number of packets:\s*(\d+)\s*$", text, re.M)
    return int(m.group(1)) if m else 0


def peer_counts(folder):
    """{peer: packets} for every PEER.capinfos file loadtest.sh left in `folder`."""
    if folder is None:
        return {}
    return {p.stem: capinfos_count(p.read_text(errors="replace"))
            for p in sorted(Path(folder).glob("*.capinfos"))}


def worker_sched(pid, proc="/proc"):
    """(run_ns, wait_ns) summed over process `pid`'s rte-worker-* threads: time on a CPU and
    time runnable but waiting for one (/proc/PID/task/*/schedstat). Threads that end while
    being read are skipped."""
    run = wait = 0
    for task in sorted(Path(proc, str(pid), "task").glob("*")):
        try:
            if not (task / "comm").read_text().strip().startswith("rte-worker-"):
                continue
            fields = (task / "schedstat").read_text().split()
        except OSError:
            continue
        run, wait = run + int(fields[0]), wait + int(fields[1])
    return run, wait


# ---- one trial ------------------------------------------------------------------------------

def header(reasons):
    """trials.csv's columns: fixed ones, drop_<reason> per reason the appliance exposes, the
    peers, the scheduler and the stamps."""
    return HEAD + ["drop_" + r for r in reasons] + TAIL


def _f(v, fmt):
    return fmt % v


def trial_row(*, trial, size, phase, target_rate, tolerance, workers, report, before, after,
              veth_drops=(0, 0), sched=((0, 0), (0, 0)), wall_ns=0, peers=None, loadavg="",
              reasons):
    """One trial's trials.csv row (a dict keyed by header(reasons)).

    report: read_gen_report()'s dict; before/after: counters() of the /metrics texts scraped
    around the trial; veth_drops: the veth pair's drop counters (sum of both ends) before and
    after; sched: worker_sched() before and after; wall_ns: the wall time between those two
    readings; peers: {peer name: packets} of the peers that ran (None: no peers).
    """
    d = {k: round(after.get(k, 0.0) - before.get(k, 0.0)) for k in set(before) | set(after)}
    sent, rx, captured = int(report["sent_packets"]), d["rx"], d["captured"]
    loss = sent - captured
    ratio = loss / sent if sent > 0 else 0.0
    # Frames sent that the appliance never received: dropped by the kernel on the way (veth
    # backlog) or in the AF_PACKET socket's ring (the rest; net_af_packet does not count them).
    not_delivered = sent - rx
    veth = veth_drops[1] - veth_drops[0]
    row = {
        "trial": trial, "size": size, "phase": phase, "target_rate": target_rate,
        "offered_pps": report["achieved_pps"], "offered_bps": report["achieved_bps"],
        "duration_s": _f(report["duration_ns"] / 1e9, "%.3f"), "sent": sent,
        "sent_bytes": int(report["bytes"]), "app_rx": rx, "captured": captured,
        "captured_bytes": d["captured_bytes"], "loss": loss, "loss_ratio": _f(ratio, "%.6f"),
        # A trial with nothing sent proves nothing.
        "pass": int(sent > 0 and ratio <= tolerance),
        "not_delivered": not_delivered, "veth_dropped": veth,
        "socket_dropped": max(not_delivered - veth, 0),
    }
    for r in reasons:
        row["drop_" + r] = d.get("drop_" + r, 0)
    peers = peers or {}
    for col, name in PEERS:
        row[col] = peers.get(name, "")
    # Share of the trial's wall time the workers ran / waited for a CPU (empty without them).
    (r0, w0), (r1, w1) = sched
    span = wall_ns * workers
    cpu = wait = ""
    if span > 0 and r1 > 0:
        cpu, wait = _f((r1 - r0) / span, "%.3f"), _f((w1 - w0) / span, "%.3f")
    row.update(worker_cpu_share=cpu, worker_wait_share=wait, loadavg_1m=loadavg)
    # The appliance's own view from gen's stamps (run --stamps): gaps, late frames and the mean
    # one-way latency (frames of 66 bytes and more carry the TX time).
    n = d["stamp_latency_count"]
    lat_s = after.get("stamp_latency_sum_s", 0.0) - before.get("stamp_latency_sum_s", 0.0)
    row.update(stamp_gaps=d["stamp_gaps"], stamp_late=d["stamp_late"],
               latency_mean_us=_f(lat_s / n * 1e6, "%.1f") if n > 0 else "")
    return row


def append_trial(out, row_args, before_text, after_text):
    """Computes a trial's row and appends it to OUT/trials.csv. The first trial writes the
    header, its drop reasons being those the appliance exposes then (every reason is exposed
    from the start, docs/drop-reasons.md); later trials keep the file's columns."""
    path = Path(out) / "trials.csv"
    before, after = counters(before_text), counters(after_text)
    if path.exists() and path.stat().st_size > 0:
        with open(path, newline="") as f:
            cols = next(csv.reader(f))
        reasons = [c[5:] for c in cols if c.startswith("drop_")]
    else:
        reasons = sorted(k[5:] for k in after if k.startswith("drop_"))
        cols = header(reasons)
        with open(path, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerow(cols)
    row = trial_row(before=before, after=after, reasons=reasons, **row_args)
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=cols, lineterminator="\n").writerow(row)
    return row


def describe(row, target):
    """The log line of one trial."""
    peers = " ".join("%s %s" % (name, row[col]) for col, name in PEERS if row[col] != "")
    return "trial %03d: %s B at %s: sent %d (%.0f pps), captured %d, loss %d -> %s%s" % (
        row["trial"], row["size"], target, row["sent"], row["offered_pps"], row["captured"],
        row["loss"], "pass" if row["pass"] else "fail", "; peers: " + peers if peers else "")


# ---- the search -----------------------------------------------------------------------------

def read_trials(out):
    """OUT/trials.csv's rows as dicts ([] before the first trial)."""
    path = Path(out) / "trials.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def next_trial(rows, size, iterations, floor=None, log=lambda msg: None):
    """The next trial of `size`'s search as (rate, phase), or None when the size is done.

    The search (docs/loadtest.md, "The search"): one trial at the generator's maximum; if it
    lost nothing the generator is the limit. Otherwise up to `iterations` trials halfway
    between a floor (`floor` pps, else 1 % of that maximum, at least 1000) and the maximum;
    the bounds move to the rate gen achieved, which a busy CPU can hold below the target: a
    pass proves that rate, a loss disproves anything above it. If no trial passed, one at the
    floor, so the summary says whether anything did. The state is the rows themselves, so
    each step is one call and a rerun gives the same answer.
    """
    mine = [r for r in rows if int(r["size"]) == size]
    if not mine:
        return ("max", "max")
    first = mine[0]
    maximum = round(float(first["offered_pps"]))
    if first["pass"] == "1":
        if len(mine) == 1:
            log("size %d: no loss at the generator's maximum (%d pps): the generator is the limit"
                % (size, maximum))
        return None
    lo = floor if floor is not None else max(maximum // 100, 1000)
    hi = maximum
    searched = [r for r in mine if r["phase"] == "search"]
    for r in searched:
        got = round(float(r["offered_pps"]))
        if r["pass"] == "1":
            lo = max(lo, got)
        else:
            hi = min(hi, got)
    # The first search step runs whatever the bounds; later ones while they still differ.
    if len(searched) < iterations and (not searched or lo < hi):
        return ("%dpps" % ((lo + hi) // 2), "search")
    if any(r["pass"] == "1" for r in mine) or any(r["phase"] == "floor" for r in mine):
        return None
    return ("%dpps" % lo, "floor")


# ---- command line ---------------------------------------------------------------------------

def _log(msg):
    print("loadtest: " + msg, file=sys.stderr)


def _loadavg():
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return ""


def main(argv=None):
    ap = argparse.ArgumentParser(prog="loadtest_trials.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("total", help="sum of a metric's series in a /metrics text")
    p.add_argument("prom")
    p.add_argument("name")
    p = sub.add_parser("report", help="the numbers the load test reads from gen's report")
    p.add_argument("json")
    p = sub.add_parser("sched", help="the appliance's worker threads' run and wait ns")
    p.add_argument("pid")
    p = sub.add_parser("trial", help="append one trial's row to OUT/trials.csv")
    p.add_argument("out")
    p.add_argument("--trial", type=int, required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--phase", required=True)
    p.add_argument("--rate", required=True, help="what gen was asked for: max or Npps")
    p.add_argument("--tolerance", type=float, default=0.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--report", required=True)
    p.add_argument("--before", required=True)
    p.add_argument("--after", required=True)
    p.add_argument("--veth-drops", type=int, nargs=2, default=(0, 0), metavar=("BEFORE", "AFTER"))
    p.add_argument("--sched-before", type=int, nargs=2, default=(0, 0), metavar=("RUN", "WAIT"))
    p.add_argument("--sched-after", type=int, nargs=2, default=(0, 0), metavar=("RUN", "WAIT"))
    p.add_argument("--wall-ns", type=int, default=0)
    p.add_argument("--peers", help="folder of PEER.capinfos files (no peers: omit)")
    p = sub.add_parser("next", help="the next trial of a size's search, or nothing")
    p.add_argument("out")
    p.add_argument("size", type=int)
    p.add_argument("--iterations", type=int, required=True)
    p.add_argument("--floor", type=int)
    a = ap.parse_args(argv)

    try:
        if a.cmd == "total":
            print("%.0f" % metric_total(Path(a.prom).read_text(), a.name))
        elif a.cmd == "report":
            r = read_gen_report(a.json)
            print(" ".join(str(r[k]) for k in REPORT_KEYS))
        elif a.cmd == "sched":
            print("%d %d" % worker_sched(a.pid))
        elif a.cmd == "trial":
            report = read_gen_report(a.report)
            row = append_trial(a.out, dict(
                trial=a.trial, size=a.size, phase=a.phase, target_rate=a.rate,
                tolerance=a.tolerance, workers=a.workers, report=report,
                veth_drops=tuple(a.veth_drops), sched=(tuple(a.sched_before), tuple(a.sched_after)),
                wall_ns=a.wall_ns, peers=peer_counts(a.peers) if a.peers else None,
                loadavg=_loadavg()), Path(a.before).read_text(), Path(a.after).read_text())
            _log(describe(row, a.rate))
            asked = re.fullmatch(r"(\d+)pps", a.rate)
            got = round(row["offered_pps"])
            if asked and got < 0.95 * int(asked.group(1)):
                _log("warning: gen achieved %d pps of %s asked (CPU contention); the search uses %d"
                     % (got, asked.group(1), got))
        elif a.cmd == "next":
            step = next_trial(read_trials(a.out), a.size, a.iterations, a.floor, _log)
            if step:
                print("%s %s" % step)
    except (AccountingError, OSError, KeyError, ValueError) as e:
        sys.exit("loadtest: error: %s" % e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
