"""`make run` and `make test` take `PYTHON=`, and stop at once, saying why, for an interpreter
that cannot run them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or not (ROOT / "Makefile").exists(), reason="needs make"
)


def make(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def interpreter(version: str) -> str | None:
    found = shutil.which(f"python{version}")
    prefix = (
        subprocess.run(
            ["pyenv", "prefix", version], capture_output=True, text=True, check=False
        ).stdout.strip()
        if shutil.which("pyenv")
        else ""
    )
    candidate = Path(prefix) / "bin" / f"python{version}"
    return str(candidate) if prefix and candidate.exists() else found


def test_an_interpreter_that_does_not_run() -> None:
    for target in ("run", "test"):
        result = make(target, "PYTHON=no-such-python")
        assert result.returncode != 0
        assert "PYTHON=no-such-python does not run: name a CPython 3.9 to 3.13" in result.stderr


def test_an_unsupported_interpreter() -> None:
    python = interpreter("3.8")
    if python is None:
        pytest.skip("no Python 3.8 here")
    result = make("run", f"PYTHON={python}")
    assert result.returncode != 0
    assert "is Python 3.8; iqm_runstatus supports CPython 3.9 to 3.13" in result.stderr


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_make_test_needs_an_interpreter_the_reference_installs_on(version: str) -> None:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} here")
    result = make("test", f"PYTHON={python}")
    assert result.returncode != 0
    assert f"is Python {version}, where iqm-client 17.2" in result.stderr
    assert "make test needs CPython 3.9 to 3.11" in result.stderr
    # It stopped before making a virtualenv from that interpreter.
    assert not (ROOT / ".venv" / f".installed-{version}").exists()
