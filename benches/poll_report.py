"""Renders the polling benchmarks (pytest-benchmark JSON of ``benches/test_poll.py``) into a
table with the bars of issue #14, ``poll.md``, and a chart, ``poll.png``.

Usage: ``python -m benches.poll_report BENCHMARKS_JSON OUT_DIR`` (``make bench-poll``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ORDER = ("iqm-client", "iqm-client-threads32", "aiohttp-64", "poller")
# (what, client compared with, limit, True if at least): the poller's CPU per poll as a
# fraction of another client's in the same run, and its throughput.
BARS = (
    ("CPU per poll vs iqm-client", "iqm-client", 25.0),
    ("CPU per poll vs aiohttp", "aiohttp-64", 3.0),
)
MIN_POLLS_PER_SECOND = 10_000


def load(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    runs = {bench["extra_info"]["client"]: bench["extra_info"] for bench in data["benchmarks"]}
    return {client: runs[client] for client in ORDER if client in runs}


def table(runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "| client | CPU per poll (µs) | polls/s | client CPU (cores) "
        "| latency p50 (ms) | p99 (ms) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for client, run in runs.items():
        lines.append(
            f"| {client} | {run['cpu_per_poll_us']:.1f} | {run['polls_per_second']:,.0f} "
            f"| {run['cpu_share']:.2f} | {run['latency_p50_ms']:.0f} "
            f"| {run['latency_p99_ms']:.0f} |"
        )
    return lines


def bars(runs: dict[str, dict[str, Any]]) -> list[str]:
    poller = runs.get("poller")
    if poller is None:
        return ["no poller run"]
    lines = []
    for label, other, limit in BARS:
        if other not in runs:
            lines.append(f"- {label}: not run")
            continue
        ratio = runs[other]["cpu_per_poll_us"] / poller["cpu_per_poll_us"]
        verdict = "ok" if ratio >= limit else "MISS"
        lines.append(
            f"- {label}: {ratio:.1f}x less CPU a poll, {verdict} (bar: at least {limit:g}x)"
        )
    rate = poller["polls_per_second"]
    verdict = "ok" if rate >= MIN_POLLS_PER_SECOND else "MISS"
    lines.append(
        f"- poller throughput: {rate:,.0f} polls/s, {verdict} (bar: {MIN_POLLS_PER_SECOND:,})"
    )
    return lines


def chart(runs: dict[str, dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clients = list(runs)

    def values(key: str) -> list[float]:
        return [runs[client][key] for client in clients]

    panels = (
        ("client CPU per poll (µs, log)", values("cpu_per_poll_us"), True),
        ("polls per second", values("polls_per_second"), False),
        ("status change to transition, p50 (ms, log)", values("latency_p50_ms"), True),
    )
    colours = ["#999999", "#bbbbbb", "#6b8fb3", "#d9772b"][: len(clients)]
    figure, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for axis, (title, heights, log) in zip(axes, panels):
        axis.bar(clients, heights, color=colours)
        axis.set_title(title, fontsize=10)
        if log:
            axis.set_yscale("log")
        axis.tick_params(axis="x", labelrotation=20, labelsize=8)
        for x, value in enumerate(heights):
            label = f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
            axis.annotate(label, (x, value), ha="center", va="bottom", fontsize=8)
    jobs = runs[clients[0]]["jobs"]
    figure.suptitle(f"Polling {jobs} jobs over loopback HTTP, one run", fontsize=11)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, out_dir = Path(argv[0]), Path(argv[1])
    runs = load(source)
    lines = ["# Polling benchmark", "", *table(runs), "", *bars(runs), ""]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "poll.md").write_text("\n".join(lines))
    chart(runs, out_dir / "poll.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
