"""Command line: ``python -m iqm_runstatus {bench,generate,summarize,watch}``.

``bench`` times the Rust path against the pure-Python path on a generated workload;
``generate`` writes a workload as NDJSON, one payload a line, for other tools to replay;
``summarize`` streams an NDJSON file of payloads (``.gz``, ``.bz2`` or ``.xz`` too) and reports
counts, messages and bad lines;
``watch`` polls a server for the jobs of a file and prints their transitions.
"""

from __future__ import annotations

import argparse
import bz2
import gc
import gzip
import json
import lzma
import os
import stat
import sys
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any, Callable, NoReturn

from . import NATIVE, RunStatus, Status, __version__, pure_from_dict, pure_from_json
from ._summary import CHUNK_BYTES, MAX_INVALID, Summary, clip, summarize_stream
from ._workload import iter_payloads, write_ndjson

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
        description="Benchmark the Rust-accelerated RunStatus, generate job-status payloads, "
        "summarize a file of them, or watch jobs on a server and print their transitions.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="{bench,generate,summarize,watch}",
        parser_class=_Parser,
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
    summ = commands.add_parser(
        "summarize",
        help="count the statuses, messages and invalid lines of an NDJSON file",
        description="Read job-status payloads as NDJSON, one a line, in chunks (so files larger "
        "than memory work), and print the count of each status, the most common failure "
        "messages and warnings, and the invalid lines with their numbers. A FILE whose name "
        "ends in .gz, .bz2 or .xz is decompressed as it is read.",
        epilog="Exit status: 0 if every payload is valid, 1 if any line is invalid (the report "
        "counts and lists them), 2 if FILE cannot be read or an argument is wrong.",
    )
    summ.add_argument(
        "file", metavar="FILE", help="NDJSON file (.gz, .bz2, .xz too), or - for standard input"
    )
    summ.add_argument(
        "--top",
        type=_positive,
        default=5,
        metavar="N",
        help="failure messages and warnings to show (default 5)",
    )
    summ.add_argument(
        "--max-invalid",
        type=_count,
        default=MAX_INVALID,
        metavar="N",
        help=f"invalid lines to keep and show; all are counted (default {MAX_INVALID})",
    )
    summ.add_argument("--json", action="store_true", help="print one JSON object instead")
    summ.add_argument(
        "--no-progress", action="store_true", help="no progress bar (shown on a terminal with tqdm)"
    )
    # Hidden: small chunks exercise the chunk boundaries in tests; a forced bar, its code path.
    summ.add_argument("--chunk-bytes", type=_positive, help=argparse.SUPPRESS)
    summ.add_argument("--force-progress", action="store_true", help=argparse.SUPPRESS)
    _add_watch(commands)
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _add_watch(commands: Any) -> None:
    watch = commands.add_parser(
        "watch",
        help="poll a server for jobs and print their transitions",
        description="Poll GET BASE_URL/jobs/{id}/status for the jobs listed in FILE (one id a "
        "line) and print each status change until every job is terminal or given up. Exit code "
        "0 if every job is terminal, 1 if any was given up.",
    )
    watch.add_argument("base_url", metavar="BASE_URL", help="the server, e.g. https://host/api")
    watch.add_argument(
        "--jobs", required=True, metavar="FILE", help="job ids, one a line; - for standard input"
    )
    watch.add_argument("--json", action="store_true", help="print NDJSON, one object a line")
    watch.add_argument(
        "--token", help="a bearer token (default: the IQM_TOKEN environment variable)"
    )
    watch.add_argument(
        "--interval", type=_seconds, default=1.0, metavar="S", help="first interval (default 1)"
    )
    watch.add_argument(
        "--max-interval", type=_seconds, default=30.0, metavar="S", help="longest (default 30)"
    )
    watch.add_argument(
        "--timeout", type=_seconds, default=60.0, metavar="S", help="per request (default 60)"
    )
    watch.add_argument(
        "--concurrency", type=_positive, default=64, metavar="N", help="in flight (default 64)"
    )
    watch.add_argument(
        "--max-retries", type=_count, default=8, metavar="N", help="before giving up (default 8)"
    )
    watch.add_argument(
        "--no-progress", action="store_true", help="no live counts (shown on a terminal with tqdm)"
    )
    watch.add_argument("--force-progress", action="store_true", help=argparse.SUPPRESS)


def _watch(args: argparse.Namespace) -> int:
    from ._watch import read_job_ids, watch

    name = "<stdin>" if args.jobs == "-" else args.jobs
    try:
        if args.jobs == "-":
            job_ids = read_job_ids(sys.stdin)
        else:
            with open(args.jobs, encoding="utf-8") as jobs:
                job_ids = read_job_ids(jobs)
    except OSError as exc:
        # strerror alone: the exception's text names the file a second time.
        print(f"{PROG}: error: cannot read {name!r}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(f"{PROG}: error: cannot read {name!r}: {exc}", file=sys.stderr)
        return 2
    if not job_ids:
        print(f"{PROG}: error: {name!r} lists no job ids (one id a line)", file=sys.stderr)
        return 2
    settings = {
        "interval": args.interval,
        "max_interval": max(args.max_interval, args.interval),
        "timeout": args.timeout,
        "concurrency": args.concurrency,
        "max_retries": args.max_retries,
    }
    try:
        return watch(
            args.base_url,
            job_ids,
            as_json=args.json,
            token=args.token or os.environ.get("IQM_TOKEN") or None,
            settings=settings,
            progress=not args.no_progress,
            force_progress=args.force_progress,
            out=sys.stdout,
        )
    except ValueError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


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


def _generate(count: int, seed: int, invalid_rate: float, out: str) -> int:
    payloads = iter_payloads(count, seed=seed, invalid_rate=invalid_rate)
    if out == "-":
        write_ndjson(payloads, sys.stdout.buffer)
        return 0
    try:
        fh = open(out, "wb")
    except OSError as exc:
        print(f"{PROG}: error: cannot write {out!r}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    with fh:
        write_ndjson(payloads, fh)
    return 0


def _amount(n: int, noun: str) -> str:
    """`n` and `noun`, plural unless `n` is 1: "1 blank line", "2 blank lines"."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _print_summary(name: str, summary: Summary, top: int) -> None:
    payloads = summary.payloads

    def share(n: int) -> str:
        return f"{n / payloads:7.2%}" if payloads else f"{'-':>7}"

    print(
        f"{name}: {_amount(summary.lines, 'line')}, {_amount(payloads, 'payload')} "
        f"({_amount(summary.blank_lines, 'blank line')} skipped)"
    )
    width = max(len(s.value) for s in Status)
    print(f"  {'status':<{width}} {'count':>12} {'share':>7}")
    for status in Status:
        n = summary.counts[status]
        print(f"  {status.value:<{width}} {n:>12,} {share(n)}")
    print(f"  {'invalid':<{width}} {summary.invalid:>12,} {share(summary.invalid)}")
    if summary.approximate:
        print(
            "note: too many distinct strings to keep all: rare ones were dropped, "
            "so counts are lower bounds"
        )
    for title, counter, distinct in (
        ("failure messages", summary.failure_messages, len(summary.failure_messages)),
        ("warnings", summary.warnings, len(summary.warnings)),
    ):
        if not counter:
            continue
        print(f"most common {title} ({min(top, distinct)} of {distinct:,} distinct):")
        for text, n in counter.most_common(top):
            print(f"  {n:>12,}  {'(no message)' if text is None else clip(text)}")
    if summary.invalid:
        kept = len(summary.invalid_lines)
        more = f", the first {kept:,} shown" if kept < summary.invalid else ""
        print(f"invalid lines ({summary.invalid:,}{more}):")
        for bad in summary.invalid_lines:
            print(f"  line {bad.line}: {bad.error}: {bad.message}")


def _progress_bar(total: int | None, chunk_bytes: int, force: bool) -> Any:
    """A tqdm bar on stderr, or None: tqdm is optional, and a bar only helps a person watching
    a read of more than one chunk."""
    if not (force or (sys.stderr.isatty() and (total is None or total > chunk_bytes))):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr)


# Decompressors by file name ending, as the Dask counter infers them (the stdlib's only).
_OPENERS: dict[str, Callable[[str, str], Any]] = {
    ".gz": gzip.open,
    ".bz2": bz2.open,
    ".xz": lzma.open,
    ".lzma": lzma.open,
}

# What reading a file raises when the file is at fault: a read error, or a corrupt (BadGzipFile,
# an OSError; zlib.error, lzma.LZMAError) or truncated (EOFError) compressed stream.
_UNREADABLE = (OSError, EOFError, zlib.error, lzma.LZMAError)


def _summarize(args: argparse.Namespace) -> int:
    chunk_bytes = args.chunk_bytes or CHUNK_BYTES
    name = "<stdin>" if args.file == "-" else args.file
    opener = None if args.file == "-" else _OPENERS.get(os.path.splitext(args.file)[1].lower())
    try:
        if args.file == "-":
            stream = sys.stdin.buffer
        else:
            stream = opener(args.file, "rb") if opener else open(args.file, "rb")
    except OSError as exc:
        print(f"{PROG}: error: cannot read {name!r}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        total: int | None = None
        try:
            info = os.fstat(stream.fileno())
        except (OSError, ValueError):
            pass  # not a real file (a test's stand-in for stdin): no total to show
        else:
            # A compressed file's size does not measure the bytes read from it.
            total = info.st_size if stat.S_ISREG(info.st_mode) and not opener else None
        bar = None if args.no_progress else _progress_bar(total, chunk_bytes, args.force_progress)
        try:
            summary = summarize_stream(
                stream,
                max_invalid=args.max_invalid,
                chunk_bytes=chunk_bytes,
                on_progress=None if bar is None else bar.update,
            )
        finally:
            if bar is not None:
                bar.close()
    except _UNREADABLE as exc:
        # A directory opens on POSIX and fails on read; a disk can fail mid-way.
        reason = getattr(exc, "strerror", None) or exc
        print(f"{PROG}: error: cannot read {name!r}: {reason}", file=sys.stderr)
        return 2
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    if args.json:
        print(json.dumps({"source": name, **summary.to_dict(args.top)}, ensure_ascii=False))
    else:
        _print_summary(name, summary, args.top)
    return 1 if summary.invalid else 0


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
        if args.command == "summarize":
            return _summarize(args)
        if args.command == "watch":
            return _watch(args)
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
