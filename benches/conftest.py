"""After the pytest-benchmark tables, print each group's medians and the ratios that matter."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from iqm_runstatus import CLIENT_RELEASE, NATIVE

IMPLS = ("reference", "ours-pure", "pydantic", "msgspec", "ours", "ours-prebound")

# (label, numerator, denominator): each ratio is a speed-up of ours, except the msgspec one,
# which is our time over msgspec's.
RATIOS = (
    ("ours vs reference", "reference", "ours"),
    ("ours vs pure", "ours-pure", "ours"),
    ("ours vs pydantic", "pydantic", "ours"),
    ("ours / msgspec time", "ours", "msgspec"),
)
# The bars, by (ratio, input kind): (limit, True if the ratio must be at least it), for the
# call as users write it (`RunStatus.from_json(raw)`, the class lookup included).
BARS = {
    ("ours vs reference", "bytes"): (11.0, True),
    ("ours vs pydantic", "bytes"): (3.3, True),
    ("ours / msgspec time", "bytes"): (2.0, False),
    ("ours vs reference", "dict"): (6.0, True),
}


# The Arrow and Dask suites name each implementation `analytics_impl`; in each group the
# first of these present is ours, which the others are compared with.
ANALYTICS_OURS = ("ours-arrow", "ours-export", "ours-duckdb", "ours-dask")


def analytics_table(benchmarks: Iterable[tuple[str, dict[str, Any], float]]) -> list[str]:
    """Markdown rows for the Arrow and Dask suites, from (group, extra info, median seconds):
    each implementation's median, the speed-up of ours over it, and the bytes an entry of the
    exported table takes where measured."""
    groups: dict[str, dict[str, tuple[float, Any]]] = {}
    for group, info, median in benchmarks:
        if "analytics_impl" in info:
            groups.setdefault(group, {})[info["analytics_impl"]] = (
                median,
                info.get("bytes_per_entry"),
            )
    if not groups:
        return []
    lines = [
        "| group | implementation | median (ms) | speed-up of ours | bytes an entry |",
        "|---|---|---|---|---|",
    ]
    for group, by_impl in groups.items():
        ours = next((by_impl[i][0] for i in ANALYTICS_OURS if i in by_impl), None)
        for impl, (median, per_entry) in by_impl.items():
            speed_up = "-" if ours is None or impl in ANALYTICS_OURS else f"{median / ours:.2f}x"
            size = "-" if per_entry is None else f"{per_entry:.1f}"
            lines.append(f"| {group} | {impl} | {median * 1e3:,.2f} | {speed_up} | {size} |")
    return lines


def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]
) -> None:
    # `python -m benches.report --releases` tells the runs of each vocabulary by this.
    output_json["client_release"] = CLIENT_RELEASE


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None or session.disabled:
        return
    analytics = analytics_table(
        (bench.group, bench.extra_info, bench.stats.median) for bench in session.benchmarks if bench
    )
    if analytics:
        terminalreporter.section("iqm_runstatus: Arrow and Dask")
        for line in analytics:
            terminalreporter.write_line(line)
    # Medians in ns by group, then implementation; a benchmark without stats did not run.
    medians: dict[str, dict[str, float]] = {}
    kinds: dict[str, str] = {}
    for bench in session.benchmarks:
        info = bench.extra_info
        if not bench or "impl" not in info:
            continue
        # Per payload: a single-payload round makes `calls` calls. Of several passes, the
        # fastest window counts (see benches/test_single.py).
        per_call = bench.stats.median / info.get("calls", 1) * 1e9
        by_impl = medians.setdefault(bench.group, {})
        by_impl[info["impl"]] = min(per_call, by_impl.get(info["impl"], per_call))
        kinds[bench.group] = info["input"]
    if not medians:
        return

    write = terminalreporter.write_line
    terminalreporter.section(
        f"iqm_runstatus: medians (ns) and ratios, iqm-client {CLIENT_RELEASE}'s vocabulary"
    )
    if not NATIVE:
        write("note: the native core is off (IQM_RUNSTATUS_PURE is set): 'ours' is the pure path")
    width = max(len(g) for g in medians)
    write(f"{'group':<{width}} " + " ".join(f"{i:>9}" for i in IMPLS))
    for group, by_impl in medians.items():
        times = (f"{by_impl[i]:>9,.0f}" if i in by_impl else f"{'-':>9}" for i in IMPLS)
        write(f"{group:<{width}} " + " ".join(times))
    write("")
    write(f"{'group':<{width}} " + " ".join(f"{r[0]:>21}" for r in RATIOS))
    missed: list[str] = []
    for group, by_impl in medians.items():
        cells: list[str] = []
        for label, num, den in RATIOS:
            if num not in by_impl or den not in by_impl:
                cells.append(f"{'-':>21}")
                continue
            ratio = by_impl[num] / by_impl[den]
            cell = f"{ratio:.2f}x"
            bar = BARS.get((label, kinds[group]))
            if bar is not None:
                limit, minimum = bar
                ok = ratio >= limit if minimum else ratio <= limit
                cell += f" {'ok' if ok else 'MISS'} ({'>=' if minimum else '<='}{limit:g})"
                if not ok:
                    missed.append(f"{group}: {label} {ratio:.2f}x")
            cells.append(f"{cell:>21}")
        write(f"{group:<{width}} " + " ".join(cells))
    write("")
    # Informational only: benchmarks prove speed, and no test asserts a time.
    if missed:
        # Each implementation is timed in its own window, so load from other processes skews
        # ratios: a miss is worth a rerun on a quiet machine before it is believed.
        write("bars missed:", yellow=True)
        for line in missed:
            write(f"  {line}", yellow=True)
    else:
        write("all bars from the issue met", green=True)


@pytest.fixture(scope="module")
def status_server() -> Iterator[str]:
    """The Rust server named by ``BENCH_STATUS_SERVER`` (``make bench-poll`` builds it), else
    the Python one; in a process of its own, so its CPU is not the client's."""
    binary = os.environ.get("BENCH_STATUS_SERVER")
    command = (
        [binary] if binary else [sys.executable, str(Path(__file__).with_name("poll_server.py"))]
    )
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{int(server.stdout.readline())}"
    finally:
        server.kill()
        server.wait(timeout=10)
