"""Many payloads at once: `parse_many` and its error type, on top of the native `StatusBatch`.

The batch tools always use the Rust core (``IQM_RUNSTATUS_PURE`` does not apply to them); each
entry still equals ``RunStatus.from_json`` of its payload, exceptions included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Optional, Union

from . import _model
from ._model import RunStatus

try:
    from ._core import StatusBatch
except ImportError as exc:
    raise _model.native_import_error(exc) from exc

_model.ensure_native()
# The native class implements the sequence protocol (index, count, in, reversed); registering
# it makes isinstance(batch, Sequence) hold.
Sequence.register(StatusBatch)

__all__ = ["PayloadError", "parse_many"]


class PayloadError(ValueError):
    """A payload of `parse_many` was rejected.

    ``index`` is its position; the exception ``RunStatus.from_json`` raised for it (a
    ``json.JSONDecodeError``, ``KeyError``, ``TypeError``, ``ValueError`` or
    ``pydantic.ValidationError``) is chained as ``__cause__``. One type for every cause, so that
    the position is always there; catch ``ValueError`` or this class.
    """

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index

    def __reduce__(self) -> tuple[type[PayloadError], tuple[str, int]]:
        return (type(self), (str(self.args[0]), self.index))


def parse_many(
    payloads: Iterable[Union[bytes, bytearray, memoryview, str]], *, threads: Optional[int] = None
) -> list[RunStatus]:
    """Parses many job statuses: ``[RunStatus.from_json(p) for p in payloads]``, in Rust.

    Args:
        payloads: JSON documents, each ``bytes``, ``bytearray``, ``memoryview`` or ``str``
        threads: how many threads parse at most; all cores if ``None``

    Returns:
        one ``RunStatus`` per payload, in order

    Raises:
        PayloadError: the first rejected payload, with its ``index``; the original exception
            is its ``__cause__``
    """
    batch = StatusBatch.from_payloads(payloads, threads=threads)
    errors = batch.errors
    if errors:
        index, type_name, message = errors[0]
        try:
            batch[index]
        except Exception as exc:
            raise PayloadError(f"payload {index}: {type_name}: {message}", index) from exc
    return batch.to_list()
