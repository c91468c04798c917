"""Shared benchmark data: the three single payloads, their dict forms and expected fields."""

import enum
import json
from typing import Any, Optional

import msgspec
from iqm_runstatus._workload import THREE_PAYLOADS

__all__ = ["DICTS", "EXPECTED", "NAMES", "THREE_PAYLOADS", "StatusStruct", "fields"]

NAMES: tuple[str, ...] = tuple(THREE_PAYLOADS)
"""Payload names, smallest first: pending (32 B), ready_warning (84 B), failed (144 B)."""

DICTS: dict[str, dict[str, Any]] = {name: json.loads(raw) for name, raw in THREE_PAYLOADS.items()}
"""The payloads as `json.loads` gives them: the input of the dict → object benchmarks."""

Fields = tuple[str, Optional[str], Optional[list[str]]]

EXPECTED: dict[str, Fields] = {
    name: (d["status"], d.get("message"), d.get("warnings")) for name, d in DICTS.items()
}
"""(status value, message, warnings) that every implementation must produce."""


class StatusEnum(str, enum.Enum):
    """msgspec's counterpart of `Status`: it decodes str enums by value."""

    PENDING_COMPILATION = "pending compilation"
    PENDING_EXECUTION = "pending execution"
    READY = "ready"
    FAILED = "failed"
    ABORTED = "aborted"


class StatusStruct(msgspec.Struct):
    """msgspec's counterpart of `RunStatus`: the speed bar a native parser can chase."""

    status: StatusEnum
    message: Optional[str] = None
    warnings: Optional[list[str]] = None


def fields(obj: Any) -> Fields:
    """(status value, message, warnings) of any implementation's result."""
    return (obj.status.value, obj.message, obj.warnings)
