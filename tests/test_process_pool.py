"""RunStatus objects cross process boundaries: parsed in pool workers, sent back and forth.

``concurrent.futures.ProcessPoolExecutor`` pickles the arguments and the results, so instances
built by the native fast path in a worker must unpickle in the parent into the same objects a
local parse gives, and the parent's instances must unpickle in a worker.
"""

from __future__ import annotations

import json
import multiprocessing
import pickle
import textwrap
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import iqm_runstatus
import pytest
from iqm_runstatus import JobTracker, RunStatus, Status, StatusBatch
from iqm_runstatus._workload import generate_payloads
from support.json_text import EDGE_DOCUMENTS
from support.outcomes import describe_exception, describe_model
from support.scripts import call_in_fresh_interpreter, run_python

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

# spawn starts a fresh interpreter for each worker: the slow tier's.
START_METHODS = [
    pytest.param(m, marks=pytest.mark.slow) if m == "spawn" else m
    for m in ("fork", "spawn")
    if m in multiprocessing.get_all_start_methods()
]


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


def parse_in_workers_and_return(method: str) -> None:
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


# The pools start in a fresh interpreter: see call_in_fresh_interpreter for why a fork must not
# start from pytest's process.
@pytest.mark.parametrize("method", START_METHODS)
def test_parse_in_workers_and_return(method: str) -> None:
    call_in_fresh_interpreter("test_process_pool", "parse_in_workers_and_return", method)


def send_instances_to_workers(method: str) -> None:
    pairs = [(raw, parsed) for raw in PAYLOADS if isinstance(parsed := local(raw), RunStatus)]
    chunks = [pairs[i::3] for i in range(3)]
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        checks = [c for chunk in pool.map(compare_with_own_parse, chunks) for c in chunk]
    assert len(checks) == len(pairs)
    assert all(checks)


@pytest.mark.parametrize("method", START_METHODS)
def test_send_instances_to_workers(method: str) -> None:
    call_in_fresh_interpreter("test_process_pool", "send_instances_to_workers", method)


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip_of_parsed_payloads(protocol: int) -> None:
    for raw in PAYLOADS:
        parsed = local(raw)
        if isinstance(parsed, RunStatus):
            loaded = pickle.loads(pickle.dumps(parsed, protocol))
            assert describe_model(loaded) == describe_model(parsed)


@pytest.mark.slow  # a forkserver and a pool of fresh interpreters
@pytest.mark.timeout(900)  # the script it starts has 600 s
def test_sharding_example_under_forkserver(tmp_path: Path) -> None:
    """The sharding example the README links to, run as written in a fresh interpreter whose
    workers start by forkserver (they import the example, so its main guard matters): the
    counts of one pass over the whole file."""
    example = Path(__file__).resolve().parents[1] / "examples" / "count_shards.py"
    (tmp_path / "example.py").write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    log = tmp_path / "statuses.ndjson"
    log.write_bytes(b"\n".join(generate_payloads(20_000, seed=11, invalid_rate=0.01)) + b"\n")
    runner = textwrap.dedent(
        """
        import json, multiprocessing, runpy
        multiprocessing.set_start_method("forkserver")
        found = runpy.run_path("example.py", run_name="__main__")
        print(json.dumps({status.value: n for status, n in found["total"].items()}))
        """
    )
    proc = run_python("-c", runner, cwd=tmp_path, timeout=600)
    total = json.loads(proc.stdout.splitlines()[-1])
    one_pass = StatusBatch.from_ndjson(log).counts()
    assert total == {status.value: n for status, n in one_pass.items() if n}
    assert sum(total.values()) > 19_000


def snapshot_in_worker(tracker: JobTracker) -> tuple[dict[Status, int], list[str]]:
    """Runs in a worker: the tracker arrived pickled; its counts and failed jobs are read there."""
    return tracker.counts(), tracker.jobs(Status.FAILED)


def tracker_state_crosses_a_process_pool() -> None:
    tracker = JobTracker()
    payloads = generate_payloads(500, seed=3)
    tracker.update_many([f"job-{i}" for i in range(500)], payloads)
    with ProcessPoolExecutor(max_workers=1) as pool:
        counts, failed = pool.submit(snapshot_in_worker, tracker).result()
    assert counts == tracker.counts()
    assert failed == tracker.jobs(Status.FAILED)


def test_tracker_state_crosses_a_process_pool() -> None:
    """A JobTracker pickles into a worker of the default pool with its whole state."""
    call_in_fresh_interpreter("test_process_pool", "tracker_state_crosses_a_process_pool")
