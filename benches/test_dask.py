"""The Dask count of an NDJSON archive (``iqm_runstatus.dask.count_ndjson``) on a
``distributed.LocalCluster`` of two worker processes, against one process reading each file
with ``StatusBatch.from_ndjson`` on the same archive: 8 files, 10^6 lines of the generated mix
(one in a thousand malformed). Both results are checked before they are timed.

On a machine of two cores the cluster has no more cores than the one process's threads: the
ratio shows what the scheduling and the transfers cost, which more machines then divide.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
from iqm_runstatus import StatusBatch
from iqm_runstatus._workload import iter_payloads, write_ndjson

distributed = pytest.importorskip("distributed")
dask_counts = pytest.importorskip("iqm_runstatus.dask")

FILES = 8
LINES = 10**6
BLOCKSIZE = "16 MiB"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("bench-archive")
    paths = [folder / f"statuses-{i}.ndjson" for i in range(FILES)]
    for seed, path in enumerate(paths):
        with open(path, "wb") as out:
            write_ndjson(iter_payloads(LINES // FILES, seed=seed, invalid_rate=0.001), out)
    return paths


@pytest.fixture(scope="module")
def client() -> Any:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


def one_process(paths: list[Path]) -> dict[Any, int]:
    total: Counter[Any] = Counter()
    for path in paths:
        total.update(StatusBatch.from_ndjson(path).counts())
    return dict(total)


def on_the_cluster(paths: list[Path]) -> dict[Any, int]:
    return dask_counts.count_ndjson([str(p) for p in paths], blocksize=BLOCKSIZE).counts


COUNTS: dict[str, Callable[[list[Path]], dict[Any, int]]] = {
    "ours-dask": on_the_cluster,
    "ours-one-process": one_process,
}


@pytest.mark.slow
@pytest.mark.parametrize("impl", list(COUNTS))
def test_count_archive(benchmark: Any, archive: list[Path], client: Any, impl: str) -> None:
    fn = COUNTS[impl]
    expected = one_process(archive)
    assert sum(expected.values()) > LINES * 0.99
    assert fn(archive) == expected
    benchmark.group = f"dask count of an archive: {FILES} files, {LINES:,} lines"
    benchmark.extra_info.update(input="archive", analytics_impl=impl)
    benchmark.pedantic(fn, args=(archive,), rounds=5, iterations=1)
