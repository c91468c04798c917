"""The package against the iqm-client release installed beside it: ``make test-clients`` runs this
file in a virtualenv per release of the line (15.0 to 32.1.1), ``make test`` with 17.2.

Our ``Status`` and ``RunStatus`` must be that release's: the same members in the same order,
its ``_missing_`` aliases, and the same results and exceptions through every entry point
(``support.oracle`` says what each means on each release). ``patch_iqm_client()`` must make
that release's ``IQMClient.get_run_status`` hand out our objects, with nothing else changed.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections import Counter
from typing import Any

import iqm_runstatus
import pytest
from hypothesis import given
from hypothesis import strategies as st
from iqm_runstatus import PayloadError, RunStatus, Status, StatusBatch, parse_many
from poller_support import StatusServer, clear_environment, iqm_client
from support.differential import (
    check_from_dict,
    check_from_json,
    check_model_validate,
    check_model_validate_json,
)
from support.json_text import raw_documents
from support.oracle import (
    CLIENT_VERSION,
    ORACLE,
    STATUS_VALUES,
    RefRunStatus,
    RefStatus,
    oracle_from_json,
)
from support.outcomes import describe_value, outcome
from support.profiles import examples
from support.strategies import NEAR_MISS_STATUSES, any_texts, status_dicts, wrong_scalar_types

if ORACLE == "pure" or CLIENT_VERSION is None:
    pytest.skip("needs an installed iqm-client release", allow_module_level=True)

# Spellings a release may map to a member (27.1.0 on: the old "pending execution"), may
# reject, or may have as a value of its own; each is compared, whichever it is.
ALIASES = ["pending execution", "pending_execution", "pending compilation", "pending_compilation"]
UNKNOWN = [*NEAR_MISS_STATUSES, "cancelled", "unknown ", "Pending Execution", "validating"]
WRONG_TYPES: list[Any] = [None, 0, 1, 1.5, True, b"ready", ["ready"], {"status": "ready"}]


def members(enum: Any) -> list[tuple[str, str]]:
    return [(member.name, member.value) for member in enum]


def lookup(enum: Any, value: Any) -> Any:
    """``enum(value)`` as a comparable outcome: the member's name and value, or the exception."""
    try:
        member = enum(value)
    except Exception as exc:
        return ("raised", type(exc).__name__, str(exc))
    return ("member", member.name, describe_value(member.value))


def test_the_vocabulary_named_is_the_installed_release() -> None:
    # A package without CLIENT_RELEASE mirrors the seed's release, 17.2, whatever is installed.
    assert getattr(iqm_runstatus, "CLIENT_RELEASE", "17.2") == CLIENT_VERSION


def test_status_members_names_values_and_order() -> None:
    assert members(Status) == members(RefStatus)
    # Aliases included, as ``Status.__members__`` lists them.
    assert {name: m.value for name, m in Status.__members__.items()} == {
        name: m.value for name, m in RefStatus.__members__.items()
    }
    assert Status.__mro__[1:] == RefStatus.__mro__[1:]


def test_each_member_behaves_as_the_release_s() -> None:
    for ours, theirs in zip(Status, RefStatus):
        assert ours == theirs.value and hash(ours) == hash(theirs)
        assert (repr(ours), str(ours), format(ours), f"{ours}") == (
            repr(theirs),
            str(theirs),
            format(theirs),
            f"{theirs}",
        )


def test_terminal_statuses() -> None:
    # A classmethod from 22.8 on; _missing_ (27.1.0 on) is compared by what it does, below.
    if not hasattr(RefStatus, "terminal_statuses"):
        pytest.skip(f"iqm-client {CLIENT_VERSION}'s Status has no terminal_statuses")
    ours, theirs = Status.terminal_statuses(), RefStatus.terminal_statuses()
    assert type(ours) is type(theirs)
    assert sorted(members(ours)) == sorted(members(theirs))
    assert all(type(member) is Status for member in ours)


@pytest.mark.parametrize("value", [*STATUS_VALUES, *ALIASES, *UNKNOWN, *WRONG_TYPES], ids=repr)
def test_status_lookup(value: Any) -> None:
    assert lookup(Status, value) == lookup(RefStatus, value)


@examples(200)
@given(st.one_of(any_texts, wrong_scalar_types, st.sampled_from(STATUS_VALUES + ALIASES)))
def test_status_lookup_generated(value: Any) -> None:
    assert lookup(Status, value) == lookup(RefStatus, value)


def payloads_for(value: Any) -> list[dict[str, Any]]:
    return [
        {"status": value},
        {"status": value, "message": "m", "warnings": ["w1", "w2"]},
        {"warnings": None, "status": value, "extra": 1},
    ]


@pytest.mark.parametrize("value", [*STATUS_VALUES, *ALIASES, *UNKNOWN, *WRONG_TYPES], ids=repr)
def test_every_entry_point_on_each_status(value: Any) -> None:
    for payload in payloads_for(value):
        check_from_dict(payload)
        check_model_validate(payload)
        try:
            doc = json.dumps(payload)
        except TypeError:  # bytes: not JSON
            continue
        check_from_json(doc)
        check_model_validate_json(doc)


@examples(300)
@given(status_dicts)
def test_dict_entry_points_generated(payload: dict) -> None:
    check_from_dict(payload)
    check_model_validate(payload)


@examples(300)
@given(raw_documents)
def test_json_entry_points_generated(doc: str | bytes) -> None:
    check_from_json(doc)
    check_model_validate_json(doc)


def test_dump_and_schema() -> None:
    for value in STATUS_VALUES:
        for payload in payloads_for(value):
            ours, theirs = RunStatus.model_validate(payload), RefRunStatus.model_validate(payload)
            assert describe_value(ours.model_dump()) == describe_value(theirs.model_dump())
            assert ours.model_dump(mode="json") == theirs.model_dump(mode="json")
            assert ours.model_dump_json() == theirs.model_dump_json()
    for mode in ("validation", "serialization"):
        assert RunStatus.model_json_schema(mode=mode) == RefRunStatus.model_json_schema(mode=mode)


def batch_documents() -> list[bytes]:
    """One document for each status value and alias, unknown ones, wrong types and bad JSON."""
    values: list[Any] = [*STATUS_VALUES, *ALIASES, "cancelled", 1, None]
    docs = [json.dumps({"status": value, "message": str(value)}).encode() for value in values]
    return [*docs, b'{"status": "ready"', b"[]", b'{"message": "no status"}']


def parsed_status(result: tuple[Any, ...]) -> str | None:
    """The member name in an ``outcome``, ``None`` for an exception."""
    if result[0] != "ok":
        return None
    _, _, name, _ = result[1]["status"]  # describe_value: ("enum", class, name, value)
    return str(name)


def test_batch_entries_and_counts() -> None:
    docs = batch_documents()
    batch = StatusBatch.from_payloads(docs)
    expected = [outcome(oracle_from_json, doc) for doc in docs]
    assert [outcome(batch.__getitem__, i) for i in range(len(docs))] == expected
    # Every member of the release is counted, in its order, the ones not seen as 0.
    counts = batch.counts()
    assert members(counts) == members(RefStatus)
    names = [parsed_status(result) for result in expected]
    assert {status.name: n for status, n in counts.items() if n} == dict(
        Counter(name for name in names if name is not None)
    )
    for member in RefStatus:
        wanted = [i for i, name in enumerate(names) if name == member.name]
        assert batch.indices(member.value) == wanted
    assert [i for i, *_ in batch.errors] == [i for i, r in enumerate(expected) if r[0] == "err"]


def test_parse_many() -> None:
    docs = batch_documents()
    accepted = [doc for doc in docs if outcome(oracle_from_json, doc)[0] == "ok"]
    assert [outcome(lambda r=r: r) for r in parse_many(accepted)] == [
        outcome(oracle_from_json, doc) for doc in accepted
    ]
    rejected = next(i for i, doc in enumerate(docs) if outcome(oracle_from_json, doc)[0] == "err")
    with pytest.raises(PayloadError) as caught:
        parse_many(docs)
    assert caught.value.index == rejected
    assert outcome(lambda: _raise(caught.value.__cause__)) == outcome(
        oracle_from_json, docs[rejected]
    )


def _raise(exc: BaseException | None) -> Any:
    assert exc is not None
    raise exc


# --- patch_iqm_client() end to end: the release's own IQMClient against a loopback server ---


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Any:
    clear_environment(monkeypatch, "IQM_TOKEN", "IQM_TOKENS_FILE", "IQM_CLIENT_API_VARIANT")
    iqm_runstatus.unpatch_iqm_client()
    with StatusServer() as running:
        yield running
    iqm_runstatus.unpatch_iqm_client()


def bodies() -> dict[str, bytes]:
    """What the server answers, one job each: every status, aliases, and bodies the client
    refuses (unknown status, wrong type, no status, bad JSON, not an object)."""
    answers = {
        f"status {value!r}": json.dumps({"status": value, "message": None}).encode()
        for value in [*STATUS_VALUES, *ALIASES, "cancelled", 7]
    }
    answers["warnings"] = b'{"status": "ready", "warnings": ["calibration is old", "QB3"]}'
    answers["wrong warnings"] = b'{"status": "ready", "warnings": "not a list"}'
    answers["no status"] = b'{"message": "none"}'
    answers["bad json"] = b'{"status": "ready"'
    answers["array"] = b'["ready"]'
    return answers


def poll(client: Any, job: uuid.UUID) -> tuple[Any, ...]:
    """What ``get_run_status`` gave (its caller-visible content) or raised, with its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = client.get_run_status(job)
        except Exception as exc:
            got: tuple[Any, ...] = ("raised", type(exc).__name__, str(exc))
        else:
            got = (
                "ok",
                result.status.name,
                result.status.value,
                result.message,
                result.warnings,
                sorted(result.model_fields_set),
                result.model_dump(mode="json"),
                type(result).__name__,
            )
    return (*got, [(w.category.__name__, str(w.message)) for w in caught])


def test_patched_client_returns_our_objects_and_the_same_answers(server: StatusServer) -> None:
    jobs = {name: uuid.uuid5(uuid.NAMESPACE_URL, name) for name in bodies()}
    for name, body in bodies().items():
        server.set_body(str(jobs[name]), body)
    client = iqm_client(server)
    unpatched = {name: poll(client, job) for name, job in jobs.items()}
    assert unpatched["status 'ready'"][0] == "ok", "the scenario runs against the client"
    with iqm_runstatus.patched_iqm_client():
        patched = {name: poll(client, job) for name, job in jobs.items()}
        result = client.get_run_status(jobs["status 'ready'"])
    assert patched == unpatched
    assert type(result) is RunStatus and type(result.status) is Status
    assert result.status is Status("ready")
    assert iqm_runstatus.iqm_client_patched() is False
    # Unpatched again: the release's own classes.
    assert type(client.get_run_status(jobs["status 'ready'"])) is RefRunStatus
