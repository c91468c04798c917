"""When the native module does not load (a build for another interpreter, a damaged file),
``import iqm_runstatus`` fails at once with an ImportError that says so and names the way out,
``IQM_RUNSTATUS_PURE=1``; it never leaves a half-imported package behind.

Each case runs in a fresh interpreter on a copy of the installed package whose ``_core``
extension has been moved or damaged.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

import iqm_runstatus
import pytest
from support.scripts import run_reporting_script

_core = pytest.importorskip("iqm_runstatus._core")

REPORT = """
import json, sys
report = {}
try:
    import iqm_runstatus
    from iqm_runstatus import RunStatus
    report["native"] = iqm_runstatus.NATIVE
    report["parsed"] = RunStatus.from_json(b'{"status": "ready"}').status.value
    report["from"] = iqm_runstatus.__file__
    from iqm_runstatus import StatusBatch
    report["batch"] = "loaded"
except ImportError as exc:
    report["error"] = type(exc).__name__
    report["message"] = str(exc)
    report["name"] = exc.name
    report["cause"] = type(exc.__cause__).__name__
report["modules_left"] = sorted(m for m in sys.modules if m.startswith("iqm_runstatus"))
print(json.dumps(report))
"""


def package_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the installed package in its own directory, and its native extension."""
    site = tmp_path / "site"
    shutil.copytree(
        Path(iqm_runstatus.__file__).parent,
        site / "iqm_runstatus",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return site, site / "iqm_runstatus" / Path(_core.__file__).name


def run_on(site: Path, pure: bool = False) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("IQM_RUNSTATUS_PURE", None)
    if pure:
        env["IQM_RUNSTATUS_PURE"] = "1"
    report = run_reporting_script(REPORT, env=env, cwd=str(site))
    return report


def other_version_name(core: Path) -> str:
    """The extension's file name as a build for the next CPython version would have it."""
    this = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    other = f"cpython-{sys.version_info[0]}{sys.version_info[1] + 1}"
    assert this in core.name, core.name
    return core.name.replace(this, other)


def assert_clear_import_error(report: dict[str, Any]) -> None:
    assert report["error"] == "ImportError", report
    message = report["message"]
    assert "iqm_runstatus._core could not be loaded" in message
    assert "CPython 3.9 to 3.13" in message
    assert "IQM_RUNSTATUS_PURE=1" in message
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in message
    assert report["name"] == "iqm_runstatus._core"
    assert report["cause"] in ("ImportError", "ModuleNotFoundError")


def test_the_copy_imports_as_installed(tmp_path: Path) -> None:
    """Guards the cases below: unchanged, the copy is what gets imported, and works."""
    site, _ = package_copy(tmp_path)
    report = run_on(site)
    assert report["native"] is True and report["batch"] == "loaded", report
    assert report["from"] == str(site / "iqm_runstatus" / "__init__.py")


def test_a_build_for_another_python_is_an_import_error(tmp_path: Path) -> None:
    """Only an extension built for another version is there: the import fails, fully."""
    site, core = package_copy(tmp_path)
    core.rename(core.with_name(other_version_name(core)))
    report = run_on(site)
    assert_clear_import_error(report)
    assert report["cause"] == "ModuleNotFoundError"
    assert report["modules_left"] == []


def test_a_damaged_extension_is_an_import_error(tmp_path: Path) -> None:
    """A file under the right name that the loader refuses: the same clear error."""
    site, core = package_copy(tmp_path)
    core.write_bytes(b"\x7fELF not really" + bytes(64))
    report = run_on(site)
    assert_clear_import_error(report)
    assert report["modules_left"] == []


def foreign_wheels() -> list[Path]:
    """The wheels for other Python versions in IQM_RUNSTATUS_DIST (``make test-pythons`` sets it
    to dist/, which holds one for each supported version)."""
    dist = os.environ.get("IQM_RUNSTATUS_DIST")
    if not dist:
        return []
    this = f"-cp{sys.version_info[0]}{sys.version_info[1]}-"
    return sorted(wheel for wheel in Path(dist).glob("*.whl") if this not in wheel.name)


@pytest.mark.skipif(not foreign_wheels(), reason="needs IQM_RUNSTATUS_DIST with other wheels")
@pytest.mark.parametrize("wheel", foreign_wheels(), ids=lambda wheel: wheel.name.split("-")[2])
def test_a_build_for_another_python_under_this_name_is_refused(tmp_path: Path, wheel: Path) -> None:
    """Another version's extension renamed to load here would read another version's
    structures: the loader refuses it (a symbol this version lacks), or it refuses to start,
    naming both versions. Either way the clear ImportError, and no half-imported package."""
    site, core = package_copy(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [
            name
            for name in archive.namelist()
            if name.startswith("iqm_runstatus/_core.") and not name.endswith(".pyi")
        ]
        core.write_bytes(archive.read(member))
    report = run_on(site)
    assert_clear_import_error(report)
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    built_for = wheel.name.split("-")[2].replace("cp3", "3.")
    refused = f"was built for Python {built_for} and cannot run on Python {running}"
    assert refused in report["message"] or "undefined symbol" in report["message"], report
    assert report["modules_left"] == []


def test_pure_mode_works_without_the_extension(tmp_path: Path) -> None:
    """With IQM_RUNSTATUS_PURE=1 the single-payload API works without the extension; a batch
    tool, which needs it, raises the same clear ImportError when it is asked for."""
    site, core = package_copy(tmp_path)
    core.unlink()
    report = run_on(site, pure=True)
    assert report["native"] is False
    assert report["parsed"] == "ready"
    assert_clear_import_error(report)
    assert "batch" not in report


@pytest.mark.parametrize(
    "name", ["StatusBatch", "parse_many", "JobTracker", "PayloadError", "ArrowSnapshot"]
)
def test_every_batch_tool_names_the_cause_in_pure_mode(tmp_path: Path, name: str) -> None:
    site, core = package_copy(tmp_path)
    core.unlink()
    script = (
        "import json, iqm_runstatus\n"
        "try:\n"
        f"    getattr(iqm_runstatus, {name!r})\n"
        "    print(json.dumps({'loaded': True}))\n"
        "except ImportError as exc:\n"
        "    print(json.dumps({'message': str(exc)}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "IQM_RUNSTATUS_PURE": "1"}
    report = run_reporting_script(script, env=env, cwd=str(site))
    assert "IQM_RUNSTATUS_PURE=1" in report["message"], json.dumps(report)
