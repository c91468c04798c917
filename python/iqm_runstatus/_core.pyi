"""Types of the native core. The single-payload functions are used through `RunStatus`'s methods."""

import os
import sys
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO, Optional, SupportsIndex, Union, final, overload

from typing_extensions import Self, disjoint_base

from ._model import RunStatus, Status
from ._records import TrackerError, Transition

# The native functions take their arguments by keyword too, under the names of the pure
# functions they stand in for (`RunStatus.from_dict(inp=...)` works as in the reference).
__all__ = [
    "CPYTHON_ROUTE",
    "ArrowSnapshot",
    "JobTracker",
    "StatusBatch",
    "StatusBatchIter",
    "StatusPoller",
    "class_lookups_are_fast",
    "from_dict",
    "from_json",
    "init",
    "speed_up_class_lookups",
    "validate_json",
    "validate_python",
]

_JsonInput = Union[bytes, bytearray, memoryview, str]

# How the core reaches CPython's internals: "layout" on the versions it knows (3.9 to 3.13),
# "portable" (public C-API calls only) on any other.
CPYTHON_ROUTE: str

def init(
    run_status: type[RunStatus],
    status_enum: type[Status],
    terminal: Collection[Status],
    pure_from_dict: Callable[[Any], RunStatus],
    pure_from_json: Callable[[Any], RunStatus],
    pydantic_validate_python: Callable[[Any], RunStatus],
    pydantic_validate_json: Callable[[Any], RunStatus],
) -> None: ...
def speed_up_class_lookups(metaclass: type) -> bool: ...
def class_lookups_are_fast(metaclass: type) -> bool: ...
def from_json(raw: _JsonInput) -> RunStatus: ...
def from_dict(inp: dict[str, Union[str, dict[str, Any]]]) -> RunStatus: ...
def validate_json(json_data: Union[str, bytes, bytearray]) -> RunStatus: ...
def validate_python(obj: Any) -> RunStatus: ...

# Native classes: not subclassable.
@final
class StatusBatch(Sequence[RunStatus]):
    """Many job statuses, parsed at once into compact columns kept in Rust.

    ``codes``: one ``uint8`` per entry, 0..4 the `Status` members in enum order, 255 an error.
    """

    @staticmethod
    def from_payloads(
        payloads: Iterable[_JsonInput], *, threads: Optional[int] = None
    ) -> StatusBatch: ...
    @staticmethod
    def from_json_array(raw: _JsonInput, *, threads: Optional[int] = None) -> StatusBatch:
        """Entry ``i`` equals ``RunStatus.from_json(<text of element i>)`` (value, or an error
        entry with its exception): NaN, deep nesting, long integers or a lone surrogate in one
        element affect that entry only. The array is split in Rust, in linear time at any depth.

        Raises what ``json.loads`` raises for a document it refuses (``json.JSONDecodeError``,
        with the stdlib's message and position, or ``UnicodeDecodeError``), and ``TypeError``
        for valid JSON whose top-level value is not an array. ``bytes`` are read as
        ``json.loads`` reads them (UTF-8 BOM skipped, UTF-16/32 detected), a ``memoryview`` as
        ``bytes``.
        """
    @staticmethod
    def from_ndjson(
        source: Union[bytes, bytearray, memoryview, str, os.PathLike[str], BinaryIO],
        *,
        threads: Optional[int] = None,
    ) -> StatusBatch:
        """One payload a line; lines of only JSON whitespace are skipped. Entry ``i`` equals
        ``RunStatus.from_json`` of the ``i``-th non-blank line. ``bytes``, ``bytearray`` and
        ``memoryview`` are the text; a ``str`` or ``os.PathLike`` is a path. A file is read in
        chunks of 1 MiB."""
    def __len__(self) -> int: ...
    def __sizeof__(self) -> int: ...
    @overload
    def __getitem__(self, index: SupportsIndex, /) -> RunStatus: ...
    @overload
    def __getitem__(self, index: slice, /) -> StatusBatch: ...
    def __iter__(self) -> Iterator[RunStatus]: ...
    def __reversed__(self) -> Iterator[RunStatus]: ...
    def __contains__(self, value: object, /) -> bool: ...
    def index(self, value: object, start: int = 0, stop: Optional[int] = None, /) -> int: ...
    def count(self, value: object, /) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    if sys.version_info >= (3, 12):
        def __buffer__(self, flags: int, /) -> memoryview: ...
    def to_list(self) -> list[RunStatus]: ...
    def counts(self) -> dict[Status, int]: ...
    def indices(self, *statuses: Union[Status, str]) -> list[int]: ...
    def statuses(self) -> list[Optional[Status]]: ...
    @property
    def codes(self) -> memoryview: ...
    @property
    def errors(self) -> list[tuple[int, str, str]]: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    # The Arrow PyCapsule interface; the capsules are opaque to Python code.
    def __arrow_c_schema__(self) -> object: ...
    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object:
        """An ``arrow_array_stream`` capsule; ``requested_schema`` is ignored."""
    def to_arrow(self) -> ArrowSnapshot: ...

@final
class StatusBatchIter(Iterator[RunStatus]):
    def __next__(self) -> RunStatus: ...

_JobId = Union[str, uuid.UUID]
# Where ids are expected, a `str` or `uuid.UUID` is ONE id and anything else an iterable of
# ids; ids of any other type (`bytes` too) raise TypeError naming the argument and the type.
_JobIds = Union[_JobId, Iterable[_JobId]]

@final
class JobTracker:
    """The latest status of many jobs; UUID job ids are stored and returned as ``str``."""

    def __init__(self) -> None: ...
    def update(
        self,
        job_id: _JobId,
        payload: _JsonInput,
        *,
        errors: Optional[list[TrackerError]] = None,
    ) -> Optional[Transition]: ...
    def update_many(
        self,
        job_ids: _JobIds,
        payloads: Iterable[_JsonInput],
        *,
        threads: Optional[int] = None,
        errors: Optional[list[TrackerError]] = None,
    ) -> list[Transition]: ...
    @property
    def last_errors(self) -> list[TrackerError]: ...
    def status(self, job_id: _JobId) -> RunStatus: ...
    def is_terminal(self, job_id: _JobId) -> bool: ...
    def counts(self) -> dict[Status, int]: ...
    def jobs(self, *statuses: Union[Status, str]) -> list[str]: ...
    def forget(self, job_ids: _JobIds) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, job_id: object, /) -> bool: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def to_arrow(self) -> ArrowSnapshot: ...

@final
class ArrowSnapshot:
    """Statuses in Arrow form, for any reader of the Arrow PyCapsule interface (pyarrow,
    polars, DuckDB): ``job_id`` (a tracker's only), ``status``, ``message``, ``warnings``,
    ``error``."""

    def __arrow_c_schema__(self) -> object: ...
    def __arrow_c_stream__(self, requested_schema: Optional[object] = None) -> object: ...
    def __len__(self) -> int: ...

@disjoint_base
class StatusPoller:
    """Polls the status of many jobs from threads of its own and reports their transitions."""

    def __new__(
        cls,
        base_url: str,
        *,
        token: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        concurrency: int = 64,
        interval: float = 1.0,
        max_interval: float = 30.0,
        timeout: float = 60.0,
        max_retries: int = 8,
        max_body_size: int = 1048576,
        _header_provider: Optional[Callable[[], tuple[Mapping[str, str], Optional[float]]]] = None,
    ) -> Self: ...
    def add(self, job_ids: _JobIds) -> None: ...
    def remove(self, job_ids: _JobIds) -> int: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> list[Transition]: ...
    def wait(
        self,
        job_ids: Optional[_JobIds] = None,
        timeout: Optional[float] = None,
    ) -> dict[str, RunStatus]: ...
    @property
    def tracker(self) -> JobTracker: ...
    @property
    def failed(self) -> dict[str, str]: ...
    @property
    def errors(self) -> list[TrackerError]: ...
    def stats(self) -> dict[str, Any]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_exc: object) -> None: ...
    def _next_ready(self) -> Optional[list[Transition]]: ...
    def _wakeup_fd(self) -> int: ...
    def _drain_wakeup(self) -> None: ...
