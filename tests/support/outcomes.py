"""What a call did, as a plain structure that compares equal exactly when two calls behaved
alike: :func:`outcome` describes a result (every observable of a ``RunStatus``) or the
exception raised (its exact type, message and the attributes a caller may inspect).

This module imports only pydantic, the package and ``reference_model.py``, not the reference
client, so that scripts run in a fresh interpreter import it too (see ``support.scripts``).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from typing import Any, Callable

import pydantic
import reference_model
from iqm_runstatus import RunStatus, Status

__all__ = [
    "MODEL_CLASSES",
    "attempt",
    "describe_exception",
    "describe_model",
    "describe_value",
    "is_sound",
    "outcome",
    "register_model",
    "squash",
]

MODEL_CLASSES: dict[type, type] = {
    RunStatus: Status,
    reference_model.RunStatus: reference_model.Status,
}
"""Each RunStatus class a result may be, with its own Status class, so that a result can be
checked to hold the right enum (ours for ours, the reference's for the reference)."""


def register_model(run_status: type, status: type) -> None:
    """Adds another RunStatus class (the reference client's) to :data:`MODEL_CLASSES`."""
    MODEL_CLASSES[run_status] = status


_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_LONG = 4000


def squash(text: str) -> str:
    """Object addresses blanked out, long text replaced by its length and digest."""
    if len(text) > _LONG:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return f"<text of {len(text)} chars, sha256 {digest}>"
    return _ADDRESS.sub("0x?", text)


def is_sound(text: str) -> bool:
    """Whether the str's ASCII flag agrees with its characters: a str built with the flag set
    but holding bytes >= 128 compares and hashes like a sound one, yet reads wrongly."""
    return text.isascii() == (max(text, default="\x00") < "\x80")


def describe_value(value: Any) -> Any:
    """A value as a comparable structure that keeps exact types (str vs str subclass, enums);
    a str is checked to be sound (:func:`is_sound`)."""
    if value is None or type(value) in (bool, int):
        return value
    if isinstance(value, enum.Enum):
        return ("enum", type(value).__name__, value.name, describe_value(value.value))
    if type(value) is str:
        if len(value) > _LONG:
            return ("str", squash(value))
        assert is_sound(value), f"a str's ASCII flag does not match its characters: {value!r}"
        return ("str", value)
    if type(value) is float:
        return ("float", repr(value))
    if type(value) is list:
        if len(value) > 1000:
            return ("list", len(value), squash(repr(value)))
        return ("list", [describe_value(item) for item in value])
    if type(value) is dict:
        return ("dict", [(describe_value(k), describe_value(v)) for k, v in value.items()])
    return (type(value).__name__, squash(repr(value)))


def attempt(fn: Callable[[], Any]) -> Any:
    """``fn()``, or a description of the exception it raised."""
    try:
        return fn()
    except Exception as exc:
        return ("raised", type(exc).__name__, squash(str(exc)))


def _is_large(result: Any) -> bool:
    """Whether the instance holds megabytes of text (then derived views are not re-hashed)."""
    size = len(result.message) if isinstance(result.message, str) else 0
    if isinstance(result.warnings, list):
        size += sum(len(w) for w in result.warnings if isinstance(w, str))
    return size > 100 * _LONG


def describe_model(result: Any) -> dict[str, Any]:
    """Everything observable about a RunStatus instance, comparable across the two packages.

    For instances holding megabytes of text, repr() and model_dump() are left out: pydantic
    derives them from the fields compared here, and hashing each view would be slow.
    """
    cls = type(result)
    if cls not in MODEL_CLASSES:
        return {"not a RunStatus": (cls.__module__, cls.__qualname__, squash(repr(result)))}
    description = {
        "class": cls.__name__,
        "dict_keys": list(result.__dict__),
        "status": describe_value(result.status),
        "status_is_own_enum": type(result.status) is MODEL_CLASSES[cls],
        "message": describe_value(result.message),
        "warnings": describe_value(result.warnings),
        "fields_set": sorted(result.model_fields_set),
        "fields_set_type": type(result.__pydantic_fields_set__).__name__,
        "extra": result.__pydantic_extra__,
        "private": result.__pydantic_private__,
        "dump_json": attempt(lambda: squash(result.model_dump_json())),
    }
    if not _is_large(result):
        description.update(
            {
                "repr": squash(repr(result)),
                "dump": describe_value(result.model_dump()),
                "dump_exclude_unset": describe_value(result.model_dump(exclude_unset=True)),
                "dump_json_mode": attempt(lambda: describe_value(result.model_dump(mode="json"))),
            }
        )
    return description


def normalize_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's ``errors()`` without 'url', with input and ctx values compared by repr."""
    normalized = []
    for error in errors:
        item = {}
        for key, value in error.items():
            if key == "url":
                continue
            if key == "input":
                value = squash(repr(value))
            elif key == "ctx":
                value = {k: squash(repr(v)) for k, v in value.items()}
            item[key] = value
        normalized.append(item)
    return normalized


def describe_exception(exc: BaseException) -> tuple[Any, ...]:
    """The exception's exact type, message and the attributes a caller may inspect."""
    cls = type(exc)
    kind = f"{cls.__module__}.{cls.__qualname__}"
    details: Any = squash(repr(exc.args))
    if isinstance(exc, pydantic.ValidationError):
        details = (exc.title, exc.error_count(), normalize_errors(exc.errors()))
    elif isinstance(exc, json.JSONDecodeError):
        details = (exc.msg, exc.pos, exc.lineno, exc.colno, squash(exc.doc))
    elif isinstance(exc, UnicodeDecodeError):
        details = (exc.encoding, exc.reason, exc.start, exc.end, len(exc.object))
    return (kind, squash(str(exc)), details)


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """``('ok', description)`` of ``fn(*args)``, or ``('err', type, str, details)``.

    ``fn`` is the first thing called, so a collection armed just before ``outcome`` runs inside
    ``fn`` (the hostile-caller scripts rely on it, and check it).
    """
    try:
        result = fn(*args)
    except Exception as exc:
        return ("err", *describe_exception(exc))
    return ("ok", describe_model(result))
