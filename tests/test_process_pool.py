"""RunStatus objects cross process boundaries: parsed in pool workers, sent back and forth.

``concurrent.futures.ProcessPoolExecutor`` pickles the arguments and the results, so instances
built by the native fast path in a worker must unpickle in the parent into the same objects a
local parse gives, and the parent's instances must unpickle in a worker.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import iqm_runstatus
import pytest
from iqm_runstatus import JobTracker, RunStatus, Status, StatusBatch
from iqm_runstatus._workload import generate_payloads
from support import EDGE_DOCUMENTS, describe_exception, describe_model

PAYLOADS: list[str | bytes] = [
    b'{"status": "ready"}',
    b'{"status": "failed", "message": "qubit QB1 unavailable", "warnings": ["a", "b"]}',
    '{"status": "pending execution", "message": null, "warnings": []}',
    '{"status": "aborted", "message": "\u00e9\U0001f600", "extra": {"x": [1, 2]}}',
    *generate_payloads(200, seed=7),
    # Errors travel too: the worker returns the exception it caught.
    *(
        EDGE_DOCUMENTS[k]
        for k in ("missing_status", "status_upper", "message_int", "trailing_comma")
    ),
]

START_METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]


def parse_all(payloads: list[str | bytes]) -> tuple[bool, list[Any]]:
    """Runs in a worker: each payload parsed with ``RunStatus.from_json``, or its exception."""
    results: list[Any] = []
    for raw in payloads:
        try:
            results.append(RunStatus.from_json(raw))
        except Exception as exc:
            results.append(exc)
    return iqm_runstatus.NATIVE, results


def compare_with_own_parse(pairs: list[tuple[str | bytes, RunStatus]]) -> list[bool]:
    """Runs in a worker: the parent's instances against the worker's own parse of the same raw."""
    checks = []
    for raw, theirs in pairs:
        mine = RunStatus.from_json(raw)
        checks.append(
            type(theirs) is RunStatus
            and theirs == mine
            and theirs.model_fields_set == mine.model_fields_set
            and theirs.status is mine.status
            and describe_model(theirs) == describe_model(mine)
        )
    return checks


def local(raw: str | bytes) -> Any:
    try:
        return RunStatus.from_json(raw)
    except Exception as exc:
        return exc


def describe(item: Any) -> Any:
    if isinstance(item, BaseException):
        return ("raised", *describe_exception(item))
    return ("ok", describe_model(item))


@pytest.mark.parametrize("method", START_METHODS)
def test_parse_in_workers_and_return(method: str) -> None:
    chunks = [PAYLOADS[i::4] for i in range(4)]
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        answers = list(pool.map(parse_all, chunks))
    for chunk, (native, results) in zip(chunks, answers):
        # The workers ran the same path as this process.
        assert native == iqm_runstatus.NATIVE
        assert len(results) == len(chunk)
        for raw, remote in zip(chunk, results):
            assert describe(remote) == describe(local(raw)), raw
            if isinstance(remote, RunStatus):
                # Unpickling gives back this process's own enum members.
                assert remote.status is Status(remote.status.value)
    ok = sum(isinstance(r, RunStatus) for _, results in answers for r in results)
    assert ok >= len(PAYLOADS) - 4  # the few error documents aside, every payload parsed


@pytest.mark.parametrize("method", START_METHODS)
def test_send_instances_to_workers(method: str) -> None:
    pairs = [(raw, parsed) for raw in PAYLOADS if isinstance(parsed := local(raw), RunStatus)]
    chunks = [pairs[i::3] for i in range(3)]
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        checks = [c for chunk in pool.map(compare_with_own_parse, chunks) for c in chunk]
    assert len(checks) == len(pairs)
    assert all(checks)


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip_of_parsed_payloads(protocol: int) -> None:
    for raw in PAYLOADS:
        parsed = local(raw)
        if isinstance(parsed, RunStatus):
            loaded = pickle.loads(pickle.dumps(parsed, protocol))
            assert describe_model(loaded) == describe_model(parsed)


# The README's sharding example, run as written: each worker counts the statuses of one byte
# range of the log (cut at line ends), and the parent adds the counts up.
def count_shard(path: str, start: int, end: int) -> Counter[Status]:
    with open(path, "rb") as log:
        log.seek(start)
        return Counter(StatusBatch.from_ndjson(log.read(end - start)).counts())


def shard_bounds(path: str, shards: int) -> list[tuple[int, int]]:
    size, bounds = os.path.getsize(path), [0]
    with open(path, "rb") as log:
        for i in range(1, shards):
            log.seek(max(size * i // shards, bounds[-1]))
            log.readline()  # move on to the next line start
            bounds.append(log.tell())
    return list(zip(bounds, [*bounds[1:], size]))


def test_sharded_counts_equal_one_pass(tmp_path: Path) -> None:
    """A log split across a process pool gives the counts of one pass over the whole file."""
    log = tmp_path / "statuses.ndjson"
    log.write_bytes(b"\n".join(generate_payloads(20_000, seed=11, invalid_rate=0.01)) + b"\n")
    with ProcessPoolExecutor(max_workers=2) as pool:
        parts = pool.map(
            count_shard, *zip(*[(str(log), s, e) for s, e in shard_bounds(str(log), 4)])
        )
        total = sum(parts, Counter())
    assert total == Counter(StatusBatch.from_ndjson(log.read_bytes()).counts())
    assert sum(total.values()) > 19_000


def snapshot_in_worker(tracker: JobTracker) -> tuple[dict[Status, int], list[str]]:
    """Runs in a worker: the tracker arrived pickled; its counts and failed jobs are read there."""
    return tracker.counts(), tracker.jobs(Status.FAILED)


def test_tracker_state_crosses_a_process_pool() -> None:
    """A JobTracker pickles into a worker with its whole state."""
    tracker = JobTracker()
    payloads = generate_payloads(500, seed=3)
    tracker.update_many([f"job-{i}" for i in range(500)], payloads)
    with ProcessPoolExecutor(max_workers=1) as pool:
        counts, failed = pool.submit(snapshot_in_worker, tracker).result()
    assert counts == tracker.counts()
    assert failed == tracker.jobs(Status.FAILED)
