"""The stand-ins for iqm-client 17.2 on the interpreters it does not install on are checked here
against the release itself, wherever it installs (CPython 3.9 to 3.11).

With ``IQM_RUNSTATUS_ORACLE=pure`` the differential tests compare the fast paths with the
package's pure path (``pure_from_dict``, ``pure_from_json``, pydantic's own validation), and the
class-level tests with ``reference_model.py``. Both must be indistinguishable from the release.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
import reference_model
from hypothesis import given
from iqm_runstatus import pure_from_dict, pure_from_json
from support.differential import raw_forms
from support.json_text import EDGE_DOCUMENTS, raw_documents
from support.oracle import (
    ORACLE,
    STATUS_VALUES,
    documented_from_json,
    pydantic_validate_json,
    pydantic_validate_python,
)
from support.outcomes import describe_model, outcome
from support.profiles import examples
from support.strategies import status_dicts
from test_compat import _field_docstrings
from test_parity import DICT_CASES, NON_DICT_CASES

if ORACLE != "reference":
    pytest.skip("needs iqm-client 17.2 itself", allow_module_level=True)

from iqm.iqm_client.iqm_client import RunStatus as ReleaseRunStatus
from iqm.iqm_client.iqm_client import Status as ReleaseStatus

CopyRunStatus, CopyStatus = reference_model.RunStatus, reference_model.Status


def release_from_json(raw: Any) -> Any:
    """``RunStatus.from_json``'s documented meaning, on the release."""
    return documented_from_json(raw, ReleaseRunStatus.from_dict)


def same_on_dict(inp: Any) -> None:
    """The pure path and the copy give the release's result or exception for a dict input."""
    expected = outcome(ReleaseRunStatus.from_dict, inp)
    assert outcome(pure_from_dict, inp) == expected
    assert outcome(CopyRunStatus.from_dict, inp) == expected
    expected = outcome(ReleaseRunStatus.model_validate, inp)
    assert outcome(pydantic_validate_python, inp) == expected
    assert outcome(CopyRunStatus.model_validate, inp) == expected


def same_on_document(doc: str | bytes) -> None:
    """The same for a raw document, in every input form each entry point takes."""
    for form, raw in raw_forms(doc).items():
        assert outcome(pure_from_json, raw) == outcome(release_from_json, raw), form
        if form != "memoryview":
            expected = outcome(ReleaseRunStatus.model_validate_json, raw)
            assert outcome(pydantic_validate_json, raw) == expected, form
            assert outcome(CopyRunStatus.model_validate_json, raw) == expected, form


@examples(600)
@given(status_dicts)
def test_generated_dicts(payload: dict) -> None:
    same_on_dict(payload)


@examples(600)
@given(raw_documents)
def test_generated_documents(doc: str | bytes) -> None:
    same_on_document(doc)


@pytest.mark.parametrize("make", [*DICT_CASES.values(), *NON_DICT_CASES.values()])
def test_named_inputs(make: Callable[[], Any]) -> None:
    same_on_dict(make())


@pytest.mark.parametrize("doc", EDGE_DOCUMENTS.values(), ids=EDGE_DOCUMENTS.keys())
def test_named_documents(doc: str | bytes) -> None:
    same_on_document(doc)


def test_the_copied_classes_are_the_release_s() -> None:
    """Shape, schema, docstrings and members of the copy are the release's."""
    assert [(m.name, m.value) for m in CopyStatus] == [(m.name, m.value) for m in ReleaseStatus]
    assert [m.value for m in CopyStatus] == STATUS_VALUES
    for ours, theirs in zip(CopyStatus, ReleaseStatus):
        assert (str(ours), repr(ours), format(ours)) == (str(theirs), repr(theirs), format(theirs))
    for attribute in ("__doc__", "__name__", "__qualname__"):
        assert getattr(CopyStatus, attribute) == getattr(ReleaseStatus, attribute)
        assert getattr(CopyRunStatus, attribute) == getattr(ReleaseRunStatus, attribute)
    assert [c.__name__ for c in CopyStatus.__mro__] == [c.__name__ for c in ReleaseStatus.__mro__]
    assert [c.__name__ for c in CopyRunStatus.__mro__] == [
        c.__name__ for c in ReleaseRunStatus.__mro__
    ]
    assert repr(CopyRunStatus.model_fields) == repr(ReleaseRunStatus.model_fields)
    assert CopyRunStatus.__annotations__ == ReleaseRunStatus.__annotations__
    assert CopyRunStatus.model_config == ReleaseRunStatus.model_config
    for mode in ("validation", "serialization"):
        schema = CopyRunStatus.model_json_schema(mode=mode)
        assert schema == ReleaseRunStatus.model_json_schema(mode=mode)
    assert _field_docstrings(CopyRunStatus) == _field_docstrings(ReleaseRunStatus)
    assert CopyRunStatus.from_dict.__doc__ == ReleaseRunStatus.from_dict.__doc__


def test_the_copy_s_instances_are_the_release_s() -> None:
    """Instances dump, print, compare and copy as the release's (checked by description)."""
    for payload in [
        {"status": value, "message": "m", "warnings": ["w"]} for value in STATUS_VALUES
    ]:
        ours, theirs = CopyRunStatus.from_dict(payload), ReleaseRunStatus.from_dict(payload)
        assert describe_model(ours) == describe_model(theirs)
        assert describe_model(ours.model_copy(deep=True)) == describe_model(
            theirs.model_copy(deep=True)
        )
        assert ours != theirs  # different classes, as the package's are from the release's
