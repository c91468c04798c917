"""Every entry point under threads: 8 threads at once get the serial results, and objects made
in one thread behave the same in every other.

The single-payload API first; then the batch and tracker API: one `JobTracker` shared by 8
writing and reading threads, one `StatusBatch` read by 8 threads, a big parse without the GIL
beside busy threads. Threads are joined with a timeout, so a deadlock fails a test instead of
hanging the run.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import pickle
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy
import pytest
from iqm_runstatus import JobTracker, RunStatus, Status, StatusBatch
from iqm_runstatus._workload import generate_payloads
from support.json_text import EDGE_DOCUMENTS
from support.outcomes import attempt, describe_model, outcome

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


@pytest.mark.slow  # many threads over large batches
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


# --------------------------------------------------------------------------------------------
# The batch and tracker API
# --------------------------------------------------------------------------------------------

# Valid payloads with distinct (status, message, warnings), so that a read that mixed two of
# them would match none; and rejected ones, which must leave a job's state untouched.
TRACKER_PAYLOADS: list[Any] = [
    *(
        json.dumps(
            {"status": status.value, "message": f"{status.name} {i}", "warnings": [str(i)]}
        ).encode()
        for status in Status
        for i in range(3)
    ),
    b'{"status": "ready"}',
    b'{"status": "failed", "message": null}',
    bytearray(b'{"status": "aborted", "warnings": ["x", "y"]}'),
    '{"status": "pending execution", "message": "caf\u00e9"}',
    b'{"status": "nope"}',
    b'{"message": "no status"}',
    b"{",
]


def describe_status(result: Any) -> tuple[Any, ...]:
    return (
        type(result),
        result.status,
        result.message,
        None if result.warnings is None else tuple(result.warnings),
        frozenset(result.model_fields_set),
    )


def expected_status(payload: Any) -> tuple[Any, ...] | None:
    """What ``status()`` gives after ``payload``, or ``None`` if the payload is rejected."""
    try:
        return describe_status(RunStatus.from_json(payload))
    except Exception:
        return None


EXPECTED = [expected_status(payload) for payload in TRACKER_PAYLOADS]
VALID_DESCRIPTIONS = {d for d in EXPECTED if d is not None}
TERMINAL = {Status.READY, Status.FAILED, Status.ABORTED}


@contextlib.contextmanager
def short_switches() -> Iterator[None]:
    """A switch interval of 1 µs, so that threads interleave between and inside calls."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(saved)


def run_threads(
    target: Callable[[int], Any], count: int = THREADS, barrier: threading.Barrier | None = None
) -> list[Any]:
    """``target(i)`` on ``count`` daemon threads at once; their results in order.

    A thread still running after JOIN_TIMEOUT fails the test instead of hanging it; a thread
    that fails breaks ``barrier``, so that the others stop waiting for it.
    """
    results: list[Any] = [None] * count
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as exc:
            failures.append(exc)
            if barrier is not None:
                barrier.abort()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"threads still running (deadlock?): {stuck}"
    # The first failure is the cause; the others may only be the broken barrier.
    if failures:
        raise failures[0]
    return results


# A deadlock guard, not a performance bound: far beyond what any test needs, even on a busy
# machine, so that only a hang reaches it.
JOIN_TIMEOUT = 600.0

JOBS_PER_THREAD = 150
TRACKER_OPS = 800


def thread_job_ids(thread: int) -> list[Any]:
    """A thread's own job ids, every other one a UUID (stored as its str)."""
    return [
        uuid.UUID(int=thread << 64 | i) if i % 2 else f"t{thread}-{i}"
        for i in range(JOBS_PER_THREAD)
    ]


def tracker_ops(thread: int) -> list[tuple[Any, ...]]:
    """A seeded mix of update, update_many (a job twice in one call too), forget and reads on
    the thread's own job ids."""
    rnd = random.Random(thread)
    ids = thread_job_ids(thread)
    ops: list[tuple[Any, ...]] = []
    for _ in range(TRACKER_OPS):
        roll = rnd.random()
        if roll < 0.35:
            chosen = rnd.choices(ids, k=rnd.randrange(1, 40))
            ops.append(
                ("update_many", chosen, [rnd.randrange(len(TRACKER_PAYLOADS)) for _ in chosen])
            )
        elif roll < 0.65:
            ops.append(("update", rnd.choice(ids), rnd.randrange(len(TRACKER_PAYLOADS))))
        elif roll < 0.75:
            ops.append(("forget", rnd.sample(ids, rnd.randrange(1, 10))))
        else:
            ops.append(("read", rnd.choice(ids)))
    return ops


def apply_ops(tracker: JobTracker, thread: int, ops: list[tuple[Any, ...]]) -> list[Any]:
    """Runs a thread's operations; returns what update, update_many and forget returned.

    Only this thread writes its job ids, so every read of them is checked against its own
    model of the tracker, whatever the other threads do meanwhile.
    """
    model: dict[str, int] = {}  # job id -> index of its latest accepted payload
    order: list[str] = []  # its jobs in first-seen order
    mine = {str(job) for job in thread_job_ids(thread)}
    returned: list[Any] = []

    def store(job: Any, index: int) -> None:
        if EXPECTED[index] is None:
            return
        key = str(job)
        if key not in model:
            order.append(key)
        model[key] = index

    for op in ops:
        # Each call's own rejected payloads, which other threads' updates cannot replace.
        errors: list[tuple[str, str, str]] = []
        if op[0] == "update_many":
            payloads = [TRACKER_PAYLOADS[i] for i in op[2]]
            returned.append((tracker.update_many(op[1], payloads, errors=errors), errors))
            for job, index in zip(op[1], op[2]):
                store(job, index)
        elif op[0] == "update":
            returned.append((tracker.update(op[1], TRACKER_PAYLOADS[op[2]], errors=errors), errors))
            store(op[1], op[2])
        elif op[0] == "forget":
            returned.append(tracker.forget(op[1]))
            for job in op[1]:
                if model.pop(str(job), None) is not None:
                    order.remove(str(job))
        else:
            job = op[1]
            key = str(job)
            assert (job in tracker) == (key in model)
            if key in model:
                expected = EXPECTED[model[key]]
                assert describe_status(tracker.status(job)) == expected
                assert tracker.is_terminal(job) == (
                    expected is not None and expected[1] in TERMINAL
                )
            else:
                with pytest.raises(KeyError):
                    tracker.status(job)
            assert [j for j in tracker.jobs() if j in mine] == order
            ready = [model[j] for j in order if EXPECTED[model[j]][1] is Status.READY]
            assert len([j for j in tracker.jobs(Status.READY) if j in mine]) == len(ready)
            assert sum(tracker.counts().values()) >= len(model)
    return returned


def test_tracker_threads_with_disjoint_ids_match_a_serial_run() -> None:
    """8 threads update, forget and read their own jobs in ONE tracker at once: each gets the
    transitions and counts a serial run gives, reads its own jobs as it wrote them, and the
    final state is the serial run's."""
    ops = [tracker_ops(thread) for thread in range(THREADS)]
    serial = JobTracker()
    serial_returned = [apply_ops(serial, thread, ops[thread]) for thread in range(THREADS)]
    # Some calls reject payloads, so each thread's `errors=` lists are compared too.
    assert any(isinstance(r, tuple) and r[1] for rs in serial_returned for r in rs)

    shared = JobTracker()
    barrier = threading.Barrier(THREADS)

    def worker(thread: int) -> list[Any]:
        barrier.wait()
        return apply_ops(shared, thread, ops[thread])

    with short_switches():
        returned = run_threads(worker, barrier=barrier)
    assert returned == serial_returned
    assert sorted(shared.jobs()) == sorted(serial.jobs())
    assert shared.counts() == serial.counts()
    for thread in range(THREADS):
        mine = {str(job) for job in thread_job_ids(thread)}
        assert [j for j in shared.jobs() if j in mine] == [j for j in serial.jobs() if j in mine]
    for job in serial.jobs():
        assert describe_status(shared.status(job)) == describe_status(serial.status(job))
        assert shared.is_terminal(job) == serial.is_terminal(job)


SHARED_JOBS = [f"shared-{i}" for i in range(64)]
OVERLAP_ROUNDS = 1000


def chain_balance(transitions: list[tuple[str, Any, Any]]) -> dict[str, Counter[Any]]:
    """For each job, in-degree minus out-degree of each state (None: not tracked) over its
    transitions."""
    balance: dict[str, Counter[Any]] = {}
    for job, previous, new in transitions:
        assert previous is not new
        counter = balance.setdefault(job, Counter())
        counter[previous] -= 1
        counter[new] += 1
    return balance


def test_tracker_threads_on_the_same_ids() -> None:
    """8 threads update the same 64 jobs at once, then (after a barrier) each writes the final
    payload of the jobs it owns. Every read in between is one of the payloads' whole states;
    the final state is the owners' writes; and each job's transitions, gathered from all
    threads, chain from 'not tracked' to its final status: none lost, none twice."""
    tracker = JobTracker()
    barrier = threading.Barrier(THREADS)
    valid = [i for i, d in enumerate(EXPECTED) if d is not None]

    def worker(thread: int) -> tuple[list[Any], dict[str, int]]:
        rnd = random.Random(100 + thread)
        transitions: list[Any] = []
        barrier.wait()
        for _ in range(OVERLAP_ROUNDS):
            if rnd.random() < 0.5:
                chosen = rnd.choices(SHARED_JOBS, k=rnd.randrange(1, 32))
                payloads = [TRACKER_PAYLOADS[rnd.randrange(len(TRACKER_PAYLOADS))] for _ in chosen]
                transitions += tracker.update_many(chosen, payloads)
            else:
                payload = TRACKER_PAYLOADS[rnd.randrange(len(TRACKER_PAYLOADS))]
                changed = tracker.update(rnd.choice(SHARED_JOBS), payload)
                transitions += [changed] if changed else []
            job = rnd.choice(SHARED_JOBS)
            if job in tracker:
                assert describe_status(tracker.status(job)) in VALID_DESCRIPTIONS
            assert set(tracker.jobs()) <= set(SHARED_JOBS)
            assert sum(tracker.counts().values()) <= len(SHARED_JOBS)
        barrier.wait()
        # Each job has one writer from here on: its last write is defined.
        final = {}
        for i, job in enumerate(SHARED_JOBS):
            if i % THREADS == thread:
                index = valid[(i + thread) % len(valid)]
                changed = tracker.update(job, TRACKER_PAYLOADS[index])
                transitions += [changed] if changed else []
                final[job] = index
            else:
                tracker.jobs(Status.READY)
        return transitions, final

    with short_switches():
        results = run_threads(worker, barrier=barrier)
    final = {job: index for _, part in results for job, index in part.items()}
    assert sorted(final) == sorted(SHARED_JOBS) == sorted(tracker.jobs())
    balance = chain_balance([t for transitions, _ in results for t in transitions])
    for job in SHARED_JOBS:
        expected = EXPECTED[final[job]]
        assert describe_status(tracker.status(job)) == expected
        final_status = expected[1] if expected else None
        assert +balance[job] == Counter({final_status: 1}), (job, balance[job])
        assert balance[job][None] == -1, (job, balance[job])
    counts = dict.fromkeys(Status, 0)
    for index in final.values():
        counts[EXPECTED[index][1]] += 1
    assert tracker.counts() == counts


def test_tracker_threads_forgetting_the_same_ids() -> None:
    """8 threads update and forget the same 16 jobs at once: for each job, the times it was
    seen for the first time (a transition from None) less the times a forget removed it is 1
    if it is still tracked, else 0."""
    jobs = SHARED_JOBS[:16]
    tracker = JobTracker()
    barrier = threading.Barrier(THREADS)

    def worker(thread: int) -> tuple[Counter[str], Counter[str]]:
        rnd = random.Random(200 + thread)
        added: Counter[str] = Counter()
        removed: Counter[str] = Counter()
        barrier.wait()
        for _ in range(OVERLAP_ROUNDS):
            job = rnd.choice(jobs)
            roll = rnd.random()
            if roll < 0.3:
                removed[job] += tracker.forget([job, job])
                continue
            if roll < 0.6:
                changed = tracker.update(
                    job, TRACKER_PAYLOADS[rnd.randrange(len(TRACKER_PAYLOADS))]
                )
                transitions = [changed] if changed else []
            else:
                chosen = rnd.choices(jobs, k=rnd.randrange(1, 8))
                payloads = [TRACKER_PAYLOADS[rnd.randrange(len(TRACKER_PAYLOADS))] for _ in chosen]
                transitions = tracker.update_many(chosen, payloads)
            added.update(j for j, previous, _ in transitions if previous is None)
        return added, removed

    with short_switches():
        results = run_threads(worker, barrier=barrier)
    added = sum((a for a, _ in results), Counter())
    removed = sum((r for _, r in results), Counter())
    for job in jobs:
        assert added[job] - removed[job] == (1 if job in tracker else 0), job
    assert len(tracker) == len(tracker.jobs()) == sum(tracker.counts().values())


def batch_reads(batch: StatusBatch, valid: StatusBatch) -> dict[str, Callable[[], Any]]:
    """Every way of reading a batch, as plain comparable values."""

    def entry(i: int) -> Any:
        try:
            return describe_status(batch[i])
        except Exception as exc:
            return ("raised", type(exc), str(exc), exc.args if isinstance(exc, KeyError) else None)

    def iterate() -> list[Any]:
        entries, seen = iter(batch), []
        for _ in range(len(batch)):
            try:
                seen.append(describe_status(next(entries)))
            except Exception as exc:
                seen.append(("raised", type(exc), str(exc)))
        return seen

    def codes() -> Any:
        with memoryview(batch.codes) as view:
            array = numpy.frombuffer(view, dtype=numpy.uint8)
            values = array.tolist()
            del array
        return values, bytes(batch.codes)

    def pickled() -> Any:
        back = pickle.loads(pickle.dumps(batch))
        return (
            bytes(back.codes),
            back.errors,
            [describe_status(x) for x in pickle.loads(pickle.dumps(valid))],
        )

    return {
        "getitem": lambda: [entry(i) for i in range(-len(batch), len(batch))],
        "iterate": iterate,
        "iterate_valid": lambda: [describe_status(x) for x in valid],
        "to_list": lambda: [describe_status(x) for x in valid.to_list()],
        "to_list_error": lambda: attempt(batch.to_list),
        "counts": batch.counts,
        "indices": lambda: (batch.indices(), batch.indices("ready", Status.FAILED)),
        "statuses": batch.statuses,
        "errors": lambda: batch.errors,
        "codes": codes,
        "slices": lambda: [bytes(batch[k::7].codes) for k in range(7)] + [batch[::-3].errors],
        "pickle": pickled,
    }


def test_threads_reading_one_batch_get_the_serial_results() -> None:
    """8 threads read ONE batch (valid and error entries) every way at once, in their own
    orders, and each gets what a serial read gives."""
    payloads = generate_payloads(600, seed=8, invalid_rate=0.2) + list(TRACKER_PAYLOADS)
    batch = StatusBatch.from_payloads(payloads)
    valid = StatusBatch.from_payloads(
        [p for p, d in zip(payloads, map(expected_status, payloads)) if d]
    )
    assert batch.errors and not valid.errors
    reads = batch_reads(batch, valid)
    serial = {name: read() for name, read in reads.items()}
    barrier = threading.Barrier(THREADS)

    def worker(thread: int) -> bool:
        rnd = random.Random(thread)
        barrier.wait()
        for _ in range(5):
            names = list(reads)
            rnd.shuffle(names)
            for name in names:
                assert reads[name]() == serial[name], name
        return True

    with short_switches():
        assert all(run_threads(worker, barrier=barrier))


def test_a_big_parse_beside_seven_busy_threads() -> None:
    """A 10**6-payload parse on two threads, without the GIL, while 7 threads allocate Python
    objects and use one tracker: nothing deadlocks, and every result is the serial one."""
    unit = generate_payloads(10_000, seed=3, invalid_rate=0.001)
    reference = StatusBatch.from_payloads(unit, threads=1)
    unit_errors = [index for index, _, _ in reference.errors]
    tracker = JobTracker()
    stop = threading.Event()
    parsed: list[StatusBatch] = []

    def worker(thread: int) -> Any:
        if thread == 0:
            parsed.append(StatusBatch.from_payloads(unit * 100, threads=2))
            stop.set()
            return None
        rnd = random.Random(thread)
        ids = [f"busy{thread}-{i}" for i in range(200)]
        latest: dict[str, int] = {}
        rounds = 0
        while not stop.is_set() or rounds < 3:
            garbage = [{"k": [i, str(i)], "t": (i,)} for i in range(500)]
            indices = [rnd.randrange(len(TRACKER_PAYLOADS)) for _ in ids]
            tracker.update_many(ids, [TRACKER_PAYLOADS[i] for i in indices])
            latest.update((job, i) for job, i in zip(ids, indices) if EXPECTED[i] is not None)
            job = rnd.choice(ids)
            if job in latest:
                assert describe_status(tracker.status(job)) == EXPECTED[latest[job]]
            tracker.counts()
            assert len(garbage) == 500
            rounds += 1
        for job, index in latest.items():
            assert describe_status(tracker.status(job)) == EXPECTED[index]
        return rounds

    rounds = run_threads(worker)
    (batch,) = parsed
    assert bytes(batch.codes) == bytes(reference.codes) * 100
    assert [index for index, _, _ in batch.errors] == [
        copy * len(unit) + index for copy in range(100) for index in unit_errors
    ]
    for i in range(0, len(batch), 99_991):
        assert describe_status(batch[i]) == describe_status(reference[i % len(unit)])
    assert all(r >= 3 for r in rounds[1:])


def test_batch_and_tracker_objects_cross_threads() -> None:
    """A batch, its codes view, an iterator and a tracker made in one thread are used from
    others: reads agree, the view outlives the thread that dropped the batch, and one shared
    iterator hands each entry to exactly one thread."""
    made: dict[str, Any] = {}
    payloads = [
        json.dumps({"status": "ready", "message": f"entry {i}"}).encode() for i in range(20_000)
    ]

    def maker(_: int) -> None:
        batch = StatusBatch.from_payloads(payloads, threads=2)
        tracker = JobTracker()
        tracker.update_many([f"j{i}" for i in range(1000)], payloads[:1000])
        made.update(
            batch=batch,
            view=memoryview(batch.codes),
            entries=iter(batch),
            tracker=tracker,
            pickled=pickle.dumps(tracker),
        )

    run_threads(maker, 1)
    view = made.pop("view")
    entries = made.pop("entries")
    barrier = threading.Barrier(THREADS)

    def worker(thread: int) -> list[str]:
        batch, tracker = made["batch"], made["tracker"]
        barrier.wait()
        assert batch[thread].message == f"entry {thread}"
        assert pickle.loads(made["pickled"]).counts() == tracker.counts()
        assert tracker.status(f"j{thread}").message == f"entry {thread}"
        tracker.update(f"j{thread}", payloads[-1 - thread])
        taken = []
        for status in entries:
            taken.append(status.message)
        return taken

    with short_switches():
        taken = run_threads(worker, barrier=barrier)
    everything = [message for part in taken for message in part]
    assert sorted(everything) == sorted(f"entry {i}" for i in range(20_000))
    tracker = made["tracker"]
    for thread in range(THREADS):
        assert tracker.status(f"j{thread}").message == f"entry {20_000 - 1 - thread}"
    # The view keeps the batch alive after every other reference is gone.
    made.clear()
    gc.collect()
    assert view.tobytes() == bytes([2]) * 20_000
