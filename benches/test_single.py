"""Single-payload benchmarks, orjson style: each payload by each implementation, bytes and dicts.

Every benchmark checks its result before timing it, so ``--benchmark-disable`` makes this a
correctness pass. The conftest prints the ratios per group after the timings.

Each implementation is timed in ``BENCH_PASSES`` windows (3 unless set), one pass over every
payload and implementation after another, and the summary and the report keep each one's
fastest window. On a shared machine, load from elsewhere comes in phases of seconds that can
slow one window by half and then stop: it only ever adds time, and the passes, each a run
over all the others, are unlikely to all land in one.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import msgspec
import pytest
from iqm.iqm_client.iqm_client import RunStatus as RefRunStatus
from iqm_runstatus import RunStatus, pure_from_dict, pure_from_json

from .payloads import (
    DICTS,
    EXPECTED,
    NAMES,
    REFERENCE_MIRRORED,
    THREE_PAYLOADS,
    StatusStruct,
    fields,
)

# Warm up first: the first calls fill caches (pydantic's, the allocator's) that the steady
# state of a polling loop has warm. An iteration is one round of `CALLS_PER_ROUND` calls.
pytestmark = pytest.mark.benchmark(warmup=True, warmup_iterations=20, max_time=0.5)

PASSES = range(int(os.environ.get("BENCH_PASSES", "3")))


DECODER = msgspec.json.Decoder(type=StatusStruct)

# Each implementation as its users write the call, looked up at every call as in a polling loop:
# a class attribute lookup is part of the cost (pydantic's metaclass makes it a slow one
# unless something speeds it up). "ours-prebound" is the same call through a function bound
# once, which shows what the lookup costs.
FROM_BYTES: dict[str, str] = {
    "reference": "RefRunStatus.from_dict(json.loads(arg))",
    "ours-pure": "pure_from_json(arg)",
    "pydantic": "RefRunStatus.model_validate_json(arg)",
    "msgspec": "DECODER.decode(arg)",
    "ours": "RunStatus.from_json(arg)",
    "ours-prebound": "prebound(arg)",
}
FROM_DICT: dict[str, str] = {
    "reference": "RefRunStatus.from_dict(arg)",
    "ours-pure": "pure_from_dict(arg)",
    "pydantic": "RefRunStatus.model_validate(arg)",
    "msgspec": "msgspec.convert(arg, type=StatusStruct)",
    "ours": "RunStatus.from_dict(arg)",
    "ours-prebound": "prebound(arg)",
}
PREBOUND = {"bytes": RunStatus.from_json, "dict": RunStatus.from_dict}
# The reference client and pydantic on its model, only where its vocabulary is the one in use.
HERE = [i for i in FROM_BYTES if REFERENCE_MIRRORED or i not in ("reference", "pydantic")]
RESULT_TYPES: dict[str, Any] = {
    "reference": RefRunStatus,
    "ours-pure": RunStatus,
    "pydantic": RefRunStatus,
    "msgspec": StatusStruct,
    "ours": RunStatus,
    "ours-prebound": RunStatus,
}


CALLS_PER_ROUND = 100
"""Each timed call of the harness runs the statement this many times in a plain loop.

A polling loop calls ``RunStatus.from_json(body)`` directly. pytest-benchmark calls what it times
as ``fn(*args, **kwargs)`` and reads the timer around every few calls; for a call of a few
hundred nanoseconds that adds about 50 ns, the same to every implementation, which would
flatten every ratio. The loop keeps the call a caller makes and amortises the rest; the
summary and the report divide the medians by this number, so they are per payload.
"""


def _call_site(statement: str, kind: str) -> tuple[Callable[[Any], Any], Callable[[Any], None]]:
    """One call of ``statement`` on ``arg``, and a round of `CALLS_PER_ROUND` of them, compiled
    as written (as ``timeit`` compiles its statement), with the names the statements use."""
    namespace: dict[str, Any] = {
        "RefRunStatus": RefRunStatus,
        "RunStatus": RunStatus,
        "json": json,
        "msgspec": msgspec,
        "pure_from_dict": pure_from_dict,
        "pure_from_json": pure_from_json,
        "DECODER": DECODER,
        "StatusStruct": StatusStruct,
        "prebound": PREBOUND[kind],
        "calls": range(CALLS_PER_ROUND),
    }
    source = (
        f"def once(arg):\n    return {statement}\n"
        f"def rounds(arg):\n    for _ in calls:\n        {statement}\n"
    )
    exec(compile(source, f"<{statement}>", "exec"), namespace)
    return namespace["once"], namespace["rounds"]


def _check(impl: str, result: Any, name: str) -> None:
    assert type(result) is RESULT_TYPES[impl]
    assert fields(result) == EXPECTED[name]
    if impl != "msgspec":
        # A drop-in must also record which fields the payload set.
        assert result.model_fields_set == set(DICTS[name])


@pytest.mark.parametrize("impl", HERE)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bench_pass", PASSES)
def test_bytes(benchmark: Any, bench_pass: int, name: str, impl: str) -> None:
    raw = THREE_PAYLOADS[name]
    once, rounds = _call_site(FROM_BYTES[impl], "bytes")
    _check(impl, once(raw), name)
    benchmark.group = f"bytes: {name} ({len(raw)} B)"
    benchmark.extra_info.update(
        payload=name, input="bytes", impl=impl, calls=CALLS_PER_ROUND, bench_pass=bench_pass
    )
    benchmark(rounds, raw)
    _check(impl, once(raw), name)


@pytest.mark.parametrize("impl", HERE)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bench_pass", PASSES)
def test_dict(benchmark: Any, bench_pass: int, name: str, impl: str) -> None:
    d = DICTS[name]
    once, rounds = _call_site(FROM_DICT[impl], "dict")
    result = once(d)
    _check(impl, result, name)
    if d.get("warnings") is not None:
        # The caller's list must not end up inside the model.
        assert result.warnings is not d["warnings"]
    benchmark.group = f"dict: {name} ({len(THREE_PAYLOADS[name])} B)"
    benchmark.extra_info.update(
        payload=name, input="dict", impl=impl, calls=CALLS_PER_ROUND, bench_pass=bench_pass
    )
    benchmark(rounds, d)
    _check(impl, once(d), name)
    # from_dict copies: the input must come through every call unchanged.
    assert d == json.loads(THREE_PAYLOADS[name])
