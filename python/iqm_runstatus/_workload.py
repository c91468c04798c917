"""A seeded, deterministic generator of job-status payloads, for benchmarks and soak tests.

Each payload is compact JSON as the IQM server answers ``GET /jobs/{id}/status``, in a mix
seen when a scheduler polls many jobs: mostly pending or ready, some failed with an error
message and warnings, a few aborted. With ``invalid_rate`` a fraction of them is malformed
in one of the ways a parser must reject. The statuses are those of the package's `Status`;
the same seed and vocabulary give the same payloads on every platform and Python version.
"""

from __future__ import annotations

import json
import random
from bisect import bisect
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, BinaryIO, Final

from ._model import TERMINAL_STATUSES, Status

__all__ = [
    "INVALID_KINDS",
    "THREE_PAYLOADS",
    "generate_payloads",
    "iter_payloads",
    "write_ndjson",
]


def _dumps(obj: dict[str, Any]) -> bytes:
    # Compact and UTF-8, as a server framework (FastAPI with orjson, say) writes it.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _is_status(value: str) -> bool:
    try:
        Status(value)
    except ValueError:
        return False
    return True


# The small payload's status: a running one, whose payload is nearest 32 bytes (the seed's
# "pending compilation"), so the three sizes hold for every vocabulary that has one.
_SMALL_STATUS: Final = min(
    (s.value for s in Status if s not in TERMINAL_STATUSES),
    key=lambda value: abs(len(value) - len("pending compilation")),
    default="ready",
)

THREE_PAYLOADS: Final[dict[str, bytes]] = {
    "pending": _dumps({"status": _SMALL_STATUS}),
    "ready_warning": _dumps(
        {"status": "ready", "warnings": ["Circuit 'ghz_5' has 3 barriers, which are ignored."]}
    ),
    "failed": _dumps(
        {
            "status": "failed",
            "message": "Qubit QB21 in circuit 'qft4' does not exist.",
            "warnings": ["Shots rounded up to 1024.", "Calibration is 26 h old."],
        }
    ),
}
"""Three single payloads of 32, 84 and 144 bytes: the small, medium and large cases."""

# A poll mostly sees jobs waiting or done: weights of the seed's statuses; each other status of
# the installed vocabulary weighs _OTHER_WEIGHT.
_WEIGHTS: Final = {
    "pending compilation": 30,
    "pending execution": 25,
    "ready": 35,
    "failed": 7,
    "aborted": 3,
}
_OTHER_WEIGHT: Final = 2
# (status, weight), in the order of `Status`.
_STATUS_WEIGHTS: Final = tuple((s.value, _WEIGHTS.get(s.value, _OTHER_WEIGHT)) for s in Status)
_STATUSES: Final = tuple(s for s, _ in _STATUS_WEIGHTS)
_CUM_WEIGHTS: Final = tuple(
    sum(w for _, w in _STATUS_WEIGHTS[: i + 1]) for i in range(len(_STATUS_WEIGHTS))
)
_TOTAL_WEIGHT: Final = _CUM_WEIGHTS[-1] + 0.0

_WARNINGS: Final = (
    "Calibration set is older than 24 hours.",
    "Circuit 'ghz_5' has 3 barriers, which are ignored.",
    "Qubit QB3 has a readout fidelity below 0.9.",
    "Requested shots were rounded up to 1024.",
    "Measurement key 'm' is reused in circuit 'qft_4'.",
    "Heralding mode 'zeros' discards shots; fewer shots may be returned.",
    "Move gate validation was turned off; results may be inaccurate.",
    "Batch has 120 circuits, more than the recommended 100.",
)

# "{id}" is replaced by a fresh UUID, "{ref}" by a short hex reference.
_ERRORS: Final = (
    "Compilation failed: calibration set {id} not found.",
    "Circuit 'qft_4' uses qubit QB21, which is not available on this quantum computer.",
    "Execution timed out after 300 seconds.",
    "Job {id} was cancelled: the quantum computer went into maintenance.",
    "Invalid gate 'cz' between QB1 and QB3: the qubits are not connected.",
    "Too many shots: 100000 requested, at most 65536 allowed.",
    "Internal error while executing the job; quote reference {ref} to support.",
    # Client strings echoed back: escaped quotes and non-ASCII text occur, if rarely.
    'Unknown gate name "rx2" in circuit "test_circuit".',
    "Qubit QB2 has T1 = 12 µs, below the threshold of 20 µs.",
)

_ABORT_MESSAGES: Final = (
    "Job aborted by the user.",
    "Job {id} aborted: the quantum computer was taken offline for calibration.",
)

INVALID_KINDS: Final = ("truncated", "unknown_status", "missing_status", "warnings_type")
"""The ways an invalid payload is malformed; the reference rejects each of them."""

# Values no status has: those the installed vocabulary (or its `_missing_`) accepts are left out.
_UNKNOWN_STATUSES: Final = tuple(
    value
    for value in (
        "running",
        "completed",
        "READY",
        "Pending compilation",
        "pending_execution",
        "cancelled",
        "",
    )
    if not _is_status(value)
)
_ERROR_DETAILS: Final = ("Not Found", "Job not found.", "Not authenticated")
_BAD_WARNINGS: Final = (
    "Calibration set is older than 24 hours.",
    ["Shots rounded up to 1024.", 1024],
    [None],
    {"0": "Calibration set is older than 24 hours."},
    True,
    42,
)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _fill(template: str, rng: random.Random) -> str:
    if "{id}" in template:
        template = template.replace("{id}", _uuid(rng))
    if "{ref}" in template:
        template = template.replace("{ref}", f"{rng.getrandbits(32):08x}")
    return template


# Absent, or the value to write (None for null): a field as `_draw` decides it.
_ABSENT: Final = object()

# Each status, warning and template as compact JSON writes it, rendered once: most payloads
# are then joined from these pieces, with the same bytes `_dumps` gives their dicts.
_STATUS_JSON: Final = {s: _dumps({"status": s})[:-1] for s in _STATUSES}
_WARNING_JSON: Final = {w: _dumps({"": w})[4:-1] for w in _WARNINGS}


def _draw(rng: random.Random) -> tuple[str, Any, Any]:
    """The status, message and warnings of one valid payload; a field is `_ABSENT` or its
    value (None for null)."""
    # `rng.choices(_STATUSES, cum_weights=_CUM_WEIGHTS)[0]`, as random.py computes it (one
    # `random()` a draw, so the stream and the payloads are the same), without its checks.
    status = _STATUSES[bisect(_CUM_WEIGHTS, rng.random() * _TOTAL_WEIGHT, 0, len(_STATUSES) - 1)]
    message: str | None = None
    warnings: list[str] | None = None
    if status == "failed":
        message = _fill(rng.choice(_ERRORS), rng)
        if rng.random() < 0.5:
            warnings = rng.sample(_WARNINGS, rng.randint(1, 2))
    elif status == "aborted" and rng.random() < 0.7:
        message = _fill(rng.choice(_ABORT_MESSAGES), rng)
    elif status == "ready" and rng.random() < 0.2:
        warnings = rng.sample(_WARNINGS, rng.randint(1, 2))
    # Some servers write unset fields as null instead of leaving them out.
    nulls = rng.random() < 0.15
    message_field = message if message is not None or nulls else _ABSENT
    with_warnings = warnings is not None or (nulls and rng.random() < 0.5)
    return status, message_field, warnings if with_warnings else _ABSENT


def _as_dict(status: str, message: Any, warnings: Any) -> dict[str, Any]:
    # Keys in the model's field order, as a server serialising its own RunStatus writes them.
    obj: dict[str, Any] = {"status": status}
    if message is not _ABSENT:
        obj["message"] = message
    if warnings is not _ABSENT:
        obj["warnings"] = warnings
    return obj


def _render(status: str, message: Any, warnings: Any) -> bytes:
    """`_dumps(_as_dict(status, message, warnings))`, joined from pre-rendered pieces."""
    parts = [_STATUS_JSON[status]]
    if message is None:
        parts.append(b',"message":null')
    elif message is not _ABSENT:
        parts.append(b"," + _dumps({"message": message})[1:-1])
    if warnings is not _ABSENT:
        if warnings is None:
            parts.append(b',"warnings":null')
        else:
            parts.append(b',"warnings":[' + b",".join(_WARNING_JSON[w] for w in warnings) + b"]")
    parts.append(b"}")
    return b"".join(parts)


def _invalid(obj: dict[str, Any], rng: random.Random) -> bytes:
    kind = rng.choice(INVALID_KINDS)
    if kind == "truncated":
        raw = _dumps(obj)
        # Any strict prefix of an object is incomplete JSON: the closing brace comes last.
        return raw[: rng.randrange(1, len(raw))]
    bad = dict(obj)
    if kind == "unknown_status":
        bad["status"] = rng.choice(_UNKNOWN_STATUSES)
    elif kind == "missing_status":
        del bad["status"]
        if not bad:
            # An error body where a status was expected, as a proxy or a 404 handler sends.
            bad = {"detail": rng.choice(_ERROR_DETAILS)}
    else:
        bad["warnings"] = rng.choice(_BAD_WARNINGS)
    return _dumps(bad)


def iter_payloads(count: int, *, seed: int = 0, invalid_rate: float = 0.0) -> Iterator[bytes]:
    """Yields ``count`` job-status payloads as compact JSON bytes, one at a time.

    Exactly ``round(count * invalid_rate)`` of them, at random positions, are malformed:
    truncated JSON, an unknown status, no status, or ``warnings`` of the wrong type.
    The valid payloads do not depend on ``invalid_rate``: a malformed payload replaces the
    valid one at its position, so the same seed gives the same valid payloads at the same places.

    Args:
        count: how many payloads to yield, at least 0
        seed: seed of the generator; the same seed gives the same payloads
        invalid_rate: fraction of malformed payloads, from 0.0 to 1.0

    Raises:
        ValueError: ``count`` is negative or ``invalid_rate`` is outside [0, 1]
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, not {count!r}")
    if not 0.0 <= invalid_rate <= 1.0:
        raise ValueError(f"invalid_rate must be between 0 and 1, not {invalid_rate!r}")
    return _iter(count, seed, invalid_rate)


def _iter(count: int, seed: int, invalid_rate: float) -> Iterator[bytes]:
    # Separate streams, so that the valid payloads do not depend on which ones are replaced.
    content = random.Random(seed)
    picker = random.Random(f"{seed}/invalid")
    mangler = random.Random(f"{seed}/mangle")
    to_pick = round(count * invalid_rate)
    for left in range(count, 0, -1):
        fields = _draw(content)
        # Selection sampling (Knuth's algorithm S): exactly `to_pick` positions, uniformly.
        if to_pick and picker.random() * left < to_pick:
            to_pick -= 1
            yield _invalid(_as_dict(*fields), mangler)
        else:
            yield _render(*fields)


def generate_payloads(count: int, *, seed: int = 0, invalid_rate: float = 0.0) -> list[bytes]:
    """Returns ``count`` job-status payloads as compact JSON bytes; see `iter_payloads`."""
    return list(iter_payloads(count, seed=seed, invalid_rate=invalid_rate))


_LINES_PER_WRITE: Final = 4096


def write_ndjson(payloads: Iterable[bytes], out: BinaryIO) -> None:
    """Writes one payload a line to a binary stream, and flushes it."""
    # Payloads hold no raw newline (JSON escapes it), so one line is one payload. Lines are
    # joined and written a few thousand at a time: one write call a line costs more than
    # making the line.
    payloads = iter(payloads)
    while True:
        lines = list(islice(payloads, _LINES_PER_WRITE))
        if not lines:
            break
        lines.append(b"")
        out.write(b"\n".join(lines))
    out.flush()
