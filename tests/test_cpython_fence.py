"""The one module of the core that touches CPython internals (``src/cpython.rs``), through the
public API, on whichever interpreter runs the tests (``make test-pythons`` runs it on each
supported version).

Each of its operations is exercised where the package uses it: ASCII strings built in place
(``from_json``), field names read from dict keys (``from_dict``), and the instance slots written
on every new ``RunStatus``. The results must be those of the pure path and of Python's own
objects, and each supported version must build the fast route, not the portable fallback.
"""

from __future__ import annotations

import json
import sys
import sysconfig

import pytest
from iqm_runstatus import RunStatus, Status, pure_from_dict, pure_from_json
from support.outcomes import outcome

_core = pytest.importorskip("iqm_runstatus._core")

SUPPORTED = (3, 9) <= sys.version_info[:2] <= (3, 13)
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def test_supported_versions_build_the_layout_route() -> None:
    """CPython 3.9 to 3.13 get the direct route; anything else the portable one, never silently."""
    if SUPPORTED and sys.implementation.name == "cpython" and not FREE_THREADED:
        assert _core.CPYTHON_ROUTE == "layout"
    else:
        assert _core.CPYTHON_ROUTE == "portable"


ASCII_TEXTS = ["", "a", "boom", "x" * 15, "y" * 16, "z" * 17, "calibration is old " * 50]


def python_made(text: str) -> str:
    """A str Python builds itself (not interned, not shared with a constant)."""
    return "".join(list(text))


@pytest.mark.parametrize("text", ASCII_TEXTS, ids=len)
def test_ascii_strings_are_python_strings(text: str) -> None:
    """Strings the core writes in place are exact ASCII strs, equal in value, size and hash to
    the ones Python makes, and behave as such (as keys, joined, encoded)."""
    raw = json.dumps({"status": "failed", "message": text, "warnings": [text, "w"]}).encode()
    result = RunStatus.from_json(raw)
    assert outcome(RunStatus.from_json, raw) == outcome(pure_from_json, raw)
    expected = python_made(text)
    for made in (result.message, result.warnings[0]):
        assert type(made) is str
        assert made == expected and made.isascii()
        assert sys.getsizeof(made) == sys.getsizeof(expected)
        assert hash(made) == hash(expected)
        assert {expected: 1}[made] == 1
        assert made + "!" == expected + "!"
        assert made.encode() == expected.encode()


def fresh_keys(payload: dict) -> dict:
    """The same dict with every str key built anew, so the core compares keys by value."""
    fresh = {}
    for key, value in payload.items():
        if type(key) is str:
            key = python_made(key)
            if key in ("status", "message", "warnings"):
                assert sys.intern(key) is not key  # not the interned name the core knows
        fresh[key] = value
    return fresh


class KeyStr(str):
    """A str subclass key: left to the pure path."""


KEY_CASES = {
    "fields": {"status": "failed", "message": "m", "warnings": ["w"]},
    "reordered": {"warnings": None, "message": None, "status": "ready"},
    "near_misses": {"status": "ready", "statu": 1, "statuss": 2, "Status": 3, "": 4},
    "non_ascii": {"st\u0430tus": "failed", "status": "aborted", "m\u00e9ssage": 1},
    "astral": {"\U0001f600": 1, "status": "pending execution"},
    "lone_surrogate": {"status\ud800": 1, "status": "ready"},
    "nul": {"status\x00": "x", "status": "ready"},
    "missing_status": {"message": "m"},
    "subclass_key": {KeyStr("status"): "ready"},
    "subclass_extra": {"status": "ready", KeyStr("x"): 1},
}


@pytest.mark.parametrize("payload", KEY_CASES.values(), ids=KEY_CASES.keys())
def test_field_names_are_read_from_keys_by_value(payload: dict) -> None:
    """Keys that are not the interned field names are matched by their characters: the result
    or exception is the pure path's, for json.loads keys as for dicts built in code."""
    for inp in (payload, fresh_keys(payload)):
        assert outcome(RunStatus.from_dict, inp) == outcome(pure_from_dict, inp)
        assert outcome(RunStatus.model_validate, inp) == outcome(pydantic_validate, inp)
    raw = json.dumps(payload).encode("utf-8", "surrogatepass")
    if all(type(key) is str for key in payload):
        # json.loads makes its own keys, never the interned names.
        assert outcome(RunStatus.from_dict, json.loads(raw)) == outcome(pure_from_json, raw)


def pydantic_validate(obj: dict) -> RunStatus:
    """pydantic's own model_validate, past the package's override."""
    return super(RunStatus, RunStatus).model_validate(obj)


SLOT_INPUTS = [
    {"status": "ready"},
    {"status": "failed", "message": "m"},
    {"status": "aborted", "warnings": ["w"]},
    {"status": "pending compilation", "message": None, "warnings": None},
]


@pytest.mark.parametrize("payload", SLOT_INPUTS, ids=lambda p: ",".join(p))
def test_instance_slots_hold_what_pydantic_stores(payload: dict) -> None:
    """Every native entry point writes the three pydantic slots: the fields set (a set of its
    own, freed with the instance), no extras and no private attributes."""
    built = RunStatus(**payload)
    for make in (
        lambda: RunStatus.from_dict(payload),
        lambda: RunStatus.model_validate(payload),
        lambda: RunStatus.from_json(json.dumps(payload)),
        lambda: RunStatus.model_validate_json(json.dumps(payload).encode()),
    ):
        instance = make()
        assert type(instance.__pydantic_fields_set__) is set
        assert instance.__pydantic_fields_set__ == built.__pydantic_fields_set__ == set(payload)
        assert instance.__pydantic_extra__ is None and instance.__pydantic_private__ is None
        assert instance.status is Status(payload["status"])
        fields_set = instance.__pydantic_fields_set__
        # Held by the slot and by `fields_set` (getrefcount adds its argument).
        assert sys.getrefcount(fields_set) == 3
        other = make()
        assert other.__pydantic_fields_set__ is not fields_set
        del instance
        assert sys.getrefcount(fields_set) == 2
