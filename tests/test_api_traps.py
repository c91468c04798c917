"""The batch and tracker API without silent traps: programming errors raise at once, results
have names, and a `StatusBatch` is a real sequence."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import pytest
from iqm_runstatus import (
    JobTracker,
    RunStatus,
    Status,
    StatusBatch,
    TrackerError,
    Transition,
    parse_many,
)

READY = b'{"status":"ready"}'
FAILED = b'{"status":"failed","message":"boom","warnings":["w"]}'
PENDING = b'{"status":"pending compilation"}'

NOT_PAYLOADS = [{"status": "ready"}, 12, None, 1.5, ["x"]]


@pytest.mark.parametrize("wrong", NOT_PAYLOADS, ids=lambda value: type(value).__name__)
def test_a_payload_of_the_wrong_type_raises_naming_its_position(wrong: Any) -> None:
    """Only payloads become error entries: a dict, an int or None is a programming error."""
    name = type(wrong).__name__
    for parse in (StatusBatch.from_payloads, parse_many):
        with pytest.raises(TypeError, match=f"payload 1 is of type {name}, not bytes"):
            parse([READY, wrong, READY])
    tracker = JobTracker()
    tracker.update_many(["a", "b"], [PENDING, PENDING])
    with pytest.raises(TypeError, match=f"payload 1 is of type {name}"):
        tracker.update_many(["a", "b"], [READY, wrong])
    with pytest.raises(TypeError, match=f"the payload is of type {name}"):
        tracker.update("a", wrong)
    # Nothing changed, and nothing was recorded as a bad payload.
    assert tracker.counts()[Status.PENDING_COMPILATION] == 2
    assert tracker.last_errors == []


@pytest.mark.parametrize("single", [READY, READY.decode(), bytearray(READY), memoryview(READY)])
def test_a_single_payload_where_an_iterable_belongs(single: Any) -> None:
    for parse in (StatusBatch.from_payloads, parse_many):
        with pytest.raises(TypeError, match="iterable of payloads, not a single"):
            parse(single)
    with pytest.raises(TypeError, match="iterable of payloads, not a single"):
        JobTracker().update_many("ab", single)


@pytest.mark.parametrize("threads", [0, -1, -7, -(2**70)])
def test_threads_below_one_is_a_value_error(threads: int) -> None:
    calls = [
        lambda: StatusBatch.from_payloads([READY], threads=threads),
        lambda: StatusBatch.from_json_array(b"[]", threads=threads),
        lambda: StatusBatch.from_ndjson(READY, threads=threads),
        lambda: parse_many([READY], threads=threads),
        lambda: JobTracker().update_many(["a"], [READY], threads=threads),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="threads must be at least 1"):
            call()


def test_threads_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        StatusBatch.from_payloads([READY], threads=1.5)  # type: ignore[arg-type]
    assert len(StatusBatch.from_payloads([READY], threads=2**70)) == 1


def test_transitions_and_errors_are_named_tuples() -> None:
    tracker = JobTracker()
    first = tracker.update("a", PENDING)
    assert type(first) is Transition and isinstance(first, tuple)
    assert first == ("a", None, Status.PENDING_COMPILATION)
    assert (first.job_id, first.previous, first.current) == ("a", None, Status.PENDING_COMPILATION)
    assert tracker.update("a", PENDING) is None
    (changed,) = tracker.update_many(["a", "b"], [FAILED, b"{"])
    assert type(changed) is Transition
    assert changed.previous is Status.PENDING_COMPILATION and changed.current is Status.FAILED
    (error,) = tracker.last_errors
    assert type(error) is TrackerError and isinstance(error, tuple)
    assert (error.job_id, error.error_type) == ("b", "JSONDecodeError")
    assert error.message.startswith("Expecting property name")
    errors: list[TrackerError] = []
    tracker.update("c", b"[]", errors=errors)
    assert [type(e) for e in errors] == [TrackerError] and errors[0].error_type == "TypeError"
    assert pickle.loads(pickle.dumps(changed)) == changed


def test_a_batch_is_a_sequence() -> None:
    payloads = [READY, FAILED, b"{", READY, PENDING, FAILED]
    batch = StatusBatch.from_payloads(payloads)
    assert isinstance(batch, Sequence)
    ready, failed = RunStatus.from_json(READY), RunStatus.from_json(FAILED)
    assert ready in batch and failed in batch
    assert RunStatus.from_json(b'{"status":"aborted"}') not in batch
    # Equal field values: an explicit null equals an absent field, as for == on the models.
    assert RunStatus.from_json(b'{"status":"ready","message":null}') in batch
    assert "ready" not in batch and None not in batch and READY not in batch
    assert batch.index(ready) == 0 and batch.index(failed) == 1
    assert batch.index(ready, 1) == 3 and batch.index(failed, -2) == 5
    assert batch.index(failed, 2, 6) == 5
    with pytest.raises(ValueError, match="not in the StatusBatch"):
        batch.index(ready, 4)
    with pytest.raises(ValueError):
        batch.index(ready, 1, 3)
    assert batch.count(ready) == 2 and batch.count(failed) == 2 and batch.count(1) == 0
    tail = [batch[i] for i in (5, 4, 3)]
    assert list(reversed(batch[3:])) == tail
    # Reversed iteration raises at an error entry, as forward iteration does.
    backwards = reversed(batch)
    assert [next(backwards) for _ in range(3)] == tail
    with pytest.raises(json_error()):
        next(backwards)


def json_error() -> type[Exception]:
    import json

    return json.JSONDecodeError


def test_batches_compare_by_their_entries() -> None:
    payloads = [READY, FAILED, b"{", b'{"status":"x"}']
    batch = StatusBatch.from_payloads(payloads)
    assert batch == StatusBatch.from_payloads(payloads)
    assert batch == pickle.loads(pickle.dumps(batch))
    assert batch == StatusBatch.from_ndjson(b"\n".join(payloads))
    assert batch[:2] == StatusBatch.from_payloads(payloads[:2])
    # An explicit null and an absent field build equal models.
    assert StatusBatch.from_payloads([READY]) == StatusBatch.from_payloads(
        [b'{"status":"ready","warnings":null}']
    )
    assert batch != StatusBatch.from_payloads(payloads[:3])
    assert batch != StatusBatch.from_payloads([READY, FAILED, b"{", b"{"])
    assert batch != StatusBatch.from_payloads([READY, READY, b"{", b'{"status":"x"}'])
    assert batch != list(batch[:2])
