"""The supported Pythons are stated alike wherever they are stated: requires-python, the trove
classifiers, the interpreters ``make test-pythons`` builds and tests, the README, the error
message of a native module that does not load; and the installed package carries them."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from iqm_runstatus import _model

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ["3.9", "3.10", "3.11", "3.12", "3.13"]
REQUIRES_PYTHON = ">=3.9,<3.14"


def pyproject_value(name: str) -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(rf"^{name} = (.*?)$", text, re.MULTILINE)
    assert match, name
    return match.group(1)


def pyproject_classifiers() -> list[str]:
    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^classifiers = \[(.*?)^\]", text, re.MULTILINE | re.DOTALL)
    assert block
    return re.findall(r'"([^"]+)"', block.group(1))


def version_classifiers(classifiers: list[str]) -> list[str]:
    prefix = "Programming Language :: Python :: 3."
    return [f"3.{c[len(prefix) :]}" for c in classifiers if c.startswith(prefix)]


def test_pyproject_states_the_tested_range() -> None:
    assert pyproject_value("requires-python") == f'"{REQUIRES_PYTHON}"'
    assert version_classifiers(pyproject_classifiers()) == SUPPORTED


def test_the_makefile_tests_every_supported_version() -> None:
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^PYTHONS \?= (.*)$", makefile, re.MULTILINE)
    assert match and match.group(1).split() == SUPPORTED
    assert "not in '<3.14,>=3.9'" in makefile  # pip's refusal, as the check expects it


def test_readme_and_error_message_name_the_range() -> None:
    stated = f"CPython {SUPPORTED[0]} to {SUPPORTED[-1]}"
    assert stated in (ROOT / "README.md").read_text()
    assert _model.SUPPORTED_PYTHONS == stated


def test_this_interpreter_is_in_the_range() -> None:
    assert f"{sys.version_info[0]}.{sys.version_info[1]}" in SUPPORTED


def test_the_installed_distribution_carries_the_metadata() -> None:
    try:
        installed = metadata.metadata("iqm-runstatus")
    except metadata.PackageNotFoundError:
        pytest.skip("not installed as a distribution")
    specifiers = {part.strip() for part in installed["Requires-Python"].split(",")}
    assert specifiers == set(REQUIRES_PYTHON.split(","))
    assert version_classifiers(installed.get_all("Classifier") or []) == SUPPORTED


# The optional readers and Dask: each an extra of the package, with the requirement the tests
# install (requirements-test.txt), so that the two do not drift apart.
EXTRAS = {
    "dask": ["dask", "distributed"],
    "pyarrow": ["pyarrow"],
    "polars": ["polars"],
    "duckdb": ["duckdb"],
}


def test_optional_dependencies_are_extras_tested_as_required() -> None:
    tested = {}
    for line in (ROOT / "requirements-test.txt").read_text().splitlines():
        match = re.match(r"^([a-z][a-z0-9-]*)([<>=!].*)?$", line.strip())
        if match:
            tested[match.group(1)] = line.strip()
    installed = metadata.metadata("iqm-runstatus")
    assert set(EXTRAS) <= set(installed.get_all("Provides-Extra") or [])
    required = installed.get_all("Requires-Dist") or []
    for extra, packages in EXTRAS.items():
        expected = sorted(f"{tested[p]} ; extra == '{extra}'" for p in packages)
        assert sorted(r for r in required if r.endswith(f"extra == '{extra}'")) == expected
