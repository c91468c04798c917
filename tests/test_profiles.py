"""The hypothesis profiles: ``ci`` (``make test``) runs every property test with at least the
examples it ran before the profiles existed, and ``dev`` (``make test-fast``) a tenth of them.

The counts are read from the tests themselves, in a fresh interpreter whose profile is the one
under check (a test's settings are fixed when its module is imported)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from support.oracle import ORACLE
from support.profiles import scale
from support.scripts import IMPORT_SUPPORT, TESTS_DIR, run_reporting_script

# Each property test and the examples it ran before the profiles: the floor for ``ci``.
CI_EXAMPLES = {
    "test_parity.test_from_dict_valid_payloads": 700,
    "test_parity.test_from_dict_invalid_payloads": 1000,
    "test_parity.test_model_validate_dicts": 800,
    "test_parity.test_from_json_raw_documents": 1200,
    "test_parity.test_from_json_valid_documents": 400,
    "test_parity.test_model_validate_json_raw_documents": 800,
    "test_parity.test_from_json_equals_from_dict_of_loads": 400,
    "test_oracles.test_generated_dicts": 600,
    "test_oracles.test_generated_documents": 600,
    "test_batch.test_batch_equals_single_on_generated_input": 150,
    "test_batch.test_array_entries_equal_from_json_of_each_element": 200,
    "test_batch.test_an_invalid_array_raises_what_json_loads_raises": 400,
    "test_fuzz_python.test_random_bytes": 1500,
    "test_fuzz_python.test_mutated_payloads": 1500,
    "test_fuzz_python.test_dicts": 1500,
    "test_tracker.test_any_order_of_polls_and_forgets_matches_a_dict": 100,
    "test_arrow.test_pyarrow_reads_generated_batches": 150,
    "test_arrow.test_polars_reads_generated_batches": 100,
    "test_arrow.test_duckdb_reads_generated_batches": 60,
    "test_dask.test_any_block_size_counts_what_one_process_counts": 150,
    "test_client_release.test_status_lookup_generated": 200,
    "test_client_release.test_dict_entry_points_generated": 300,
    "test_client_release.test_json_entry_points_generated": 300,
    # Run by a script of its own, or inside a test: the count the test hands it.
    "test_fuzz_finalizers.EXAMPLES": 400,
    "test_poller_hardening.ID_PATH_EXAMPLES": 25,
}

SCRIPT = (
    IMPORT_SUPPORT
    + """
import importlib, json
import pytest
import conftest  # loads the profile, as pytest does before the test modules
counts = {}
for name in NAMES:
    module, attribute = name.split(".")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except pytest.skip.Exception:  # the module skips itself here: none of its tests run
        counts[name] = None
        continue
    counts[name] = found if isinstance(found, int) else (
        found._hypothesis_internal_use_settings.max_examples
    )
print(json.dumps(counts))
"""
)


def counts_under(profile: str) -> dict[str, int]:
    """The examples of each test in :data:`CI_EXAMPLES` with ``HYPOTHESIS_PROFILE=profile``,
    but for the tests of modules that skip themselves here (``test_oracles.py`` without the
    reference)."""
    env = {k: v for k, v in os.environ.items() if k != "FUZZ_EXAMPLES"}
    env["HYPOTHESIS_PROFILE"] = profile
    script = SCRIPT.replace("NAMES", repr(sorted(CI_EXAMPLES)))
    counts = run_reporting_script(script, env=env, cwd=str(TESTS_DIR))
    skipped = {name.split(".")[0] for name, n in counts.items() if n is None}
    # test_oracles needs the reference, test_client_release any installed client release.
    assert skipped <= {"test_oracles", "test_client_release"}, skipped
    assert ORACLE == "pure" or "test_oracles" not in skipped, skipped
    return {name: n for name, n in counts.items() if n is not None}


def test_every_property_test_is_listed() -> None:
    """A new property test goes into the table, so that its count is kept too."""
    listed = Counter(name.split(".")[0] + ".py" for name in CI_EXAMPLES)
    found = Counter(
        {
            path.name: path.read_text(encoding="utf-8").count("@given(")
            for path in TESTS_DIR.glob("test_*.py")
            if path.name != Path(__file__).name
        }
    )
    assert +found == listed


@pytest.mark.slow  # imports every test module in a fresh interpreter
def test_ci_keeps_every_count() -> None:
    counts = counts_under("ci")
    assert {name: n >= CI_EXAMPLES[name] for name, n in counts.items()} == dict.fromkeys(
        counts, True
    ), counts


@pytest.mark.parametrize("n", [1, 10, 99, 100, 150, 1500])
def test_dev_runs_a_tenth_and_at_least_ten(n: int) -> None:
    assert scale(n, "ci") == n
    assert scale(n, "dev") == max(n // 10, 10)


def test_dev_scales_every_test() -> None:
    counts = counts_under("dev")
    assert counts == {name: max(CI_EXAMPLES[name] // 10, 10) for name in counts}, json.dumps(counts)
