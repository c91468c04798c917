"""Charts and a ratio table from the pytest-benchmark JSON of the suites in ``benches/``.

``make bench-report`` runs the suites and then this module::

    python -m benches.report benches/report/benchmarks.json benches/report

It writes ``single.png`` (cost per payload of each implementation), ``batch.png`` (throughput
of the batch tools against batch size) and ``ratios.md``. Needs matplotlib (the ``charts`` extra).

``make bench`` runs the suites once per vocabulary (each in a process of its own, since the
vocabulary is chosen at import) and prints their ratios side by side::

    python -m benches.report 17.2.json --releases 32.1.1.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conftest import IMPLS, RATIOS, analytics_table

__all__ = ["Result", "load", "main", "release_table", "render", "write_ratios"]

# Legend names: the suites' short implementation ids, spelled out.
LABELS = {
    "reference": "iqm-client 17.2 RunStatus (the reference)",
    "ours-pure": "this package, pure-Python path",
    "pydantic": "pydantic on the reference model",
    "msgspec": "msgspec Struct",
    "ours": "this package (Rust)",
    "ours-prebound": "this package (Rust), function bound once",
    "ours-1-thread": "this package (Rust), 1 thread",
    "ours-array": "this package, from_json_array",
    "ours-shuffled": "this package, poll in another order",
}
# One colour per implementation in both charts; our variants share ours's colour, dashed.
COLORS = {
    "reference": "tab:gray",
    "ours-pure": "tab:orange",
    "pydantic": "tab:green",
    "msgspec": "tab:blue",
    "ours": "tab:red",
    "ours-prebound": "tab:pink",
    "ours-1-thread": "tab:red",
    "ours-array": "tab:purple",
    "ours-shuffled": "tab:brown",
}
DASHED = ("ours-1-thread", "ours-array", "ours-shuffled")
# What "ours" is in each batch benchmark, for the panel titles.
BATCH_KINDS = {
    "batch counts": "count the statuses\nours: StatusBatch.from_payloads(...).counts()",
    "batch to_list": "every status as an object\nours: parse_many(payloads)",
    "batch ndjson counts": "count NDJSON statuses\nours: StatusBatch.from_ndjson(raw).counts()",
    "tracker second poll": "JobTracker.update_many, second poll\n(10% of the jobs changed)",
}
BATCH_IMPLS = (
    "ours-pure",
    "pydantic",
    "msgspec",
    "ours",
    "ours-1-thread",
    "ours-array",
    "ours-shuffled",
)


@dataclass(frozen=True)
class Result:
    """One benchmark: its group, implementation, input kind, size and median time in seconds."""

    group: str
    impl: str
    input: str
    median: float
    payload: str = ""
    size: int = 1


def load(data: dict[str, Any]) -> list[Result]:
    """The results of a pytest-benchmark JSON report that carry the suites' extra info."""
    results: list[Result] = []
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if "impl" not in info:
            continue
        params = bench.get("params") or {}
        results.append(
            Result(
                group=bench["group"],
                impl=info["impl"],
                input=info["input"],
                # Per payload: a single-payload round makes `calls` calls.
                median=bench["stats"]["median"] / info.get("calls", 1),
                payload=info.get("payload", ""),
                size=int(params.get("count", 1)),
            )
        )
    return results


def _batch_kind(group: str) -> str:
    # Batch groups are "<kind>: <size>".
    return group.rsplit(":", 1)[0]


def _single(results: Sequence[Result]) -> dict[str, dict[str, dict[str, float]]]:
    """Median ns by input kind, then payload label, then implementation (the fastest pass)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for r in results:
        if r.input in ("bytes", "dict"):
            label = r.group.split(": ", 1)[1]
            by_impl = out.setdefault(r.input, {}).setdefault(label, {})
            # Of several passes, the fastest window counts (see benches/test_single.py).
            by_impl[r.impl] = min(r.median * 1e9, by_impl.get(r.impl, r.median * 1e9))
    return out


def _batch(results: Sequence[Result]) -> dict[str, dict[str, dict[int, float]]]:
    """Payloads per second by batch kind, then implementation, then batch size."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for r in results:
        if r.input == "batch":
            by_impl = out.setdefault(_batch_kind(r.group), {})
            by_impl.setdefault(r.impl, {})[r.size] = r.size / r.median
    return out


def _machine(data: dict[str, Any]) -> str:
    info = data.get("machine_info", {})
    cpu = info.get("cpu", {})
    parts = [
        cpu.get("brand_raw") or info.get("processor") or "unknown CPU",
        f"{cpu['count']} cores" if "count" in cpu else "",
        f"Python {info['python_version']}" if "python_version" in info else "",
        data.get("datetime", "")[:10],
    ]
    return ", ".join(p for p in parts if p)


def _legend_below(fig: Any, axes: Sequence[Any]) -> None:
    # One legend for all panels, under them, so that it hides no bar or line.
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    ncol = min(len(handles), 4)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=ncol, fontsize=9)
    rows = -(-len(handles) // ncol)
    # Room for the two-line suptitle above the panels.
    fig.tight_layout(rect=(0, 0.04 + 0.04 * rows, 1, 0.9))


def render_single(results: Sequence[Result], path: Path, subtitle: str) -> None:
    """Grouped bars: per-payload median of each implementation, bytes and dict input."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    single = _single(results)
    kinds = [k for k in ("bytes", "dict") if k in single]
    fig, axes = plt.subplots(1, len(kinds), figsize=(7 * len(kinds), 5.5), squeeze=False)
    width = 0.8 / len(IMPLS)
    for ax, kind in zip(axes[0], kinds):
        payloads = list(single[kind])
        for j, impl in enumerate(IMPLS):
            xs = [i + (j - (len(IMPLS) - 1) / 2) * width for i in range(len(payloads))]
            ys = [single[kind][p].get(impl, math.nan) for p in payloads]
            bars = ax.bar(xs, ys, width, label=LABELS[impl], color=COLORS[impl])
            ax.bar_label(
                bars, labels=[f"{y:,.0f}" if y == y else "" for y in ys], fontsize=7, padding=2
            )
        ax.set_xticks(range(len(payloads)), payloads)
        ax.set_yscale("log")
        ax.set_ylabel("median time per payload (ns, log scale; lower is better)")
        title = "from bytes (a response body)" if kind == "bytes" else "from a dict (json.loads'd)"
        ax.set_title(title)
        ax.grid(axis="y", which="both", alpha=0.3)
    _legend_below(fig, axes[0])
    fig.suptitle(f"Parsing one job-status payload\n{subtitle}", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_batch(results: Sequence[Result], path: Path, subtitle: str) -> None:
    """Throughput against batch size, one panel per batch benchmark, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batch = _batch(results)
    kinds = [k for k in BATCH_KINDS if k in batch] + [k for k in batch if k not in BATCH_KINDS]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 5.5), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        impls = [i for i in BATCH_IMPLS if i in batch[kind]]
        impls += [i for i in batch[kind] if i not in impls]
        for impl in impls:
            points = sorted(batch[kind][impl].items())
            ax.plot(
                [n for n, _ in points],
                [v for _, v in points],
                marker="o",
                linestyle="--" if impl in DASHED else "-",
                color=COLORS.get(impl),
                label=LABELS.get(impl, impl),
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size (payloads)")
        ax.set_ylabel("throughput (payloads/s, log scale; higher is better)")
        ax.set_title(BATCH_KINDS.get(kind, kind), fontsize=10)
        ax.grid(which="both", alpha=0.3)
    _legend_below(fig, axes[0])
    fig.suptitle(f"Batch tools: throughput against batch size\n{subtitle}", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_ratios(
    results: Sequence[Result], path: Path, subtitle: str, analytics: Sequence[str] = ()
) -> None:
    """The medians and ratios of the single-payload suite and the batch speed-ups, and the
    `analytics_table` rows of the Arrow and Dask suites, as markdown."""
    lines = [
        "# Benchmark ratios",
        "",
        f"Medians of `make bench-report` on {subtitle}. Speed-ups are the other",
        "implementation's median over ours; `ours / msgspec time` is the other way round.",
        "A single payload's median is per call and the fastest of its passes' windows.",
        "",
        "## One payload (median ns)",
        "",
    ]
    single = _single(results)
    header = ["group", *IMPLS, *(r[0] for r in RATIOS)]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for kind, by_payload in single.items():
        for payload, by_impl in by_payload.items():
            cells = [f"{kind}: {payload}"]
            cells += [f"{by_impl[i]:,.0f}" if i in by_impl else "-" for i in IMPLS]
            for _, num, den in RATIOS:
                ok = num in by_impl and den in by_impl
                cells.append(f"{by_impl[num] / by_impl[den]:.2f}x" if ok else "-")
            lines.append("| " + " | ".join(cells) + " |")
    batch = _batch(results)
    for kind, by_impl in batch.items():
        others = [i for i in BATCH_IMPLS if i in by_impl and i != "ours"]
        lines += ["", f"## {kind} (payloads/s; speed-up of ours)", ""]
        header = ["size", *(f"{i}" for i in BATCH_IMPLS if i in by_impl)]
        header += [f"ours vs {i}" for i in others]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for size in sorted({n for points in by_impl.values() for n in points}):
            cells = [f"{size:,}"]
            cells += [
                f"{by_impl[i][size]:,.0f}" if size in by_impl[i] else "-"
                for i in BATCH_IMPLS
                if i in by_impl
            ]
            ours = by_impl.get("ours", {}).get(size)
            for other in others:
                theirs = by_impl[other].get(size)
                cells.append(f"{ours / theirs:.2f}x" if ours and theirs else "-")
            lines.append("| " + " | ".join(cells) + " |")
    if analytics:
        lines += ["", "## Arrow and Dask (speed-up of ours: their median over ours)", ""]
        lines += analytics
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def analytics_rows(data: dict[str, Any]) -> list[str]:
    """The Arrow and Dask suites' table rows of a pytest-benchmark report."""
    return analytics_table(
        (bench["group"], bench.get("extra_info", {}), bench["stats"]["median"])
        for bench in data.get("benchmarks", [])
    )


def render(data: dict[str, Any], out_dir: Path) -> list[Path]:
    """Writes single.png, batch.png and ratios.md for a pytest-benchmark report into `out_dir`.

    A chart whose suite did not run is left out. Returns the files written.
    """
    results = load(data)
    subtitle = _machine(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if _single(results):
        render_single(results, out_dir / "single.png", subtitle)
        written.append(out_dir / "single.png")
    if _batch(results):
        render_batch(results, out_dir / "batch.png", subtitle)
        written.append(out_dir / "batch.png")
    write_ratios(results, out_dir / "ratios.md", subtitle, analytics_rows(data))
    written.append(out_dir / "ratios.md")
    return written


# The groups whose ratio to the pure path must hold across vocabularies (the kind of a batch
# group is its name before the size), and how far it may drop.
RELEASE_BAR_KINDS = ("bytes", "batch counts", "tracker second poll")
RELEASE_BAR = 0.95


def _ours_and_pure(data: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Per group: the medians of ours and of the pure path (the fastest pass of each)."""
    fastest: dict[tuple[str, str], float] = {}
    for r in load(data):
        key = (r.group, r.impl)
        fastest[key] = min(r.median, fastest.get(key, r.median))
    return {
        group: (fastest[group, "ours"], fastest[group, "ours-pure"])
        for group, impl in fastest
        if impl == "ours" and (group, "ours-pure") in fastest
    }


def release_table(runs: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown rows: each group's `ours vs pure` speed-up with each run's vocabulary (the
    pure path being that release's), and for each later run its speed-up over the first's and
    its time of ours over the first's (which tells whether a change is ours or the pure
    path's). A group in `RELEASE_BAR_KINDS` whose speed-up drops below `RELEASE_BAR` of the
    first's is marked."""
    releases = [str(data.get("client_release", f"run {i + 1}")) for i, data in enumerate(runs)]
    medians = [_ours_and_pure(data) for data in runs]
    groups = [g for g in medians[0] if all(g in m for m in medians[1:])]
    header = ["group", *(f"ours vs pure, {r}" for r in releases)]
    for r in releases[1:]:
        header += [f"{r} / {releases[0]}", f"ours' time, {r} / {releases[0]}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        speed_ups = [pure / ours for ours, pure in (m[group] for m in medians)]
        cells = [group, *(f"{s:.2f}x" for s in speed_ups)]
        barred = group.split(":", 1)[0] in RELEASE_BAR_KINDS
        for speed_up, m in zip(speed_ups[1:], medians[1:]):
            change = speed_up / speed_ups[0]
            mark = "" if not barred else " ok" if change >= RELEASE_BAR else " MISS"
            cells += [f"{change:.3f}{mark}", f"{m[group][0] / medians[0][group][0]:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benches.report", description=__doc__)
    parser.add_argument("json", type=Path, help="pytest-benchmark JSON (--benchmark-json)")
    parser.add_argument(
        "out_dir", type=Path, nargs="?", help="directory for the charts and ratios.md"
    )
    parser.add_argument(
        "--releases",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="print the ratios to the pure path of these runs beside the first's, and no chart",
    )
    args = parser.parse_args(argv)
    paths = [args.json, *(args.releases or [])]
    try:
        loaded = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    except (OSError, ValueError) as exc:
        print(f"{parser.prog}: error: cannot read a report: {exc}", file=sys.stderr)
        return 2
    if args.releases:
        print("\n".join(release_table(loaded)))
        return 0
    if args.out_dir is None:
        parser.error("the out_dir argument is required without --releases")
    data = loaded[0]
    for path in render(data, args.out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
