"""Command line: ``python -m iqm_runstatus bench`` and ``python -m iqm_runstatus generate``.

``bench`` times the Rust path against the pure-Python path on a generated workload;
``generate`` writes a workload as NDJSON, one payload a line, for other tools to replay.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Callable, NoReturn

from . import NATIVE, RunStatus, pure_from_dict, pure_from_json
from ._workload import iter_payloads

PROG = "iqm-runstatus"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block: the message says what to fix.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
    return value


def _count(text: str) -> int:
    return _int_at_least(text, 0)


def _positive(text: str) -> int:
    return _int_at_least(text, 1)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="Benchmark the Rust-accelerated RunStatus, or generate job-status payloads.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{bench,generate}", parser_class=_Parser
    )
    bench = commands.add_parser(
        "bench",
        help="time the Rust path against the pure-Python path",
        description="Time RunStatus.from_json/from_dict against the pure-Python path on a "
        "generated workload of valid job-status payloads.",
    )
    bench.add_argument(
        "--size", type=_positive, default=200_000, metavar="N", help="payloads (default 200000)"
    )
    bench.add_argument(
        "--repeat", type=_positive, default=5, metavar="R", help="repeats, best kept (default 5)"
    )
    bench.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    gen = commands.add_parser(
        "generate",
        help="write generated payloads as NDJSON",
        description="Write COUNT job-status payloads as NDJSON, one compact JSON payload a line.",
    )
    gen.add_argument("--count", type=_count, required=True, metavar="N", help="payloads to write")
    gen.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    gen.add_argument(
        "--invalid-rate",
        type=_rate,
        default=0.0,
        metavar="R",
        help="fraction of malformed payloads, 0 to 1 (default 0)",
    )
    gen.add_argument("out", metavar="OUT", help="output file, or - for standard output")
    return parser


def _same(a: RunStatus, b: RunStatus) -> bool:
    # Pydantic's == ignores model_fields_set, which a drop-in must match too.
    return type(a) is type(b) and a == b and a.model_fields_set == b.model_fields_set


def _best_ns(fn: Callable[[Any], object], inputs: Sequence[Any], repeat: int) -> float:
    """Best-of-`repeat` time of calling `fn` on every input, in ns per input."""
    best = float("inf")
    # As timeit does: a collection in the middle of one run would make it an outlier.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            for item in inputs:
                fn(item)
            best = min(best, time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best * 1e9 / len(inputs)


def _reference_from_json(raw: bytes) -> RunStatus:
    return pure_from_dict(json.loads(raw))


def _bench(size: int, repeat: int, seed: int) -> int:
    payloads = list(iter_payloads(size, seed=seed))
    dicts = [json.loads(p) for p in payloads]
    mix = Counter(d["status"] for d in dicts)
    mean_size = sum(map(len, payloads)) / size
    print(f"workload: {size:,} valid payloads (seed {seed}), {mean_size:.0f} bytes on average")
    print("  " + ", ".join(f"{status} {n / size:.1%}" for status, n in mix.most_common()))
    if not NATIVE:
        print(
            "note: the native core is off (IQM_RUNSTATUS_PURE is set), so the RunStatus rows "
            "run the pure-Python path too"
        )

    # Check before timing: a fast wrong answer is no result.
    for i, (raw, d) in enumerate(zip(payloads, dicts)):
        want = pure_from_json(raw)
        for name, got in (
            ("RunStatus.from_json", RunStatus.from_json(raw)),
            ("RunStatus.from_dict", RunStatus.from_dict(d)),
        ):
            if not _same(got, want):
                print(
                    f"{PROG}: error: {name} differs from the pure path on payload {i} {raw!r}: "
                    f"{got!r} != {want!r}",
                    file=sys.stderr,
                )
                return 1

    rows: list[tuple[str, str, float, float]] = []

    def run(kind: str, label: str, fn: Callable[[Any], object], inputs: Sequence[Any]) -> None:
        ns = _best_ns(fn, inputs, repeat)
        # The first row of each input kind is its pure-Python baseline.
        base = next((r[2] for r in rows if r[0] == kind), ns)
        rows.append((kind, label, ns, base / ns))

    run("bytes", "pure: pure_from_json(raw)", pure_from_json, payloads)
    run("bytes", "pure: pure_from_dict(json.loads(raw))", _reference_from_json, payloads)
    run("bytes", "rust: RunStatus.from_json(raw)", RunStatus.from_json, payloads)
    run("dict", "pure: pure_from_dict(d)", pure_from_dict, dicts)
    run("dict", "rust: RunStatus.from_dict(d)", RunStatus.from_dict, dicts)

    print(f"best of {repeat} runs, per payload:")
    width = max(len(r[1]) for r in rows)
    print(f"  {'input':<6} {'implementation':<{width}} {'ns':>9} {'speed-up':>9}")
    for kind, label, ns, speedup in rows:
        print(f"  {kind:<6} {label:<{width}} {ns:>9,.0f} {speedup:>8.1f}x")
    return 0


def _write_lines(lines: Iterable[bytes], out: Any) -> None:
    # Payloads hold no raw newline (JSON escapes it), so one line is one payload.
    for line in lines:
        out.write(line)
        out.write(b"\n")
    out.flush()


def _generate(count: int, seed: int, invalid_rate: float, out: str) -> int:
    payloads = iter_payloads(count, seed=seed, invalid_rate=invalid_rate)
    if out == "-":
        _write_lines(payloads, sys.stdout.buffer)
        return 0
    try:
        fh = open(out, "wb")
    except OSError as exc:
        print(f"{PROG}: error: cannot write {out!r}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    with fh:
        _write_lines(payloads, fh)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (2 for bad arguments)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        # argparse exits for --help and for errors; a caller of main() gets the code instead.
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.command == "bench":
            return _bench(args.size, args.repeat, args.seed)
        return _generate(args.count, args.seed, args.invalid_rate, args.out)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
