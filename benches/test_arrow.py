"""Benchmarks of the Arrow export against the usual routes into polars and DuckDB, at 10^3 and
10^5 payloads of the generated mix (valid ones: polars' NDJSON reader stops at a malformed
line). Sizes as in ``test_batch.py`` (``BENCH_LARGE``, ``BENCH_SIZES``). Every result is checked
before it is timed.

- polars: ``pl.DataFrame(StatusBatch.from_ndjson(raw).to_arrow())`` against a DataFrame built
  from ``to_list()``, and against ``pl.read_ndjson`` on the same NDJSON;
- DuckDB: a group-by over the batch, read through its capsule, against ``json.loads`` of each
  line and a pandas group-by.

The extra info names each implementation ``analytics_impl`` (not ``impl``): the conftest and
the benchmark report compare them in a table of their own (``analytics_table``).
"""

from __future__ import annotations

import functools
import io
import json
import os
from collections import Counter
from typing import Any, Callable

import pytest
from iqm_runstatus import Status, StatusBatch
from iqm_runstatus._workload import generate_payloads

pl = pytest.importorskip("polars")
duckdb = pytest.importorskip("duckdb")
pd = pytest.importorskip("pandas")


def _sizes() -> list[int]:
    exponents = os.environ.get("BENCH_SIZES", "").strip()
    if exponents:
        return [10 ** int(e) for e in exponents.split(",")]
    return [10**3, 10**5] + ([10**6] if os.environ.get("BENCH_LARGE") == "1" else [])


SIZES = [pytest.param(n, marks=pytest.mark.slow) if n >= 10**5 else n for n in _sizes()]


@functools.cache
def ndjson(count: int) -> bytes:
    # Repeats of a 10^4 mix above that, as in test_batch.py.
    base = generate_payloads(min(count, 10**4), seed=1, invalid_rate=0.0)
    lines = base * max(1, count // len(base))
    return b"\n".join(lines) + b"\n"


@functools.cache
def expected_statuses(count: int) -> list[str]:
    return [json.loads(line)["status"] for line in ndjson(count).splitlines()]


def rows_of(batch: StatusBatch) -> list[dict[str, Any]]:
    return [
        {"status": s.status.value, "message": s.message, "warnings": s.warnings}
        for s in batch.to_list()
    ]


POLARS: dict[str, Callable[[bytes], Any]] = {
    "ours-arrow": lambda raw: pl.DataFrame(StatusBatch.from_ndjson(raw).to_arrow()),
    "ours-to_list": lambda raw: pl.DataFrame(rows_of(StatusBatch.from_ndjson(raw))),
    "polars-read_ndjson": lambda raw: pl.read_ndjson(io.BytesIO(raw)),
}


@pytest.mark.parametrize("impl", list(POLARS))
@pytest.mark.parametrize("count", SIZES)
def test_polars_dataframe(benchmark: Any, count: int, impl: str) -> None:
    raw = ndjson(count)
    fn = POLARS[impl]
    frame = fn(raw)
    assert frame["status"].cast(pl.String).to_list() == expected_statuses(count)
    benchmark.group = f"arrow polars DataFrame from NDJSON: {count}"
    benchmark.extra_info.update(input="arrow", analytics_impl=impl)
    benchmark.pedantic(fn, args=(raw,), rounds=3 if count >= 10**5 else 20, iterations=1)


@pytest.mark.parametrize("count", SIZES)
def test_polars_export_alone(benchmark: Any, count: int) -> None:
    """The export of a parsed batch, without the parse: what the capsule itself costs."""
    batch = StatusBatch.from_ndjson(ndjson(count))
    frame = pl.DataFrame(batch.to_arrow())
    assert frame["status"].cast(pl.String).to_list() == expected_statuses(count)
    pa = pytest.importorskip("pyarrow")
    table = pa.table(batch)
    benchmark.group = f"arrow export of a parsed batch: {count}"
    benchmark.extra_info.update(
        input="arrow", analytics_impl="ours-export", bytes_per_entry=table.nbytes / len(batch)
    )
    benchmark.pedantic(
        lambda: pl.DataFrame(batch.to_arrow()), rounds=3 if count >= 10**5 else 20, iterations=1
    )


def group_by_duckdb(raw: bytes) -> dict[Any, int]:
    batch = StatusBatch.from_ndjson(raw)  # noqa: F841 (DuckDB finds it by its name)
    return dict(duckdb.sql("select status, count(*) from batch group by 1").fetchall())


def group_by_pandas(raw: bytes) -> dict[Any, int]:
    frame = pd.DataFrame([json.loads(line) for line in raw.splitlines()])
    return {status: int(n) for status, n in frame.groupby("status").size().items()}


GROUP_BY: dict[str, Callable[[bytes], dict[Any, int]]] = {
    "ours-duckdb": group_by_duckdb,
    "json-pandas": group_by_pandas,
}


@pytest.mark.parametrize("impl", list(GROUP_BY))
@pytest.mark.parametrize("count", SIZES)
def test_group_by(benchmark: Any, count: int, impl: str) -> None:
    raw = ndjson(count)
    fn = GROUP_BY[impl]
    assert fn(raw) == dict(Counter(expected_statuses(count)))
    assert set(fn(raw)) <= {s.value for s in Status}
    benchmark.group = f"arrow group-by statuses of NDJSON: {count}"
    benchmark.extra_info.update(input="arrow", analytics_impl=impl)
    benchmark.pedantic(fn, args=(raw,), rounds=3 if count >= 10**5 else 20, iterations=1)
