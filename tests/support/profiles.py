"""The hypothesis profiles, one chosen by ``HYPOTHESIS_PROFILE``:

- ``ci`` (the default; ``make test``): every test runs the examples it names, and a test that
  names none hypothesis's default of 100;
- ``dev`` (``make test-fast``): a tenth of those, at least 10, for the edit-and-test loop.

A test names its examples with ``@examples(n)`` rather than ``settings(max_examples=n)``, so
that the profile scales them.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

__all__ = ["DIVISORS", "PROFILE", "examples", "load_profile", "scale"]

DIVISORS = {"ci": 1, "dev": 10}
"""What each profile divides a test's examples by."""
MINIMUM = 10
"""The fewest examples a scaled-down test runs."""
DEFAULT_EXAMPLES = 100
"""What a test that names no count runs under ``ci``: hypothesis's own default."""

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in DIVISORS:
    raise ValueError(f"HYPOTHESIS_PROFILE must be one of {sorted(DIVISORS)}, not {PROFILE!r}")


def scale(n: int, profile: str = PROFILE) -> int:
    """The examples a test that names ``n`` runs under ``profile``."""
    divisor = DIVISORS[profile]
    return n if divisor == 1 else max(n // divisor, MINIMUM)


def examples(n: int, **kwargs: Any) -> settings:
    """``settings(max_examples=...)`` with ``n`` scaled to the profile, and ``kwargs``."""
    return settings(max_examples=scale(n), **kwargs)


def load_profile() -> None:
    """Registers the profiles and loads the one ``HYPOTHESIS_PROFILE`` names (before the test
    modules are imported: a ``settings`` object takes its defaults when it is made)."""
    for name in DIVISORS:
        settings.register_profile(
            name,
            max_examples=scale(DEFAULT_EXAMPLES, name),
            deadline=None,
            derandomize=False,
            print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
    settings.load_profile(PROFILE)
