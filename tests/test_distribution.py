"""What the installed distribution carries: its licence, and a version the CLI reports."""

from __future__ import annotations

import importlib.metadata

import iqm_runstatus


def test_the_licence_is_installed_with_the_package() -> None:
    dist = importlib.metadata.distribution("iqm-runstatus")
    assert dist.metadata.get_all("License-File") == ["LICENSE"]
    licences = [f for f in dist.files or [] if f.name == "LICENSE"]
    assert len(licences) == 1
    text = licences[0].read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_the_version_is_the_distributions() -> None:
    assert iqm_runstatus.__version__ == importlib.metadata.version("iqm-runstatus")
