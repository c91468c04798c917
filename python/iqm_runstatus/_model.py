"""The drop-in model: `Status` and `RunStatus` exactly as in the iqm-client release in use.

`Status` is built from that release's entry in `_releases` (its members, values, order,
docstring, ``_missing_`` and ``terminal_statuses``); `RunStatus` is declared as in the
reference so that pydantic derives the same fields, schema, ``repr`` and pickling. Which
release: ``IQM_RUNSTATUS_CLIENT_RELEASE`` if set, else the installed iqm-client's (from its
metadata, without importing it), else 17.2; `CLIENT_RELEASE` and `CLIENT_RELEASE_SOURCE` say
which and why, and `models_for_release` gives another release's classes.

The parse methods run in the native core, which takes the vocabulary in use as data, unless
``IQM_RUNSTATUS_PURE=1`` is set; the core hands any input it is not certain about to the pure
functions below, so unusual input gets the reference's own result or exception.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import platform
import sys
from enum import Enum, EnumMeta
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Union

from pydantic import BaseModel, Field, create_model
from pydantic._internal._model_construction import ModelMetaclass

if TYPE_CHECKING:
    from typing_extensions import Self

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


_PURE_REQUESTED = os.environ.get("IQM_RUNSTATUS_PURE", "").strip().lower() in ("1", "true", "yes")

if not _PURE_REQUESTED:
    try:
        # Not `from . import _core`: for a missing file that reports a circular import.
        import iqm_runstatus._core as _core
    except ImportError as exc:
        raise native_import_error(exc) from exc

# Imported after the core, so that a core that does not load leaves no submodule behind.
from ._releases import Vocabulary, choose_release, vocabulary_for  # noqa: E402

_CHOICE = choose_release()
VOCABULARY: Vocabulary = _CHOICE.vocabulary
"""The `Status`/`RunStatus` definition in use (an entry of `_releases.VOCABULARIES`)."""
CLIENT_RELEASE: str = _CHOICE.release
"""The iqm-client release whose `Status` and `RunStatus` this process mirrors, such as ``"17.2"``
or ``"24.3.0"``."""
CLIENT_RELEASE_SOURCE: str = _CHOICE.source
"""How `CLIENT_RELEASE` was chosen: ``"environment"`` (``IQM_RUNSTATUS_CLIENT_RELEASE``),
``"installed"`` (the installed iqm-client's version) or ``"default"`` (17.2: no client
installed, or one outside 15.0 to 32.1.1)."""
INSTALLED_CLIENT_RELEASE: Optional[str] = _CHOICE.installed
"""The installed iqm-client's version as its metadata gives it; None if none is installed."""

NATIVE: bool = not _PURE_REQUESTED
"""Whether the Rust fast paths are active (``IQM_RUNSTATUS_PURE=1`` turns them off)."""


def _as_compiled(docstring: str) -> str:
    """A docstring as this interpreter keeps a literal one: 3.13 strips its indentation."""
    if sys.version_info < (3, 13):
        return docstring
    lines = docstring.expandtabs().split("\n")
    margin = min(
        (len(line) - len(line.lstrip(" ")) for line in lines[1:] if line.strip(" ")), default=0
    )
    rest = [line[margin:] if line.strip(" ") else "" for line in lines[1:]]
    return "\n".join([lines[0].lstrip(" "), *rest])


def build_status(vocabulary: Vocabulary, module: str = __name__) -> Any:
    """The `Status` enum of a vocabulary: a ``(str, Enum)`` with its members in order, its
    docstring, and its ``_missing_`` and ``terminal_statuses`` where the release has them."""
    namespace = EnumMeta.__prepare__("Status", (str, Enum))
    namespace["__module__"] = module
    namespace["__doc__"] = _as_compiled(vocabulary.status_doc)
    for member in vocabulary.members:
        namespace[member.name] = member.value
    aliases = vocabulary.missing_aliases
    terminal = vocabulary.terminal

    if aliases:

        def _missing_(cls: Any, value: object) -> Any:
            """Maps an old spelling to its member, as the release does; None for any other."""
            for alias, name in aliases:
                if value == alias:
                    return cls[name]
            return None

        namespace["_missing_"] = classmethod(_missing_)

    if vocabulary.has_terminal_statuses:

        def terminal_statuses(cls: Any) -> set[Any]:
            """Statuses from which the execution can't continue."""
            return {cls[name] for name in terminal}

        namespace["terminal_statuses"] = classmethod(terminal_statuses)
    return EnumMeta("Status", (str, Enum), namespace)


if TYPE_CHECKING:

    class Status(str, Enum):
        """
        Status of a job.

        For type checkers: the member names of every supported release. At run time `Status`
        has only those of `CLIENT_RELEASE`, with its values (see `_releases`).
        """

        RECEIVED = "received"
        VALIDATING = "validating"
        VALIDATION_STARTED = "validation_started"
        PROCESSING = "processing"
        ACCEPTED = "accepted"
        VALIDATION_ENDED = "validation_ended"
        PREPARING_CALIBRATION = "preparing_calibration"
        FETCH_CALIBRATION_STARTED = "fetch_calibration_started"
        FETCH_CALIBRATION_ENDED = "fetch_calibration_ended"
        PENDING_COMPILATION = "pending compilation"
        COMPILING = "compiling"
        COMPILATION_STARTED = "compilation_started"
        COMPILED = "compiled"
        COMPILATION_ENDED = "compilation_ended"
        STORING_SWEEP_METADATA = "storing_sweep_metadata"
        SAVE_SWEEP_METADATA_STARTED = "save_sweep_metadata_started"
        METADATA_STORED = "metadata_stored"
        SAVE_SWEEP_METADATA_ENDED = "save_sweep_metadata_ended"
        PENDING_EXECUTION = "pending execution"
        EXECUTION_PENDING = "execution_pending"
        EXECUTION_START = "execution_start"
        EXECUTION_STARTED = "execution_started"
        EXECUTION_END = "execution_end"
        EXECUTION_ENDED = "execution_ended"
        EXECUTION_STAGE_COMPLETED = "execution_completed"
        PENDING_POST_PROCESSING = "pending_post_processing"
        POST_PROCESSING_PENDING = "post_processing_pending"
        POST_PROCESSING = "post_processing"
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
        def terminal_statuses(cls) -> set[Status]:
            """Statuses from which the execution can't continue (from 22.8 on)."""
            ...

else:
    Status = build_status(VOCABULARY)

TERMINAL_STATUSES: frozenset[Status] = frozenset(Status[name] for name in VOCABULARY.terminal)
"""The members from which a job does not go on: `Status.terminal_statuses()` where the release
has it; else ready, failed and aborted, plus deleted and deletion failed where it has them."""


def _reference_from_dict(run_status: Any, status: Any, inp: Any) -> Any:
    """iqm-client's ``RunStatus.from_dict``, on the given classes."""
    input_copy: dict[str, Any] = inp.copy()
    return run_status(status=status(input_copy.pop("status")), **input_copy)


def _reference_from_json(
    run_status: Any,
    status: Any,
    vocabulary: Vocabulary,
    raw: Union[bytes, bytearray, memoryview, str],
) -> Any:
    """What the release's client does with a status body: ``RunStatus.from_dict(json.loads(raw))``
    where its `RunStatus` has ``from_dict``, else ``RunStatus.model_validate(json.loads(raw))``."""
    if isinstance(raw, memoryview):
        raw = raw.tobytes()
    value = json.loads(raw)
    if not vocabulary.has_from_dict:
        return BaseModel.model_validate.__func__(run_status, value)  # type: ignore[attr-defined]
    if not isinstance(value, dict):
        raise TypeError(
            f"a job status must be a JSON object at the top level, not {type(value).__name__}"
        )
    return _reference_from_dict(run_status, status, value)


def pure_from_dict(inp: dict[str, Union[str, dict[str, Any]]]) -> RunStatus:
    """Parses the result from a dict.

    The reference algorithm of iqm-client's ``RunStatus.from_dict`` (releases 15.0 to 22.5), in
    pure Python, with the `Status` in use.

    Args:
        inp: value to parse, has to map to RunResult

    Returns:
        parsed job status
    """
    return _reference_from_dict(RunStatus, Status, inp)  # type: ignore[no-any-return]


def pure_from_json(raw: Union[bytes, bytearray, memoryview, str]) -> RunStatus:
    """Parses a job status from raw JSON, as the client of `CLIENT_RELEASE` parses a body.

    ``RunStatus.from_dict(json.loads(raw))`` for releases whose `RunStatus` has ``from_dict``
    (up to 22.5), ``RunStatus.model_validate(json.loads(raw))`` from 22.6 on. The pure-Python
    path; a ``memoryview`` is read as bytes.

    Args:
        raw: the JSON document, as ``bytes``, ``bytearray``, ``memoryview`` or ``str``

    Returns:
        parsed job status

    Raises:
        json.JSONDecodeError: malformed JSON
        TypeError: (with ``from_dict``) the top-level JSON value is not an object
        KeyError: (with ``from_dict``) ``status`` is missing
        ValueError: (with ``from_dict``) ``status`` is not one of the known values
        pydantic.ValidationError: ``message`` or ``warnings`` has the wrong type; with
            ``model_validate``, any invalid document
    """
    return _reference_from_json(RunStatus, Status, VOCABULARY, raw)  # type: ignore[no-any-return]


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


class ClientModels(NamedTuple):
    """The two classes of one iqm-client release: ``RunStatus, Status = models_for_release(r)``."""

    RunStatus: Any
    Status: Any


def models_for_release(release: str) -> ClientModels:
    """`RunStatus` and `Status` as iqm-client ``release`` defines them (15.0 to 32.1.1).

    For the release in use (same vocabulary as `CLIENT_RELEASE`) these are the package's own,
    accelerated classes. For another, they are classes of their own, built once per vocabulary
    from the same table and the same field definitions, on the pure path: ``from_dict``,
    ``from_json`` (with the release's semantics), ``model_validate`` and
    ``model_validate_json`` give that release's results and exceptions. They are not the
    package's `RunStatus` (``isinstance`` tells them apart), do not pickle (they are not
    importable by name), and the batch tools do not take them.

    Raises:
        ValueError: ``release`` is not a release from 15.0 to 32.1.1
    """
    vocabulary = vocabulary_for(release)
    if vocabulary == VOCABULARY:
        return ClientModels(RunStatus, Status)
    return _pure_models(vocabulary)


@functools.cache
def _pure_models(vocabulary: Vocabulary) -> ClientModels:
    # Named as the release names them (enum errors quote the qualified name), in a module that
    # cannot be imported, so that pickling them fails instead of unpickling as another class.
    module = f"{__name__}.models_for_release"
    status = build_status(vocabulary, module=module)
    fields: dict[str, Any] = {
        name: (status if name == "status" else field.annotation, copy.deepcopy(field))
        for name, field in RunStatus.model_fields.items()
    }
    run_status: Any = create_model(
        "RunStatus", __doc__=RunStatus.__doc__, __module__=module, **fields
    )
    from_dict: Callable[[Any], Any] = functools.partial(_reference_from_dict, run_status, status)
    from_json: Callable[[Any], Any] = functools.partial(
        _reference_from_json, run_status, status, vocabulary
    )
    run_status.from_dict = staticmethod(from_dict)
    run_status.from_json = staticmethod(from_json)
    return ClientModels(run_status, status)
