"""patch_iqm_client on clients of other releases than the one installed for the tests.

Each test writes a small stand-in for an iqm-client release into a folder of its own (the
package with that release's `Status`/`RunStatus`, written out here from its source, a
`get_run_status` that parses as that release does, and distribution metadata naming the release)
and runs a script with that folder first on the path, in a fresh interpreter."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

from iqm_runstatus._releases import ENV_VAR
from support.scripts import run_python

# iqm-client 20.17's classes (in models.py), as published.
STATUS_20_17 = '''
class Status(str, Enum):
    """
    Status of a job.
    """

    RECEIVED = 'received'
    PROCESSING = 'processing'
    ACCEPTED = 'accepted'

    PENDING_COMPILATION = 'pending compilation'
    PENDING_EXECUTION = 'pending execution'
    READY = 'ready'
    FAILED = 'failed'
    ABORTED = 'aborted'
    PENDING_DELETION = 'pending deletion'
    DELETION_FAILED = 'deletion failed'
    DELETED = 'deleted'


class RunStatus(BaseModel):
    """Status of a circuit execution job."""

    status: Status = Field(...)
    message: Optional[str] = Field(None)
    warnings: Optional[list[str]] = Field(None)

    @staticmethod
    def from_dict(inp):
        input_copy = inp.copy()
        return RunStatus(status=Status(input_copy.pop('status')), **input_copy)
'''

# iqm-client 29.14.0's (also 28.0.0 to 32.1.1), as published, docstrings left out.
STATUS_29_14 = '''
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
    def _missing_(cls, value):
        if value == "pending execution":
            return cls.PENDING_EXECUTION

    @classmethod
    def terminal_statuses(cls):
        return {cls.READY, cls.FAILED, cls.ABORTED, cls.DELETED, cls.DELETION_FAILED}


class RunStatus(BaseModel):
    """Status of a circuit execution job."""

    status: Status = Field(...)
    message: Optional[str] = Field(None)
    warnings: Optional[list[str]] = Field(None)
'''

CLIENT = """
import json
from iqm.iqm_client.models import RunStatus, Status


class _Response:
    def __init__(self, body):
        self.body = body

    def json(self):
        return json.loads(self.body)


class IQMClient:
    def __init__(self, bodies):
        self.bodies = bodies

    @staticmethod
    def _deserialize_response(response, model_class):
        return model_class.model_validate(response.json())

    def get_run_status(self, job_id):
        response = _Response(self.bodies[job_id])
        return {parse}
"""
FROM_DICT = "RunStatus.from_dict(response.json())"  # up to 22.5
DESERIALIZE = "self._deserialize_response(response, RunStatus)"  # from 22.6


def write_client(root: Path, version: str, status_source: str, parse: str) -> Path:
    package = root / "iqm" / "iqm_client"
    package.mkdir(parents=True)
    (root / "iqm" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(
        "from iqm.iqm_client.iqm_client import *\nfrom iqm.iqm_client.models import *\n"
        f"__version__ = {version!r}\n"
    )
    (package / "models.py").write_text(
        "from enum import Enum\nfrom typing import Optional\n"
        "from pydantic import BaseModel, Field\n" + textwrap.dedent(status_source)
    )
    (package / "iqm_client.py").write_text(textwrap.dedent(CLIENT).replace("{parse}", parse))
    info = root / f"iqm_client-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: iqm-client\nVersion: {version}\n")
    return root


PATCH_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import pydantic
import iqm_runstatus
from iqm_runstatus import RunStatus, Status

import iqm.iqm_client
import iqm.iqm_client.models as models
from iqm.iqm_client.iqm_client import IQMClient

bodies = json.loads(sys.argv[2])
client = IQMClient(bodies)


def outcomes():
    found = {}
    for job in bodies:
        try:
            got = client.get_run_status(job)
        except (pydantic.ValidationError, ValueError, KeyError) as exc:
            found[job] = type(exc).__name__
        else:
            ours = type(got) is RunStatus and type(got.status) is Status
            found[job] = [ours, got.status.value, got.warnings]
    return found


report = {
    "release": iqm_runstatus.CLIENT_RELEASE,
    "source": iqm_runstatus.CLIENT_RELEASE_SOURCE,
    "client_module": iqm.iqm_client.__file__,
    "before": outcomes(),
}
try:
    iqm_runstatus.patch_iqm_client()
except RuntimeError as exc:
    report["refused"] = str(exc)
else:
    report["patched"] = outcomes()
    report["models_patched"] = models.RunStatus is RunStatus and models.Status is Status
    iqm_runstatus.unpatch_iqm_client()
    report["after"] = outcomes()
print(json.dumps(report))
"""

BODIES = {
    "old-spelling": '{"status": "pending execution"}',
    "new-spelling": '{"status": "pending_execution"}',
    "pipeline": '{"status": "validation_started"}',
    "intake": '{"status": "accepted", "warnings": ["w"]}',
    "unknown": '{"status": "nope"}',
    "missing": "{}",
}


def run_patch_script(root: Path, **env: str) -> dict[str, Any]:
    environ = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "IQM_RUNSTATUS_PURE")}
    environ.update(env)
    done = run_python("-c", PATCH_SCRIPT, str(root), json.dumps(BODIES), env=environ, timeout=120)
    report: dict[str, Any] = json.loads(done.stdout)
    print(report)
    assert report["client_module"].startswith(str(root))
    return report


def test_patch_on_a_client_that_parses_with_model_validate(tmp_path: Path) -> None:
    root = write_client(tmp_path, "29.14.0", STATUS_29_14, DESERIALIZE)
    report = run_patch_script(root)
    assert (report["release"], report["source"]) == ("29.14.0", "installed")
    assert "refused" not in report
    assert report["patched"] == {
        "old-spelling": [True, "pending_execution", None],
        "new-spelling": [True, "pending_execution", None],
        "pipeline": [True, "validation_started", None],
        "intake": "ValidationError",
        "unknown": "ValidationError",
        "missing": "ValidationError",
    }
    assert report["models_patched"] is True
    # The client's own classes gave the same answers, and are back after unpatching.
    strip = {job: r[1:] if isinstance(r, list) else r for job, r in report["patched"].items()}
    assert {
        job: r[1:] if isinstance(r, list) else r for job, r in report["before"].items()
    } == strip
    assert report["after"] == report["before"]
    assert all(r[0] is False for r in report["before"].values() if isinstance(r, list))


def test_patch_on_a_client_that_parses_with_from_dict(tmp_path: Path) -> None:
    root = write_client(tmp_path, "20.17", STATUS_20_17, FROM_DICT)
    report = run_patch_script(root)
    assert (report["release"], report["source"]) == ("20.17", "installed")
    assert report["patched"] == {
        "old-spelling": [True, "pending execution", None],
        "new-spelling": "ValueError",
        "pipeline": "ValueError",
        "intake": [True, "accepted", ["w"]],
        "unknown": "ValueError",
        "missing": "KeyError",
    }
    assert report["after"] == report["before"]


def test_a_modified_build_is_refused_naming_both_vocabularies(tmp_path: Path) -> None:
    modified = STATUS_29_14.replace('    UNKNOWN = "unknown"\n', "")
    root = write_client(tmp_path, "29.14.0", modified, DESERIALIZE)
    report = run_patch_script(root)
    message = report["refused"]
    assert "iqm-client 29.14.0 is not supported as installed" in message
    assert "Status has 22 statuses" in message and "23 statuses" in message
    assert "'unknown'" in message
    assert "patched" not in report


def test_a_client_of_another_release_than_the_one_chosen_is_refused(tmp_path: Path) -> None:
    root = write_client(tmp_path, "29.14.0", STATUS_29_14, DESERIALIZE)
    report = run_patch_script(root, **{ENV_VAR: "20.17"})
    assert (report["release"], report["source"]) == ("20.17", "environment")
    message = report["refused"]
    assert "mirrors iqm-client 20.17" in message and "iqm-client 29.14.0 has 23 statuses" in message
    assert "11 statuses" in message and ENV_VAR in message


def test_a_release_outside_the_range_is_refused_and_the_import_works(tmp_path: Path) -> None:
    root = write_client(tmp_path, "33.0.0", STATUS_29_14, DESERIALIZE)
    report = run_patch_script(root)
    assert (report["release"], report["source"]) == ("17.2", "default")
    assert "iqm-client 33.0.0 is not supported" in report["refused"]
    assert "15.0 to 32.1.1" in report["refused"]
