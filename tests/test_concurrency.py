"""The single-payload API under threads: 8 threads parsing at once get the serial results, and
instances made in one thread behave the same in every other."""

from __future__ import annotations

import copy
import json
import pickle
import random
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from conftest import EDGE_DOCUMENTS, attempt, describe_model, outcome
from iqm_runstatus import RunStatus

THREADS = 8
ROUNDS = 20

DOCUMENTS: list[Any] = list(EDGE_DOCUMENTS.values()) + [
    json.dumps({"status": "failed", "message": f"m{i} \u00e9", "warnings": [f"w{i}"] * (i % 4)})
    for i in range(40)
]
DICTS: list[Any] = [
    {"status": "ready", "message": "m", "warnings": ["a", "b"]},
    {"status": "failed", "message": None},
    {"status": "nope"},
    {"message": "m"},
    {"status": "ready", "warnings": [1]},
    {"status": "aborted", 1: 2},
    *[{"status": "pending execution", "message": str(i), "warnings": [str(i)]} for i in range(20)],
]
CALLS: list[tuple[Callable[[Any], Any], Any]] = (
    [(RunStatus.from_json, doc) for doc in DOCUMENTS]
    + [(RunStatus.model_validate_json, doc) for doc in DOCUMENTS]
    + [(RunStatus.from_dict, inp) for inp in DICTS]
    + [(RunStatus.model_validate, inp) for inp in DICTS]
)


def run_all(order: list[int]) -> dict[int, tuple[Any, ...]]:
    return {i: outcome(*CALLS[i]) for i in order}


def test_threads_give_the_serial_results() -> None:
    """Each thread parses every call, in its own random order, many times over, with a short
    switch interval so threads interleave inside parses; all agree with one serial run."""
    serial = run_all(list(range(len(CALLS))))
    barrier = threading.Barrier(THREADS)

    def worker(seed: int) -> list[dict[int, tuple[Any, ...]]]:
        rnd = random.Random(seed)
        barrier.wait()
        rounds = []
        for _ in range(ROUNDS):
            order = list(range(len(CALLS)))
            rnd.shuffle(order)
            rounds.append(run_all(order))
        return rounds

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(worker, range(THREADS)))
    finally:
        sys.setswitchinterval(interval)
    for rounds in results:
        for got in rounds:
            assert got == serial


def test_same_payload_in_every_thread() -> None:
    """All threads parse the very same objects (one bytes, one bytearray, one dict) at once."""
    shared = [
        (RunStatus.from_json, b'{"status": "failed", "message": "m", "warnings": ["w"]}'),
        (RunStatus.from_json, bytearray(b'{"status": "ready", "message": "\\u00e9"}')),
        (RunStatus.from_dict, {"status": "aborted", "warnings": ["a", "b"]}),
        (RunStatus.model_validate, {"status": "ready", "warnings": ["a"]}),
    ]
    expected = [outcome(fn, arg) for fn, arg in shared]
    barrier = threading.Barrier(THREADS)

    def worker(_: int) -> bool:
        barrier.wait()
        return all([outcome(fn, arg) for fn, arg in shared] == expected for _ in range(500))

    with ThreadPoolExecutor(THREADS) as pool:
        assert all(pool.map(worker, range(THREADS)))


def test_instances_cross_threads() -> None:
    """Instances made in one thread compare, dump, copy and pickle the same in the others."""
    made: list[Any] = []
    maker = threading.Thread(
        target=lambda: made.extend(fn(arg) for fn, arg in CALLS if outcome(fn, arg)[0] == "ok")
    )
    maker.start()
    maker.join()
    expected = [describe_model(instance) for instance in made]
    barrier = threading.Barrier(THREADS)

    def worker(_: int) -> bool:
        barrier.wait()
        for instance, description in zip(made, expected):
            assert describe_model(instance) == description
            assert pickle.loads(pickle.dumps(instance)) == instance
            assert copy.deepcopy(instance) == instance
            assert RunStatus.model_validate(instance.model_dump()) == instance
            dumped = attempt(instance.model_dump_json)
            if isinstance(dumped, str):  # lone surrogates can't be written as JSON
                assert RunStatus.from_json(dumped) == instance
        return True

    with ThreadPoolExecutor(THREADS) as pool:
        assert all(pool.map(worker, range(THREADS)))
