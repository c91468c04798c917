"""What a pair of `RunStatus`/`Status` classes does, as one comparable JSON-able description:
the enum's members, docstring and hooks, the model's schema, and the outcome of every entry
point on payloads that tell the releases apart. Used on the package's own classes in a fresh
interpreter (``IQM_RUNSTATUS_CLIENT_RELEASE`` set) and on `models_for_release`'s in process."""

from __future__ import annotations

import json
import pickle
from typing import Any, Callable

import pydantic

__all__ = ["PAYLOADS", "STATUS_PROBES", "describe", "outcome"]

# Status values of several releases, the old spelling 27.1.0 on maps, and values no release has.
STATUS_PROBES: tuple[Any, ...] = (
    "pending compilation",
    "pending_compilation",
    "pending execution",
    "pending_execution",
    "execution_pending",
    "received",
    "compiled",
    "unknown",
    "validation_started",
    "post_processing_pending",
    "ready",
    "failed",
    "aborted",
    "deleted",
    "READY",
    "nope",
    5,
    None,
)

PAYLOADS: tuple[Any, ...] = (
    *({"status": value} for value in STATUS_PROBES),
    {},
    {"message": "m"},
    {"status": "ready", "message": 3},
    {"status": "failed", "message": "m", "warnings": ["w"], "extra": 1},
    {"status": "pending execution", "warnings": None},
    [],
    "ready",
)


def outcome(call: Callable[..., Any], *args: Any) -> Any:
    """A call's result (dumped, with its fields set and the status member's class and name) or
    its exception (type and message; a validation error's ``errors()``)."""
    try:
        result = call(*args)
    except pydantic.ValidationError as exc:
        return ["ValidationError", json.loads(exc.json(include_url=False))]
    except Exception as exc:
        return [type(exc).__name__, str(exc)]
    return [
        "ok",
        result.model_dump(mode="json"),
        sorted(result.model_fields_set),
        type(result.status).__name__,
        result.status.name,
    ]


def describe(run_status: Any, status: Any) -> dict[str, Any]:
    """The behaviour of the two classes, JSON-able."""
    terminal = (
        sorted(member.value for member in status.terminal_statuses())
        if hasattr(status, "terminal_statuses")
        else None
    )
    entry_points: dict[str, Callable[[Any], Any]] = {
        "from_dict": run_status.from_dict,
        "model_validate": run_status.model_validate,
    }
    raw_entry_points: dict[str, Callable[[Any], Any]] = {
        "from_json": run_status.from_json,
        "model_validate_json": run_status.model_validate_json,
    }
    report: dict[str, Any] = {
        "members": [[member.name, member.value] for member in status],
        "doc": status.__doc__,
        "has_missing": "_missing_" in status.__dict__,
        "terminal_statuses": terminal,
        "enum": {
            repr(value): outcome(lambda v: run_status(status=status(v)), value)
            for value in STATUS_PROBES
        },
        "schema": run_status.model_json_schema(),
        "fields": repr(run_status.model_fields),
        "config": dict(run_status.model_config),
    }
    for name, call in entry_points.items():
        report[name] = [outcome(call, payload) for payload in PAYLOADS]
    for name, call in raw_entry_points.items():
        report[name] = [outcome(call, json.dumps(payload)) for payload in PAYLOADS]
    return report


def pickles(value: Any) -> bool:
    """Whether ``value`` survives a pickle round trip as an equal object of the same class."""
    try:
        copy = pickle.loads(pickle.dumps(value))
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return bool(copy == value and type(copy) is type(value))
