"""A pytest plugin for an iqm-client release's own test suite, as its sdist ships it: applies
`patch_iqm_client()` before the suite's modules import the client, so that its tests of
``get_run_status`` and of waiting for a job run against this package's `RunStatus` and
`Status`. ``make test-clients`` loads it with ``-p iqm_runstatus_patched``."""

from __future__ import annotations

import importlib

import pytest


def pytest_configure(config: pytest.Config) -> None:
    import iqm_runstatus

    iqm_runstatus.patch_iqm_client()
    # The names the suite imports must now be ours: else it would test the client's own.
    for name in ("iqm.iqm_client", "iqm.iqm_client.iqm_client"):
        module = importlib.import_module(name)
        if module.RunStatus is not iqm_runstatus.RunStatus or module.Status is not (
            iqm_runstatus.Status
        ):
            raise pytest.UsageError(f"patch_iqm_client() left {name}'s RunStatus or Status")


def pytest_report_header(config: pytest.Config) -> str:
    import iqm_runstatus

    return (
        f"iqm_runstatus {iqm_runstatus.CLIENT_RELEASE} vocabulary, patched into iqm-client: "
        f"{iqm_runstatus.iqm_client_patched()}"
    )
