"""Test data: the model of iqm-client 28.0 to 32.1.1 (23 statuses, the largest vocabulary of the
line, with its ``_missing_`` hook and terminal set), and its registration with the native core
in place of the package's own model. Registering happens once a process, so it is done in a
fresh interpreter, before anything imports the package."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import types
from enum import Enum
from typing import Any, Optional

from pydantic import BaseModel, Field

__all__ = [
    "TERMINAL",
    "RunStatus",
    "Status",
    "load_core",
    "pure_from_dict",
    "pure_from_json",
    "pure_path_calls",
    "register",
]


class Status(str, Enum):
    """Status of a job."""

    RECEIVED = "received"
    VALIDATION_STARTED = "validation_started"
    PROCESSING = "processing"
    VALIDATION_ENDED = "validation_ended"
    FETCH_CALIBRATION_STARTED = "fetch_calibration_started"
    FETCH_CALIBRATION_ENDED = "fetch_calibration_ended"
    COMPILATION_STARTED = "compilation_started"
    COMPILATION_ENDED = "compilation_ended"
    SAVE_SWEEP_METADATA_STARTED = "save_sweep_metadata_started"
    SAVE_SWEEP_METADATA_ENDED = "save_sweep_metadata_ended"
    PENDING_EXECUTION = "pending_execution"
    EXECUTION_STARTED = "execution_started"
    EXECUTION_ENDED = "execution_ended"
    POST_PROCESSING_PENDING = "post_processing_pending"
    POST_PROCESSING_STARTED = "post_processing_started"
    POST_PROCESSING_ENDED = "post_processing_ended"
    READY = "ready"
    FAILED = "failed"
    ABORTED = "aborted"
    PENDING_DELETION = "pending deletion"
    DELETION_FAILED = "deletion failed"
    DELETED = "deleted"
    UNKNOWN = "unknown"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if value == "pending execution":
            return cls.PENDING_EXECUTION
        return None

    @classmethod
    def terminal_statuses(cls) -> set[Status]:
        return {cls.READY, cls.FAILED, cls.ABORTED, cls.DELETED, cls.DELETION_FAILED}


class RunStatus(BaseModel):
    """Status of a circuit execution job."""

    status: Status = Field(...)
    message: Optional[str] = Field(None)
    warnings: Optional[list[str]] = Field(None)


TERMINAL = frozenset(Status.terminal_statuses())


def pure_from_dict(inp: dict[str, Any]) -> RunStatus:
    input_copy = inp.copy()
    return RunStatus(status=Status(input_copy.pop("status")), **input_copy)


def pure_from_json(raw: Any) -> RunStatus:
    # What this release's client does with a status body.
    return RunStatus.model_validate(json.loads(raw))


_pure_calls = 0


def _counted(pure: Any) -> Any:
    """`pure`, counting the core's calls of it: what the fast path left to the pure path."""

    def call(arg: Any) -> Any:
        global _pure_calls
        _pure_calls += 1
        return pure(arg)

    return call


def pure_path_calls() -> int:
    """How often the registered core called this model's pure path."""
    return _pure_calls


def _validate_python(obj: Any) -> RunStatus:
    return BaseModel.model_validate.__func__(RunStatus, obj)  # type: ignore[attr-defined,no-any-return]


def _validate_json(json_data: Any) -> RunStatus:
    return BaseModel.model_validate_json.__func__(RunStatus, json_data)  # type: ignore[attr-defined,no-any-return]


def load_core() -> types.ModuleType:
    """Imports ``iqm_runstatus._core`` under a bare stand-in of its package, whose ``__init__``
    would register the package's own model."""
    if "iqm_runstatus" in sys.modules:
        raise RuntimeError("the package is imported already: register in a fresh interpreter")
    spec = importlib.util.find_spec("iqm_runstatus")
    if spec is None or spec.submodule_search_locations is None:
        raise RuntimeError("iqm_runstatus is not installed")
    package = types.ModuleType("iqm_runstatus")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["iqm_runstatus"] = package
    return importlib.import_module("iqm_runstatus._core")


def register(core: Optional[types.ModuleType] = None, **replace: Any) -> types.ModuleType:
    """Registers this model (with `replace`'s arguments of ``init`` instead, if given) with the
    core `load_core` gives; returns the core."""
    if core is None:
        core = load_core()
    arguments = {
        "run_status": RunStatus,
        "status_enum": Status,
        "terminal": TERMINAL,
        "pure_from_dict": _counted(pure_from_dict),
        "pure_from_json": _counted(pure_from_json),
        "pydantic_validate_python": _validate_python,
        "pydantic_validate_json": _validate_json,
    }
    arguments.update(replace)
    core.init(*arguments.values())
    return core
