#!/usr/bin/python3
"""Summary and chart of a scripts/loadtest.sh run.

Reads RESULTS/trials.csv and writes, next to it:
  summary.csv  the zero-loss rate per inner frame size per tool (the appliance and each peer)
  summary.md   that table and the trials, as markdown (what docs/loadtest.md shows)
  chart.png    per size: offered vs captured rate, the appliance's drop breakdown, and every
               tool's capture ratio, all on the same trials

Usage: scripts/loadtest-chart.py RESULTS [TOLERANCE]   (loss allowed, fraction of sent; default 0)

A tool's zero-loss rate is the highest offered rate among the trials in which it lost at most
TOLERANCE of what was sent. The search is driven by the appliance, so for the peers this is the
best rate among the appliance's search points (a lower bound of their own zero-loss rate).
"""
import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PEERS = [("tcpdump_veth", "tcpdump -w raw veth"), ("tcpdump_vxlan", "tcpdump -w kernel vxlan"),
         ("netsniff_ng", "netsniff-ng raw veth")]
COLOURS = {"mirrorcap": "tab:blue", "tcpdump_veth": "tab:orange", "tcpdump_vxlan": "tab:green",
           "netsniff_ng": "tab:purple"}


def num(v):
    return float(v) if v not in ("", None) else None


def main():
    out = Path(sys.argv[1])
    tol = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    rows = list(csv.DictReader(open(out / "trials.csv")))
    if not rows:
        sys.exit("loadtest-chart: no trials in %s" % (out / "trials.csv"))
    peers = [(k, label) for k, label in PEERS if any(r[k] != "" for r in rows)]
    reasons = [c for c in rows[0] if c.startswith("drop_")]
    sizes = sorted({int(r["size"]) for r in rows})

    def count(r, tool):
        return num(r["captured"]) if tool == "mirrorcap" else num(r[tool])

    def passes(r, tool):
        c, s = count(r, tool), num(r["sent"])
        return c is not None and s > 0 and (s - c) <= tol * s

    summary = []
    for size in sizes:
        trials = [r for r in rows if int(r["size"]) == size]
        gen_max = max((num(r["offered_pps"]) for r in trials if r["phase"] == "max"), default=0)
        for tool in ["mirrorcap"] + [k for k, _ in peers]:
            ok = [num(r["offered_pps"]) for r in trials if passes(r, tool)]
            best = max(ok, default=0.0)
            summary.append({
                "size": size, "tool": tool, "zero_loss_pps": round(best),
                "zero_loss_gbps_inner": round(best * size * 8 / 1e9, 4),
                "generator_max_pps": round(gen_max), "trials": len(trials),
                "note": ("no loss at the generator's maximum" if best and best == gen_max
                         else "" if ok else "loss in every trial"),
            })
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0]))
        w.writeheader()
        w.writerows(summary)

    tools = ["mirrorcap"] + [k for k, _ in peers]
    names = {"mirrorcap": "mirrorcap", **dict(peers)}
    md = ["| inner bytes | generator max pps | " + " | ".join(
        names[t] + " zero-loss pps" for t in tools) + " |",
        "|---:|---:|" + "---:|" * len(tools)]
    for size in sizes:
        cells = []
        for t in tools:
            s = next(x for x in summary if x["size"] == size and x["tool"] == t)
            cells.append("%d%s" % (s["zero_loss_pps"], " (%s)" % s["note"] if s["note"] else ""))
        gmax = next(x for x in summary if x["size"] == size)["generator_max_pps"]
        md.append("| %d | %d | %s |" % (size, gmax, " | ".join(cells)))
    head = ["trial", "inner bytes", "phase", "offered pps", "sent", "mirrorcap captured", "loss",
            "not delivered (veth / socket)", "appliance drops"] + [names[k] + " ratio" for k, _ in peers]
    sched = any(r.get("worker_cpu_share") for r in rows)
    if sched:
        head += ["worker CPU (run / wait)", "load avg"]
    md += ["", "| " + " | ".join(head) + " |", "|---:|---:|---|" + "---:|" * (len(head) - 3)]
    for r in sorted(rows, key=lambda r: (int(r["size"]), num(r["offered_pps"]))):
        drops = sum(num(r[c]) for c in reasons)
        ratios = ["%.4f" % (num(r[k]) / num(r["sent"])) if r[k] != "" and num(r["sent"]) else ""
                  for k, _ in peers]
        cells = [r["trial"], r["size"], r["phase"], "%.0f" % num(r["offered_pps"]), r["sent"],
                 r["captured"], r["loss"],
                 "%s (%s / %s)" % (r["not_delivered"], r["veth_dropped"], r["socket_dropped"]),
                 "%.0f" % drops] + ratios
        if sched:
            cells += ["%s / %s" % (r["worker_cpu_share"], r["worker_wait_share"]), r["loadavg_1m"]]
        md.append("| " + " | ".join(cells) + " |")
    (out / "summary.md").write_text("\n".join(md) + "\n")

    fig, axes = plt.subplots(3, len(sizes), figsize=(5.5 * len(sizes), 12), squeeze=False)
    for col, size in enumerate(sizes):
        trials = sorted((r for r in rows if int(r["size"]) == size), key=lambda r: num(r["offered_pps"]))
        x = [num(r["offered_pps"]) / 1e3 for r in trials]
        dur = [num(r["duration_s"]) or 1 for r in trials]

        ax = axes[0][col]
        top = max(x) * 1.05 if x else 1
        ax.plot([0, top], [0, top], ":", color="grey", label="captured = offered")
        for t in tools:
            y = [count(r, t) / d / 1e3 if count(r, t) is not None else None for r, d in zip(trials, dur)]
            ax.plot(x, y, "o-", color=COLOURS[t], label=names[t], markersize=4)
        ax.set_title("%d-byte inner frames: offered vs captured" % size)
        ax.set_xlabel("offered (kpps, generator's achieved rate)")
        ax.set_ylabel("captured (kpps)")
        ax.legend(fontsize=7)

        ax = axes[1][col]
        parts = [("veth_dropped", "kernel: veth backlog"), ("socket_dropped", "port never delivered (AF_PACKET ring full / NIC)")]
        parts += [(c, c[5:]) for c in reasons if any(num(r[c]) for r in trials)]
        bottom = [0.0] * len(trials)
        idx = list(range(len(trials)))
        for key, label in parts:
            h = [100 * num(r[key]) / num(r["sent"]) if num(r["sent"]) else 0 for r in trials]
            ax.bar(idx, h, bottom=bottom, label=label)
            bottom = [b + v for b, v in zip(bottom, h)]
        if not any(bottom):
            ax.text(0.5, 0.5, "no frame lost", transform=ax.transAxes, ha="center")
            ax.set_ylim(0, 1)
        ax.set_xticks(idx, ["%.0f" % v for v in x], rotation=45, fontsize=7)
        ax.set_title("mirrorcap: where the lost frames went")
        ax.set_xlabel("offered (kpps)")
        ax.set_ylabel("% of frames sent")
        ax.legend(fontsize=7, loc="upper left")
        share = [num(r.get("worker_cpu_share")) for r in trials]
        if any(v is not None for v in share):
            tw = ax.twinx()
            tw.plot(idx, share, "k.--", label="worker's CPU share (right)")
            tw.set_ylim(0, 1.05)
            tw.set_ylabel("share of the trial the worker ran")
            tw.legend(fontsize=7, loc="upper right")

        ax = axes[2][col]
        for t in tools:
            y = [count(r, t) / num(r["sent"]) if count(r, t) is not None and num(r["sent"]) else None
                 for r in trials]
            ax.plot(x, y, "o-", color=COLOURS[t], label=names[t], markersize=4)
        ax.axhline(1 - tol, ls=":", color="grey")
        ax.set_ylim(0, 1.05)
        ax.set_title("capture ratio (captured / sent), same trials")
        ax.set_xlabel("offered (kpps)")
        ax.set_ylabel("ratio")
        ax.legend(fontsize=7)
    fig.suptitle("mirrorcap load test %s" % out.name)
    fig.tight_layout()
    fig.savefig(out / "chart.png", dpi=90)


if __name__ == "__main__":
    main()
