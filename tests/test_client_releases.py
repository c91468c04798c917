"""Every iqm-client release from 15.0 to 32.1.1: the release table, how the release in use is
chosen, the classes built for it (in a fresh interpreter with ``IQM_RUNSTATUS_CLIENT_RELEASE``
set to each distinct vocabulary's first release), `models_for_release`, and what the batch tools
do with a vocabulary the core does not know."""

from __future__ import annotations

import ast
import json
import os
import re
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

import iqm_runstatus
import pytest
from iqm_runstatus import _releases
from iqm_runstatus._releases import (
    ENV_VAR,
    VOCABULARIES,
    Vocabulary,
    choose_release,
    parse_release,
    vocabulary_for,
)
from support.releases import PAYLOADS, describe, pickles
from support.scripts import IMPORT_SUPPORT, TESTS_DIR, run_python, run_reporting_script

FIRST_RELEASES = [vocabulary.first_release for vocabulary in VOCABULARIES]
FIVE_TERMINAL = {"ready", "failed", "aborted", "deleted", "deletion failed"}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "IQM_RUNSTATUS_PURE")}
    env.update(extra)
    return env


# --- the table --------------------------------------------------------------------------------


def test_the_table_is_in_release_order_and_consistent() -> None:
    firsts = [parse_release(release) for release in FIRST_RELEASES]
    assert firsts == sorted(firsts) and len(set(firsts)) == len(firsts)
    assert FIRST_RELEASES[0] == "15.0"
    for vocabulary in VOCABULARIES:
        names = [member.name for member in vocabulary.members]
        assert len(set(names)) == len(names) == len(set(vocabulary.values))
        assert set(vocabulary.terminal) <= set(names)
        assert {name for _, name in vocabulary.missing_aliases} <= set(names)
        assert not {alias for alias, _ in vocabulary.missing_aliases} & set(vocabulary.values)
    # Consecutive entries differ, or the table would have a useless row.
    for earlier, later in zip(VOCABULARIES, VOCABULARIES[1:]):
        assert earlier.members != later.members or any(
            getattr(earlier, f) != getattr(later, f)
            for f in ("status_doc", "has_from_dict", "has_terminal_statuses", "missing_aliases")
        ), later.first_release


# Facts read from the releases' sources, written out independently of the table.
SPOT_FACTS = [
    # release, statuses, first, last, from_dict, terminal_statuses(), `_missing_`
    ("15.0", 5, "pending compilation", "aborted", True, False, False),
    ("17.2", 5, "pending compilation", "aborted", True, False, False),
    ("17.3", 8, "pending compilation", "deleted", True, False, False),
    ("18.5", 8, "pending compilation", "deleted", True, False, False),
    ("18.6", 11, "received", "deleted", True, False, False),
    ("20.17", 11, "received", "deleted", True, False, False),
    ("21.3", 11, "received", "deleted", True, False, False),  # never published: 20.x's
    ("22.5", 11, "received", "deleted", True, False, False),
    ("22.6", 11, "received", "deleted", False, False, False),
    ("22.7", 11, "received", "deleted", False, False, False),
    ("22.8", 13, "received", "unknown", False, True, False),
    ("24.3.0", 13, "received", "unknown", False, True, False),
    ("25.5.0", 22, "received", "unknown", False, True, False),
    ("26.0.0", 22, "received", "unknown", False, True, False),
    ("27.0.0", 22, "received", "unknown", False, True, False),
    ("27.1.0", 22, "received", "unknown", False, True, True),
    ("28.0.0", 23, "received", "unknown", False, True, True),
    ("29.14.0", 23, "received", "unknown", False, True, True),
    ("32.1.1", 23, "received", "unknown", False, True, True),
]


@pytest.mark.parametrize(
    ("release", "count", "first", "last", "from_dict", "terminal_statuses", "missing"), SPOT_FACTS
)
def test_spot_facts_of_releases(
    release: str,
    count: int,
    first: str,
    last: str,
    from_dict: bool,
    terminal_statuses: bool,
    missing: bool,
) -> None:
    vocabulary = vocabulary_for(release)
    assert len(vocabulary.members) == count
    assert (vocabulary.values[0], vocabulary.values[-1]) == (first, last)
    assert vocabulary.has_from_dict is from_dict
    assert vocabulary.has_terminal_statuses is terminal_statuses
    assert bool(vocabulary.missing_aliases) is missing
    expected_terminal = {"ready", "failed", "aborted"} | (
        {"deleted", "deletion failed"} & set(vocabulary.values)
    )
    assert set(vocabulary.terminal_values) == expected_terminal


def test_snake_case_lines_differ_as_published() -> None:
    v25, v26, v27, v28 = (vocabulary_for(r) for r in ("25.0.0", "26.0.0", "27.0.0", "28.0.0"))
    assert v25.members == v27.members != v26.members
    assert "pending_execution" in v25.values and "pending_execution" not in v26.values
    assert "execution_pending" in v26.values and "execution_completed" in v26.values
    assert v28.values[:4] == ("received", "validation_started", "processing", "validation_ended")
    assert vocabulary_for("27.1.0").missing_aliases == (("pending execution", "PENDING_EXECUTION"),)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("17.2", (17, 2)),
        ("24.3.0", (24, 3)),
        ("32.1.1", (32, 1, 1)),
        (" 20.17 ", (20, 17)),
        ("33.0.0rc1", (33,)),
        ("29.14.0.post1", (29, 14)),
        ("24.3.0+local.1", (24, 3)),
        ("22.10.dev3", (22, 10)),
        ("", None),
        ("banana", None),
        ("24.x", None),
        ("24..3", None),
    ],
)
def test_parse_release(text: str, parsed: Optional[tuple[int, ...]]) -> None:
    assert parse_release(text) == parsed


@pytest.mark.parametrize(
    "release", ["14.9", "12.0", "33.0", "33.0.0", "32.1.2", "32.2", "banana", ""]
)
def test_releases_outside_the_range_are_refused(release: str) -> None:
    with pytest.raises(ValueError, match=r"15\.0 to 32\.1\.1|is not an iqm-client release") as info:
        vocabulary_for(release)
    assert repr(release) in str(info.value) or release in str(info.value)


# --- choosing the release ---------------------------------------------------------------------


def fake_installed(monkeypatch: pytest.MonkeyPatch, version: Optional[str]) -> None:
    def fake_version_of(name: str) -> str:
        assert name == "iqm-client"
        if version is None:
            raise metadata.PackageNotFoundError(name)
        return version

    monkeypatch.setattr(_releases, "_version_of", fake_version_of)


@pytest.mark.parametrize(
    "name", ["pydantic", "pydantic-core", "iqm-client", "no-such-distribution"]
)
def test_the_version_read_from_the_metadata_head_is_the_distribution_s(name: str) -> None:
    try:
        expected = metadata.version(name)
    except metadata.PackageNotFoundError:
        with pytest.raises(metadata.PackageNotFoundError):
            _releases._version_of(name)
    else:
        assert _releases._version_of(name) == expected


def no_client_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_releases.PathFinder, "find_spec", lambda *args, **kwargs: None)


@pytest.mark.parametrize(
    ("installed", "source", "release"),
    [
        ("24.3.0", "installed", "24.3.0"),
        ("15.4", "installed", "15.4"),
        ("33.0.0", "default", "17.2"),
        ("12.4", "default", "17.2"),
    ],
)
def test_installed_client_decides_within_the_range(
    monkeypatch: pytest.MonkeyPatch, installed: str, source: str, release: str
) -> None:
    fake_installed(monkeypatch, installed)
    choice = choose_release({})
    assert (choice.release, choice.source, choice.installed) == (release, source, installed)
    assert choice.vocabulary == vocabulary_for(release)


def test_no_client_is_the_seeds_vocabulary(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_installed(monkeypatch, None)
    no_client_on_path(monkeypatch)
    choice = choose_release({})
    assert (choice.release, choice.source, choice.installed) == ("17.2", "default", None)
    assert choice.vocabulary.values == (
        "pending compilation",
        "pending execution",
        "ready",
        "failed",
        "aborted",
    )


def test_the_environment_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_installed(monkeypatch, "17.2")
    choice = choose_release({ENV_VAR: " 29.14.0 "})
    assert (choice.release, choice.source, choice.installed) == ("29.14.0", "environment", "17.2")
    assert len(choice.vocabulary.members) == 23


@pytest.mark.parametrize("value", ["33.0", "14.0", "latest", "17.2,24.3.0"])
def test_an_unsupported_environment_variable_is_a_value_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    fake_installed(monkeypatch, "17.2")
    with pytest.raises(ValueError) as info:
        choose_release({ENV_VAR: value})
    message = str(info.value)
    assert ENV_VAR in message and repr(value) in message and "15.0 to 32.1.1" in message


def test_unparseable_metadata_is_an_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_installed(monkeypatch, "not-a-version")
    with pytest.raises(ImportError) as info:
        choose_release({})
    assert "'not-a-version'" in str(info.value) and "15.0 to 32.1.1" in str(info.value)
    assert ENV_VAR in str(info.value)
    # The variable, naming the release, is the way out.
    assert choose_release({ENV_VAR: "24.3.0"}).source == "environment"


def write_client_without_metadata(root: Path) -> None:
    (root / "iqm" / "iqm_client").mkdir(parents=True)
    (root / "iqm" / "iqm_client" / "__init__.py").write_text("raise RuntimeError('imported')\n")


def test_a_client_without_metadata_is_an_import_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_installed(monkeypatch, None)
    write_client_without_metadata(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="no iqm-client distribution metadata") as info:
        choose_release({})
    assert ENV_VAR in str(info.value)
    choice = choose_release({ENV_VAR: "20.17"})
    assert (choice.source, choice.installed) == ("environment", None)


IMPORT_REPORT = """
import json, sys
try:
    import iqm_runstatus
except (ImportError, ValueError) as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
else:
    print(json.dumps({
        "release": iqm_runstatus.CLIENT_RELEASE,
        "source": iqm_runstatus.CLIENT_RELEASE_SOURCE,
        "native": iqm_runstatus.NATIVE,
        "statuses": len(iqm_runstatus.Status),
        "iqm_imported": sorted(m for m in sys.modules if m == "iqm" or m.startswith("iqm.")),
    }))
"""


def test_importing_never_imports_the_client() -> None:
    report = run_reporting_script(IMPORT_REPORT, env=clean_env())
    assert report["iqm_imported"] == []
    try:
        installed: Optional[str] = metadata.version("iqm-client")
    except metadata.PackageNotFoundError:
        installed = None
    parsed = parse_release(installed) if installed else None
    if parsed is not None and (15,) <= parsed <= (32, 1, 1):
        assert (report["release"], report["source"]) == (installed, "installed")
    else:
        assert (report["release"], report["source"]) == ("17.2", "default")


def test_the_import_raises_for_an_unsupported_environment_variable() -> None:
    report = run_reporting_script(IMPORT_REPORT, env=clean_env(**{ENV_VAR: "33.0.0"}))
    assert report["error"] == "ValueError"
    assert "33.0.0" in report["message"] and "15.0 to 32.1.1" in report["message"]


NO_METADATA_SCRIPT = """
import importlib.metadata, sys

def no_distribution(name):
    raise importlib.metadata.PackageNotFoundError(name)

# The client's package on the path, its metadata nowhere.
importlib.metadata.distribution = no_distribution
sys.path.insert(0, sys.argv[1])
"""


def test_the_import_raises_for_a_client_without_metadata(tmp_path: Path) -> None:
    write_client_without_metadata(tmp_path)
    script = textwrap.dedent(NO_METADATA_SCRIPT) + textwrap.dedent(IMPORT_REPORT)
    done = run_python("-c", script, str(tmp_path), env=clean_env(), timeout=120)
    report = json.loads(done.stdout)
    assert report["error"] == "ImportError", report
    assert "no iqm-client distribution metadata" in report["message"]


# --- the classes of each vocabulary, in a fresh interpreter -----------------------------------

DESCRIBE_SCRIPT = (
    IMPORT_SUPPORT
    + """
import ast
import json
import iqm_runstatus
from iqm_runstatus import RunStatus, Status
from support.releases import describe, pickles

report = describe(RunStatus, Status)
report["release"] = iqm_runstatus.CLIENT_RELEASE
report["source"] = iqm_runstatus.CLIENT_RELEASE_SOURCE
report["native"] = iqm_runstatus.NATIVE
report["terminal"] = sorted(member.value for member in iqm_runstatus._model.TERMINAL_STATUSES)
report["pickles"] = pickles(RunStatus(status=list(Status)[-1], warnings=["w"]))
in_use = iqm_runstatus.models_for_release(iqm_runstatus.CLIENT_RELEASE)
report["same_classes"] = in_use == (RunStatus, Status)
counts = iqm_runstatus.StatusBatch.from_payloads([b'{"status": "ready"}']).counts()
report["batch"] = "ok" if counts[Status.READY] == 1 and len(counts) == len(Status) else counts
print(json.dumps(report))
"""
)


def expected_outcome(vocabulary: Vocabulary, payload: Any, entry_point: str) -> str:
    """The exception type (or "ok") the release's own code gives, derived from the table."""
    by_value = {member.value for member in vocabulary.members} | {
        a for a, _ in vocabulary.missing_aliases
    }
    validates = entry_point in ("model_validate", "model_validate_json") or (
        entry_point == "from_json" and not vocabulary.has_from_dict
    )
    if not isinstance(payload, dict):
        if validates:
            return "ValidationError"
        # The reference's `inp.copy()` on a str; `[].copy().pop("status")`; from_json's check.
        return (
            "AttributeError"
            if entry_point == "from_dict" and isinstance(payload, str)
            else "TypeError"
        )
    if validates:
        if payload.get("status", object()) not in by_value:
            return "ValidationError"
    else:
        if "status" not in payload:
            return "KeyError"
        status = payload["status"]
        if not isinstance(status, str) or status not in by_value:
            return "ValueError"
    if not isinstance(payload.get("message", ""), (str, type(None))):
        return "ValidationError"
    return "ok"


@pytest.mark.parametrize("release", FIRST_RELEASES)
def test_each_vocabulary_as_the_package_s_own_classes(release: str) -> None:
    report = run_reporting_script(
        DESCRIBE_SCRIPT, env=clean_env(**{ENV_VAR: release}), cwd=TESTS_DIR
    )
    vocabulary = vocabulary_for(release)
    assert (report["release"], report["source"]) == (release, "environment")
    assert report["members"] == [[m.name, m.value] for m in vocabulary.members]
    assert report["has_missing"] is bool(vocabulary.missing_aliases)
    assert report["terminal"] == sorted(vocabulary.terminal_values)
    if vocabulary.has_terminal_statuses:
        assert set(report["terminal_statuses"]) == FIVE_TERMINAL
    else:
        assert report["terminal_statuses"] is None
    # pydantic describes the enum by its cleaned docstring; the values in order.
    status_schema = report["schema"]["$defs"]["Status"]
    assert status_schema["enum"] == list(vocabulary.values)
    assert status_schema["description"] == "Status of a job."
    assert report["schema"]["required"] == ["status"]
    assert report["pickles"] is True
    assert report["same_classes"] is True
    for entry_point in ("from_dict", "from_json", "model_validate", "model_validate_json"):
        got = [outcome[0] for outcome in report[entry_point]]
        want = [expected_outcome(vocabulary, payload, entry_point) for payload in PAYLOADS]
        assert got == want, entry_point
    for alias, name in vocabulary.missing_aliases:
        assert report["enum"][repr(alias)][4] == name
    # The core takes every vocabulary: the fast paths and the batch tools work for each.
    assert report["native"] is True and report["batch"] == "ok"


@pytest.mark.parametrize("release", FIRST_RELEASES)
def test_models_for_release_behave_as_the_package_s_own_classes_of_that_release(
    release: str,
) -> None:
    run_status, status = iqm_runstatus.models_for_release(release)
    report = run_reporting_script(
        DESCRIBE_SCRIPT, env=clean_env(**{ENV_VAR: release}), cwd=TESTS_DIR
    )
    ours = describe(run_status, status)
    for key, value in ours.items():
        assert value == report[key], key


def test_models_for_release_are_the_package_s_classes_for_the_release_in_use() -> None:
    assert iqm_runstatus.models_for_release(iqm_runstatus.CLIENT_RELEASE) == (
        iqm_runstatus.RunStatus,
        iqm_runstatus.Status,
    )


@pytest.mark.parametrize(("release", "same_line"), [("25.0.0", "27.0.0"), ("29.14.0", "31.0.0")])
def test_models_for_release_of_another_vocabulary(release: str, same_line: str) -> None:
    if vocabulary_for(release) == iqm_runstatus._model.VOCABULARY:
        pytest.skip(f"{release}'s vocabulary is the one in use")
    run_status, status = iqm_runstatus.models_for_release(release)
    # Built once per vocabulary: releases sharing one share the classes.
    assert iqm_runstatus.models_for_release(release) == (run_status, status)
    assert iqm_runstatus.models_for_release(same_line) == (run_status, status)
    assert run_status is not iqm_runstatus.RunStatus and status is not iqm_runstatus.Status
    assert (run_status.__name__, status.__name__) == ("RunStatus", "Status")
    parsed = run_status.from_json(b'{"status": "ready"}')
    assert isinstance(parsed, run_status) and not isinstance(parsed, iqm_runstatus.RunStatus)
    assert parsed.status is status.READY
    # Not importable by name: pickling fails instead of unpickling as another class.
    assert not pickles(parsed)
    assert not pickles(status.READY)


@pytest.mark.parametrize("release", ["33.0", "14.1", "x"])
def test_models_for_release_refuses_other_releases(release: str) -> None:
    with pytest.raises(ValueError, match=r"15\.0 to 32\.1\.1"):
        iqm_runstatus.models_for_release(release)


class _IndentedDocstring:
    """
    Status of a job.
    """


def test_status_docstrings_are_kept_as_this_interpreter_keeps_the_source_s() -> None:
    # The releases up to 22.4 indent it (3.13's compiler strips that); 22.5 on, one line.
    assert iqm_runstatus.models_for_release("17.2").Status.__doc__ == _IndentedDocstring.__doc__
    assert iqm_runstatus.models_for_release("20.17").Status.__doc__ == _IndentedDocstring.__doc__
    assert iqm_runstatus.models_for_release("24.3.0").Status.__doc__ == "Status of a job."


def test_the_type_checkers_view_of_status_names_every_release_s_members() -> None:
    source = Path(iqm_runstatus._model.__file__).read_text()
    tree = ast.parse(source)
    declared: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "Status":
            declared = [
                target.id
                for statement in node.body
                if isinstance(statement, ast.Assign)
                for target in statement.targets
                if isinstance(target, ast.Name)
            ]
    every = {member.name for vocabulary in VOCABULARIES for member in vocabulary.members}
    assert set(declared) == every


def readme_release_rows() -> list[list[str]]:
    readme = (TESTS_DIR.parent / "README.md").read_text()
    section = readme.split("## Client releases", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("| ") and line[2:3].isdigit()
    ]


def test_the_readme_s_table_is_the_package_s() -> None:
    rows = readme_release_rows()
    covered = set()
    for releases, values, terminal in rows:
        statuses = values.split(";", 1)[0]
        for line in releases.split(", "):
            first, _, last = line.partition(" to ")
            for release in (first, last or first):
                vocabulary = vocabulary_for(release)
                covered.add(vocabulary.values)
                assert re.findall(r"`([^`]+)`", statuses) == list(vocabulary.values), release
                assert set(re.findall(r"`([^`]+)`", terminal.split(":")[-1])) == set(
                    vocabulary.terminal_values
                )
    # Every list of statuses some release has is in a row.
    assert covered == {vocabulary.values for vocabulary in VOCABULARIES}
