"""Benchmarks of the hashing behind the batch tools on strings from outside: a batch stores each
distinct message once (found by its hash), and a tracker finds each job by the hash of its id.

Time per entry must stay flat from 10^4 to 10^6 distinct strings for every kind of string
(``SECURITY.md``, *Hash flooding*): random ones; zero-padded counters, as job ids and messages
often are; and strings crafted against the hand-made hash the package once had (a shared
prefix, and differences only in the high bytes of the last eight-byte word, which sent all of
them to one bucket whatever its seed). ``BENCH_SIZES`` (powers of ten, ``4,5,6``) overrides the
sizes. Every result is checked before it is timed.
"""

from __future__ import annotations

import functools
import os
import random
from typing import Any, Callable

import pytest
from iqm_runstatus import JobTracker, Status, StatusBatch


def _sizes() -> list[int]:
    exponents = os.environ.get("BENCH_SIZES", "").strip()
    return [10 ** int(e) for e in exponents.split(",")] if exponents else [10**4, 10**5, 10**6]


# make test runs every size once, as a correctness pass; from 10^5 strings a case takes
# seconds, so those are marked slow and make test-fast leaves them out.
SIZES = [pytest.param(n, marks=pytest.mark.slow) if n >= 10**5 else n for n in _sizes()]

_BASE64 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


def random_strings(count: int) -> list[str]:
    draw = random.Random(1).choices
    return ["".join(draw(_BASE64, k=15)) for _ in range(count)]


def counters(count: int) -> list[str]:
    return [f"job-{i:010d}" for i in range(count)]


def crafted(count: int) -> list[str]:
    """15 bytes: 11 shared, then ``i`` in four base-64 digits (up to 64**4 strings)."""
    return [
        "Job failed " + "".join(_BASE64[(i >> shift) & 63] for shift in (0, 6, 12, 18))
        for i in range(count)
    ]


KINDS: dict[str, Callable[[int], list[str]]] = {
    "random": random_strings,
    "counters": counters,
    "crafted": crafted,
}


@functools.cache
def strings(kind: str, count: int) -> list[str]:
    made = KINDS[kind](count)
    assert len(set(made)) == count
    return made


@functools.cache
def ndjson(kind: str, count: int) -> bytes:
    lines = (f'{{"status":"failed","message":"{text}"}}\n' for text in strings(kind, count))
    return "".join(lines).encode()


def _rounds(count: int) -> int:
    return 3 if count >= 10**5 else 20


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("count", SIZES)
def test_batch_of_distinct_messages(benchmark: Any, count: int, kind: str) -> None:
    raw, messages = ndjson(kind, count), strings(kind, count)
    batch = StatusBatch.from_ndjson(raw)
    assert len(batch) == count and batch.errors == []
    assert batch.counts()[Status.FAILED] == count
    for i in range(0, count, max(1, count // 500)):
        assert batch[i].message == messages[i]
    del batch
    benchmark.group = f"distinct messages, StatusBatch.from_ndjson: {kind}"
    benchmark.extra_info.update(entries=count, strings=kind)
    benchmark.pedantic(StatusBatch.from_ndjson, args=(raw,), rounds=_rounds(count), iterations=1)


_PENDING = b'{"status":"pending execution"}'


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("count", SIZES)
def test_tracker_first_poll(benchmark: Any, count: int, kind: str) -> None:
    ids, payloads = strings(kind, count), [_PENDING] * count

    def first_poll() -> JobTracker:
        tracker = JobTracker()
        tracker.update_many(ids, payloads)
        return tracker

    tracker = first_poll()
    assert len(tracker) == count
    for i in range(0, count, max(1, count // 500)):
        assert ids[i] in tracker
        assert tracker.status(ids[i]).status is Status.PENDING_EXECUTION
    del tracker
    benchmark.group = f"distinct job ids, JobTracker.update_many: {kind}"
    benchmark.extra_info.update(entries=count, strings=kind)
    benchmark.pedantic(first_poll, rounds=_rounds(count), iterations=1)
