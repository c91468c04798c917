"""The Arrow export: ``StatusBatch`` and ``JobTracker.to_arrow()`` read through the Arrow
PyCapsule interface by pyarrow, polars and DuckDB equal the entries field by field.

pyarrow, polars and DuckDB are optional: each test skips when the reader it needs is absent.
The package itself never imports them (checked in a fresh interpreter).
"""

from __future__ import annotations

import gc
import json
import threading
import uuid
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iqm_runstatus import JobTracker, StatusBatch
from support.profiles import examples
from support.scripts import run_python
from support.strategies import status_dicts

COLUMNS = ["status", "message", "warnings", "error"]

MIXED = [
    b'{"status": "ready", "warnings": ["calibration is old", "a"]}',
    b'{"status": "failed", "message": "timeout", "warnings": null}',
    b'{"status": "nope"}',
    b'{"message": "no status"}',
    b'{"status": "aborted", "message": null, "warnings": []}',
    b'{"status": "pending compilation"}',
    '{"status": "pending execution", "message": "caf\u00e9 \U0001f600"}',
    b'{"status": "ready"',
    b'{"status": "failed", "message": "timeout", "warnings": ["a"]}',
]


def readable(text: Optional[str]) -> Optional[str]:
    """A stored string as the export gives it: a lone surrogate is not valid UTF-8, so each of
    its bytes under ``surrogatepass`` becomes U+FFFD."""
    if text is None:
        return None
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def expected_rows(batch: StatusBatch) -> list[dict[str, Any]]:
    """Each entry as a row, read through the public API: ``batch[i]``, or for an error entry
    the exception it raises, which ``batch.errors`` lists with the same type and message."""
    errors = {index: (type_name, message) for index, type_name, message in batch.errors}
    rows = []
    for i in range(len(batch)):
        try:
            entry = batch[i]
        except Exception as exc:
            type_name, message = errors[i]
            assert type(exc).__name__ == type_name
            rows.append(
                {
                    "status": None,
                    "message": None,
                    "warnings": None,
                    "error": f"{type_name}: {message}",
                }
            )
            continue
        assert i not in errors
        rows.append(
            {
                "status": entry.status.value,
                "message": readable(entry.message),
                "warnings": None
                if entry.warnings is None
                else [readable(w) for w in entry.warnings],
                "error": None,
            }
        )
    return rows


def pyarrow_rows(exportable: Any) -> list[dict[str, Any]]:
    pa = pytest.importorskip("pyarrow")
    table = pa.table(exportable)
    table.validate(full=True)
    return table.to_pylist()


def polars_rows(exportable: Any) -> list[dict[str, Any]]:
    pl = pytest.importorskip("polars")
    # polars takes a `Sequence` (a batch) as rows of objects; the snapshot is read as Arrow.
    snapshot = exportable.to_arrow() if isinstance(exportable, StatusBatch) else exportable
    return pl.DataFrame(snapshot).to_dicts()


def duckdb_rows(exportable: Any) -> list[dict[str, Any]]:
    duckdb = pytest.importorskip("duckdb")
    relation = duckdb.sql("select * from exportable")
    return [dict(zip(relation.columns, row)) for row in relation.fetchall()]


READERS = [pyarrow_rows, polars_rows, duckdb_rows]


@pytest.mark.parametrize("read", READERS, ids=lambda read: read.__name__)
def test_mixed_batch_reads_back_equal(read: Any) -> None:
    batch = StatusBatch.from_payloads(MIXED)
    rows = read(batch)
    assert rows == expected_rows(batch)
    assert [row["status"] for row in rows][:3] == ["ready", "failed", None]
    assert rows[2]["error"] == "ValueError: 'nope' is not a valid Status"
    assert rows[3]["error"] == "KeyError: 'status'"


def test_schema() -> None:
    pa = pytest.importorskip("pyarrow")
    batch = StatusBatch.from_payloads(MIXED)
    expected = pa.schema(
        [
            pa.field("status", pa.dictionary(pa.uint8(), pa.string())),
            pa.field("message", pa.dictionary(pa.uint32(), pa.string())),
            pa.field("warnings", pa.list_(pa.field("item", pa.string(), nullable=False))),
            pa.field("error", pa.string()),
        ]
    )
    assert pa.schema(batch) == expected
    assert pa.table(batch).schema == expected
    status = pa.table(batch).column("status").combine_chunks()
    # The five values in enum order: the keys are the batch's codes.
    assert status.dictionary.to_pylist() == [
        "pending compilation",
        "pending execution",
        "ready",
        "failed",
        "aborted",
    ]
    codes = list(batch.codes)
    assert status.indices.to_pylist() == [None if c == 255 else c for c in codes]
    tracker_schema = pa.schema(JobTracker().to_arrow())
    assert tracker_schema.names == ["job_id", *COLUMNS]
    assert tracker_schema.field("job_id") == pa.field("job_id", pa.string(), nullable=False)


def test_message_keys_are_the_batch_string_ids() -> None:
    """Equal messages share one dictionary value: the key is the string's id in the batch."""
    pa = pytest.importorskip("pyarrow")
    batch = StatusBatch.from_payloads(
        [b'{"status": "failed", "message": "m%d"}' % (i % 3) for i in range(30)]
    )
    message = pa.table(batch).column("message").combine_chunks()
    assert message.dictionary.to_pylist() == ["m0", "m1", "m2"]
    assert message.indices.to_pylist() == [i % 3 for i in range(30)]


def test_absent_and_null_both_export_as_null() -> None:
    batch = StatusBatch.from_payloads(
        [b'{"status": "ready"}', b'{"status": "ready", "message": null, "warnings": null}']
    )
    assert batch[0].model_fields_set != batch[1].model_fields_set
    assert (
        pyarrow_rows(batch)
        == [{"status": "ready", "message": None, "warnings": None, "error": None}] * 2
    )


@pytest.mark.parametrize("read", READERS, ids=lambda read: read.__name__)
def test_lone_surrogates_export_as_replacement_characters(read: Any) -> None:
    batch = StatusBatch.from_payloads(
        [
            '{"status": "failed", "message": "a\\ud800b", "warnings": ["\\udc00", "ok"]}',
            '{"status": "failed", "message": "a\\ud801b"}',
            '{"status": "failed", "message": "ok"}',
        ]
    )
    assert batch[0].message == "a\ud800b"
    rows = read(batch)
    assert rows == expected_rows(batch)
    assert rows[0]["message"] == "a\ufffd\ufffd\ufffdb"
    assert rows[0]["warnings"] == ["\ufffd\ufffd\ufffd", "ok"]
    assert rows[1]["message"] == "a\ufffd\ufffd\ufffdb"


@pytest.mark.parametrize("read", READERS, ids=lambda read: read.__name__)
def test_empty_batch(read: Any) -> None:
    assert read(StatusBatch.from_payloads([])) == []


@pytest.mark.parametrize("read", READERS, ids=lambda read: read.__name__)
def test_all_errors_batch(read: Any) -> None:
    batch = StatusBatch.from_payloads([b"{", b'{"status": 1}', b"[]", b'{"status": "x"}'] * 5)
    rows = read(batch)
    assert rows == expected_rows(batch)
    assert all(row["status"] is None and row["error"] for row in rows)


@pytest.mark.parametrize("read", READERS, ids=lambda read: read.__name__)
def test_slices_export_their_entries(read: Any) -> None:
    batch = StatusBatch.from_payloads(MIXED * 3)
    for part in (batch[::2], batch[5:], batch[::-3]):
        assert read(part) == expected_rows(part)


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    """A payload of a generated status dict (valid or not, lone surrogates included), as
    bytes or str, or a few random bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=12))
    try:
        raw = json.dumps(draw(status_dicts), ensure_ascii=draw(st.booleans()))
    except (TypeError, ValueError):  # keys json cannot write
        return b'{"status": "ready", "message": "unwritable"}'
    if draw(st.booleans()):
        try:
            return raw.encode()
        except UnicodeEncodeError:  # a lone surrogate, unescaped
            return raw
    return raw


generated_batches = st.lists(payloads(), max_size=30).map(StatusBatch.from_payloads)


@examples(150, deadline=None)
@given(generated_batches)
def test_pyarrow_reads_generated_batches(batch: StatusBatch) -> None:
    assert pyarrow_rows(batch) == expected_rows(batch)


@examples(100, deadline=None)
@given(generated_batches)
def test_polars_reads_generated_batches(batch: StatusBatch) -> None:
    assert polars_rows(batch) == expected_rows(batch)


@examples(60, deadline=None)
@given(generated_batches)
def test_duckdb_reads_generated_batches(batch: StatusBatch) -> None:
    assert duckdb_rows(batch) == expected_rows(batch)


def test_duckdb_group_by_reads_the_batch_by_name() -> None:
    duckdb = pytest.importorskip("duckdb")
    batch = StatusBatch.from_payloads(MIXED * 4)
    counts = duckdb.sql("select status, count(*) from batch group by 1").fetchall()
    expected = {s.value: n for s, n in batch.counts().items() if n}
    expected[None] = len(batch.errors)
    assert dict(counts) == expected


@pytest.mark.parametrize("read", READERS, ids=lambda read: read.__name__)
def test_tracker_export_has_job_ids_first(read: Any) -> None:
    tracker = JobTracker()
    job = uuid.UUID(int=7)
    tracker.update_many(
        ["a", job, "c", "d"],
        [
            b'{"status": "ready", "warnings": ["w"]}',
            b'{"status": "failed", "message": "m"}',
            b'{"status": "pending execution"}',
            b'{"status": "aborted", "message": "\\u00e9"}',
        ],
    )
    tracker.update("c", b'{"status": "nope"}')  # rejected: "c" keeps its last good state
    tracker.forget(["d"])
    rows = read(tracker.to_arrow())
    assert [row["job_id"] for row in rows] == ["a", str(job), "c"]
    assert [list(row) for row in rows] == [["job_id", *COLUMNS]] * 3
    for row in rows:
        status = tracker.status(row["job_id"])
        assert row["status"] == status.status.value
        assert row["message"] == status.message
        assert row["warnings"] == status.warnings
        assert row["error"] is None


def test_snapshot_does_not_follow_later_updates() -> None:
    tracker = JobTracker()
    tracker.update("a", b'{"status": "pending compilation"}')
    snapshot = tracker.to_arrow()
    tracker.update("a", b'{"status": "ready"}')
    tracker.update("b", b'{"status": "ready"}')
    assert len(snapshot) == 1
    assert pyarrow_rows(snapshot) == [
        {
            "job_id": "a",
            "status": "pending compilation",
            "message": None,
            "warnings": None,
            "error": None,
        }
    ]
    # A snapshot exports as often as asked.
    assert pyarrow_rows(snapshot) == pyarrow_rows(snapshot)


def test_requested_schema_is_ignored() -> None:
    """The protocol lets a producer ignore a schema it cannot honour; the export always has
    its one schema, and readers cast."""
    pa = pytest.importorskip("pyarrow")
    batch = StatusBatch.from_payloads(MIXED)
    requested = pa.schema([pa.field("status", pa.string())])
    capsule = batch.__arrow_c_stream__(requested.__arrow_c_schema__())
    reader = pa.RecordBatchReader._import_from_c_capsule(capsule)
    assert reader.read_all() == pa.table(batch)
    assert pa.table(batch.to_arrow()) == pa.table(batch)


def test_capsules_are_named_and_taken_once() -> None:
    pa = pytest.importorskip("pyarrow")
    batch = StatusBatch.from_payloads(MIXED)
    capsule = batch.__arrow_c_stream__()
    assert "arrow_array_stream" in repr(capsule)
    assert "arrow_schema" in repr(batch.__arrow_c_schema__())
    table = pa.RecordBatchReader._import_from_c_capsule(capsule).read_all()
    assert table.num_rows == len(MIXED)
    # The reader moved the stream out: the capsule now holds a released stream.
    with pytest.raises(Exception, match="released"):
        pa.RecordBatchReader._import_from_c_capsule(capsule)


def test_exports_from_many_threads_at_once() -> None:
    pa = pytest.importorskip("pyarrow")
    batch = StatusBatch.from_payloads(MIXED * 500)
    expected = pa.table(batch)
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def export() -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(20):
                assert pa.table(batch) == expected
                assert pa.table(batch.to_arrow()) == expected
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=export) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []


def test_importing_the_package_imports_no_reader() -> None:
    script = """
import sys
from iqm_runstatus import JobTracker, StatusBatch
batch = StatusBatch.from_payloads([b'{"status": "ready"}'])
batch.__arrow_c_stream__(); batch.__arrow_c_schema__(); batch.to_arrow()
JobTracker().to_arrow().__arrow_c_stream__()
loaded = sorted({"pyarrow", "polars", "duckdb", "pandas", "numpy"} & set(sys.modules))
assert not loaded, loaded
print("ok")
"""
    assert run_python("-c", script).stdout.strip() == "ok"


# A consumer that never reads the stream, one that releases it unread, and one that reads it:
# the native memory (RSS) and Python objects (tracemalloc) stay flat. In a fresh interpreter,
# as a double release would crash it.
LEAK_SCRIPT = """
import gc, os, sys, tracemalloc
import pyarrow as pa
from iqm_runstatus import JobTracker, StatusBatch

ITERATIONS = int(sys.argv[1])
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * page

batch = StatusBatch.from_payloads(
    [b'{"status": "failed", "message": "m%d", "warnings": ["w%d", "x"]}' % (i, i % 7)
     for i in range(2000)] + [b'{"status": "nope"}'] * 50)
tracker = JobTracker()
tracker.update_many([str(i) for i in range(2000)], [b'{"status": "ready"}'] * 2000)
import_stream = pa.RecordBatchReader._import_from_c_capsule
import_schema = pa.Schema._import_from_c_capsule
WAYS = {
    "never read": lambda: batch.__arrow_c_stream__(),
    "released unread": lambda: import_stream(batch.__arrow_c_stream__()).close(),
    "read": lambda: pa.table(batch),
    "schema never read": lambda: batch.__arrow_c_schema__(),
    "schema read": lambda: import_schema(batch.__arrow_c_schema__()),
    "tracker never read": lambda: tracker.to_arrow().__arrow_c_stream__(),
    "tracker read": lambda: pa.table(tracker.to_arrow()),
}
for name, way in WAYS.items():
    for _ in range(ITERATIONS // 10):
        way()
    gc.collect()
    before = rss()
    for _ in range(ITERATIONS):
        way()
    gc.collect()
    growth = rss() - before
    assert growth < 16 * 1024 * 1024, (name, growth)
    tracemalloc.start()
    for _ in range(ITERATIONS // 10):
        way()
    gc.collect()
    start, _ = tracemalloc.get_traced_memory()
    for _ in range(ITERATIONS // 10):
        way()
    gc.collect()
    end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert end - start < 256 * 1024, (name, end - start)
print("ok")
"""


@pytest.mark.slow  # a leak loop in a fresh interpreter
def test_unread_and_released_streams_are_freed_quick() -> None:
    pytest.importorskip("pyarrow")
    assert run_python("-c", LEAK_SCRIPT, "200").stdout.strip() == "ok"


@pytest.mark.slow
def test_unread_and_released_streams_leak_nothing() -> None:
    """About 50 KB leaked an export would be 100 MB over the loop."""
    pytest.importorskip("pyarrow")
    assert run_python("-c", LEAK_SCRIPT, "2000").stdout.strip() == "ok"


@pytest.mark.slow
def test_a_column_past_arrow_offsets_raises_a_clear_error() -> None:
    """2048 entries that share one 1 MiB warning are 1 MiB in the batch, and 2 GiB in an Arrow
    string array: one byte more than its 32-bit offsets reach. The size is found before any
    copy, so the call raises at once."""
    warning = "w" * (1 << 20)
    payload = json.dumps({"status": "ready", "warnings": [warning]}).encode()
    batch = StatusBatch.from_payloads([payload] * 2048)
    for export in (batch.__arrow_c_stream__, batch.to_arrow):
        with pytest.raises(OverflowError, match=r"warnings column .*2 GiB.*batch\[i:j\]"):
            export()
    # One entry fewer fits.
    assert len(batch[:2047].to_arrow()) == 2047
    del batch
    gc.collect()
