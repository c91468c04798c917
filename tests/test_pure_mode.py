"""IQM_RUNSTATUS_PURE=1 switches to the pure-Python path, which gives identical results.

Each test runs a small script in a fresh interpreter (the flag is read at import time) and
compares what it reports with what this process computes, native or not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import iqm_runstatus
import pytest
from iqm_runstatus import RunStatus
from support.json_text import EDGE_DOCUMENTS
from support.outcomes import outcome
from support.scripts import run_python

TESTS_DIR = Path(__file__).resolve().parent
# The directory that holds the imported package, so the child imports the very same copy.
PACKAGE_PARENT = Path(iqm_runstatus.__file__).resolve().parent.parent

DICT_PAYLOADS: list[Any] = [
    {"status": "ready"},
    {"status": "failed", "message": "boom \u00e9\U0001f600", "warnings": ["a", "b"]},
    {"status": "aborted", "message": None, "warnings": None, "extra": [1, {"x": None}]},
    {"status": "pending compilation", "warnings": []},
    {"status": "pending execution", "message": "\ud800"},
    {"message": "no status"},
    {"status": "READY"},
    {"status": 1},
    {"status": "ready", "message": 1, "warnings": [2]},
    {"status": "ready", 1: 2},
    [],
    None,
]

JSON_DOCUMENTS: list[str | bytes] = list(EDGE_DOCUMENTS.values())

CHILD_SCRIPT = """
import json, pickle, sys
sys.path.insert(0, sys.argv[1])
from support.outcomes import outcome
import iqm_runstatus
from iqm_runstatus import RunStatus

dict_payloads, json_documents = pickle.load(sys.stdin.buffer)
report = {
    "native": iqm_runstatus.NATIVE,
    "core_loaded": "iqm_runstatus._core" in sys.modules,
    "from_dict": [repr(outcome(RunStatus.from_dict, p)) for p in dict_payloads],
    "model_validate": [repr(outcome(RunStatus.model_validate, p)) for p in dict_payloads],
    "from_json": [repr(outcome(RunStatus.from_json, d)) for d in json_documents],
    "model_validate_json": [
        repr(outcome(RunStatus.model_validate_json, d)) for d in json_documents
    ],
}
sys.stdout.write(json.dumps(report))
"""


def run_child(pure_value: str | None) -> dict[str, Any]:
    """Runs CHILD_SCRIPT with IQM_RUNSTATUS_PURE set to ``pure_value`` (or unset)."""
    import pickle

    env = dict(os.environ)
    env.pop("IQM_RUNSTATUS_PURE", None)
    if pure_value is not None:
        env["IQM_RUNSTATUS_PURE"] = pure_value
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_PARENT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    completed = run_python(
        "-c",
        CHILD_SCRIPT,
        str(TESTS_DIR),
        input=pickle.dumps((DICT_PAYLOADS, JSON_DOCUMENTS)),
        text=False,
        env=env,
        cwd=TESTS_DIR,
    )
    return json.loads(completed.stdout)  # type: ignore[no-any-return]


def local_report() -> dict[str, Any]:
    """The same report computed in this process."""
    return {
        "from_dict": [repr(outcome(RunStatus.from_dict, p)) for p in DICT_PAYLOADS],
        "model_validate": [repr(outcome(RunStatus.model_validate, p)) for p in DICT_PAYLOADS],
        "from_json": [repr(outcome(RunStatus.from_json, d)) for d in JSON_DOCUMENTS],
        "model_validate_json": [
            repr(outcome(RunStatus.model_validate_json, d)) for d in JSON_DOCUMENTS
        ],
    }


@pytest.fixture(scope="module")
def pure_child() -> dict[str, Any]:
    return run_child("1")


def test_pure_flag_turns_native_off(pure_child: dict[str, Any]) -> None:
    """With IQM_RUNSTATUS_PURE=1 the package reports NATIVE False and never loads the core."""
    assert pure_child["native"] is False
    assert pure_child["core_loaded"] is False


ENTRIES = ["from_dict", "model_validate", "from_json", "model_validate_json"]


@pytest.mark.parametrize("entry", ENTRIES)
def test_pure_results_equal_this_process(pure_child: dict[str, Any], entry: str) -> None:
    """The pure path's results and exceptions equal this process's, payload by payload."""
    local = local_report()[entry]
    assert len(pure_child[entry]) == len(local)
    for child_result, local_result in zip(pure_child[entry], local):
        assert child_result == local_result


@pytest.mark.parametrize("value", ["true", " YES ", "1 "])
def test_pure_flag_spellings(value: str) -> None:
    """The flag is read case-insensitively and ignores surrounding whitespace."""
    assert run_child(value)["native"] is False


@pytest.mark.skipif(not iqm_runstatus.NATIVE, reason="the native core is not in use here")
def test_native_child_uses_core() -> None:
    """Without the flag (and with the core built) the child runs natively with equal results."""
    report = run_child(None)
    assert report["native"] is True
    assert report["core_loaded"] is True
    local = local_report()
    for entry in local:
        assert report[entry] == local[entry]
