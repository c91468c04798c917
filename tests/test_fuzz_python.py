"""Fuzzing through the public API: the native path against the pure path on hostile input.

Random bytes and damaged valid payloads (bit flips, insertions, deletions, truncations,
duplicated members, escapes, surrogates, odd numbers, deep nesting) go through every entry
point; the outcome (result, or exception type and message) must be the pure path's, and an
exception must be one of the documented kinds. Each test runs 1500 examples, scaled by the
hypothesis profile (``support.profiles``); ``FUZZ_EXAMPLES`` sets them instead, for a long run.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from iqm_runstatus import NATIVE, RunStatus, pure_from_dict, pure_from_json
from support.json_text import valid_documents
from support.outcomes import outcome
from support.profiles import scale
from support.strategies import status_dicts, valid_payloads

pytestmark = pytest.mark.skipif(not NATIVE, reason="compares the native path with the pure path")

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", scale(1500)))
fuzz_settings = settings(max_examples=EXAMPLES, database=None)

# What a caller may see: malformed JSON (JSONDecodeError, UnicodeDecodeError and the int digit
# limit are ValueErrors), a non-object or non-str key (TypeError), no status (KeyError), a bad
# field (ValidationError, also a ValueError), and nesting past the recursion limit.
DOCUMENTED = (ValueError, TypeError, KeyError, pydantic.ValidationError, RecursionError)


def pydantic_validate_json(raw: Any) -> RunStatus:
    """pydantic's own ``model_validate_json`` on this package's model, without the core."""
    return pydantic.BaseModel.model_validate_json.__func__(RunStatus, raw)  # type: ignore[attr-defined, no-any-return]


def pydantic_validate(obj: Any) -> RunStatus:
    """pydantic's own ``model_validate`` on this package's model, without the core."""
    return pydantic.BaseModel.model_validate.__func__(RunStatus, obj)  # type: ignore[attr-defined, no-any-return]


def assert_documented(fn: Any, arg: Any) -> None:
    """``fn(arg)`` returns or raises one of the documented exception types."""
    try:
        fn(arg)
    except DOCUMENTED:
        pass


def check_raw(data: bytes) -> None:
    """Every JSON entry point on every form of ``data`` agrees with its pure counterpart."""
    forms: list[Any] = [data, bytearray(data), memoryview(data)]
    try:
        forms.append(data.decode("utf-8"))
    except UnicodeDecodeError:
        forms.append(data.decode("utf-8", "surrogateescape"))
    for raw in forms:
        assert_documented(RunStatus.from_json, raw)
        assert outcome(RunStatus.from_json, raw) == outcome(pure_from_json, raw), raw
    for raw in (forms[0], forms[1], forms[3]):
        assert_documented(RunStatus.model_validate_json, raw)
        assert outcome(RunStatus.model_validate_json, raw) == outcome(
            pydantic_validate_json, raw
        ), raw


# --------------------------------------------------------------------------------------------
# Mutations of valid documents
# --------------------------------------------------------------------------------------------

_MEMBER = re.compile(
    rb'"(?:[^"\\]|\\.)*"\s*:\s*(?:"(?:[^"\\]|\\.)*"|null|true|false|-?\d[\d.eE+-]*)'
)
_SPLICES = [
    b"NaN",
    b"-Infinity",
    b"1e400",
    b"9" * 5000,
    b"\\ud800",
    b"\\udc00\\ud800",
    b"\\ud83d\\ude00",
    b"\\u0000",
    b"\x00",
    b"\xef\xbb\xbf",
    b"\xed\xa0\x80",
    b"\xff",
    b"\\",
    b'"',
    b"[" * 130 + b"]" * 130,
    b"[" * 3000,
    b'"status": "ready", ',
    b'"st\\u0061tus": "failed", ',
    b'"message": 1, ',
    b'"warnings": [null], ',
]


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` after one to four random edits."""
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        kind = draw(st.integers(0, 8))
        if kind == 0 and data:  # flip one bit
            position = min(position, len(data) - 1)
            flipped = data[position] ^ (1 << draw(st.integers(0, 7)))
            data = data[:position] + bytes([flipped]) + data[position + 1 :]
        elif kind == 1:  # insert random bytes
            data = data[:position] + draw(st.binary(min_size=1, max_size=4)) + data[position:]
        elif kind == 2:  # delete a run
            data = data[:position] + data[position + draw(st.integers(1, 8)) :]
        elif kind == 3:  # truncate
            data = data[:position]
        elif kind == 4:  # duplicate a member right after the opening brace
            members = _MEMBER.findall(data)
            if members and data.startswith(b"{"):
                data = b"{" + draw(st.sampled_from(members)) + b", " + data[1:]
        elif kind == 5:  # escape one ASCII letter as \u00XX
            letters = [i for i, byte in enumerate(data) if 0x61 <= byte <= 0x7A]
            if letters:
                i = draw(st.sampled_from(letters))
                data = data[:i] + f"\\u{data[i]:04x}".encode() + data[i + 1 :]
        elif kind == 6:  # splice a hostile token in
            data = data[:position] + draw(st.sampled_from(_SPLICES)) + data[position:]
        elif kind == 7:  # swap two bytes
            if len(data) > 1:
                a, b = sorted(draw(st.lists(st.integers(0, len(data) - 1), min_size=2, max_size=2)))
                data = (
                    data[:a] + data[b : b + 1] + data[a + 1 : b] + data[a : a + 1] + data[b + 1 :]
                )
        else:  # re-encode as UTF-16 or UTF-32
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            encoding = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32"]))
            data = text.encode(encoding, "surrogatepass")
    return data


@fuzz_settings
@given(st.binary(max_size=64))
def test_random_bytes(data: bytes) -> None:
    """Arbitrary bytes: the pure path's outcome, a documented exception, never a crash."""
    check_raw(data)


@fuzz_settings
@given(
    st.one_of(valid_documents, valid_payloads().map(json.dumps))
    .map(lambda doc: doc.encode("utf-8", "surrogatepass"))
    .flatmap(mutations)
)
def test_mutated_payloads(data: bytes) -> None:
    """Valid documents after random edits: the pure path's outcome through every entry point."""
    check_raw(data)


@fuzz_settings
@given(status_dicts)
def test_dicts(inp: Any) -> None:
    """Status dicts, valid and not: from_dict and model_validate match their pure counterparts."""
    assert_documented(RunStatus.from_dict, inp)
    assert outcome(RunStatus.from_dict, inp) == outcome(pure_from_dict, inp)
    assert_documented(RunStatus.model_validate, inp)
    assert outcome(RunStatus.model_validate, inp) == outcome(pydantic_validate, inp)
