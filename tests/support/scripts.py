"""Scripts run in a fresh interpreter, and the finalizer the hostile-caller scripts arm."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

__all__ = ["ON_COLLECT", "run_reporting_script"]


def run_reporting_script(
    script: str, *, env: dict[str, str] | None = None, cwd: str | None = None
) -> dict[str, Any]:
    """Runs ``script`` in a fresh interpreter (so its peak RSS is its own, and a crash is not
    the test run's) and returns the JSON object it prints."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    print(report)
    return report


ON_COLLECT = """
class OnCollect:
    # An object in a cycle, freed only by the collector, whose finalizer runs `action`: the
    # finalizer then runs inside whichever allocation triggers the next collection.
    def __init__(self, action):
        self.action = action
        self.cycle = self
    def __del__(self):
        self.action()
"""
"""Source of the finalizer the hostile-caller scripts arm, for the scripts run in a fresh
interpreter."""
