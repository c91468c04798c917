"""No leaks: memory stays flat over millions of parses, and the debug allocator finds nothing.

Every public entry point is covered: the single-payload API (``from_json``, ``from_dict`` and
pydantic's two), and the batch and tracker API (``StatusBatch``'s constructors and accessors,
pickling, ``parse_many``, ``JobTracker``), and the debug allocator's script also exports Arrow
capsules. The Arrow streams' own leak loop (never read, released early, read) is in
``test_arrow.py``, since it needs pyarrow.

RSS (``/proc/self/statm``) covers the native core's own allocations, which tracemalloc cannot
see; tracemalloc covers Python objects precisely. Both are measured after a warm-up, so caches
filled once (interned strings, pydantic's schema, the allocator's arenas) do not count.
``LEAK_ITERATIONS`` sets the payloads per entry point and kind (default 10**6 for RSS; the
tracemalloc loop, slowed by tracing every allocation, runs a tenth of it).
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import subprocess
import textwrap
import tracemalloc
from itertools import count as counter
from itertools import cycle, islice
from pathlib import Path
from typing import Any, Callable

import numpy
import pydantic
import pytest
from iqm_runstatus import NATIVE, JobTracker, PayloadError, RunStatus, StatusBatch, parse_many
from iqm_runstatus._workload import generate_payloads
from support.scripts import run_python

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


# --------------------------------------------------------------------------------------------
# The batch and tracker API
# --------------------------------------------------------------------------------------------

# Payloads per call: 10**6 payloads are a thousand calls in the RSS loop. The tracemalloc loop
# uses smaller calls, so that its tenth of the payloads is still a thousand calls and a leak of
# a few objects per call stands out.
CHUNK = 1000
TRACED_CHUNK = 100
# The parallel parse starts a thread per 4096 payloads: its calls are big enough for two.
PARALLEL_CHUNK = 10_000
# Cycles nobody can collect (an object the collector cannot see in a reference cycle) leave
# their tracked objects behind: a thousand calls leaking one object each would exceed this.
GC_OBJECTS_BOUND = 500
VARIANTS = 8

Step = Callable[[], int]
"""One call of an entry point; returns how many payloads or entries it went through."""


def payload_chunks(kind: str, size: int) -> list[list[Any]]:
    """``VARIANTS`` different lists of ``size`` payloads, all valid or all rejected: generated
    ones (distinct messages and warnings, so the tables of strings change) and the odd forms
    above (str, bytearray, escapes, the pure path's cases)."""
    odd = VALID_JSON if kind == "valid" else INVALID_JSON
    rate = 0.0 if kind == "valid" else 1.0
    chunks = []
    for seed in range(VARIANTS):
        chunk: list[Any] = generate_payloads(size, seed=seed, invalid_rate=rate)
        for i, payload in enumerate(odd):
            if i * 7 < size:
                chunk[i * 7] = payload
        chunks.append(chunk)
    return chunks


def as_bytes(payload: Any) -> bytes:
    return payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else bytes(payload)


def check_batch(batch: StatusBatch, kind: str, size: int) -> int:
    assert len(batch) == size
    assert len(batch.errors) == (0 if kind == "valid" else size)
    return size


def parse_case(
    parse: Callable[[Any], StatusBatch], prepare: Callable[[list[Any], Path], Any]
) -> Callable[[str, int, Path], Step]:
    """A constructor of ``StatusBatch``, fed prepared inputs of each variant in turn."""

    def factory(kind: str, size: int, workdir: Path) -> Step:
        inputs = cycle([prepare(chunk, workdir) for chunk in payload_chunks(kind, size)])
        return lambda: check_batch(parse(next(inputs)), kind, size)

    return factory


def json_array(chunk: list[Any], _: Path) -> bytes:
    # Array elements must be whole JSON values: truncated payloads become rejected objects.
    elements = []
    for payload in chunk:
        raw = as_bytes(payload)
        try:
            json.loads(raw)
        except ValueError:
            raw = b'{"status": "not a status"}'
        elements.append(raw)
    return b"[" + b",\n".join(elements) + b"]"


def ndjson_text(chunk: list[Any]) -> bytes:
    # Blank lines between payloads are skipped: still one entry a payload.
    lines = [as_bytes(payload).replace(b"\n", b" ") for payload in chunk]
    return b"\n".join(line if i % 5 else line + b"\n \r" for i, line in enumerate(lines))


def ndjson_file(chunk: list[Any], workdir: Path) -> Path:
    path = workdir / f"chunk-{next(FILE_IDS)}.ndjson"
    path.write_bytes(ndjson_text(chunk))
    return path


FILE_IDS = counter()


def from_ndjson_file(path: Path) -> StatusBatch:
    with path.open("rb") as file:
        return StatusBatch.from_ndjson(file)


def access_case(op: Callable[[StatusBatch, str], int]) -> Callable[[str, int, Path], Step]:
    """An accessor of ``StatusBatch``, called on batches of each variant in turn."""

    def factory(kind: str, size: int, _: Path) -> Step:
        batches = cycle([StatusBatch.from_payloads(chunk) for chunk in payload_chunks(kind, size)])
        return lambda: op(next(batches), kind)

    return factory


def expect(kind: str, fn: Callable[[], Any]) -> Any:
    """``fn()``; for the invalid kind, the rejected payload's exception instead."""
    try:
        return fn()
    except ERRORS:
        if kind == "valid":
            raise
        return None


def getitem(batch: StatusBatch, kind: str) -> int:
    for i in range(len(batch)):
        expect(kind, lambda i=i: batch[i])
    expect(kind, lambda: batch[-1])
    return len(batch)


def iterate(batch: StatusBatch, kind: str) -> int:
    # An error entry raises, and the iterator moves on past it.
    entries = iter(batch)
    for _ in range(len(batch)):
        expect(kind, lambda: next(entries))
    assert next(entries, None) is None
    return len(batch)


def to_list(batch: StatusBatch, kind: str) -> int:
    result = expect(kind, batch.to_list)
    assert (result is None) == (kind == "invalid")
    return len(batch)


def counts(batch: StatusBatch, kind: str) -> int:
    assert sum(batch.counts().values()) == (len(batch) if kind == "valid" else 0)
    return len(batch)


def indices(batch: StatusBatch, kind: str) -> int:
    assert len(batch.indices()) == (len(batch) if kind == "valid" else 0)
    batch.indices("ready", "failed")
    return len(batch)


def statuses(batch: StatusBatch, kind: str) -> int:
    assert (None in batch.statuses()) == (kind == "invalid")
    return len(batch)


def codes(batch: StatusBatch, kind: str) -> int:
    with memoryview(batch.codes) as view:
        array = numpy.frombuffer(view, dtype=numpy.uint8)
        assert (int(array.max()) == 255) == (kind == "invalid")
        del array
    assert len(bytes(batch.codes)) == len(batch)
    return len(batch)


def errors(batch: StatusBatch, kind: str) -> int:
    assert len(batch.errors) == (0 if kind == "valid" else len(batch))
    return len(batch)


def slicing(batch: StatusBatch, kind: str) -> int:
    assert len(batch[::2]) + len(batch[1::2]) == len(batch)
    assert len(batch[-3:].errors) == (0 if kind == "valid" else 3)
    return len(batch)


def pickle_round_trip(batch: StatusBatch, kind: str) -> int:
    back = pickle.loads(pickle.dumps(batch))
    assert len(back) == len(batch) and len(back.errors) == len(batch.errors)
    return len(batch)


def read_and_drop_case(kind: str, size: int, _: Path) -> Step:
    """A batch's whole life: parsed, every entry read (an error entry raises its exception,
    whose traceback then refers to a frame that holds the batch), dropped."""
    chunks = cycle(payload_chunks(kind, size))

    def step() -> int:
        batch = StatusBatch.from_payloads(next(chunks))
        return getitem(batch, kind) + iterate(batch, kind) - size

    return step


def parse_many_case(kind: str, size: int, _: Path) -> Step:
    chunks = cycle(payload_chunks(kind, size))

    def step() -> int:
        try:
            assert len(parse_many(next(chunks))) == size
        except PayloadError:
            if kind == "valid":
                raise
        return size

    return step


def update_case(kind: str, size: int, _: Path) -> Step:
    """One tracker, updated one job at a time with the same job ids over and over."""
    tracker = JobTracker()
    ids = [f"job-{i}" for i in range(size)]
    chunks = cycle(payload_chunks(kind, size))

    def step() -> int:
        for job_id, payload in zip(ids, next(chunks)):
            tracker.update(job_id, payload)
        assert len(tracker) == (size if kind == "valid" else 0)
        return size

    return step


def update_many_case(kind: str, size: int, _: Path) -> Step:
    """One tracker, updated with the same job ids over and over."""
    tracker = JobTracker()
    ids = [f"job-{i}" for i in range(size)]
    chunks = cycle(payload_chunks(kind, size))

    def step() -> int:
        tracker.update_many(ids, next(chunks))
        assert len(tracker) == (size if kind == "valid" else 0)
        assert len(tracker.last_errors) == (0 if kind == "valid" else size)
        return size

    return step


def status_case(kind: str, size: int, _: Path) -> Step:
    """Reads of one tracker: known jobs for the valid kind, unknown ones (KeyError) else."""
    tracker = JobTracker()
    ids = [f"job-{i}" for i in range(size)]
    tracker.update_many(ids, payload_chunks("valid", size)[0])
    asked = ids if kind == "valid" else [f"unknown-{i}" for i in range(size)]

    def step() -> int:
        for job_id in asked:
            expect(kind, lambda job_id=job_id: tracker.status(job_id))
            expect(kind, lambda job_id=job_id: tracker.is_terminal(job_id))
        tracker.counts()
        tracker.jobs("ready")
        return size

    return step


def forget_case(kind: str, size: int, _: Path) -> Step:
    """One tracker, given new jobs and made to forget them again: it must return to empty. The
    invalid kind forgets ids it never tracked (rejected payloads are update_many's case)."""
    tracker = JobTracker()
    chunks = cycle(payload_chunks("valid", size))
    calls = counter()

    def step() -> int:
        call = next(calls)
        ids = [f"{call}-{i}" for i in range(size)]
        if kind == "valid":
            tracker.update_many(ids, next(chunks))
        assert tracker.forget(ids) == (size if kind == "valid" else 0)
        assert len(tracker) == 0
        return size

    return step


def tracker_pickle_case(kind: str, size: int, _: Path) -> Step:
    """Pickle round trips of a tracker, updated anew each time (valid kind), or left with the
    errors of a rejected update (invalid kind: ``last_errors`` is not pickled)."""
    tracker = JobTracker()
    ids = [f"job-{i}" for i in range(size)]
    tracker.update_many(ids, payload_chunks("valid", size)[1])
    chunks = cycle(payload_chunks("valid", size))
    if kind == "invalid":
        tracker.update_many(ids, payload_chunks("invalid", size)[0])
        assert len(tracker.last_errors) == size

    def step() -> int:
        if kind == "valid":
            tracker.update_many(ids, next(chunks))
        back = pickle.loads(pickle.dumps(tracker))
        assert back.counts() == tracker.counts() and back.last_errors == []
        return size

    return step


BATCH_ENTRY_POINTS: dict[str, Callable[[str, int, Path], Step]] = {
    "from_payloads": parse_case(StatusBatch.from_payloads, lambda chunk, _: chunk),
    "from_payloads_parallel": parse_case(
        lambda chunk: StatusBatch.from_payloads(chunk, threads=2), lambda chunk, _: chunk
    ),
    "from_json_array": parse_case(StatusBatch.from_json_array, json_array),
    "from_ndjson_bytes": parse_case(StatusBatch.from_ndjson, lambda chunk, _: ndjson_text(chunk)),
    "from_ndjson_file": parse_case(from_ndjson_file, ndjson_file),
    "getitem": access_case(getitem),
    "iterate": access_case(iterate),
    "to_list": access_case(to_list),
    "counts": access_case(counts),
    "indices": access_case(indices),
    "statuses": access_case(statuses),
    "codes": access_case(codes),
    "errors": access_case(errors),
    "slicing": access_case(slicing),
    "pickle": access_case(pickle_round_trip),
    "read_and_drop": read_and_drop_case,
    "parse_many": parse_many_case,
    "tracker_update": update_case,
    "tracker_update_many": update_many_case,
    "tracker_status": status_case,
    "tracker_forget": forget_case,
    "tracker_pickle": tracker_pickle_case,
}
BATCH_CASES = [(entry, kind) for entry in BATCH_ENTRY_POINTS for kind in ("valid", "invalid")]


def chunk_size(entry: str, traced: bool) -> int:
    if entry == "from_payloads_parallel":
        return PARALLEL_CHUNK
    return TRACED_CHUNK if traced else CHUNK


def run_steps(step: Step, count: int) -> int:
    """Calls ``step`` until ``count`` payloads went through; returns the number of calls."""
    done = calls = 0
    while done < count:
        done += step()
        calls += 1
    return calls


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("leaks")


# A batch's whole life is from_payloads' parse and getitem's and iterate's reads, each with its
# own RSS case; what the whole life adds is the cycle through a raised exception, which the
# collector's object count below sees exactly (and parse_many's RSS case sees too).
RSS_BATCH_CASES = [case for case in BATCH_CASES if case[0] != "read_and_drop"]


@pytest.mark.slow
@pytest.mark.parametrize(("entry", "kind"), RSS_BATCH_CASES)
def test_batch_rss_stays_flat(entry: str, kind: str, workdir: Path) -> None:
    """ITERATIONS payloads through each batch or tracker entry point grow the resident set by
    less than 16 MiB."""
    size = chunk_size(entry, traced=False)
    step = BATCH_ENTRY_POINTS[entry](kind, size, workdir)
    # Two rounds of every variant: each table, list and arena at its largest once.
    run_steps(step, 2 * VARIANTS * size)
    gc.collect()
    before = rss()
    calls = run_steps(step, ITERATIONS)
    gc.collect()
    growth = rss() - before
    print(f"{entry} {kind}: {calls} calls of {size}, RSS {before} -> {before + growth} B")
    assert growth < RSS_BOUND, growth


# The parallel parse differs from from_payloads only in Rust (its threads), which tracemalloc
# cannot see: the RSS test covers it.
TRACED_BATCH_CASES = [case for case in BATCH_CASES if case[0] != "from_payloads_parallel"]


@pytest.mark.slow
@pytest.mark.parametrize(("entry", "kind"), TRACED_BATCH_CASES)
def test_batch_tracemalloc_stays_flat(entry: str, kind: str, workdir: Path) -> None:
    """ITERATIONS / 10 payloads through each batch or tracker entry point leave less than
    1 MiB more Python-allocated memory, and fewer than 500 more objects the cyclic garbage
    collector tracks (so no uncollectable cycle is left per call)."""
    size = chunk_size(entry, traced=True)
    step = BATCH_ENTRY_POINTS[entry](kind, size, workdir)
    count = max(ITERATIONS // 10, 2 * VARIANTS * size)
    tracemalloc.start()
    try:
        run_steps(step, 2 * VARIANTS * size)
        gc.collect()
        before, _ = tracemalloc.get_traced_memory()
        objects_before = len(gc.get_objects())
        calls = run_steps(step, count)
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
        objects = len(gc.get_objects()) - objects_before
    finally:
        tracemalloc.stop()
    print(f"{entry} {kind}: {calls} calls of {size}, traced {before} -> {after} B, {objects:+} obj")
    assert after - before < TRACEMALLOC_BOUND, after - before
    assert objects < GC_OBJECTS_BOUND, objects


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
) + textwrap.dedent(
    # The batch and tracker API, on the payloads above: the parse without the GIL (on two
    # threads for the 9000-payload batch), the pure path under the GIL, every accessor.
    """
    import hashlib, io, json, pathlib, pickle, tempfile
    from iqm_runstatus import JobTracker, PayloadError, StatusBatch, parse_many

    mixed = payloads + [b'{"status": "failed", "message": "m%d", "warnings": ["w"]}' % i
                        for i in range(50)]
    big = [b'{"status": "ready", "message": "%d"}' % (i % 97) for i in range(9000)]
    big += [b"{", b'{"status": "x"}', b'{"status": "aborted"}']
    lines = [bytes(p) for p in mixed if isinstance(p, (bytes, bytearray)) and b"\\n" not in p]
    def is_json(line):
        try:
            json.loads(line)
            return True
        except (ValueError, RecursionError):
            return False

    elements = [line for line in lines if is_json(line)]
    ndjson = b"\\n".join(lines)
    path = pathlib.Path(tempfile.mkdtemp()) / "statuses.ndjson"
    path.write_bytes(ndjson)
    tracker = JobTracker()
    seen = []
    for _ in range(20):
        batches = [
            StatusBatch.from_payloads(mixed),
            StatusBatch.from_payloads(big, threads=2),
            StatusBatch.from_json_array(b"[" + b",".join(elements) + b"]"),
            StatusBatch.from_ndjson(ndjson),
            StatusBatch.from_ndjson(str(path)),
            StatusBatch.from_ndjson(io.BytesIO(ndjson)),
            StatusBatch.from_ndjson(path),
        ]
        for batch in batches:
            for i in range(len(batch)):
                try:
                    batch[i]
                    ok += 1
                except Exception:
                    failed += 1
            entries = iter(batch)
            for _ in range(len(batch)):
                try:
                    next(entries)
                except Exception:
                    pass
            try:
                batch.to_list()
            except Exception:
                failed += 1
            back = pickle.loads(pickle.dumps(batch[::-1]))
            # Arrow capsules dropped unread: their destructors free the arrays built without
            # the GIL (test_arrow.py reads and releases them through pyarrow in a leak loop).
            batch.__arrow_c_schema__(), batch.__arrow_c_stream__()
            batch[1:].to_arrow().__arrow_c_stream__()
            with memoryview(batch.codes) as view:
                seen.append((len(batch), sum(view), len(batch.errors), len(back.errors),
                             tuple(batch.counts().values()), len(batch.indices("ready")),
                             batch.statuses().count(None)))
        ids = ["job-%d" % (i % 40) for i in range(len(mixed))]
        seen.append(len(tracker.update_many(ids, mixed)))
        big_ids = ["job-%d" % (i % 500) for i in range(9000)]
        seen.append(len(tracker.update_many(big_ids, big[:9000], threads=2)))
        tracker.to_arrow().__arrow_c_stream__()
        for job_id, payload in zip(ids, reversed(mixed)):
            seen.append(tracker.update(job_id, payload) is None)
            seen.append(str(tracker.status(job_id)) + str(tracker.is_terminal(job_id)))
        seen.append((tuple(tracker.counts().values()), tracker.jobs("ready"),
                     pickle.loads(pickle.dumps(tracker)).jobs(), tracker.forget(ids[::3])))
        seen.append(len(parse_many(big[:9000], threads=2)))
        try:
            parse_many(mixed)
        except PayloadError as exc:
            seen.append(exc.index)
    print(ok, failed, len(seen), hashlib.sha256(repr(seen).encode()).hexdigest())
    """
)


def run_script(**env: str) -> subprocess.CompletedProcess[str]:
    return run_python("-c", DEBUG_SCRIPT, env=dict(os.environ, **env))


@pytest.mark.slow  # a fresh interpreter under the debug allocator
def test_debug_allocator() -> None:
    """Parsing under PYTHONMALLOC=debug (which checks every block's bounds and that memory is
    only touched with the GIL held), with the single-payload and the batch and tracker API
    and their Arrow capsules, exits cleanly with the same counts and results as the normal
    allocator."""
    debug = run_script(PYTHONMALLOC="debug")
    assert debug.stderr == ""
    native, ok, failed, batch_ok, batch_failed, _, _ = debug.stdout.split()
    assert native == str(NATIVE)
    assert int(ok) > 0
    assert int(failed) > 0
    assert int(batch_ok) > int(ok) and int(batch_failed) > int(failed)
    assert debug.stdout == run_script().stdout
