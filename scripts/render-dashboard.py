#!/usr/bin/python3
"""Renders the main panels of ami/monitoring/grafana-dashboard.json to a PNG, from the data a
real Prometheus server holds, so the docs show what Grafana will show.

Each panel's own PromQL (Grafana's $job/$instance as ".*", $__rate_interval as --rate) is run
through Prometheus's /api/v1/query_range; time series become line plots, the latency heatmap
becomes a heatmap of per-bucket counts. Needs python3-matplotlib (scripts/setup.sh).

Usage: scripts/render-dashboard.py --prometheus http://127.0.0.1:9090 --start UNIX --end UNIX
                                   [--out docs/img/dashboard.png] [--rate 10s]
scripts/dashboard-snapshot.sh makes a run and calls this.
"""
import argparse
import json
import re
import urllib.parse
import urllib.request

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import EngFormatter, FixedLocator, FuncFormatter  # noqa: E402

MAIN_PANELS = [
    "Throughput (packets/s)",
    "Drops by stage (packets/s)",
    "Captured per session (packets/s)",
    "Drops by reason (packets/s)",
    "Latency RX to commit per packet",
    "Ring retention",
]
BG, PANEL, FG, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#ff9830"]


def query_range(base, expr, start, end, step):
    q = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{q}", timeout=30) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise SystemExit(f"query failed: {expr}: {body}")
    return body["data"]["result"]


def substitute(expr, rate):
    return expr.replace("$__rate_interval", rate).replace("$job", ".*").replace("$instance", ".*")


def legend(fmt, labels):
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt or "") or str(labels)


def formatter(unit):
    if unit == "pps":
        return EngFormatter(unit="p/s", sep=" ")
    if unit == "bps":
        return EngFormatter(unit="b/s", sep=" ")
    if unit == "s":
        return EngFormatter(unit="s", sep=" ")
    if unit == "percentunit":
        return FuncFormatter(lambda v, _: f"{v * 100:.0f}%")
    return EngFormatter(sep=" ")


def style(ax, title, t0):
    ax.set_facecolor(PANEL)
    ax.set_title(title, color=FG, fontsize=10, loc="left")
    ax.tick_params(colors=FG, labelsize=8)
    for s in ax.spines.values():
        s.set_color(GRID)
    ax.grid(color=GRID, linewidth=0.6)
    ax.xaxis.set_major_locator(FixedLocator([t0 + m * 60 for m in range(0, 120)]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{(v - t0) / 60:.0f} min"))


def timeseries(ax, panel, args, step):
    n = 0
    for t in panel["targets"]:
        for s in query_range(args.prometheus, substitute(t["expr"], args.rate), args.start, args.end, step):
            xs = [float(v[0]) for v in s["values"]]
            ys = [float(v[1]) for v in s["values"]]
            ax.plot(xs, ys, color=COLORS[n % len(COLORS)], linewidth=1.3,
                    label=legend(t.get("legendFormat"), s["metric"]))
            n += 1
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    ax.yaxis.set_major_formatter(formatter(unit))
    ax.set_ylim(bottom=0)
    if n:
        ax.legend(fontsize=7, facecolor=PANEL, edgecolor=GRID, labelcolor=FG, loc="upper left")
    else:
        ax.text(0.5, 0.5, "no data", color=FG, ha="center", transform=ax.transAxes)


def heatmap(ax, panel, args, step):
    series = query_range(args.prometheus, substitute(panel["targets"][0]["expr"], args.rate),
                         args.start, args.end, step)
    les = sorted((float(s["metric"]["le"]), s) for s in series if s["metric"]["le"] != "+Inf")
    if not les:
        ax.text(0.5, 0.5, "no data", color=FG, ha="center", transform=ax.transAxes)
        return
    times = [float(v[0]) for v in les[0][1]["values"]]
    cum = [{float(v[0]): float(v[1]) for v in s["values"]} for _, s in les]
    rows = []
    for i in range(len(cum)):
        rows.append([max(cum[i].get(t, 0.0) - (cum[i - 1].get(t, 0.0) if i else 0.0), 0.0) for t in times])
    # Only the bucket range that holds data, one bucket of margin each side.
    used = [i for i, r in enumerate(rows) if any(v > 0 for v in r)] or [0]
    lo, hi = max(used[0] - 1, 0), min(used[-1] + 1, len(rows) - 1)
    bounds = [les[i][0] for i in range(len(les))]
    edges = [bounds[lo] / 2 if lo == 0 else bounds[lo - 1]] + bounds[lo:hi + 1]
    data = [[v if v > 0 else float("nan") for v in r] for r in rows[lo:hi + 1]]
    half = step / 2
    xedges = [times[0] - half] + [t + half for t in times]
    vmax = max((v for r in rows for v in r), default=1.0)
    ax.grid(False)
    mesh = ax.pcolormesh(xedges, edges, data, cmap="Oranges", norm=LogNorm(vmin=1, vmax=max(vmax, 2)))
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(EngFormatter(unit="s", sep=" "))
    cb = plt.colorbar(mesh, ax=ax, pad=0.01)
    cb.ax.tick_params(colors=FG, labelsize=7)
    cb.set_label("packets per interval", color=FG, fontsize=7)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prometheus", required=True)
    p.add_argument("--start", type=float, required=True)
    p.add_argument("--end", type=float, required=True)
    p.add_argument("--out", default="docs/img/dashboard.png")
    p.add_argument("--dashboard", default="ami/monitoring/grafana-dashboard.json")
    p.add_argument("--rate", default="10s", help="what $__rate_interval becomes")
    args = p.parse_args()
    panels = {x["title"]: x for x in json.load(open(args.dashboard))["panels"]}
    step = max(round((args.end - args.start) / 240), 1)
    fig, axes = plt.subplots(3, 2, figsize=(14, 11), facecolor=BG)
    fig.suptitle("mirrorcap dashboard: main panels from a real run (net_pcap replay, paced, 1 worker)",
                 color=FG, fontsize=12)
    for ax, title in zip(axes.flat, MAIN_PANELS):
        panel = panels[title]
        style(ax, title, args.start)
        if panel["type"] == "heatmap":
            heatmap(ax, panel, args, step)
        else:
            timeseries(ax, panel, args, step)
        ax.set_xlim(args.start, args.end)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(args.out, dpi=72, facecolor=BG)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
