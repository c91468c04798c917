"""The reference every differential test compares with, and the oracle for each entry point.

The reference is iqm-client 17.2's ``RunStatus``/``Status``. It installs on CPython 3.9 to 3.11
only. Elsewhere the tests run with ``IQM_RUNSTATUS_ORACLE=pure``: the single-payload entry
points are compared with the package's pure path (``pure_from_dict``, ``pure_from_json`` and
pydantic's own validation), and the classes with 17.2's copied into ``reference_model.py``;
``test_oracles.py`` checks both against the release where it installs.

``make test-clients`` runs with ``IQM_RUNSTATUS_ORACLE=installed``: the reference is whichever
iqm-client release is installed (15.0 to 32.1.1), through the entry points that release has.
Its ``from_json`` means what that client does with a status body, ``from_dict(json.loads(raw))``
while its ``RunStatus`` has ``from_dict`` and ``model_validate(json.loads(raw))`` after; ours
keeps ``from_dict`` on every release, meaning the seed's code on that release's classes.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from typing import Any, Callable, Optional

import reference_model
from iqm_runstatus import RunStatus, pure_from_dict, pure_from_json

from support.outcomes import register_model

__all__ = [
    "CLIENT_VERSION",
    "FIELD_NAMES",
    "ORACLE",
    "STATUS_VALUES",
    "RefRunStatus",
    "RefStatus",
    "documented_from_json",
    "oracle_from_dict",
    "oracle_from_json",
    "oracle_model_validate",
    "oracle_model_validate_json",
    "pydantic_validate_json",
    "pydantic_validate_python",
    "ref_from_json",
    "seed_from_dict",
    "validated_from_json",
]

ORACLE = os.environ.get("IQM_RUNSTATUS_ORACLE", "reference")
"""``reference``: iqm-client 17.2 itself; ``installed``: the iqm-client release installed;
``pure``: the pure path and ``reference_model.py``."""

if ORACLE == "installed":
    try:
        # Every release of the line exports both from the package.
        from iqm.iqm_client import RunStatus as RefRunStatus
        from iqm.iqm_client import Status as RefStatus
    except ImportError as exc:
        raise ImportError(
            "IQM_RUNSTATUS_ORACLE=installed compares with the installed iqm-client, and "
            "iqm.iqm_client.RunStatus does not import"
        ) from exc
elif ORACLE == "reference":
    try:
        from iqm.iqm_client.iqm_client import RunStatus as RefRunStatus
        from iqm.iqm_client.iqm_client import Status as RefStatus
    except ImportError as exc:
        raise ImportError(
            "the differential tests compare with iqm-client 17.2, which is not installed; "
            "where it cannot be (CPython 3.12 on), run them with IQM_RUNSTATUS_ORACLE=pure"
        ) from exc
elif ORACLE == "pure":
    RefRunStatus, RefStatus = reference_model.RunStatus, reference_model.Status
else:
    raise ValueError(
        f"IQM_RUNSTATUS_ORACLE must be 'reference', 'installed' or 'pure', not {ORACLE!r}"
    )

register_model(RefRunStatus, RefStatus)

FIELD_NAMES = ("status", "message", "warnings")
STATUS_VALUES = [member.value for member in RefStatus]


def _client_version() -> Optional[str]:
    try:
        return metadata.version("iqm-client")
    except metadata.PackageNotFoundError:
        return None


CLIENT_VERSION = None if ORACLE == "pure" else _client_version()
"""The installed iqm-client release the reference classes come from, from its metadata."""


def documented_from_json(raw: Any, from_dict: Callable[[dict], Any]) -> Any:
    """The documented meaning of ``RunStatus.from_json`` on a given ``from_dict``:
    ``from_dict(json.loads(raw))``, with a memoryview read as bytes and a top-level JSON value
    that is not an object rejected with TypeError."""
    if isinstance(raw, memoryview):
        raw = bytes(raw)
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise TypeError(
            f"a job status must be a JSON object at the top level, not {type(value).__name__}"
        )
    return from_dict(value)


def ref_from_json(raw: Any) -> RefRunStatus:
    """The documented meaning of ``RunStatus.from_json``, built on the reference."""
    return documented_from_json(raw, RefRunStatus.from_dict)


def seed_from_dict(inp: Any) -> Any:
    """The seed's ``RunStatus.from_dict`` (17.2's code) on the reference's classes: the meaning
    our ``from_dict`` keeps on releases whose ``RunStatus`` no longer has one (22.6 on)."""
    input_copy = inp.copy()
    return RefRunStatus(status=RefStatus(input_copy.pop("status")), **input_copy)


def validated_from_json(raw: Any) -> Any:
    """``RunStatus.from_json``'s meaning on releases without ``from_dict``, as their client
    parses a status body: ``model_validate(json.loads(raw))``, a memoryview read as bytes."""
    if isinstance(raw, memoryview):
        raw = bytes(raw)
    return RefRunStatus.model_validate(json.loads(raw))


def pydantic_validate_python(obj: Any) -> RunStatus:
    """pydantic's own ``model_validate`` on the package's model, past its fast path."""
    return super(RunStatus, RunStatus).model_validate(obj)


def pydantic_validate_json(json_data: Any) -> RunStatus:
    """pydantic's own ``model_validate_json`` on the package's model, past its fast path."""
    return super(RunStatus, RunStatus).model_validate_json(json_data)


# What each entry point is compared with in the differential tests.
oracle_from_dict: Callable[[Any], Any]
oracle_from_json: Callable[[Any], Any]
oracle_model_validate: Callable[[Any], Any]
oracle_model_validate_json: Callable[[Any], Any]
if ORACLE == "installed" and not hasattr(RefRunStatus, "from_dict"):
    oracle_from_dict = seed_from_dict
    oracle_from_json = validated_from_json
    oracle_model_validate = RefRunStatus.model_validate
    oracle_model_validate_json = RefRunStatus.model_validate_json
elif ORACLE in ("reference", "installed"):
    oracle_from_dict = RefRunStatus.from_dict
    oracle_from_json = ref_from_json
    oracle_model_validate = RefRunStatus.model_validate
    oracle_model_validate_json = RefRunStatus.model_validate_json
else:
    oracle_from_dict = pure_from_dict
    oracle_from_json = pure_from_json
    oracle_model_validate = pydantic_validate_python
    oracle_model_validate_json = pydantic_validate_json
