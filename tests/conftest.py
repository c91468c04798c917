"""What pytest loads for every test: the hypothesis profile and the test markers. The shared
helpers and strategies are in ``support.py``."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    deadline=None,
    derandomize=False,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: Any) -> None:
    config.addinivalue_line(
        "markers",
        "slow: the heaviest tests (leak loops, 100 MB inputs); deselect with -m 'not slow'",
    )
