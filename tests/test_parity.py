"""Differential tests: every entry point against iqm-client 17.2 (or pydantic) on the same input.

Generated cases come from the strategies in ``support``; the explicit cases below name each
kind of bad input once, so a regression shows up by name and not only as a shrunk example.
"""

from __future__ import annotations

import collections
import json
import types
from typing import Any, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iqm_runstatus import RunStatus, Status
from support.differential import (
    check_from_dict,
    check_from_json,
    check_model_validate,
    check_model_validate_json,
)
from support.json_text import EDGE_DOCUMENTS, raw_documents, valid_documents
from support.oracle import (
    STATUS_VALUES,
    RefStatus,
    oracle_from_dict,
    oracle_from_json,
    oracle_model_validate,
    oracle_model_validate_json,
)
from support.outcomes import outcome
from support.profiles import examples
from support.strategies import StrSub, invalid_payloads, status_dicts, valid_payloads

# --------------------------------------------------------------------------------------------
# Generated cases
# --------------------------------------------------------------------------------------------


@examples(700)
@given(valid_payloads())
def test_from_dict_valid_payloads(payload: dict) -> None:
    """Valid status dicts: same instance as the reference's from_dict, input untouched."""
    result = check_from_dict(payload)
    assert result[0] == "ok"


@examples(1000)
@given(invalid_payloads())
def test_from_dict_invalid_payloads(payload: dict) -> None:
    """Defective dicts: same result or the same exception (type, str, errors()) as the reference."""
    check_from_dict(payload)


@examples(800)
@given(status_dicts)
def test_model_validate_dicts(payload: dict) -> None:
    """model_validate on valid and defective dicts: same as pydantic's on the reference model."""
    check_model_validate(payload)


@examples(1200)
@given(raw_documents)
def test_from_json_raw_documents(doc: str | bytes) -> None:
    """Any raw document (valid, damaged, re-encoded, non-object) in all four input types."""
    check_from_json(doc)


@examples(400)
@given(valid_documents)
def test_from_json_valid_documents(doc: str) -> None:
    """Documents written by json.dumps or by hand, mostly parseable, in all four input types."""
    check_from_json(doc)


@examples(800)
@given(raw_documents)
def test_model_validate_json_raw_documents(doc: str | bytes) -> None:
    """model_validate_json on str, bytes and bytearray: same as pydantic's on the reference."""
    check_model_validate_json(doc)


@examples(400)
@given(valid_payloads(), st.booleans())
def test_from_json_equals_from_dict_of_loads(payload: dict, ensure_ascii: bool) -> None:
    """from_json(json.dumps(d)) is from_dict(json.loads(...)) for our package too."""
    raw = json.dumps(payload, ensure_ascii=ensure_ascii)
    ours_json = outcome(RunStatus.from_json, raw)
    ours_dict = outcome(RunStatus.from_dict, json.loads(raw))
    assert ours_json == ours_dict == outcome(oracle_from_json, raw)


# --------------------------------------------------------------------------------------------
# Explicit dict cases
# --------------------------------------------------------------------------------------------


class KeyEqualToStatus:
    """A non-str key that hashes and compares equal to 'status': dict.pop('status') finds it."""

    def __hash__(self) -> int:
        return hash("status")

    def __eq__(self, other: object) -> bool:
        return other == "status"

    def __repr__(self) -> str:
        return "KeyEqualToStatus()"


class KeyWhoseEqRaises:
    """A key that collides with 'status' and raises when compared: the lookup must propagate."""

    def __hash__(self) -> int:
        return hash("status")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("compared")

    def __repr__(self) -> str:
        return "KeyWhoseEqRaises()"


class AlwaysEqualStr(str):
    """A str subclass equal to everything: Status() falls back to a linear search and matches."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = str.__hash__


class ListSub(list):
    """A list subclass: pydantic validates it into a plain list."""


class CopyReturnsOther(dict):
    """The reference calls inp.copy(); an override changes what it parses."""

    def copy(self) -> dict:  # type: ignore[override]
        return {"status": "failed", "message": "from copy()"}


DICT_CASES: dict[str, Callable[[], Any]] = {
    # Missing or unknown status.
    "missing_status": lambda: {"message": "x", "warnings": ["w"]},
    "empty_dict": lambda: {},
    "status_key_wrong_case": lambda: {"Status": "ready"},
    "status_upper": lambda: {"status": "READY"},
    "status_trailing_space": lambda: {"status": "ready "},
    "status_empty": lambda: {"status": ""},
    "status_name_not_value": lambda: {"status": "PENDING_COMPILATION"},
    "status_underscore": lambda: {"status": "pending_execution"},
    "status_nul": lambda: {"status": "ready\x00"},
    "status_lone_surrogate": lambda: {"status": "ready\ud800"},
    # Status of the wrong type.
    "status_int": lambda: {"status": 1},
    "status_float": lambda: {"status": 1.5},
    "status_nan": lambda: {"status": float("nan")},
    "status_bool": lambda: {"status": True},
    "status_none": lambda: {"status": None},
    "status_bytes": lambda: {"status": b"ready"},
    "status_bytearray": lambda: {"status": bytearray(b"ready")},
    "status_list": lambda: {"status": ["ready"]},
    "status_tuple": lambda: {"status": ("ready",)},
    "status_dict": lambda: {"status": {"status": "ready"}},
    "status_set": lambda: {"status": {"ready"}},
    # Status given as enum members or str subclasses.
    "status_our_member": lambda: {"status": Status.FAILED},
    "status_ref_member": lambda: {"status": RefStatus.FAILED},
    "status_str_subclass": lambda: {"status": StrSub("ready")},
    "status_str_subclass_unknown": lambda: {"status": StrSub("nope")},
    "status_always_equal_str": lambda: {"status": AlwaysEqualStr("nope")},
    # Message of the wrong type.
    "message_int": lambda: {"status": "ready", "message": 1},
    "message_float": lambda: {"status": "ready", "message": 1.5},
    "message_nan": lambda: {"status": "ready", "message": float("nan")},
    "message_bool": lambda: {"status": "ready", "message": False},
    "message_list_of_int": lambda: {"status": "ready", "message": [1, 2]},
    "message_list_of_str": lambda: {"status": "ready", "message": ["a"]},
    "message_dict": lambda: {"status": "ready", "message": {"a": "b"}},
    "message_tuple": lambda: {"status": "ready", "message": ("a",)},
    "message_bytes": lambda: {"status": "ready", "message": b"abc"},
    "message_bytes_invalid_utf8": lambda: {"status": "ready", "message": b"\xff"},
    "message_bytearray": lambda: {"status": "ready", "message": bytearray(b"abc")},
    "message_str_subclass": lambda: {"status": "ready", "message": StrSub("m")},
    "message_status_member": lambda: {"status": "ready", "message": Status.ABORTED},
    "message_nested_dict": lambda: {"status": "ready", "message": {"a": {"b": [{"c": 1}]}}},
    # Message values that are valid.
    "message_none": lambda: {"status": "failed", "message": None},
    "message_empty": lambda: {"status": "failed", "message": ""},
    "message_unicode": lambda: {"status": "failed", "message": "\u00e9\u20ac\U0001f600\u65e5"},
    "message_controls": lambda: {"status": "failed", "message": "\x00\x01\n\t\x1f\x7f"},
    "message_escapes": lambda: {"status": "failed", "message": '"\\/\b\f\n\r\t'},
    "message_lone_surrogate": lambda: {"status": "failed", "message": "\ud800"},
    # Warnings of the wrong type.
    "warnings_str": lambda: {"status": "ready", "warnings": "abc"},
    "warnings_int": lambda: {"status": "ready", "warnings": 1},
    "warnings_float": lambda: {"status": "ready", "warnings": 1.0},
    "warnings_bool": lambda: {"status": "ready", "warnings": True},
    "warnings_list_of_int": lambda: {"status": "ready", "warnings": [1, 2]},
    "warnings_list_with_none": lambda: {"status": "ready", "warnings": ["a", None]},
    "warnings_list_of_lists": lambda: {"status": "ready", "warnings": [["a"]]},
    "warnings_list_of_bytes": lambda: {"status": "ready", "warnings": [b"a"]},
    "warnings_dict": lambda: {"status": "ready", "warnings": {"a": "b"}},
    "warnings_bytes": lambda: {"status": "ready", "warnings": b"ab"},
    # Warnings containers pydantic converts.
    "warnings_tuple": lambda: {"status": "ready", "warnings": ("a", "b")},
    "warnings_set": lambda: {"status": "ready", "warnings": {"a"}},
    "warnings_frozenset": lambda: {"status": "ready", "warnings": frozenset({"a"})},
    "warnings_deque": lambda: {"status": "ready", "warnings": collections.deque(["a"])},
    "warnings_str_subclasses": lambda: {"status": "ready", "warnings": [StrSub("a"), "b"]},
    "warnings_status_members": lambda: {"status": "ready", "warnings": [Status.READY]},
    "warnings_list_subclass": lambda: {"status": "ready", "warnings": ListSub(["a"])},
    # Valid warnings.
    "warnings_none": lambda: {"status": "ready", "warnings": None},
    "warnings_empty": lambda: {"status": "ready", "warnings": []},
    "warnings_many": lambda: {"status": "ready", "warnings": [str(i) for i in range(100)]},
    "warnings_lone_surrogates": lambda: {"status": "ready", "warnings": ["\udc80", "\ud800"]},
    # Several errors at once: the order of errors() must match.
    "message_and_warnings_wrong": lambda: {"status": "ready", "message": 1, "warnings": 2},
    "warnings_before_message": lambda: {"warnings": [1], "message": 2, "status": "ready"},
    "unknown_status_and_wrong_message": lambda: {"status": "x", "message": 1},
    "missing_status_and_wrong_message": lambda: {"message": 1},
    # Keys that are not str.
    "int_key": lambda: {"status": "ready", 1: "x"},
    "none_key": lambda: {"status": "ready", None: "x"},
    "tuple_key": lambda: {"status": "ready", ("a",): "x"},
    "float_key": lambda: {"status": "ready", 1.5: "x"},
    "bytes_status_key": lambda: {b"status": "ready"},
    "int_key_and_missing_status": lambda: {1: "ready"},
    "int_key_and_unknown_status": lambda: {"status": "x", 1: "y"},
    "status_member_as_key": lambda: {"status": "ready", Status.READY: "x"},
    "str_subclass_keys": lambda: {StrSub("status"): "ready", StrSub("message"): "m"},
    "str_subclass_extra_key": lambda: {"status": "ready", StrSub("x"): 1},
    "key_equal_to_status": lambda: {KeyEqualToStatus(): "ready"},
    "key_whose_eq_raises": lambda: {KeyWhoseEqRaises(): "ready"},
    # Extras.
    "extras_ignored": lambda: {"status": "ready", "x": 1, "y": [1, {"z": None}]},
    "extras_named_like_internals": lambda: {
        "status": "ready",
        "self": 1,
        "__pydantic_self__": 2,
        "model_config": 3,
        "__dict__": 4,
        "__class__": 5,
        "model_fields_set": 6,
        "__pydantic_fields_set__": 7,
    },
    "extra_nested_deeply": lambda: {"status": "ready", "x": [[[[[[[[[[{"a": [1]}]]]]]]]]]]},
    "extra_non_json_values": lambda: {"status": "ready", "x": object, "y": {1, 2}, "z": b""},
    "field_order_reversed": lambda: {"warnings": ["w"], "message": "m", "status": "aborted"},
    "non_ascii_extra_key": lambda: {"status": "ready", "st\u0430tus": "x", "\U0001f600": 1},
}


@pytest.mark.parametrize("make", DICT_CASES.values(), ids=DICT_CASES.keys())
def test_from_dict_edge_cases(make: Callable[[], Any]) -> None:
    """Each named kind of dict input gives the reference's from_dict result or exception."""
    check_from_dict(make())


@pytest.mark.parametrize("make", DICT_CASES.values(), ids=DICT_CASES.keys())
def test_model_validate_edge_cases(make: Callable[[], Any]) -> None:
    """Each named kind of dict input gives pydantic's model_validate result or ValidationError."""
    check_model_validate(make())


class Attributes:
    """An object with the right attributes: model_validate without from_attributes rejects it."""

    status = "ready"
    message = None
    warnings = None


NON_DICT_CASES: dict[str, Callable[[], Any]] = {
    "none": lambda: None,
    "int": lambda: 1,
    "str": lambda: "status",
    "json_text": lambda: '{"status": "ready"}',
    "bytes": lambda: b'{"status": "ready"}',
    "empty_list": lambda: [],
    "list_of_pairs": lambda: [("status", "ready")],
    "tuple": lambda: (),
    "set": lambda: {"status"},
    "attributes_object": Attributes,
    "ordered_dict": lambda: collections.OrderedDict(status="ready", message="m"),
    "defaultdict_without_status": lambda: collections.defaultdict(lambda: "ready"),
    "defaultdict_with_status": lambda: collections.defaultdict(str, status="failed"),
    "mappingproxy": lambda: types.MappingProxyType({"status": "ready", "warnings": ["a"]}),
    "userdict": lambda: collections.UserDict({"status": "ready"}),
    "counter": lambda: collections.Counter(status=1),
    "dict_subclass_copy_override": lambda: CopyReturnsOther(status="ready"),
    "chainmap": lambda: collections.ChainMap({"status": "ready"}, {"message": "m"}),
}


@pytest.mark.parametrize("make", NON_DICT_CASES.values(), ids=NON_DICT_CASES.keys())
def test_from_dict_non_dict_inputs(make: Callable[[], Any]) -> None:
    """Inputs that are not plain dicts get the reference's own behaviour (result or error)."""
    check_from_dict(make())


@pytest.mark.parametrize("make", NON_DICT_CASES.values(), ids=NON_DICT_CASES.keys())
def test_model_validate_non_dict_inputs(make: Callable[[], Any]) -> None:
    """Inputs that are not plain dicts get pydantic's own model_validate behaviour."""
    check_model_validate(make())


ORACLES = {"from_dict": oracle_from_dict, "model_validate": oracle_model_validate}


@pytest.mark.parametrize("value", STATUS_VALUES)
@pytest.mark.parametrize("entry", ["from_dict", "model_validate"])
def test_every_status_value(entry: str, value: str) -> None:
    """Each of the five status values maps to our own Status member with that value."""
    result = getattr(RunStatus, entry)({"status": value})
    assert type(result.status) is Status
    assert result.status is Status(value)
    assert outcome(getattr(RunStatus, entry), {"status": value}) == outcome(
        ORACLES[entry], {"status": value}
    )


# --------------------------------------------------------------------------------------------
# Explicit JSON cases
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", EDGE_DOCUMENTS.values(), ids=EDGE_DOCUMENTS.keys())
def test_from_json_edge_documents(doc: str | bytes) -> None:
    """Each named raw document, as bytes, bytearray, memoryview and str, matches the oracle."""
    check_from_json(doc)


@pytest.mark.parametrize("count", [0, 1, 2, 7, 8, 9, 16, 40])
@pytest.mark.parametrize("separators", [(",", ":"), (" , ", " : ")], ids=["compact", "spaced"])
def test_plain_warnings_lists_of_every_length(count: int, separators: tuple[str, str]) -> None:
    """The scan keeps the first eight items of a plain list as it reads them and finds longer
    lists' items again in the list's text: both match the oracle, ASCII or not."""
    warnings = [f"w{i} caf\u00e9 \u2603" if i % 3 == 0 else f"warning {i}" for i in range(count)]
    payload = {"message": "m", "warnings": warnings, "status": "ready"}
    check_from_json(json.dumps(payload, separators=separators, ensure_ascii=False))
    check_model_validate_json(json.dumps(payload, separators=separators))


@pytest.mark.parametrize("doc", EDGE_DOCUMENTS.values(), ids=EDGE_DOCUMENTS.keys())
def test_model_validate_json_edge_documents(doc: str | bytes) -> None:
    """Each named raw document, as str, bytes and bytearray, matches pydantic's result."""
    check_model_validate_json(doc)


@pytest.mark.parametrize(
    "raw",
    [
        memoryview(b'{"status": "ready"}'),
        memoryview(b"not json"),
        StrSub('{"status": "ready"}'),
        type("B", (bytes,), {})(b'{"status": "ready"}'),
    ],
    ids=["memoryview_valid", "memoryview_invalid", "str_subclass", "bytes_subclass"],
)
def test_model_validate_json_unusual_input_types(raw: Any) -> None:
    """Input types pydantic treats specially (it refuses memoryview) get pydantic's answer."""
    assert outcome(RunStatus.model_validate_json, raw) == outcome(oracle_model_validate_json, raw)
