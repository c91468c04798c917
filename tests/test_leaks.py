"""No leaks: memory stays flat over millions of parses, and the debug allocator finds nothing.

RSS (``/proc/self/statm``) covers the native core's own allocations, which tracemalloc cannot
see; tracemalloc covers Python objects precisely. Both are measured after a warm-up, so caches
filled once (interned strings, pydantic's schema, the allocator's arenas) do not count.
``LEAK_ITERATIONS`` sets the parses per entry point and kind (default 10**6 for RSS; the
tracemalloc loop, slowed by tracing every allocation, runs a tenth of it).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import tracemalloc
from itertools import cycle, islice
from typing import Any, Callable

import pydantic
import pytest
from iqm_runstatus import NATIVE, RunStatus

ITERATIONS = int(os.environ.get("LEAK_ITERATIONS", str(10**6)))
RSS_BOUND = 16 * 1024 * 1024
TRACEMALLOC_BOUND = 1024 * 1024
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

VALID_JSON = [
    b'{"status": "ready"}',
    b'{"status": "failed", "message": "boom", "warnings": ["a", "b"]}',
    '{"status": "aborted", "message": "caf\u00e9 \\u00e9", "warnings": null}',
    b'{"st\\u0061tus": "pending execution", "x": [1, 2.5, {"y": null}]}',
    bytearray(b'{"status": "pending compilation", "warnings": []}'),
]
INVALID_JSON = [
    b'{"status": "nope"}',
    b'{"message": "m"}',
    b'{"status": "ready", "message": 1}',
    b'{"status": "ready", "warnings": ["a", 2]}',
    b'{"status": "ready"',
    b'{"status": "ready", "message": "\xff"}',
    b"[1]",
    b'{"status": "ready", "status": "nope"}',
]
VALID_DICTS: list[Any] = [
    {"status": "ready"},
    {"status": "failed", "message": "boom", "warnings": ["a", "b"]},
    {"status": "aborted", "message": None, "warnings": None, "extra": [1]},
]
INVALID_DICTS: list[Any] = [
    {"status": "nope"},
    {"message": "m"},
    {"status": "ready", "message": 1},
    {"status": "ready", "warnings": ["a", 2]},
    {"status": "ready", 1: "x"},
    ["status"],
]

ENTRY_POINTS: dict[str, tuple[Callable[[Any], Any], list[Any], list[Any]]] = {
    "from_json": (RunStatus.from_json, VALID_JSON, INVALID_JSON),
    "model_validate_json": (RunStatus.model_validate_json, VALID_JSON, INVALID_JSON),
    "from_dict": (RunStatus.from_dict, VALID_DICTS, INVALID_DICTS),
    "model_validate": (RunStatus.model_validate, VALID_DICTS, INVALID_DICTS),
}
CASES = [(entry, kind) for entry in ENTRY_POINTS for kind in ("valid", "invalid")]
ERRORS = (ValueError, TypeError, KeyError, pydantic.ValidationError)


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def run(entry: str, kind: str, count: int) -> None:
    """``count`` calls of the entry point, cycling through its valid or invalid inputs."""
    fn, valid, invalid = ENTRY_POINTS[entry]
    inputs = valid if kind == "valid" else invalid
    for arg in islice(cycle(inputs), count):
        try:
            fn(arg)
        except ERRORS:
            if kind == "valid":
                raise


@pytest.mark.slow
@pytest.mark.parametrize(("entry", "kind"), CASES)
def test_rss_stays_flat(entry: str, kind: str) -> None:
    """ITERATIONS parses grow the resident set by less than 16 MiB."""
    run(entry, kind, 20_000)
    gc.collect()
    before = rss()
    run(entry, kind, ITERATIONS)
    gc.collect()
    growth = rss() - before
    print(f"{entry} {kind}: {ITERATIONS} parses, RSS {before} -> {before + growth} B")
    assert growth < RSS_BOUND, growth


@pytest.mark.slow
@pytest.mark.parametrize(("entry", "kind"), CASES)
def test_tracemalloc_stays_flat(entry: str, kind: str) -> None:
    """ITERATIONS / 10 parses leave less than 1 MiB more Python-allocated memory."""
    count = max(ITERATIONS // 10, 1000)
    tracemalloc.start()
    try:
        run(entry, kind, 5_000)
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        run(entry, kind, count)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"{entry} {kind}: {count} parses, traced {before} -> {after} B")
    assert after - before < TRACEMALLOC_BOUND, after - before


DEBUG_SCRIPT = textwrap.dedent(
    """
    import pydantic
    from iqm_runstatus import NATIVE, RunStatus

    payloads = [
        b'{"status": "failed", "message": "m\\\\u00e9", "warnings": ["a", "\\\\ud83d\\\\ude00"]}',
        '{"status": "ready", "message": "caf\\u00e9"}',
        bytearray(b'{"status": "aborted", "warnings": null, "x": [1, {"y": 2}]}'),
        memoryview(b'{"status": "pending execution"}'),
        b'{"status": "nope"}', b'{"message": 1}', b'{"status": "ready", "message": "\\\\ud800"}',
        b'{"status": "ready", "message": "\\xff"}', b"[]", b"", b"[" * 5000,
    ]
    dicts = [
        {"status": "ready", "message": "m", "warnings": ["w"]},
        {"status": "nope"}, {"status": "ready", "warnings": [1]}, {1: 2}, ["status"],
    ]
    ok = failed = 0
    for _ in range(200):
        for raw in payloads:
            for fn in (RunStatus.from_json, RunStatus.model_validate_json):
                try:
                    fn(raw)
                    ok += 1
                except (ValueError, TypeError, KeyError, RecursionError, pydantic.ValidationError):
                    failed += 1
        for inp in dicts:
            for fn in (RunStatus.from_dict, RunStatus.model_validate):
                try:
                    fn(inp)
                    ok += 1
                except (ValueError, TypeError, KeyError, pydantic.ValidationError):
                    failed += 1
    print(NATIVE, ok, failed)
    """
)


def run_script(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", DEBUG_SCRIPT],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        check=False,
    )


def test_debug_allocator() -> None:
    """Parsing under PYTHONMALLOC=debug (which checks every block's bounds and that memory is
    only touched with the GIL held) exits cleanly with the same counts as the normal allocator."""
    debug = run_script(PYTHONMALLOC="debug")
    assert debug.returncode == 0, debug.stderr
    assert debug.stderr == ""
    native, ok, failed = debug.stdout.split()
    assert native == str(NATIVE)
    assert int(ok) > 0
    assert int(failed) > 0
    assert debug.stdout == run_script().stdout
