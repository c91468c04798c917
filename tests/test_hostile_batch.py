"""Hostile input to the batch tools at scale: 100 MB JSON arrays (plain, and with a NaN element
and a million-deep element), a million invalid NDJSON lines, a 10 MB entry, a million levels
of nesting inside an array and an NDJSON line, invalid UTF-8, a non-array where an array is
expected, and empty input.

Each test states the bound it checks. The largest inputs run in a subprocess that reports its
peak resident set (``ru_maxrss``) before and after the call, as ``tests/test_hostile.py``
does, so the call's own peak memory is bounded by a stated multiple of the input size. Time is
checked as linear by comparing a run on n units of input with one on 4n, never against an
absolute time.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from typing import Any

import pytest
from iqm_runstatus import RunStatus, StatusBatch
from support.outcomes import outcome
from support.scripts import IMPORT_SUPPORT, run_reporting_script

HUNDRED_MB = 100 * 1024 * 1024
DEPTH = 10**6

# Runs `{build}` (which sets `raw` without a temporary as large as itself, so that building
# it does not raise the peak the call is measured against), records the peak RSS around
# `{call}` (which sets `batch`), then runs `{check}` and prints `report` as JSON.
MEASURE = (
    IMPORT_SUPPORT
    + """
import gc, json, resource
from iqm_runstatus import RunStatus, StatusBatch
from iqm_runstatus._workload import generate_payloads
from support.outcomes import outcome

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def entry(batch, i):
    return outcome(batch.__getitem__, i)

{build}
gc.collect()
before = peak()
{call}
after = peak()
report = {{"size": len(raw), "growth": after - before, "entries": len(batch)}}
{check}
print(json.dumps(report))
"""
)


def measure(build: str, call: str, check: str = "") -> dict[str, Any]:
    """Runs :data:`MEASURE` in a fresh interpreter; returns its report."""
    return run_reporting_script(
        MEASURE.format(
            build=textwrap.dedent(build).strip(),
            call=textwrap.dedent(call).strip(),
            check=textwrap.dedent(check).strip(),
        )
    )


def time_ratio(large: Callable[[], object], small: Callable[[], object], repeat: int = 5) -> float:
    """The fastest run of `large` over the fastest of `small`, the two run in turns: load from
    other work on the machine comes in phases, which then slow both alike."""
    fastest = [float("inf"), float("inf")]
    for _ in range(repeat):
        for which, run in enumerate((large, small)):
            start = time.perf_counter()
            run()
            fastest[which] = min(fastest[which], time.perf_counter() - start)
    return fastest[0] / fastest[1]


# Status objects of the generated mix, joined into a chunk repeated by reference, so the 100 MB
# array is built in one allocation.
ARRAY_OF = """
payloads = generate_payloads(2000, seed=1)
chunk = b",".join(payloads)
reps = {size} // len(chunk)
parts = [b"["]
for _ in range(reps):
    parts += [chunk, b","]
{extra}
parts[-1] = b"]"
raw = b"".join(parts)
del parts
"""


@pytest.mark.slow
def test_hundred_megabyte_array() -> None:
    """A 100 MB array of 2.2 million status objects: every entry equals from_json of its
    element (codes and errors equal a from_payloads batch of the elements, entries spot
    checked), with peak memory growth under the input's size (the element slices and the
    columns: some 30 bytes an element)."""
    report = measure(
        ARRAY_OF.format(size=HUNDRED_MB, extra=""),
        "batch = StatusBatch.from_json_array(raw)",
        """
        reference = StatusBatch.from_payloads(payloads * reps)
        report["same_codes"] = bytes(batch.codes) == bytes(reference.codes)
        report["same_errors"] = batch.errors == reference.errors
        report["spot"] = all(
            entry(batch, i) == outcome(RunStatus.from_json, payloads[i % len(payloads)])
            for i in range(0, len(batch), 997)
        )
        """,
    )
    assert report["entries"] > 2_000_000
    assert report["same_codes"] and report["same_errors"] and report["spot"]
    assert report["growth"] < report["size"]


@pytest.mark.slow
def test_hundred_megabyte_array_with_nan_and_million_deep_elements() -> None:
    """The same 100 MB array with a NaN element and a 10**6-deep element in the middle: the NaN
    entry is read by the pure path, the deep one is an error entry with from_json's
    RecursionError, and peak memory still grows by less than the input's size (the whole
    document is never turned into Python objects)."""
    nan = b'{"status": "failed", "message": "nan", "x": NaN}'
    extra = f"""
    deep = b'{{"status": "ready", "x": ' + b"[" * {DEPTH} + b"]" * {DEPTH} + b"}}"
    middle = len(parts) // 2 | 1  # a chunk's position: the two go in before it
    parts[middle:middle] = [{nan!r}, b",", deep, b","]
    """
    report = measure(
        ARRAY_OF.format(size=HUNDRED_MB, extra=textwrap.dedent(extra).strip()),
        "batch = StatusBatch.from_json_array(raw)",
        f"""
        at = (middle // 2) * len(payloads)  # the elements of the chunks before them
        report["nan"] = batch[at].model_dump(mode="json")
        report["nan_same"] = entry(batch, at) == outcome(RunStatus.from_json, {nan!r})
        report["deep"] = entry(batch, at + 1)[:2]
        report["deep_same"] = entry(batch, at + 1) == outcome(RunStatus.from_json, deep)
        report["errors"] = [e[:2] for e in batch.errors]
        report["neighbours"] = entry(batch, at + 2) == outcome(RunStatus.from_json, payloads[0])
        """,
    )
    assert report["nan_same"] and report["deep_same"] and report["neighbours"]
    assert report["nan"] == {"status": "failed", "message": "nan", "warnings": None}
    assert report["deep"] == ["err", "builtins.RecursionError"]
    assert [name for _, name in report["errors"]] == ["RecursionError"]
    assert report["growth"] < report["size"]


@pytest.mark.slow
def test_million_invalid_ndjson_lines() -> None:
    """10**6 distinct malformed lines: 10**6 JSONDecodeError entries, each raising the
    reference's exception again; an entry keeps its line and shares its message, so peak
    memory grows by under 128 bytes an error, the columns and the lines of 17 bytes included
    (keeping the exception objects, with their tracebacks, took over ten times that)."""
    report = measure(
        """
        pieces = [
            b"\\n".join(b"{not json %d" % i for i in range(start, start + 1000))
            for start in range(0, 10**6, 1000)
        ]
        raw = b"\\n".join(pieces)
        del pieces
        """,
        "batch = StatusBatch.from_ndjson(raw)",
        """
        report["errors"] = len(batch.errors)
        report["kinds"] = sorted({(name, message) for _, name, message in batch.errors})
        report["same"] = all(
            entry(batch, i) == outcome(RunStatus.from_json, b"{not json %d" % i)
            for i in range(0, 10**6, 99_991)
        )
        """,
    )
    assert report["entries"] == report["errors"] == 10**6
    assert report["kinds"] == [
        [
            "JSONDecodeError",
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ]
    ]
    assert report["same"]
    assert report["growth"] < 128 * 10**6


@pytest.mark.slow
def test_ten_megabyte_entries() -> None:
    """A 10 MB message as an array element and as an NDJSON line, next to ordinary entries:
    each equals from_json of its payload; each batch stores the message once, so the two calls
    grow peak memory by under 3 times the array's size."""
    report = measure(
        """
        big = b'{"status": "failed", "message": "' + b"m" * (10 << 20) + b'"}'
        raw = b"".join([b'[{"status": "ready"},', big, b', {"status": "aborted"}]'])
        text = raw[1:-1].replace(b"},", b"}\\n")
        """,
        """
        batch = StatusBatch.from_json_array(raw)
        lines = StatusBatch.from_ndjson(text)
        """,
        """
        report["array"] = [entry(batch, i) == outcome(RunStatus.from_json, p)
                           for i, p in enumerate([b'{"status": "ready"}', big,
                                                  b'{"status": "aborted"}'])]
        report["lines"] = len(lines) == 3 and entry(lines, 1) == entry(batch, 1)
        report["length"] = len(batch[1].message)
        """,
    )
    assert report["array"] == [True, True, True] and report["lines"]
    assert report["length"] == 10 << 20
    assert report["growth"] < 3 * report["size"]


@pytest.mark.slow
def test_million_deep_nesting_in_array_and_ndjson() -> None:
    """10**6 levels of nesting under an extra key, as an array element and as an NDJSON line:
    RecursionError entries equal to from_json's, the neighbours unaffected; the splitter keeps
    one byte a level on its own stack, so peak memory grows by under 8 times the input."""
    report = measure(
        f"""
        deep = b'{{"status": "ready", "x": ' + b'{{"k": ' * {DEPTH} + b"1" + b"}}" * {DEPTH} + b"}}"
        raw = b"".join([b'[{{"status": "failed"}},', deep, b',{{"status": "ready"}}]'])
        """,
        """
        batch = StatusBatch.from_json_array(raw)
        lines = StatusBatch.from_ndjson(raw[1:-1].replace(b"},{", b"}\\n{"))
        """,
        """
        expected = [outcome(RunStatus.from_json, p)
                    for p in [b'{"status": "failed"}', deep, b'{"status": "ready"}']]
        report["array"] = [entry(batch, i) == e for i, e in enumerate(expected)]
        report["lines"] = [entry(lines, i) == e for i, e in enumerate(expected)]
        report["deep"] = expected[1][:2]
        """,
    )
    assert report["array"] == report["lines"] == [True, True, True]
    assert report["deep"] == ["err", "builtins.RecursionError"]
    assert report["growth"] < 8 * report["size"]


def test_invalid_utf8_in_array_and_ndjson() -> None:
    """Bytes that are not UTF-8: an array is not a JSON document then, and raises what
    json.loads raises (UnicodeDecodeError, same message); in NDJSON only the line holding them
    is an error entry, with from_json's exception."""
    good = b'{"status": "ready"}'
    for bad in (b"\xff", b"\xc3\x28", b"\xed\xa0", b"\xf4\x90\x80\x80", b"\xc0\xaf"):
        element = b'{"status": "failed", "message": "' + bad + b'"}'
        array = b"[" + b",".join([good, element, good]) + b"]"
        assert outcome(StatusBatch.from_json_array, array) == outcome(json.loads, array)
        assert outcome(StatusBatch.from_json_array, array)[1] == "builtins.UnicodeDecodeError"
        lines = StatusBatch.from_ndjson(b"\n".join([good, element, good]))
        assert [outcome(lines.__getitem__, i) for i in range(3)] == [
            outcome(RunStatus.from_json, p) for p in (good, element, good)
        ]
        assert [name for _, name, _ in lines.errors] == ["UnicodeDecodeError"]
    # An encoded surrogate is what json.loads's surrogatepass reads: a lone surrogate.
    surrogate = b'{"status": "failed", "message": "\xed\xa0\x80"}'
    batch = StatusBatch.from_json_array(b"[" + surrogate + b"]")
    assert batch[0].message == "\ud800" == RunStatus.from_json(surrogate).message


@pytest.mark.slow
def test_non_array_where_an_array_is_expected() -> None:
    """Valid JSON whose top level is not an array raises TypeError without being built: a
    100 MB object grows peak memory by under a tenth of its size, and a 10**6-deep object is
    the same TypeError (json.loads would raise RecursionError before seeing its type)."""
    report = measure(
        """
        chunk = b'"w0123456789", ' * 65536
        parts = [b'{"status": "ready", "warnings": [']
        parts += [chunk] * ("""
        + str(HUNDRED_MB)
        + """ // len(chunk))
        parts.append(b'"w"]}')
        raw = b"".join(parts)
        del parts
        """,
        """
        try:
            StatusBatch.from_json_array(raw)
        except TypeError as exc:
            message = str(exc)
        batch = []
        """,
        'report["message"] = message',
    )
    assert (
        report["message"] == "a JSON array of job statuses is expected at the top level, not dict"
    )
    assert report["growth"] < report["size"] // 10
    deep = b'{"k": ' * DEPTH + b"1" + b"}" * DEPTH
    with pytest.raises(TypeError, match=r"not dict$"):
        StatusBatch.from_json_array(deep)
    for scalar, name in [(b"12", "int"), (b'"s"', "str"), (b"null", "NoneType")]:
        with pytest.raises(TypeError, match=f"not {name}$"):
            StatusBatch.from_json_array(scalar)


def test_empty_input() -> None:
    """Empty and blank input: not a JSON document for from_json_array (json.loads's error,
    same message); no payload for from_ndjson; an empty array is an empty batch."""
    for empty in (b"", "", b" \n\t\r", "\ufeff", b"\xef\xbb\xbf"):
        ours = outcome(StatusBatch.from_json_array, empty)
        assert ours == outcome(json.loads, empty)
        assert ours[1] == "json.decoder.JSONDecodeError"
    for empty in (b"", b"\n\n \r\n\t", bytearray(b"\n"), memoryview(b" ")):
        assert len(StatusBatch.from_ndjson(empty)) == 0
    for empty_array in (b"[]", "[ ]", b"\xef\xbb\xbf[\n]", memoryview(b"[]")):
        batch = StatusBatch.from_json_array(empty_array)
        assert len(batch) == 0 and batch.errors == []


@pytest.mark.slow  # a ratio of two timings
def test_array_time_is_linear() -> None:
    """Splitting and parsing an array of 4n elements takes under 8 times as long as one of n
    (4 if linear; a quadratic split would take 16)."""
    payloads = [b'{"status": "ready", "message": "m%d"}' % (i % 500) for i in range(50_000)]
    small = b"[" + b",".join(payloads) + b"]"
    large = b"[" + b",".join(payloads * 4) + b"]"
    ratio = time_ratio(
        lambda: StatusBatch.from_json_array(large, threads=1),
        lambda: StatusBatch.from_json_array(small, threads=1),
    )
    print(f"array 4n/n time ratio: {ratio:.2f}")
    assert ratio < 8


@pytest.mark.slow  # a ratio of two timings
def test_deep_nesting_time_is_linear() -> None:
    """A 4n-deep element takes under 8 times as long as an n-deep one (the splitter does not
    recurse, and the parsers give up at their depth limits)."""

    def array(depth: int) -> bytes:
        return b'[{"status": "ready", "x": ' + b"[" * depth + b"]" * depth + b"}]"

    small, large = array(250_000), array(DEPTH)
    ratio = time_ratio(
        lambda: StatusBatch.from_json_array(large), lambda: StatusBatch.from_json_array(small)
    )
    print(f"deep 4n/n time ratio: {ratio:.2f}")
    assert ratio < 8


@pytest.mark.slow  # a ratio of two timings
def test_error_entries_time_is_linear() -> None:
    """4n invalid NDJSON lines take under 8 times as long as n (each error is one pure-path
    call and one shared message)."""
    small = b"\n".join(b"{not json %d" % i for i in range(25_000))
    large = b"\n".join(b"{not json %d" % i for i in range(100_000))
    ratio = time_ratio(
        lambda: StatusBatch.from_ndjson(large), lambda: StatusBatch.from_ndjson(small), 3
    )
    print(f"errors 4n/n time ratio: {ratio:.2f}")
    assert ratio < 8


class ShortReads:
    """A binary file whose `read` returns at most `piece` bytes, as a pipe or a socket may."""

    def __init__(self, data: bytes, piece: int) -> None:
        self.data = memoryview(data)
        self.at = 0
        self.piece = piece

    def read(self, size: int = -1) -> bytes:
        end = self.at + min(size if size >= 0 else len(self.data), self.piece)
        chunk = bytes(self.data[self.at : end])
        self.at += len(chunk)
        return chunk


def test_a_long_line_from_a_file_costs_what_it_does_from_bytes() -> None:
    """One 32 MiB line read from a file in 64 KiB pieces takes under 6 times as long as the same
    text given as bytes (about 1: each byte is searched for a line end once; the reader that
    searched all pending bytes again after every piece did some 250 times the work here)."""
    line = b'{"status": "failed", "message": "' + b"x" * (32 << 20) + b'"}'
    text = line + b"\n" + b'{"status": "ready"}\n'
    from_bytes = StatusBatch.from_ndjson(text)
    from_file = StatusBatch.from_ndjson(ShortReads(text, 64 << 10))
    assert from_file == from_bytes and len(from_file) == 2 and from_file.errors == []
    ratio = time_ratio(
        lambda: StatusBatch.from_ndjson(ShortReads(text, 64 << 10)),
        lambda: StatusBatch.from_ndjson(text),
        3,
    )
    print(f"file/bytes time ratio for one long line: {ratio:.2f}")
    assert ratio < 6


# Builds a large NDJSON input, then parses it on two threads with `{parse}` under address-space
# limits a little above what the process has mapped, from tight to roomy: each parse must give
# a batch or MemoryError, never abort the process. One entry point a process: memory another
# one freed stays mapped, room the next would not need to map.
UNDER_MEMORY_PRESSURE = """
import json, resource
from iqm_runstatus import StatusBatch
from iqm_runstatus._workload import generate_payloads

payloads = generate_payloads(4000, seed=1)
raw = (b"\\n".join(payloads) + b"\\n") * 500
lines = raw.split(b"\\n")[:-1]
StatusBatch.from_ndjson(raw[:1 << 20], threads=2)  # the model and its first use, unlimited

def mapped():
    with open("/proc/self/status") as status:
        for field in status:
            if field.startswith("VmSize:"):
                return int(field.split()[1]) * 1024

soft, hard = resource.getrlimit(resource.RLIMIT_AS)
def parse():
    return StatusBatch.{parse}

report = {{"outcomes": []}}
for headroom in (4, 16, 48, 96, 160):
    resource.setrlimit(resource.RLIMIT_AS, (mapped() + (headroom << 20), hard))
    try:
        outcome = "entries" if len(parse()) == len(lines) else "wrong length"
    except MemoryError:
        outcome = "MemoryError"
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    report["outcomes"].append([headroom, outcome])
report["after"] = len(parse()) == len(lines)
print(json.dumps(report))
"""


@pytest.mark.parametrize(
    "parse", ["from_ndjson(raw, threads=2)", "from_payloads(lines, threads=2)"]
)
def test_memory_pressure_gives_memory_error_not_an_abort(parse: str) -> None:
    """Under an address-space limit (`RLIMIT_AS`) a parallel parse of two million payloads
    raises MemoryError where its lists, copies or columns do not fit, and the process lives on
    and parses the same input once the limit is lifted. Before, the first allocation that did
    not fit aborted the process ("memory allocation of ... bytes failed")."""
    report = run_reporting_script(UNDER_MEMORY_PRESSURE.format(parse=parse))
    outcomes = report["outcomes"]
    assert {outcome for _, outcome in outcomes} <= {"entries", "MemoryError"}, outcomes
    # The tightest limit must have been hit, or the test proved nothing.
    assert outcomes[0] == [4, "MemoryError"], outcomes
    assert report["after"]
