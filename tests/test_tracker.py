"""JobTracker: latest status per job, transitions, errors and pickling (its thread safety is in
test_concurrency.py)."""

from __future__ import annotations

import pickle
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iqm_runstatus import JobTracker, RunStatus, Status, TrackerError
from iqm_runstatus._workload import generate_payloads
from support.scripts import IMPORT_SUPPORT, run_python

PENDING = b'{"status":"pending compilation"}'
READY = b'{"status":"ready"}'
FAILED = b'{"status":"failed","message":"boom","warnings":["w"]}'


def same(a: RunStatus, b: RunStatus) -> bool:
    return a == b and a.model_fields_set == b.model_fields_set


def test_transitions_and_latest_status() -> None:
    tracker = JobTracker()
    assert tracker.update_many(["a", "b"], [PENDING, READY]) == [
        ("a", None, Status.PENDING_COMPILATION),
        ("b", None, Status.READY),
    ]
    assert tracker.update_many(["a", "b"], [PENDING, READY]) == []
    assert tracker.update("a", FAILED) == ("a", Status.PENDING_COMPILATION, Status.FAILED)
    assert same(tracker.status("a"), RunStatus.from_json(FAILED))
    # A new message without a new status is stored, but is not a transition.
    other = b'{"status":"failed","message":"other"}'
    assert tracker.update("a", other) is None
    assert same(tracker.status("a"), RunStatus.from_json(other))
    assert len(tracker) == 2 and "a" in tracker and "c" not in tracker
    with pytest.raises(KeyError):
        tracker.status("c")
    with pytest.raises(KeyError):
        tracker.is_terminal("c")


def test_the_same_job_twice_in_one_update() -> None:
    tracker = JobTracker()
    transitions = tracker.update_many(["a", "a", "a"], [PENDING, READY, READY])
    assert transitions == [
        ("a", None, Status.PENDING_COMPILATION),
        ("a", Status.PENDING_COMPILATION, Status.READY),
    ]


def test_bad_payloads_leave_the_last_good_state() -> None:
    tracker = JobTracker()
    tracker.update_many(["a", "b"], [PENDING, READY])
    transitions = tracker.update_many(["a", "b", "c"], [b"{", READY, b'{"status":"x"}'])
    assert transitions == []
    assert tracker.status("a").status is Status.PENDING_COMPILATION
    assert "c" not in tracker
    assert [(job, name) for job, name, _ in tracker.last_errors] == [
        ("a", "JSONDecodeError"),
        ("c", "ValueError"),
    ]
    tracker.update("b", READY)
    assert tracker.last_errors == []


def test_rejected_payloads_are_appended_to_the_calls_errors_list() -> None:
    tracker = JobTracker()
    errors: list[TrackerError] = [TrackerError("earlier", "X", "kept")]
    tracker.update_many(["a", "b", "c"], [b"{", READY, b'{"status":"x"}'], errors=errors)
    assert [(job, name) for job, name, _ in errors] == [
        ("earlier", "X"),
        ("a", "JSONDecodeError"),
        ("c", "ValueError"),
    ]
    assert errors[1:] == tracker.last_errors
    tracker.update("d", b"[]", errors=errors)
    assert errors[-1][:2] == ("d", "TypeError") and len(errors) == 4
    # A clean update adds nothing, and the list must be a list.
    tracker.update_many(["a"], [READY], errors=errors)
    assert len(errors) == 4
    with pytest.raises(TypeError):
        tracker.update_many(["a"], [READY], errors=())  # type: ignore[arg-type]


# The first Transition or TrackerError a process builds imports its class; an import hook that
# uses the tracker meanwhile (a lazy importer's, a profiler's, or a finalizer the import's
# allocations run) asks for the class again. Each first use, as a function of the script below,
# with what it returns.
FIRST_USES = {
    "transition": "Transition(job_id='a', previous=None, current=<Status.READY: 'ready'>)",
    "last_errors": "[TrackerError(job_id='a', error_type='JSONDecodeError', message='Expecting",
    "errors_list": "[TrackerError(job_id='a', error_type='JSONDecodeError', message='Expecting",
}
FIRST_USE_SCRIPT = """
import builtins
import sys
from iqm_runstatus import JobTracker

tracker = JobTracker()


def transition():
    return JobTracker().update("a", b'{"status": "ready"}')


def last_errors():
    return tracker.last_errors


def errors_list():
    found = []
    JobTracker().update("a", b"{", errors=found)
    return found


first_use = globals()[sys.argv[1]]
if first_use is last_errors:
    tracker.update("a", b"{")  # builds no TrackerError yet
inner = []
real_import = builtins.__import__


def hook(name, *args, **kwargs):
    if name == "iqm_runstatus._records" and not inner:
        inner.append(None)
        inner[0] = first_use()
    return real_import(name, *args, **kwargs)


builtins.__import__ = hook
outer = first_use()
builtins.__import__ = real_import
assert inner, "the first use imported no record class"
print(repr(inner[0]))
print(repr(outer))
"""


@pytest.mark.parametrize("first_use", FIRST_USES)
def test_the_first_use_of_a_record_class_can_be_reentered_from_its_import(first_use: str) -> None:
    # In a fresh interpreter, where the classes were never used: with the import inside the
    # one-time cell that keeps the class, the hook's use waits on that cell for ever.
    script = IMPORT_SUPPORT + FIRST_USE_SCRIPT
    lines = run_python("-c", script, first_use, timeout=60).stdout.splitlines()
    assert len(lines) == 2 and lines[0] == lines[1], lines
    assert lines[0].startswith(FIRST_USES[first_use]), lines


def test_mismatched_lengths_change_nothing() -> None:
    tracker = JobTracker()
    tracker.update("a", PENDING)
    with pytest.raises(ValueError, match="2 job ids but 1 payloads"):
        tracker.update_many(["a", "b"], [READY])
    assert tracker.jobs() == ["a"]
    assert tracker.status("a").status is Status.PENDING_COMPILATION
    with pytest.raises(TypeError):
        tracker.update_many([1], [READY])
    assert len(tracker) == 1


def test_uuid_job_ids_are_normalised_to_str() -> None:
    tracker = JobTracker()
    job = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert tracker.update(job, READY) == (str(job), None, Status.READY)
    assert tracker.status(str(job)) == tracker.status(job)
    assert job in tracker and tracker.jobs() == [str(job)]
    assert tracker.forget([job]) == 1
    assert len(tracker) == 0


def test_counts_jobs_terminal_forget() -> None:
    tracker = JobTracker()
    ids = [f"job-{i}" for i in range(6)]
    payloads = [
        PENDING,
        READY,
        FAILED,
        b'{"status":"aborted"}',
        b'{"status":"pending execution"}',
        PENDING,
    ]
    tracker.update_many(ids, payloads)
    counts = tracker.counts()
    assert list(counts) == list(Status)
    assert counts == {
        Status.PENDING_COMPILATION: 2,
        Status.PENDING_EXECUTION: 1,
        Status.READY: 1,
        Status.FAILED: 1,
        Status.ABORTED: 1,
    }
    assert tracker.jobs(Status.PENDING_COMPILATION) == ["job-0", "job-5"]
    assert tracker.jobs("ready", Status.FAILED) == ["job-1", "job-2"]
    assert tracker.jobs() == ids
    assert [tracker.is_terminal(i) for i in ids] == [False, True, True, True, False, False]
    assert tracker.forget(["job-1", "job-1", "nope"]) == 1
    assert tracker.jobs() == [i for i in ids if i != "job-1"]
    # New jobs keep first-seen order after forgetting.
    tracker.update("job-1", READY)
    assert tracker.jobs()[-1] == "job-1"


def test_forgetting_many_jobs_compacts_and_keeps_order() -> None:
    tracker = JobTracker()
    ids = [f"j{i}" for i in range(1000)]
    tracker.update_many(ids, [PENDING] * 1000)
    assert tracker.forget(ids[::2]) == 500
    assert tracker.jobs() == ids[1::2]
    assert all(tracker.status(i).status is Status.PENDING_COMPILATION for i in ids[1::2])
    # Compaction moved every job: a poll in the original order still finds each one.
    transitions = tracker.update_many(ids, [READY] * 1000)
    assert transitions == [
        (job, None if i % 2 == 0 else Status.PENDING_COMPILATION, Status.READY)
        for i, job in enumerate(ids)
    ]
    assert tracker.jobs() == ids[1::2] + ids[::2]


def test_second_poll_reports_exactly_the_changed_jobs() -> None:
    first = generate_payloads(20_000, seed=1)
    second = list(first)
    changed = set(range(0, 20_000, 10))
    for i in changed:
        second[i] = READY if RunStatus.from_json(first[i]).status is not Status.READY else PENDING
    ids = [str(uuid.UUID(int=i)) for i in range(20_000)]
    tracker = JobTracker()
    assert len(tracker.update_many(ids, first)) == 20_000
    transitions = tracker.update_many(ids, second)
    assert {ids.index(job) for job, _, _ in transitions} == changed
    for job, previous, new in transitions:
        i = ids.index(job)
        assert previous is RunStatus.from_json(first[i]).status
        assert new is RunStatus.from_json(second[i]).status
    for i in range(0, 20_000, 777):
        assert same(tracker.status(ids[i]), RunStatus.from_json(second[i]))


def test_pickle_round_trip() -> None:
    tracker = JobTracker()
    ids = [f"j{i}" for i in range(300)]
    raw = generate_payloads(300, seed=4)
    tracker.update_many(ids, raw)
    tracker.forget(ids[:10])
    back = pickle.loads(pickle.dumps(tracker))
    assert back.jobs() == tracker.jobs() and back.counts() == tracker.counts()
    for job, payload in zip(ids[10:], raw[10:]):
        assert same(back.status(job), RunStatus.from_json(payload))
    rebuild, (state,) = tracker.__reduce__()
    with pytest.raises(ValueError):
        rebuild((state[0][:-1], state[1]))
    with pytest.raises(ValueError):
        rebuild((["x", "x"], state[1][:2]))


def test_hostile_payloads_are_errors_not_crashes() -> None:
    tracker = JobTracker()
    hostile: list[Any] = [b"\xff", b"[" * 100_000, b"12", "\ud800", b'{"status":"ready","x":NaN}']
    ids = [f"h{i}" for i in range(len(hostile))]
    transitions = tracker.update_many(ids, hostile)
    assert transitions == [("h4", None, Status.READY)]
    assert [job for job, _, _ in tracker.last_errors] == ids[:4]


class DictTracker:
    """The obvious tracker, the oracle: a dict of the latest RunStatus per job."""

    def __init__(self) -> None:
        self.latest: dict[str, RunStatus] = {}

    def update_many(self, ids: list[str], raw: list[bytes]) -> list[Any]:
        transitions = []
        for job, payload in zip(ids, raw):
            try:
                status = RunStatus.from_json(payload)
            except Exception:
                continue
            previous = self.latest.get(job)
            self.latest[job] = status
            if previous is None or previous.status is not status.status:
                transitions.append(
                    (job, None if previous is None else previous.status, status.status)
                )
        return transitions

    def forget(self, ids: list[str]) -> int:
        return sum(self.latest.pop(job, None) is not None for job in set(ids))


JOB_IDS = [f"job-{i}" for i in range(12)]
POLL_PAYLOADS = [PENDING, READY, FAILED, b'{"status":"aborted","message":"m"}', b"{", b"[]"]


@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.just("update"),
                st.lists(st.tuples(st.sampled_from(JOB_IDS), st.sampled_from(POLL_PAYLOADS))),
            ),
            st.tuples(st.just("forget"), st.lists(st.sampled_from(JOB_IDS))),
        ),
        max_size=12,
    )
)
def test_any_order_of_polls_and_forgets_matches_a_dict(operations: list[Any]) -> None:
    # Polls in the previous order, shuffled, partial, repeated, and after forgets whose
    # compaction moves jobs: the tracker's order-based lookup must never change an answer.
    tracker, oracle = JobTracker(), DictTracker()
    for kind, arguments in operations:
        if kind == "update":
            ids = [job for job, _ in arguments]
            raw = [payload for _, payload in arguments]
            assert tracker.update_many(ids, raw) == oracle.update_many(ids, raw)
        else:
            assert tracker.forget(arguments) == oracle.forget(arguments)
        assert len(tracker) == len(oracle.latest)
        for job, expected in oracle.latest.items():
            assert same(tracker.status(job), expected)
        assert tracker.jobs() == list(oracle.latest)
