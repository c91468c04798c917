"""Renders the polling benchmarks (pytest-benchmark JSON of ``benches/test_poll.py`` and
``benches/test_poll_cpu.py``) into ``poll.md``: the throughput table with the bars of issue
#14, and the client CPU per poll by scenario with the bars of issue #22; and a chart,
``poll.png``.

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

CPU_CLIENTS = ("poller", "aiohttp-64", "iqm-client")
# StatusPoller's CPU per poll at most this, by kind of scenario (issue #22)...
CPU_LIMITS_US = {"one-shot": 25.0, "steady": 12.0}
# ...and at least this many times less than each other client's in the same scenario.
CPU_RATIOS = {"aiohttp-64": 8.0, "iqm-client": 100.0}


def load(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    runs = {
        bench["extra_info"]["client"]: bench["extra_info"]
        for bench in data["benchmarks"]
        if bench["group"] == "poll" and bench["extra_info"]
    }
    return {client: runs[client] for client in ORDER if client in runs}


def load_cpu(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The runs of ``test_poll_cpu.py`` by scenario, then client."""
    data = json.loads(path.read_text())
    scenarios: dict[str, dict[str, dict[str, Any]]] = {}
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        if bench["group"] == "poll-cpu" and info:
            scenarios.setdefault(info["scenario"], {})[info["client"]] = info
    return scenarios


def cpu_table(scenarios: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """CPU per poll of each client in each scenario, the poller's ratios and the bars."""
    if not scenarios:
        return []
    lines = [
        "## Client CPU per poll, as a scheduler meets it",
        "",
        "Whole-process CPU (`getrusage`, every thread) over the polls made; the status server "
        "runs in another process (the Rust one, with its latency set). One-shot: jobs added, "
        "each answered `ready` at once, waited for (per job, construction included). Steady: "
        "pending jobs polled every 50 ms (per poll, over a window). Every job was checked to "
        "reach its status.",
        "",
        "| scenario | "
        + " | ".join(f"{client} (µs/poll)" for client in CPU_CLIENTS)
        + " | "
        + " | ".join(f"vs {client}" for client in CPU_RATIOS)
        + " |",
        "|---|" + "---:|" * (len(CPU_CLIENTS) + len(CPU_RATIOS)),
    ]
    verdicts = []
    for scenario, runs in scenarios.items():
        cells = [
            f"{runs[client]['cpu_per_poll_us']:,.1f} ({runs[client]['jobs']:,} jobs)"
            if client in runs
            else "not run"
            for client in CPU_CLIENTS
        ]
        poller = runs.get("poller")
        ratios = []
        for other, limit in CPU_RATIOS.items():
            if poller is None or other not in runs:
                ratios.append("-")
                continue
            ratio = runs[other]["cpu_per_poll_us"] / poller["cpu_per_poll_us"]
            ratios.append(f"{ratio:.1f}x")
            verdict = "ok" if ratio >= limit else "MISS"
            verdicts.append(
                f"- {scenario}: {ratio:.1f}x less CPU than {other}, {verdict} "
                f"(bar: at least {limit:g}x)"
            )
        if poller is not None:
            limit_us = CPU_LIMITS_US[scenario.split()[0]]
            value = poller["cpu_per_poll_us"]
            verdict = "ok" if value <= limit_us else "MISS"
            verdicts.append(
                f"- {scenario}: StatusPoller {value:.1f} µs per poll, {verdict} "
                f"(bar: at most {limit_us:g})"
            )
        lines.append(f"| {scenario} | " + " | ".join(cells + ratios) + " |")
    rates = [
        f"{scenario} {client} {run['polls_per_second']:,.0f}"
        for scenario, runs in scenarios.items()
        for client, run in runs.items()
    ]
    return [*lines, "", "Polls per second: " + "; ".join(rates) + ".", "", *verdicts]


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
    lines = ["# Polling benchmark", ""]
    if runs:
        lines += [*table(runs), "", *bars(runs), ""]
    lines += [*cpu_table(load_cpu(source)), ""]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "poll.md").write_text("\n".join(lines))
    if runs:
        chart(runs, out_dir / "poll.png")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
