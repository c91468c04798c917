"""Scripts run in a fresh interpreter (so that a crash fails its test instead of ending pytest,
and a peak RSS or an import-time setting is the script's own), and the finalizer the
hostile-caller scripts arm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Optional

__all__ = [
    "IMPORT_SUPPORT",
    "TESTS_DIR",
    "OnCollect",
    "call_in_fresh_interpreter",
    "run_python",
    "run_reporting_script",
]

TESTS_DIR = Path(__file__).resolve().parent.parent

IMPORT_SUPPORT = f"import sys\nsys.path.insert(0, {str(TESTS_DIR)!r})\n"
"""The lines a script starts with to import the support package as the tests do."""


def run_python(
    *args: str,
    env: Optional[dict[str, str]] = None,
    cwd: Any = None,
    text: bool = True,
    timeout: Optional[float] = None,
    returncode: Optional[int] = 0,
    **io: Any,
) -> subprocess.CompletedProcess[Any]:
    """Runs this interpreter with ``args`` in a fresh process, output captured (``io`` passes
    ``input=`` or ``stdin=`` on), and checks that it exits with ``returncode`` (``None``: any
    code); a failure shows the ends of its stdout and stderr."""
    proc = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=text,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
        **io,
    )
    if returncode is not None:
        assert proc.returncode == returncode, _ends(proc)
    return proc


def call_in_fresh_interpreter(module: str, function: str, *args: Any, timeout: float = 300) -> None:
    """Calls ``module.function(*args)`` (a test module's function, its arguments written by
    ``repr``) in a fresh interpreter, which fails the test if it raises or outlives ``timeout``.

    For tests that fork: ``fork`` copies only the calling thread, and by the time such a test
    runs, pytest's process may hold the thread pools other modules' libraries started (the
    Arrow readers', say), whose locks a child could inherit held. A fresh interpreter has only
    the threads the test starts."""
    script = f"{IMPORT_SUPPORT}import {module}\n{module}.{function}(*{args!r})\n"
    run_python("-c", script, cwd=TESTS_DIR, timeout=timeout)


def _ends(proc: subprocess.CompletedProcess[Any]) -> str:
    def end(output: Any, size: int) -> str:
        text = output.decode(errors="replace") if isinstance(output, bytes) else output or ""
        return text[-size:]

    return (
        f"exit code {proc.returncode}\n--- stdout:\n{end(proc.stdout, 3000)}"
        f"\n--- stderr:\n{end(proc.stderr, 5000)}"
    )


def run_reporting_script(
    script: str, *, env: Optional[dict[str, str]] = None, cwd: Any = None
) -> dict[str, Any]:
    """Runs ``script`` in a fresh interpreter and returns the JSON object it prints."""
    report: dict[str, Any] = json.loads(run_python("-c", script, env=env, cwd=cwd).stdout)
    print(report)
    return report


class OnCollect:
    """An object in a cycle, freed only by the collector, whose finalizer runs ``action``: the
    finalizer then runs inside whichever allocation triggers the next collection."""

    def __init__(self, action: Callable[[], Any]) -> None:
        self.action = action
        self.cycle = self

    def __del__(self) -> None:
        self.action()
