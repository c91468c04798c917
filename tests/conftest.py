"""What pytest loads for every test: the hypothesis profile, the check that every test has a
time limit, and the check that ``make test-pythons`` tests the installed package. The shared
helpers and strategies are in the ``support`` package; the ``slow`` marker is declared in
``pyproject.toml``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from support.profiles import load_profile

load_profile()


def pytest_configure(config: Any) -> None:
    # Every test has a time limit (pytest-timeout, configured in pyproject.toml); a virtualenv
    # without the plugin would run them with none, so such a run stops here instead.
    if not config.pluginmanager.hasplugin("timeout") or not float(config.getini("timeout") or 0):
        raise pytest.UsageError(
            "pytest-timeout is not active: every test needs its time limit "
            "(install requirements-test.txt; pyproject.toml sets the timeout)"
        )
    if os.environ.get("IQM_RUNSTATUS_INSTALLED"):
        check_installed_package()


def check_installed_package() -> None:
    """With IQM_RUNSTATUS_INSTALLED set (``make test-pythons``), the package under test must be
    the one installed in this interpreter's environment, native module included, not a
    source tree."""
    import iqm_runstatus
    import iqm_runstatus._core

    prefix = Path(sys.prefix).resolve()
    for module in (iqm_runstatus, iqm_runstatus._core):
        location = Path(module.__file__ or "").resolve()
        if prefix not in location.parents:
            raise pytest.UsageError(f"{module.__name__} is {location}, not installed in {prefix}")


@pytest.fixture
def server() -> Any:
    """A running loopback status server (``poller_support.StatusServer``), shut down after
    the test: the poller's tests and its CLI's share it."""
    from poller_support import StatusServer

    with StatusServer() as running:
        yield running
