"""The public types: user code passes ``mypy --strict``, and the native stub matches the module."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.scripts import run_python

pytest.importorskip("mypy")

ROOT = Path(__file__).resolve().parent.parent
USER_CODE = ROOT / "tests" / "typing" / "user_code.py"


# mypy and stubtest check from a cold cache: minutes on a loaded machine (`make lint` runs
# them too).
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_user_code_passes_mypy_strict(tmp_path: Path) -> None:
    # From the project root, so that mypy reads the project's configuration; the package
    # itself resolves to the installed copy (there is no iqm_runstatus directory at the root).
    run_python(
        "-m",
        "mypy",
        "--strict",
        "--cache-dir",
        str(tmp_path / "cache"),
        str(USER_CODE),
        cwd=ROOT,
        timeout=600,
    )


@pytest.mark.slow  # a fresh interpreter importing every public type
@pytest.mark.timeout(900)  # the script it starts has 600 s
def test_user_code_runs(tmp_path: Path) -> None:
    # The sample is real code: its assertions hold at run time too.
    run_python(str(USER_CODE), cwd=tmp_path, timeout=600)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_native_stub_matches_the_module(tmp_path: Path) -> None:
    pytest.importorskip("iqm_runstatus._core")
    # From an empty directory: stubtest imports the built module from the environment.
    run_python(
        "-m",
        "mypy.stubtest",
        "--mypy-config-file",
        str(ROOT / "pyproject.toml"),
        "iqm_runstatus._core",
        cwd=tmp_path,
        timeout=600,
    )
