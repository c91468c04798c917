"""Shared benchmark data: the three single payloads, their dict forms and expected fields, for
the vocabulary in use (``IQM_RUNSTATUS_CLIENT_RELEASE`` picks another release's)."""

import enum
import json
from typing import Any, Optional

import msgspec
from iqm_runstatus import CLIENT_RELEASE, Status
from iqm_runstatus._workload import THREE_PAYLOADS

__all__ = [
    "CLIENT_RELEASE",
    "DICTS",
    "EXPECTED",
    "NAMES",
    "REFERENCE_MIRRORED",
    "THREE_PAYLOADS",
    "StatusStruct",
    "fields",
]

NAMES: tuple[str, ...] = tuple(THREE_PAYLOADS)
"""Payload names, smallest first: pending (32 B), ready_warning (84 B), failed (144 B)."""

DICTS: dict[str, dict[str, Any]] = {name: json.loads(raw) for name, raw in THREE_PAYLOADS.items()}
"""The payloads as `json.loads` gives them: the input of the dict → object benchmarks."""

Fields = tuple[str, Optional[str], Optional[list[str]]]

EXPECTED: dict[str, Fields] = {
    name: (d["status"], d.get("message"), d.get("warnings")) for name, d in DICTS.items()
}
"""(status value, message, warnings) that every implementation must produce."""


def _reference_mirrored() -> bool:
    """Whether the installed iqm-client (the reference, 17.2 in the dev virtualenv) has the
    vocabulary in use: only then are it and pydantic on its model compared with."""
    try:
        from iqm.iqm_client.iqm_client import Status as RefStatus
    except ImportError:
        return False
    return [s.value for s in RefStatus] == [s.value for s in Status]


REFERENCE_MIRRORED: bool = _reference_mirrored()

# msgspec's counterpart of `Status`, with the same members: it decodes str enums by value.
StatusEnum = enum.Enum(  # type: ignore[misc]
    "StatusEnum", [(s.name, s.value) for s in Status], type=str
)


class StatusStruct(msgspec.Struct):
    """msgspec's counterpart of `RunStatus`: the speed bar a native parser can chase."""

    status: StatusEnum
    message: Optional[str] = None
    warnings: Optional[list[str]] = None


def fields(obj: Any) -> Fields:
    """(status value, message, warnings) of any implementation's result."""
    return (obj.status.value, obj.message, obj.warnings)
