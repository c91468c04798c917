"""Benchmarks of the batch tools against the pure path, pydantic and msgspec, at 10^3 and 10^5
payloads of the generated mix (mostly pending and ready, some failed with messages, some
warnings, one in a thousand malformed).

Set ``BENCH_LARGE=1`` to add 10^6, or ``BENCH_SIZES`` to powers of ten (``BENCH_SIZES=3,4,5,6``
for 10^3 to 10^6, as the benchmark report plots). Every implementation's result is checked
before it is timed.
"""

from __future__ import annotations

import functools
import os
import random
from collections import Counter
from typing import Any, Callable, Optional, Union

import msgspec
import pydantic
import pytest
from iqm.iqm_client.iqm_client import RunStatus as RefRunStatus
from iqm_runstatus import (
    JobTracker,
    RunStatus,
    Status,
    StatusBatch,
    parse_many,
    pure_from_json,
)
from iqm_runstatus._workload import THREE_PAYLOADS, generate_payloads

from .payloads import REFERENCE_MIRRORED


def _sizes() -> list[int]:
    exponents = os.environ.get("BENCH_SIZES", "").strip()
    if exponents:
        return [10 ** int(e) for e in exponents.split(",")]
    return [10**3, 10**5] + ([10**6] if os.environ.get("BENCH_LARGE") == "1" else [])


# make test runs every size once, as a correctness pass; from 10^5 payloads a case takes
# seconds, so those are marked slow and make test-fast leaves them out.
SIZES = [pytest.param(n, marks=pytest.mark.slow) if n >= 10**5 else n for n in _sizes()]


class StatusStruct(msgspec.Struct):
    status: Status
    message: Optional[str] = None
    warnings: Optional[list[str]] = None


# "A few malformed": one payload in a thousand is truncated, has an unknown or no status, or
# wrongly typed warnings. Counting and tracking meet them; a list of every status cannot (each
# implementation raises on the first), so the to_list benchmarks take the valid ones only.
MALFORMED_RATE = 0.001


@functools.cache
def payloads(count: int, malformed_rate: float = MALFORMED_RATE) -> list[bytes]:
    if count <= 10**4:
        return generate_payloads(count, seed=1, invalid_rate=malformed_rate)
    # Repeats of a 10^4 mix: generating 10^6 distinct payloads in Python takes longer than the
    # benchmarks, and the parse cost does not depend on whether payloads repeat.
    return generate_payloads(10**4, seed=1, invalid_rate=malformed_rate) * (count // 10**4)


def valid_payloads(count: int) -> list[bytes]:
    return payloads(count, 0.0)


@functools.cache
def joined(count: int) -> bytes:
    return b"[" + b",".join(valid_payloads(count)) + b"]"


def here(impls: dict[str, Any]) -> list[str]:
    """The implementations that read the vocabulary in use: pydantic on the reference's model
    only where the installed client mirrors it."""
    return [i for i in impls if REFERENCE_MIRRORED or i != "pydantic"]


def status_or_none(raw: bytes) -> Optional[Status]:
    """The single-payload API's status, or None for a payload it rejects."""
    try:
        return RunStatus.from_json(raw).status
    except (ValueError, KeyError, TypeError):
        return None


def fields(item: Any) -> tuple[Any, ...]:
    return (item.status, item.message, item.warnings)


# Counting statuses.


def counts_ours(raw: list[bytes]) -> dict[Status, int]:
    return StatusBatch.from_payloads(raw).counts()


def counts_ours_one_thread(raw: list[bytes]) -> dict[Status, int]:
    return StatusBatch.from_payloads(raw, threads=1).counts()


def count_decoded(
    decode: Callable[[bytes], Any],
    raw: list[bytes],
    rejected: Union[type[Exception], tuple[type[Exception], ...]],
) -> Counter[Any]:
    """The statuses of the payloads `decode` accepts, as each implementation's user counts
    them: one call a payload, the malformed ones skipped."""
    counted: Counter[Any] = Counter()
    for p in raw:
        try:
            counted[decode(p).status] += 1
        except rejected:
            pass
    return counted


def counts_pure(raw: list[bytes]) -> dict[Status, int]:
    return dict(count_decoded(pure_from_json, raw, (ValueError, KeyError, TypeError)))


_decoder = msgspec.json.Decoder(StatusStruct)


def counts_msgspec(raw: list[bytes]) -> dict[Status, int]:
    return dict(count_decoded(_decoder.decode, raw, msgspec.DecodeError))


def counts_pydantic(raw: list[bytes]) -> dict[Status, int]:
    # The reference model validated by pydantic alone, as iqm-client's users could do.
    counted = count_decoded(RefRunStatus.model_validate_json, raw, pydantic.ValidationError)
    return {Status(s): n for s, n in counted.items()}


COUNTS: dict[str, Callable[[list[bytes]], dict[Status, int]]] = {
    "ours-pure": counts_pure,
    "pydantic": counts_pydantic,
    "msgspec": counts_msgspec,
    "ours": counts_ours,
    # The same on one thread: what the parallel parse adds.
    "ours-1-thread": counts_ours_one_thread,
}


@pytest.mark.parametrize("impl", here(COUNTS))
@pytest.mark.parametrize("count", SIZES)
def test_counts(benchmark: Any, count: int, impl: str) -> None:
    raw = payloads(count)
    fn = COUNTS[impl]
    expected = Counter(s for s in map(status_or_none, raw) if s is not None)
    result = {s: n for s, n in fn(raw).items() if n}
    assert result == dict(expected)
    benchmark.group = f"batch counts: {count}"
    benchmark.extra_info.update(input="batch", impl=impl)
    benchmark.pedantic(fn, args=(raw,), rounds=3 if count >= 10**5 else 20, iterations=1)


# Counting the statuses of NDJSON text (a poller's log). msgspec's decode_lines raises at the
# first malformed line, so the lines are the valid ones.


@functools.cache
def ndjson(count: int) -> bytes:
    return b"\n".join(valid_payloads(count)) + b"\n"


def ndjson_counts_msgspec(raw: bytes) -> dict[Status, int]:
    return dict(Counter(item.status for item in _decoder.decode_lines(raw)))


NDJSON_COUNTS: dict[str, Callable[[bytes], dict[Status, int]]] = {
    "ours-pure": lambda raw: counts_pure(raw.splitlines()),
    "pydantic": lambda raw: counts_pydantic(raw.splitlines()),
    "msgspec": ndjson_counts_msgspec,
    "ours": lambda raw: StatusBatch.from_ndjson(raw).counts(),
}


@pytest.mark.parametrize("impl", here(NDJSON_COUNTS))
@pytest.mark.parametrize("count", SIZES)
def test_ndjson_counts(benchmark: Any, count: int, impl: str) -> None:
    raw = ndjson(count)
    fn = NDJSON_COUNTS[impl]
    expected = Counter(RunStatus.from_json(p).status for p in valid_payloads(count))
    assert {s: n for s, n in fn(raw).items() if n} == dict(expected)
    benchmark.group = f"batch ndjson counts: {count}"
    benchmark.extra_info.update(input="batch", impl=impl)
    benchmark.pedantic(fn, args=(raw,), rounds=3 if count >= 10**5 else 20, iterations=1)


# Every status as an object.

_list_decoder = msgspec.json.Decoder(list[StatusStruct])
# pydantic's own batch path: one JSON array validated into a list of models.
_list_adapter = pydantic.TypeAdapter(list[RefRunStatus])

TO_LIST: dict[str, Callable[[int], list[Any]]] = {
    "ours-pure": lambda n: [pure_from_json(p) for p in valid_payloads(n)],
    "pydantic": lambda n: _list_adapter.validate_json(joined(n)),
    "msgspec": lambda n: _list_decoder.decode(joined(n)),
    "ours": lambda n: parse_many(valid_payloads(n)),
    "ours-array": lambda n: StatusBatch.from_json_array(joined(n)).to_list(),
}


@pytest.mark.parametrize("impl", here(TO_LIST))
@pytest.mark.parametrize("count", SIZES)
def test_to_list(benchmark: Any, count: int, impl: str) -> None:
    fn = TO_LIST[impl]
    joined(count)
    result = fn(count)
    raw = valid_payloads(count)
    assert len(result) == len(raw)
    for i in range(0, len(raw), max(1, len(raw) // 500)):
        expected = RunStatus.from_json(raw[i])
        assert fields(result[i]) == fields(expected)
        if impl == "pydantic":
            assert result[i].model_fields_set == expected.model_fields_set
        elif impl != "msgspec":
            assert result[i] == expected
            assert result[i].model_fields_set == expected.model_fields_set
    del result
    benchmark.group = f"batch to_list: {count}"
    benchmark.extra_info.update(input="batch", impl=impl)
    benchmark.pedantic(fn, args=(count,), rounds=3 if count >= 10**5 else 20, iterations=1)


# A tracker's second poll: 10% of the jobs changed.


class PureTracker:
    """The obvious pure-Python tracker: a dict of the latest RunStatus per job."""

    def __init__(self) -> None:
        self.latest: dict[str, RunStatus] = {}

    def update_many(
        self, job_ids: list[str], raw: list[bytes]
    ) -> list[tuple[str, Optional[Status], Status]]:
        transitions = []
        for job, payload in zip(job_ids, raw):
            try:
                status = pure_from_json(payload)
            except Exception:
                continue
            previous = self.latest.get(job)
            self.latest[job] = status
            if previous is None or previous.status is not status.status:
                old = None if previous is None else previous.status
                transitions.append((job, old, status.status))
        return transitions


@functools.cache
def polls(count: int) -> tuple[list[str], list[bytes], list[bytes]]:
    first = payloads(count)
    second = list(first)
    ready = b'{"status":"ready"}'
    # A running status of the vocabulary in use.
    pending = THREE_PAYLOADS["pending"]
    for i in range(0, count, 10):
        second[i] = pending if b'"ready"' in first[i] else ready
    ids = [f"job-{i:07d}" for i in range(count)]
    return ids, first, second


@functools.cache
def shuffled_second_poll(count: int) -> tuple[list[str], list[bytes]]:
    """The second poll in another order: every job is looked up by its id."""
    ids, _, second = polls(count)
    order = list(range(count))
    random.Random(2).shuffle(order)
    return [ids[i] for i in order], [second[i] for i in order]


TRACKERS: dict[str, Callable[[], Any]] = {
    "ours-pure": PureTracker,
    "ours": JobTracker,
    "ours-shuffled": JobTracker,
}


@pytest.mark.parametrize("impl", list(TRACKERS))
@pytest.mark.parametrize("count", SIZES)
def test_tracker_second_poll(benchmark: Any, count: int, impl: str) -> None:
    ids, first, second = polls(count)
    poll_ids, poll_payloads = (
        shuffled_second_poll(count) if impl == "ours-shuffled" else (ids, second)
    )

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        tracker = TRACKERS[impl]()
        tracker.update_many(ids, first)
        return (tracker,), {}

    def poll(tracker: Any) -> list[tuple[str, Optional[Status], Status]]:
        return tracker.update_many(poll_ids, poll_payloads)  # type: ignore[no-any-return]

    (tracker,), _ = setup()
    transitions = poll(tracker)
    assert len(transitions) == len(range(0, count, 10))
    reference = PureTracker()
    reference.update_many(ids, first)
    assert sorted(transitions, key=str) == sorted(reference.update_many(ids, second), key=str)
    benchmark.group = f"tracker second poll: {count}"
    benchmark.extra_info.update(input="batch", impl=impl)
    benchmark.pedantic(poll, setup=setup, rounds=3 if count >= 10**5 else 20, iterations=1)
