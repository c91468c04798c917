"""The drop-in model: `Status` and `RunStatus` exactly as in iqm-client 17.2, with Rust fast paths.

The classes are declared as in the reference so that pydantic derives the same fields, schema,
``repr`` and pickling. The parse methods run in the native core unless ``IQM_RUNSTATUS_PURE=1``
is set; the core hands any input it is not certain about to the pure functions below, so
unusual input gets the reference's own result or exception.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Optional, Union

from pydantic import BaseModel, Field
from pydantic._internal._model_construction import ModelMetaclass

if TYPE_CHECKING:
    from typing_extensions import Self

NATIVE: bool = os.environ.get("IQM_RUNSTATUS_PURE", "").strip().lower() not in ("1", "true", "yes")
"""Whether the Rust fast paths are active (``IQM_RUNSTATUS_PURE=1`` turns them off)."""

SUPPORTED_PYTHONS = "CPython 3.9 to 3.13"
"""The interpreters the package is built and tested for (``requires-python`` says the same)."""


def native_import_error(cause: ImportError) -> ImportError:
    """The error raised when the native module does not load: what failed, and what to do."""
    running = f"{platform.python_implementation()} {sys.version_info[0]}.{sys.version_info[1]}"
    return ImportError(
        f"iqm_runstatus: the native module iqm_runstatus._core could not be loaded ({cause}). "
        f"The package supports {SUPPORTED_PYTHONS}, and each build runs only on the interpreter "
        f"it was built for: a wheel or extension copied from another Python version does not "
        f"load. Reinstall iqm-runstatus with this interpreter ({running}, {sys.executable}), "
        "or set IQM_RUNSTATUS_PURE=1 to use the pure-Python path (RunStatus and Status work; "
        "StatusBatch, parse_many and JobTracker need the native module).",
        name="iqm_runstatus._core",
    )


if NATIVE:
    try:
        # Not `from . import _core`: for a missing file that reports a circular import.
        import iqm_runstatus._core as _core
    except ImportError as exc:
        raise native_import_error(exc) from exc


class Status(str, Enum):
    """
    Status of a job.
    """

    PENDING_COMPILATION = "pending compilation"
    PENDING_EXECUTION = "pending execution"
    READY = "ready"
    FAILED = "failed"
    ABORTED = "aborted"


def pure_from_dict(inp: dict[str, Union[str, dict[str, Any]]]) -> RunStatus:
    """Parses the result from a dict.

    The reference algorithm of iqm-client 17.2's ``RunStatus.from_dict``, in pure Python.

    Args:
        inp: value to parse, has to map to RunResult

    Returns:
        parsed job status
    """
    input_copy: dict[str, Any] = inp.copy()
    return RunStatus(status=Status(input_copy.pop("status")), **input_copy)


def pure_from_json(raw: Union[bytes, bytearray, memoryview, str]) -> RunStatus:
    """Parses a job status from raw JSON: ``RunStatus.from_dict(json.loads(raw))``.

    The pure-Python path; a ``memoryview`` is read as bytes.

    Args:
        raw: the JSON document, as ``bytes``, ``bytearray``, ``memoryview`` or ``str``

    Returns:
        parsed job status

    Raises:
        json.JSONDecodeError: malformed JSON
        TypeError: the top-level JSON value is not an object
        KeyError: ``status`` is missing
        ValueError: ``status`` is not one of the known values
        pydantic.ValidationError: ``message`` or ``warnings`` has the wrong type
    """
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise TypeError(
            f"a job status must be a JSON object at the top level, not {type(value).__name__}"
        )
    return pure_from_dict(value)


_from_dict = _core.from_dict if NATIVE else pure_from_dict
_from_json = _core.from_json if NATIVE else pure_from_json


class _ModelMetaclass(ModelMetaclass):
    """pydantic's metaclass, made a class of its own so the native core can speed up attribute
    lookups on `RunStatus` without touching other models.

    pydantic's metaclass defines ``__getattr__``, so CPython looks up every attribute of a
    model class (``RunStatus.from_json`` included) through a slow generic hook; the core gives
    this metaclass a lookup that does the same (``type.__getattribute__``, then pydantic's
    ``__getattr__`` on a miss) at the cost of a plain class's.
    """


class RunStatus(BaseModel, metaclass=_ModelMetaclass):
    """Status of a circuit execution job."""

    status: Status = Field(...)
    """current status of the job, in ``{'pending compilation', 'pending execution', 'ready', 'failed', 'aborted'}``"""  # noqa: E501
    # `default=` by keyword: the same field as the reference's `Field(None)`, but type checkers
    # only see a keyword default, so `RunStatus(status=...)` type-checks without `message`.
    message: Optional[str] = Field(default=None)
    """if the job failed, an error message"""
    warnings: Optional[list[str]] = Field(default=None)
    """list of warning messages"""

    # The native functions themselves: a Python wrapper frame would cost as much as the parse.
    from_dict = staticmethod(_from_dict)
    from_json = staticmethod(_from_json)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate an object into a `RunStatus`, as pydantic's ``model_validate`` does.

        A plain dict is validated in Rust; other input, subclasses and options go to pydantic.
        """
        if NATIVE and cls is RunStatus and not kwargs:
            return _core.validate_python(obj)  # type: ignore[return-value]  # cls is RunStatus here
        return super().model_validate(obj, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: Union[str, bytes, bytearray], **kwargs: Any) -> Self:
        """Validate JSON into a `RunStatus`, as pydantic's ``model_validate_json`` does."""
        if NATIVE and cls is RunStatus and not kwargs:
            return _core.validate_json(json_data)  # type: ignore[return-value]  # cls is RunStatus here
        return super().model_validate_json(json_data, **kwargs)


def _pydantic_validate_python(obj: Any) -> RunStatus:
    return BaseModel.model_validate.__func__(RunStatus, obj)  # type: ignore[attr-defined,no-any-return]


def _pydantic_validate_json(json_data: Any) -> RunStatus:
    return BaseModel.model_validate_json.__func__(RunStatus, json_data)  # type: ignore[attr-defined,no-any-return]


TERMINAL_STATUSES: Final[frozenset[Status]] = frozenset(
    {Status.READY, Status.FAILED, Status.ABORTED}
)
"""The statuses a job never leaves: the core's terminal set, for the tracker and the poller."""


def ensure_native() -> None:
    """Registers the model with the Rust core even when ``IQM_RUNSTATUS_PURE`` is set: the batch
    tools have no pure counterpart and need it (the single-payload entry points stay pure)."""
    global _registered
    if not _registered:
        from . import _core as core

        core.init(
            RunStatus,
            Status,
            TERMINAL_STATUSES,
            pure_from_dict,
            pure_from_json,
            _pydantic_validate_python,
            _pydantic_validate_json,
        )
        _registered = True


_registered = False
if NATIVE:
    ensure_native()
    _core.speed_up_class_lookups(_ModelMetaclass)
