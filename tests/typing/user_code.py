"""User code that must type-check under ``mypy --strict`` against the installed package.

Each ``assert_type`` pins a public type; each ``type: ignore[...]`` marks a call the types must
reject (``--strict`` reports an ignore that is no longer needed, so a loosened type fails too).
The module also runs: the test suite executes it.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Optional

import iqm_runstatus
from iqm_runstatus import (
    NATIVE,
    ArrowSnapshot,
    RunStatus,
    Status,
    StatusBatch,
    iqm_client_patched,
    patch_iqm_client,
    patched_iqm_client,
    pure_from_dict,
    pure_from_json,
    unpatch_iqm_client,
)
from iqm_runstatus.dask import ArchiveCounts, InvalidLine, count_ndjson
from typing_extensions import assert_type

RAW = b'{"status": "failed", "message": "timeout", "warnings": ["w"]}'


def fields(status: RunStatus) -> tuple[Status, Optional[str], Optional[list[str]]]:
    assert_type(status.status, Status)
    assert_type(status.message, Optional[str])
    assert_type(status.warnings, Optional[list[str]])
    return status.status, status.message, status.warnings


def entry_points(body: Any) -> list[RunStatus]:
    parsed = [
        assert_type(RunStatus.from_dict({"status": "ready"}), RunStatus),
        assert_type(RunStatus.from_dict(inp={"status": "ready", "message": "m"}), RunStatus),
        # As from `response.json()`, which is Any.
        assert_type(RunStatus.from_dict(body), RunStatus),
        assert_type(RunStatus.from_json(RAW), RunStatus),
        assert_type(RunStatus.from_json(bytearray(RAW)), RunStatus),
        assert_type(RunStatus.from_json(memoryview(RAW)), RunStatus),
        assert_type(RunStatus.from_json(RAW.decode()), RunStatus),
        assert_type(RunStatus.model_validate({"status": "aborted"}), RunStatus),
        assert_type(RunStatus.model_validate_json(RAW), RunStatus),
        assert_type(RunStatus.model_validate_json(RAW.decode()), RunStatus),
        assert_type(pure_from_dict({"status": "ready"}), RunStatus),
        assert_type(pure_from_json(RAW), RunStatus),
        assert_type(RunStatus(status=Status.READY, warnings=["w"]), RunStatus),
    ]
    return parsed


def statuses() -> list[Status]:
    members: list[Status] = [
        Status.PENDING_COMPILATION,
        Status.PENDING_EXECUTION,
        Status.READY,
        Status.FAILED,
        Status.ABORTED,
    ]
    assert_type(Status("ready"), Status)
    value: str = Status.READY.value
    assert value == "ready"
    # A str enum: usable wherever a str is expected.
    text: str = Status.FAILED
    assert text == "failed"
    return members


def patching() -> bool:
    patch_iqm_client()
    assert_type(iqm_client_patched(), bool)
    unpatch_iqm_client()
    with patched_iqm_client():
        inside = iqm_client_patched()
    return inside


def analytics(path: str) -> int:
    batch = StatusBatch.from_ndjson(RAW + b"\n")
    assert_type(batch.to_arrow(), ArrowSnapshot)
    assert len(batch.to_arrow()) == 1
    archive = assert_type(count_ndjson(path, blocksize="1 MiB", scheduler="sync"), ArchiveCounts)
    assert_type(archive.counts, dict[Status, int])
    assert_type(archive.invalid_lines, list[InvalidLine])
    return archive.counts[Status.FAILED]


def rejected() -> None:
    # Wrong input types the stubs must keep rejecting.
    try:
        RunStatus.from_json(1)  # type: ignore[arg-type]
    except TypeError:
        pass
    try:
        RunStatus.from_dict(["status", "ready"])  # type: ignore[arg-type]
    except (AttributeError, TypeError):
        pass
    try:
        RunStatus.model_validate_json(memoryview(RAW))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    status = RunStatus.from_json(RAW)
    status.status = "ready"  # type: ignore[assignment]
    _: int = status.message  # type: ignore[assignment]


def main() -> None:
    assert_type(NATIVE, bool)
    assert_type(iqm_runstatus.__version__, str)
    parsed = entry_points(json.loads(b'{"status": "ready"}'))
    assert all(isinstance(item, RunStatus) for item in parsed)
    assert fields(parsed[3]) == (Status.FAILED, "timeout", ["w"])
    assert len(statuses()) == len(Status)
    rejected()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "statuses.ndjson")
        with open(path, "wb") as out:
            out.write(RAW + b"\n")
        assert analytics(path) == 1


if __name__ == "__main__":
    main()
