"""Shared helpers for the differential tests: outcome normalisation, oracles and strategies.

Test modules import them from here (``from support import ...``); ``conftest.py`` holds only
what pytest itself loads: the hypothesis profile and the markers.

The reference is iqm-client 17.2's ``RunStatus``/``Status``. Every test compares what our
package does with what the reference does on the same input, through :func:`outcome`, which
turns a call into a plain, comparable description of its result or of the exception it raised.

iqm-client 17.2 installs on CPython 3.9 to 3.11 only. Elsewhere the tests run with
``IQM_RUNSTATUS_ORACLE=pure``: the single-payload entry points are compared with the package's
pure path (``pure_from_dict``, ``pure_from_json`` and pydantic's own validation), and the
classes with 17.2's copied into ``reference_model.py``; ``test_oracles.py`` checks both
against the release where it installs.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import json
import os
import random
import re
import subprocess
import sys
from typing import Any, Callable

import pydantic
import reference_model
from hypothesis import strategies as st
from iqm_runstatus import RunStatus, Status, pure_from_dict, pure_from_json

# --------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------

ORACLE = os.environ.get("IQM_RUNSTATUS_ORACLE", "reference")
"""``reference``: iqm-client 17.2 itself; ``pure``: the pure path and ``reference_model.py``."""

if ORACLE == "reference":
    try:
        from iqm.iqm_client.iqm_client import RunStatus as RefRunStatus
        from iqm.iqm_client.iqm_client import Status as RefStatus
    except ImportError as exc:
        raise ImportError(
            "the differential tests compare with iqm-client 17.2, which is not installed; "
            "where it cannot be (CPython 3.12 on), run them with IQM_RUNSTATUS_ORACLE=pure"
        ) from exc
elif ORACLE == "pure":
    RefRunStatus, RefStatus = reference_model.RunStatus, reference_model.Status
else:
    raise ValueError(f"IQM_RUNSTATUS_ORACLE must be 'reference' or 'pure', not {ORACLE!r}")

FIELD_NAMES = ("status", "message", "warnings")
STATUS_VALUES = [member.value for member in RefStatus]

# The package's own Status class for each model class, so a result can be checked to hold
# the right enum (ours for ours, the reference's for the reference).
_OWN_STATUS = {
    RunStatus: Status,
    RefRunStatus: RefStatus,
    reference_model.RunStatus: reference_model.Status,
}


def ref_from_json(raw: Any) -> RefRunStatus:
    """The documented meaning of ``RunStatus.from_json``, built on the reference.

    ``RefRunStatus.from_dict(json.loads(raw))``, with a memoryview read as bytes and a
    top-level JSON value that is not an object rejected with TypeError.
    """
    if isinstance(raw, memoryview):
        raw = bytes(raw)
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise TypeError(
            f"a job status must be a JSON object at the top level, not {type(value).__name__}"
        )
    return RefRunStatus.from_dict(value)


def pydantic_validate_python(obj: Any) -> RunStatus:
    """pydantic's own ``model_validate`` on the package's model, past its fast path."""
    return super(RunStatus, RunStatus).model_validate(obj)


def pydantic_validate_json(json_data: Any) -> RunStatus:
    """pydantic's own ``model_validate_json`` on the package's model, past its fast path."""
    return super(RunStatus, RunStatus).model_validate_json(json_data)


# What each entry point is compared with in the differential tests.
oracle_from_dict: Callable[[Any], Any]
oracle_from_json: Callable[[Any], Any]
oracle_model_validate: Callable[[Any], Any]
oracle_model_validate_json: Callable[[Any], Any]
if ORACLE == "reference":
    oracle_from_dict = RefRunStatus.from_dict
    oracle_from_json = ref_from_json
    oracle_model_validate = RefRunStatus.model_validate
    oracle_model_validate_json = RefRunStatus.model_validate_json
else:
    oracle_from_dict = pure_from_dict
    oracle_from_json = pure_from_json
    oracle_model_validate = pydantic_validate_python
    oracle_model_validate_json = pydantic_validate_json


# --------------------------------------------------------------------------------------------
# Outcome normalisation
# --------------------------------------------------------------------------------------------

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_LONG = 4000


def squash(text: str) -> str:
    """Object addresses blanked out, long text replaced by its length and digest."""
    if len(text) > _LONG:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return f"<text of {len(text)} chars, sha256 {digest}>"
    return _ADDRESS.sub("0x?", text)


def describe_value(value: Any) -> Any:
    """A value as a comparable structure that keeps exact types (str vs str subclass, enums)."""
    if value is None or type(value) in (bool, int):
        return value
    if isinstance(value, enum.Enum):
        return ("enum", type(value).__name__, value.name, describe_value(value.value))
    if type(value) is str:
        return ("str", squash(value) if len(value) > _LONG else value)
    if type(value) is float:
        return ("float", repr(value))
    if type(value) is list:
        if len(value) > 1000:
            return ("list", len(value), squash(repr(value)))
        return ("list", [describe_value(item) for item in value])
    if type(value) is dict:
        return ("dict", [(describe_value(k), describe_value(v)) for k, v in value.items()])
    return (type(value).__name__, squash(repr(value)))


def attempt(fn: Callable[[], Any]) -> Any:
    """``fn()``, or a description of the exception it raised."""
    try:
        return fn()
    except Exception as exc:
        return ("raised", type(exc).__name__, squash(str(exc)))


def _is_large(result: Any) -> bool:
    """Whether the instance holds megabytes of text (then derived views are not re-hashed)."""
    size = len(result.message) if isinstance(result.message, str) else 0
    if isinstance(result.warnings, list):
        size += sum(len(w) for w in result.warnings if isinstance(w, str))
    return size > 100 * _LONG


def describe_model(result: Any) -> dict[str, Any]:
    """Everything observable about a RunStatus instance, comparable across the two packages.

    For instances holding megabytes of text, repr() and model_dump() are left out: pydantic
    derives them from the fields compared here, and hashing each view would be slow.
    """
    cls = type(result)
    if cls not in _OWN_STATUS:
        return {"not a RunStatus": (cls.__module__, cls.__qualname__, squash(repr(result)))}
    description = {
        "class": cls.__name__,
        "dict_keys": list(result.__dict__),
        "status": describe_value(result.status),
        "status_is_own_enum": type(result.status) is _OWN_STATUS[cls],
        "message": describe_value(result.message),
        "warnings": describe_value(result.warnings),
        "fields_set": sorted(result.model_fields_set),
        "fields_set_type": type(result.__pydantic_fields_set__).__name__,
        "extra": result.__pydantic_extra__,
        "private": result.__pydantic_private__,
        "dump_json": attempt(lambda: squash(result.model_dump_json())),
    }
    if not _is_large(result):
        description.update(
            {
                "repr": squash(repr(result)),
                "dump": describe_value(result.model_dump()),
                "dump_exclude_unset": describe_value(result.model_dump(exclude_unset=True)),
                "dump_json_mode": attempt(lambda: describe_value(result.model_dump(mode="json"))),
            }
        )
    return description


def normalize_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """pydantic's ``errors()`` without 'url', with input and ctx values compared by repr."""
    normalized = []
    for error in errors:
        item = {}
        for key, value in error.items():
            if key == "url":
                continue
            if key == "input":
                value = squash(repr(value))
            elif key == "ctx":
                value = {k: squash(repr(v)) for k, v in value.items()}
            item[key] = value
        normalized.append(item)
    return normalized


def describe_exception(exc: BaseException) -> tuple[Any, ...]:
    """The exception's exact type, message and the attributes a caller may inspect."""
    cls = type(exc)
    kind = f"{cls.__module__}.{cls.__qualname__}"
    details: Any = squash(repr(exc.args))
    if isinstance(exc, pydantic.ValidationError):
        details = (exc.title, exc.error_count(), normalize_errors(exc.errors()))
    elif isinstance(exc, json.JSONDecodeError):
        details = (exc.msg, exc.pos, exc.lineno, exc.colno, squash(exc.doc))
    elif isinstance(exc, UnicodeDecodeError):
        details = (exc.encoding, exc.reason, exc.start, exc.end, len(exc.object))
    return (kind, squash(str(exc)), details)


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """``('ok', description)`` of ``fn(*args)``, or ``('err', type, str, details)``."""
    try:
        result = fn(*args)
    except Exception as exc:
        return ("err", *describe_exception(exc))
    return ("ok", describe_model(result))


_NO_COPY = object()


def snapshot(value: Any) -> tuple[Any, str]:
    """A deep copy and the exact repr of ``value``, taken before a call, to prove no mutation."""
    try:
        saved = copy.deepcopy(value)
    except TypeError:  # e.g. a mappingproxy: the repr check alone must do
        saved = _NO_COPY
    return saved, repr(value)


def assert_unchanged(value: Any, before: tuple[Any, str]) -> None:
    """``value`` still has its repr (contents, key order) and still equals its deep copy."""
    saved, saved_repr = before
    assert repr(value) == saved_repr
    if saved is _NO_COPY:
        return
    try:
        equal = value == saved
    except Exception:  # hostile keys whose __eq__ raises: the repr check above stands
        return
    assert equal or squash(repr(saved)) == squash(saved_repr)  # NaN != NaN, same contents


def sharing(inp: dict, result: Any) -> tuple[Any, ...]:
    """Which input objects the result holds itself (not copies): message, warnings, items."""
    message, warnings = inp.get("message"), inp.get("warnings")
    items: list[bool] = []
    if isinstance(warnings, list) and isinstance(result.warnings, list):
        items = [a is b for a, b in zip(result.warnings, warnings)]
    return (
        message is not None and result.message is message,
        warnings is not None and result.warnings is warnings,
        items,
    )


def assert_same_sharing(inp: dict, ours: Any, ref: Any) -> None:
    """Ours shares input objects exactly where the reference does; the warnings list is fresh."""
    assert sharing(inp, ours) == sharing(inp, ref)
    if isinstance(inp.get("warnings"), list):
        assert ours.warnings is not inp["warnings"]


def check_dict_entry(
    ours_fn: Callable[[Any], Any], ref_fn: Callable[[Any], Any], inp: Any
) -> tuple[Any, ...]:
    """Ours and the reference's entry point agree on ``inp``; neither mutates it."""
    before = snapshot(inp)
    ours = outcome(ours_fn, inp)
    assert_unchanged(inp, before)
    ref = outcome(ref_fn, inp)
    assert_unchanged(inp, before)
    assert ours == ref
    if ours[0] == "ok" and isinstance(inp, dict):
        assert_same_sharing(inp, ours_fn(inp), ref_fn(inp))
    return ours


def check_from_dict(inp: Any) -> tuple[Any, ...]:
    """Ours and the oracle's ``from_dict`` agree on ``inp``; neither mutates it."""
    return check_dict_entry(RunStatus.from_dict, oracle_from_dict, inp)


def check_model_validate(obj: Any) -> tuple[Any, ...]:
    """Ours and the oracle's ``model_validate`` (pydantic's) agree on ``obj``; neither mutates
    it."""
    return check_dict_entry(RunStatus.model_validate, oracle_model_validate, obj)


def raw_forms(doc: str | bytes) -> dict[str, Any]:
    """The same document as bytes, bytearray, memoryview and str.

    A str document is encoded as UTF-8 with lone surrogates passed through (``json.loads``
    decodes bytes that way); a bytes document that is not UTF-8 is decoded with
    ``surrogateescape``, which gives a str with lone surrogates in it: a different but equally
    valid input for the str form.
    """
    if isinstance(doc, str):
        text = doc
        data = doc.encode("utf-8", "surrogatepass")
    else:
        data = doc
        text = doc.decode("utf-8", "surrogateescape")
    return {
        "bytes": data,
        "bytearray": bytearray(data),
        "memoryview": memoryview(data),
        "str": text,
    }


def check_from_json(doc: str | bytes) -> list[tuple[Any, ...]]:
    """Ours and the documented oracle agree on ``from_json`` for every form of ``doc``."""
    results = []
    for form, raw in raw_forms(doc).items():
        ours = outcome(RunStatus.from_json, raw)
        ref = outcome(oracle_from_json, raw)
        assert ours == ref, form
        results.append(ours)
    return results


def check_model_validate_json(doc: str | bytes) -> list[tuple[Any, ...]]:
    """Ours and the oracle's ``model_validate_json`` (pydantic's) agree on str, bytes and
    bytearray."""
    results = []
    forms = raw_forms(doc)
    for form in ("str", "bytes", "bytearray"):
        raw = forms[form]
        ours = outcome(RunStatus.model_validate_json, raw)
        ref = outcome(oracle_model_validate_json, raw)
        assert ours == ref, form
        results.append(ours)
    return results


# --------------------------------------------------------------------------------------------
# Strategies: Python values
# --------------------------------------------------------------------------------------------


class StrSub(str):
    """A str subclass: the reference accepts it where a str goes, pydantic converts it."""

    __slots__ = ()


SPECIAL_CHARS = [
    '"',
    "\\",
    "/",
    "\b",
    "\f",
    "\n",
    "\r",
    "\t",
    "\x00",
    "\x01",
    "\x1f",
    "\x7f",
    "\x80",
    "\u00e9",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\uffff",
    "\u20ac",
    "\u65e5",
    "\U0001f600",
    "\u200d",
    "\U0001d11e",
    "\U0010ffff",
]

SAMPLE_TEXTS = [
    "",
    "ready",
    "null",
    '"quoted"',
    "line\nbreak",
    "tab\there",
    "back\\slash",
    "\u00fcn\u00efc\u00f6d\u00e9",
    "\u65e5\u672c\u8a9e",
    "\U0001f600\U0001f389",
    "\U0001f469\u200d\U0001f52c",
    "\\u0041",
    "a" * 300,
]

texts = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from(SPECIAL_CHARS) | st.characters(), max_size=20),
    st.text(alphabet=st.characters(codec="ascii"), max_size=20),
    st.sampled_from(SAMPLE_TEXTS),
)
"""Strings without lone surrogates: unicode, emoji, escapes and control characters."""

surrogate_texts = st.text(
    alphabet=st.characters(categories=["Cs"]) | st.sampled_from("a\u00e9\U0001f600"),
    min_size=1,
    max_size=6,
)
"""Strings holding lone surrogates, which Python allows and JSON can escape."""

any_texts = st.one_of(texts, texts, texts, surrogate_texts)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    any_texts,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_texts, children, max_size=4)
    ),
    max_leaves=6,
)
"""Any value ``json.dumps`` writes (no NaN: added separately as raw text)."""

TRICKY_EXTRA_KEYS = [
    "",
    "Status",
    "STATUS",
    "status ",
    " status",
    "messages",
    "warning",
    "self",
    "__pydantic_self__",
    "model_config",
    "model_fields",
    "model_fields_set",
    "__dict__",
    "__class__",
    "__pydantic_fields_set__",
    "__pydantic_extra__",
    "st\u0430tus",  # Cyrillic a
]

extra_keys = (st.sampled_from(TRICKY_EXTRA_KEYS) | any_texts).filter(
    lambda key: key not in FIELD_NAMES
)

message_values = st.one_of(st.none(), any_texts)
warnings_values = st.one_of(st.none(), st.lists(any_texts, max_size=5))


@st.composite
def valid_payloads(draw: st.DrawFn, extra_values: st.SearchStrategy[Any] = json_values) -> dict:
    """A status dict the reference accepts: every status, optional message/warnings, extras."""
    items: list[tuple[Any, Any]] = [("status", draw(st.sampled_from(STATUS_VALUES)))]
    if draw(st.booleans()):
        items.append(("message", draw(message_values)))
    if draw(st.booleans()):
        items.append(("warnings", draw(warnings_values)))
    items.extend(draw(st.dictionaries(extra_keys, extra_values, max_size=3)).items())
    return dict(draw(st.permutations(items)))


NEAR_MISS_STATUSES = [
    "",
    "READY",
    "Ready",
    " ready",
    "ready ",
    "ready\n",
    "ready\x00",
    "readyy",
    "pending_compilation",
    "pending  compilation",
    "pendingcompilation",
    "PENDING_EXECUTION",
    "pending",
    "fail",
    "failed\u200b",
    "abort\u0065d\u0301",
    "r\u0435ady",  # Cyrillic e
    "null",
    "None",
    "Status.READY",
]

unknown_statuses = st.sampled_from(NEAR_MISS_STATUSES) | any_texts.filter(
    lambda s: s not in STATUS_VALUES
)

wrong_scalar_types = st.one_of(
    st.integers(),
    st.floats(),  # includes NaN and infinities
    st.booleans(),
    st.binary(max_size=6),
    st.binary(max_size=6).map(bytearray),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(texts, json_scalars, max_size=2),
    st.tuples(texts),
    st.tuples(texts, st.integers()),
)

bad_messages = st.one_of(
    wrong_scalar_types,
    st.lists(texts, max_size=2),
    texts.map(StrSub),
    st.sampled_from(list(Status) + list(RefStatus)),
)

bad_warnings = st.one_of(
    wrong_scalar_types,
    texts,
    st.lists(st.none(), min_size=1, max_size=2),
    st.lists(texts | st.integers() | st.none(), min_size=1, max_size=4),
    st.lists(texts, max_size=3).map(tuple),
    st.frozensets(texts, max_size=3),
    st.sets(texts, max_size=3),
    st.dictionaries(texts, texts, max_size=2),
    st.lists(texts.map(StrSub), min_size=1, max_size=3),
    st.lists(st.binary(max_size=4), min_size=1, max_size=2),
    st.lists(st.sampled_from(list(Status)), min_size=1, max_size=2),
    st.lists(st.lists(texts, max_size=2), min_size=1, max_size=2),
)

bad_status_values = st.one_of(
    unknown_statuses,
    wrong_scalar_types,
    st.none(),
    st.sampled_from(list(Status) + list(RefStatus)),
    st.sampled_from(STATUS_VALUES).map(StrSub),
    st.sampled_from(STATUS_VALUES).map(lambda v: v.encode()),
    st.sampled_from(STATUS_VALUES).map(lambda v: [v]),
    st.sampled_from(STATUS_VALUES).map(lambda v: {"status": v}),
)

non_str_keys = st.one_of(
    st.integers(),
    st.none(),
    st.floats(allow_nan=False),
    st.tuples(st.integers()),
    st.just(b"status"),
    st.just(b"message"),
    st.frozensets(st.integers(), max_size=2),
    st.booleans(),
)


def _nest(value: Any, depth: int) -> Any:
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


MUTATIONS = [
    "drop_status",
    "unknown_status",
    "bad_status",
    "status_member",
    "bad_message",
    "bad_warnings",
    "non_str_key",
    "str_subclass_key",
    "nested",
]


@st.composite
def invalid_payloads(draw: st.DrawFn) -> dict:
    """A status dict with one to three defects; some still pass (Status members, str subclasses)."""
    payload = dict(draw(valid_payloads()))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        if mutation == "drop_status":
            payload.pop("status", None)
        elif mutation == "unknown_status":
            payload["status"] = draw(unknown_statuses)
        elif mutation == "bad_status":
            payload["status"] = draw(bad_status_values)
        elif mutation == "status_member":
            payload["status"] = draw(st.sampled_from(list(Status) + list(RefStatus)))
        elif mutation == "bad_message":
            payload["message"] = draw(bad_messages)
        elif mutation == "bad_warnings":
            payload["warnings"] = draw(bad_warnings)
        elif mutation == "non_str_key":
            payload[draw(non_str_keys)] = draw(json_scalars)
        elif mutation == "str_subclass_key":
            name = draw(st.sampled_from([*FIELD_NAMES, "extra"]))
            value = payload.pop(name, draw(json_scalars))
            payload[StrSub(name)] = value
        elif mutation == "nested":
            key = draw(st.sampled_from(["message", "warnings", "extra", "status"]))
            payload[key] = _nest(draw(json_scalars), draw(st.integers(1, 20)))
    items = list(payload.items())
    return dict(draw(st.permutations(items)))


status_dicts = st.one_of(valid_payloads(), invalid_payloads())

# --------------------------------------------------------------------------------------------
# Strategies: raw JSON text
# --------------------------------------------------------------------------------------------

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _u_escape(code: int, upper: bool) -> str:
    text = f"\\u{code:04x}"
    return "\\u" + text[2:].upper() if upper else text


def whitespace(rnd: random.Random) -> str:
    """Zero to three JSON whitespace characters."""
    return "".join(rnd.choice(" \t\n\r") for _ in range(rnd.choice((0, 0, 1, 1, 2, 3))))


def json_string_literal(rnd: random.Random, text: str) -> str:
    """``text`` as a JSON string literal, each character written raw, short- or \\u-escaped.

    Astral characters become surrogate-pair escapes when \\u-escaped; lone surrogates in
    ``text`` are written raw or as lone-surrogate escapes.
    """
    escape_rate = rnd.choice((0.0, 0.1, 0.5, 1.0))
    upper = rnd.random() < 0.5
    out = ['"']
    for char in text:
        code = ord(char)
        must_escape = char in '"\\' or code < 0x20
        escape = must_escape or rnd.random() < escape_rate
        if escape and (char not in _SHORT_ESCAPES or rnd.random() < 0.5):
            if code > 0xFFFF:
                code -= 0x10000
                out.append(_u_escape(0xD800 + (code >> 10), upper))
                out.append(_u_escape(0xDC00 + (code & 0x3FF), upper))
            else:
                out.append(_u_escape(code, upper))
        elif escape:
            out.append(_SHORT_ESCAPES[char])
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


SPECIAL_STRING_LITERALS = [
    '"\\ud800"',
    '"\\udc00"',
    '"\\uDBFF"',
    '"\\ud83d\\ude00"',
    '"\\uD83D\\uDE00"',
    '"\\ude00\\ud83d"',
    '"\\ud800\\u0041"',
    '"\\ud800x"',
    '"a\\ud800"',
    '"\\ud800\\ud800"',
    '"\\ud83d\\ude00\\udc00"',
    '"\\u0000"',
    '"\\u2028\\u2029"',
    '"\\ufeff"',
    '"re\\u0061dy"',
    '"\\u0072eady"',
    '"f\\u0061iled"',
    '"pending\\u0020execution"',
    '"pending\\u0020compilation"',
    '"\\/"',
]

SPECIAL_NUMBER_LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1E+2",
    "-0",
    "-0.0",
    "0.5e-3",
    "1e400",
    "-1e400",
    "1.7976931348623157e308",
    "5e-324",
    "123456789012345678901234567890",
    "9" * 4300,
    "9" * 4301,
    "-" + "1" * 5000,
]


def json_value_text(rnd: random.Random, value: Any) -> str:
    """``value`` written as JSON text with random whitespace, escaping and odd literals."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        if rnd.random() < 0.06:
            return rnd.choice(SPECIAL_STRING_LITERALS)
        return json_string_literal(rnd, value)
    if isinstance(value, (int, float)):
        if rnd.random() < 0.06:
            return rnd.choice(SPECIAL_NUMBER_LITERALS)
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        items = [whitespace(rnd) + json_value_text(rnd, v) for v in value]
        return "[" + ",".join(items) + whitespace(rnd) + "]"
    if isinstance(value, dict):
        return json_object_text(rnd, [(str(k), v) for k, v in value.items()])
    return json.dumps(str(value))


def json_object_text(rnd: random.Random, members: list[tuple[str, Any]]) -> str:
    """An object with exactly these members, duplicates kept, in this order."""
    parts = []
    for key, value in members:
        if rnd.random() < 0.04:
            key_text = rnd.choice(SPECIAL_STRING_LITERALS)
        else:
            key_text = json_string_literal(rnd, key)
        parts.append(
            whitespace(rnd)
            + key_text
            + whitespace(rnd)
            + ":"
            + whitespace(rnd)
            + json_value_text(rnd, value)
            + whitespace(rnd)
        )
    if not parts:
        return "{" + whitespace(rnd) + "}"
    return "{" + ",".join(parts) + "}"


json_payload_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    any_texts,
    st.lists(any_texts | st.integers() | st.none(), max_size=3),
    st.dictionaries(texts, json_scalars, max_size=2),
)


@st.composite
def json_payload_members(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Object members for a status document, valid or not, possibly with duplicate keys."""
    payload = draw(valid_payloads())
    members = list(payload.items())
    defects = draw(st.lists(st.integers(0, 6), max_size=2))
    for defect in defects:
        if defect == 0 and members:  # drop a member (maybe the status)
            del members[draw(st.integers(0, len(members) - 1))]
        elif defect == 1:  # unknown status
            members.append(("status", draw(unknown_statuses)))
        elif defect == 2:  # any JSON type for one of the fields
            members.append((draw(st.sampled_from(FIELD_NAMES)), draw(json_payload_values)))
        elif defect == 3:  # duplicate of a field, written before or after the first
            position = draw(st.integers(0, len(members)))
            name = draw(st.sampled_from(FIELD_NAMES))
            value = draw(st.sampled_from(STATUS_VALUES) if name == "status" else json_scalars)
            members.insert(position, (name, value))
        elif defect == 4:  # deep nesting in an extra member
            members.append(("deep", _nest(draw(json_scalars), draw(st.integers(1, 40)))))
        elif defect == 5:  # a status value written with escapes
            members.append(("status", draw(st.sampled_from(STATUS_VALUES))))
        elif defect == 6:  # a member whose key spells a field name with \u escapes
            name = draw(st.sampled_from(FIELD_NAMES))
            members.append((name, draw(json_payload_values)))
    return members


@st.composite
def dumped_documents(draw: st.DrawFn) -> str:
    """``json.dumps`` of a status dict with random ``ensure_ascii``, indent and separators."""
    payload = draw(valid_payloads() | json_payload_members().map(dict))
    return json.dumps(
        payload,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, None, 0, 1, 2, "\t", " \n "])),
        separators=draw(st.sampled_from([None, (",", ":"), (", ", ": "), (" ,\n", " :\t")])),
        sort_keys=draw(st.booleans()),
    )


@st.composite
def handwritten_documents(draw: st.DrawFn) -> str:
    """A status object written by hand: escapes in keys and values, duplicates, odd numbers."""
    members = draw(json_payload_members())
    rnd = random.Random(draw(st.integers(0, 2**32)))  # one draw: cheap to generate
    return whitespace(rnd) + json_object_text(rnd, members) + whitespace(rnd)


EDGE_DOCUMENTS: dict[str, str | bytes] = {
    # Plain and escaped forms of the same fields.
    "minimal": '{"status": "ready"}',
    "all_fields": '{"status": "failed", "message": "boom", "warnings": ["a", "b"]}',
    "explicit_nulls": '{"status": "aborted", "message": null, "warnings": null}',
    "empty_warnings": '{"status": "pending execution", "warnings": []}',
    "escaped_key": '{"st\\u0061tus": "ready"}',
    "escaped_key_upper_hex": '{"ST\\u0041TUS": "ready", "\\u0073tatus": "failed"}',
    "escaped_status_value": '{"status": "re\\u0061dy"}',
    "escaped_space_in_status": '{"status": "pending\\u0020compilation"}',
    "escaped_solidus": '{"status": "ready", "message": "a\\/b"}',
    "all_short_escapes": '{"status": "ready", "message": "\\"\\\\\\/\\b\\f\\n\\r\\t"}',
    "escaped_nul": '{"status": "ready", "message": "\\u0000"}',
    "escaped_field_name_message": '{"status": "ready", "m\\u0065ssage": 1}',
    "unicode_message": '{"status": "failed", "message": "\u00e9\u20ac\U0001f600\u65e5"}',
    "raw_line_separators": '{"status": "failed", "message": "\u2028\u2029"}',
    "emoji_escape": '{"status": "failed", "message": "\\ud83d\\ude00"}',
    # Duplicate keys: json.loads keeps the last one.
    "duplicate_status_last_valid": '{"status": "bogus", "status": "ready"}',
    "duplicate_status_last_invalid": '{"status": "ready", "status": "bogus"}',
    "duplicate_status_via_escape": '{"status": "ready", "st\\u0061tus": "failed"}',
    "duplicate_message": '{"status": "ready", "message": "a", "message": null}',
    "duplicate_message_wrong_type_first": '{"status": "ready", "message": 1, "message": "a"}',
    "duplicate_warnings": '{"warnings": ["a"], "status": "ready", "warnings": ["b", "c"]}',
    # Surrogate escapes.
    "lone_high_surrogate": '{"status": "ready", "message": "\\ud800"}',
    "lone_low_surrogate": '{"status": "ready", "message": "\\udc00"}',
    "paired_surrogates": '{"status": "ready", "message": "\\ud83d\\ude00"}',
    "reversed_surrogates": '{"status": "ready", "message": "\\ude00\\ud83d"}',
    "high_surrogate_then_letter": '{"status": "ready", "message": "\\ud800\\u0041"}',
    "surrogate_in_warning": '{"status": "ready", "warnings": ["ok", "\\udfff"]}',
    "surrogate_in_key": '{"status": "ready", "\\ud800": 1}',
    "surrogate_in_status": '{"status": "ready\\ud800"}',
    "raw_surrogate_bytes": b'{"status": "ready", "message": "\xed\xa0\x80"}',
    "raw_surrogate_pair_bytes": b'{"status": "ready", "message": "\xed\xa0\xbd\xed\xb8\x80"}',
    "raw_lone_surrogate_char": '{"status": "ready", "message": "\ud800"}',
    # Non-finite and big numbers.
    "nan_extra": '{"status": "ready", "x": NaN}',
    "infinity_extra": '{"status": "ready", "x": [Infinity, -Infinity]}',
    "nan_message": '{"status": "ready", "message": NaN}',
    "nan_status": '{"status": NaN}',
    "infinity_warnings": '{"status": "ready", "warnings": [Infinity]}',
    "big_float_extra": '{"status": "ready", "x": 1e400}',
    "big_int_message": '{"status": "ready", "message": 123456789012345678901234567890}',
    "big_int_4300_digits": '{"status": "ready", "x": ' + "7" * 4300 + "}",
    "big_int_4301_digits": '{"status": "ready", "x": ' + "7" * 4301 + "}",
    "big_negative_int_5000_digits": '{"status": "ready", "x": -' + "7" * 5000 + "}",
    "big_int_before_status": '{"x": ' + "7" * 4301 + ', "status": "ready"}',
    "negative_zero": '{"status": "ready", "x": -0}',
    "leading_zero": '{"status": "ready", "x": 01}',
    "plus_sign": '{"status": "ready", "x": +1}',
    "bare_decimal_point": '{"status": "ready", "x": 1.}',
    # Malformed.
    "empty": "",
    "whitespace_only": " \n\t ",
    "truncated_in_key": '{"sta',
    "truncated_after_colon": '{"status":',
    "truncated_in_value": '{"status": "rea',
    "unclosed_object": '{"status": "ready"',
    "trailing_comma": '{"status": "ready",}',
    "missing_comma": '{"status": "ready" "message": "a"}',
    "single_quotes": "{'status': 'ready'}",
    "unquoted_key": '{status: "ready"}',
    "number_key": '{1: "ready"}',
    "comment": '{"status": "ready" /* c */}',
    "extra_data": '{"status": "ready"} x',
    "two_objects": '{"status": "ready"}{"status": "ready"}',
    "trailing_whitespace": '{"status": "ready"}\n\r\t ',
    "trailing_nul": '{"status": "ready"}\x00',
    "raw_newline_in_string": '{"status": "ready", "message": "a\nb"}',
    "raw_nul_in_string": '{"status": "ready", "message": "a\x00b"}',
    "raw_tab_in_key": '{"sta\ttus": "ready"}',
    "invalid_escape": '{"status": "ready", "message": "\\x41"}',
    "short_unicode_escape": '{"status": "ready", "message": "\\u12"}',
    "non_hex_unicode_escape": '{"status": "ready", "message": "\\u12g4"}',
    "lone_backslash_at_end": '{"status": "ready", "message": "\\',
    "true_misspelled": '{"status": "ready", "x": tru}',
    "python_none": '{"status": "ready", "message": None}',
    # Encodings.
    "invalid_utf8_ff": b'{"status": "ready", "message": "\xff"}',
    "invalid_utf8_in_key": b'{"stat\xc3us": "ready"}',
    "invalid_utf8_outside_string": b'{"status": "ready"}\xff',
    "invalid_utf8_overlong": b'{"status": "ready", "message": "\xc0\xaf"}',
    "invalid_utf8_truncated": b'{"status": "ready", "message": "\xe2\x82"}',
    "invalid_utf8_above_max": b'{"status": "ready", "message": "\xf4\x90\x80\x80"}',
    "utf8_bom": b'\xef\xbb\xbf{"status": "ready"}',
    "utf8_bom_str": '\ufeff{"status": "ready"}',
    "utf8_bom_twice": b'\xef\xbb\xbf\xef\xbb\xbf{"status": "ready"}',
    "utf16": '{"status": "failed", "message": "\u00e9"}'.encode("utf-16"),
    "utf16_le": '{"status": "ready"}'.encode("utf-16-le"),
    "utf16_be": '{"status": "ready"}'.encode("utf-16-be"),
    "utf32": '{"status": "ready"}'.encode("utf-32"),
    "latin1_message": '{"status": "ready", "message": "\u00e9"}'.encode("latin-1"),
    # Invalid UTF-8 in parts a fast parser might skip without decoding.
    "invalid_utf8_in_extra_value": b'{"status": "ready", "x": "\xff"}',
    "invalid_utf8_in_nested_extra": b'{"status": "ready", "x": [{"y": "a\xc3"}]}',
    "invalid_utf8_in_extra_key": b'{"status": "ready", "\xfe": 1}',
    "invalid_utf8_in_warning": b'{"status": "ready", "warnings": ["ok", "\xff"]}',
    "surrogate_bytes_in_extra": b'{"status": "ready", "x": ["\xed\xa0\x80"]}',
    "surrogate_bytes_in_status": b'{"status": "ready\xed\xa0\x80"}',
    "lone_surrogate_escape_in_extra": '{"status": "ready", "x": "\\ud800"}',
    "raw_control_char_in_extra": '{"status": "ready", "x": "\x1f"}',
    "raw_delete_char_in_message": '{"status": "ready", "message": "\x7f"}',
    # Number syntax where parsers differ.
    "int_200_digits_extra": '{"status": "ready", "x": ' + "1" * 200 + "}",
    "int_400_digits_extra": '{"status": "ready", "x": ' + "1" * 400 + "}",
    "float_1e309_extra": '{"status": "ready", "x": 1e309}',
    "float_1e-400_extra": '{"status": "ready", "x": 1e-400}',
    "long_fraction_extra": '{"status": "ready", "x": 0.' + "1" * 5000 + "}",
    "long_int_with_exponent_extra": '{"status": "ready", "x": ' + "9" * 4300 + "e1}",
    "number_minus_only": '{"status": "ready", "x": -}',
    "number_leading_dot": '{"status": "ready", "x": .5}',
    "number_missing_exponent": '{"status": "ready", "x": 1e}',
    "number_exponent_sign_only": '{"status": "ready", "x": 1e+}',
    "number_negative_leading_zero": '{"status": "ready", "x": -01}',
    "number_hex": '{"status": "ready", "x": 0x10}',
    # Whitespace json.loads does not accept.
    "form_feed_whitespace": '{"status": "ready"}\f',
    "nbsp_whitespace": '{\u00a0"status": "ready"}',
    "vertical_tab_whitespace": '\x0b{"status": "ready"}',
    # Top-level values that are not objects.
    "top_list": '[{"status": "ready"}]',
    "top_empty_list": "[]",
    "top_string": '"ready"',
    "top_number": "1",
    "top_float": "1.5",
    "top_null": "null",
    "top_true": "true",
    "top_nan": "NaN",
    # Wrong field types.
    "status_null": '{"status": null}',
    "status_number": '{"status": 1}',
    "status_bool": '{"status": true}',
    "status_list": '{"status": ["ready"]}',
    "status_object": '{"status": {"status": "ready"}}',
    "status_upper": '{"status": "READY"}',
    "status_empty": '{"status": ""}',
    "missing_status": '{"message": "a"}',
    "empty_object": "{}",
    "message_int": '{"status": "ready", "message": 1}',
    "message_float": '{"status": "ready", "message": 1.5}',
    "message_bool": '{"status": "ready", "message": false}',
    "message_list": '{"status": "ready", "message": ["a"]}',
    "message_object": '{"status": "ready", "message": {}}',
    "warnings_string": '{"status": "ready", "warnings": "a"}',
    "warnings_int": '{"status": "ready", "warnings": 1}',
    "warnings_list_of_int": '{"status": "ready", "warnings": [1, 2]}',
    "warnings_mixed": '{"status": "ready", "warnings": ["a", null, 1]}',
    "warnings_nested": '{"status": "ready", "warnings": [["a"]]}',
    "warnings_object": '{"status": "ready", "warnings": {"a": "b"}}',
    "message_and_warnings_wrong": '{"status": "ready", "message": 1, "warnings": [2]}',
    "unknown_status_and_wrong_message": '{"status": "x", "message": 1}',
    "nested_extra": '{"status": "ready", "x": {"a": [{"b": [1, {"c": null}]}]}}',
    "internal_names_as_extras": (
        '{"status": "ready", "self": 1, "__pydantic_self__": 2, "model_config": 3, '
        '"__dict__": 4, "__class__": 5, "model_fields_set": 6}'
    ),
}

top_level_non_objects = st.one_of(
    st.lists(json_scalars, max_size=3).map(json.dumps),
    json_scalars.map(json.dumps),
    st.sampled_from(["NaN", "-Infinity", "[]", '""', "0", "-0.0", "null", "false"]),
)


@st.composite
def mutated(draw: st.DrawFn, doc: str) -> str | bytes:
    """``doc`` unchanged, or damaged: truncated, bytes inserted or replaced, BOM, re-encoded."""
    kind = draw(
        st.sampled_from(
            ["none"] * 6
            + ["truncate", "insert", "replace", "bad_utf8", "bom", "encode", "trailing"]
        )
    )
    if kind == "none":
        return doc
    if kind == "trailing":
        return doc + draw(st.sampled_from([" ", "\n", "x", ",", "}", "\x00", "0", "{}"]))
    if kind == "encode":
        return doc.encode(
            draw(st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])),
            "surrogatepass",
        )
    data = doc.encode("utf-8", "surrogatepass")
    if kind == "bom":
        return b"\xef\xbb\xbf" + data
    if kind == "truncate":
        cut = draw(st.integers(0, max(len(data) - 1, 0)))
        return data[:cut] if draw(st.booleans()) else doc[: min(cut, len(doc))]
    position = draw(st.integers(0, len(data)))
    if kind == "insert":
        return data[:position] + draw(st.binary(min_size=1, max_size=4)) + data[position:]
    if kind == "replace":
        return data[:position] + draw(st.binary(min_size=1, max_size=1)) + data[position + 1 :]
    # bad_utf8: an invalid or surrogate sequence inside a string, right after a quote.
    quotes = [i for i, byte in enumerate(data) if byte == 0x22]
    if quotes:
        position = draw(st.sampled_from(quotes)) + 1
    bad = draw(
        st.sampled_from(
            [b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80"]
        )
    )
    return data[:position] + bad + data[position:]


raw_documents = st.one_of(
    dumped_documents(),
    handwritten_documents(),
    handwritten_documents(),
    st.sampled_from(sorted(k for k, v in EDGE_DOCUMENTS.items() if isinstance(v, str))).map(
        EDGE_DOCUMENTS.__getitem__
    ),
    top_level_non_objects,
).flatmap(mutated)
"""Raw JSON documents, valid and not, as str or bytes."""

# Documents that only hold valid payloads (for tests that want a successful parse most times).
valid_documents = st.one_of(dumped_documents(), handwritten_documents())


def run_reporting_script(
    script: str, *, env: dict[str, str] | None = None, cwd: str | None = None
) -> dict[str, Any]:
    """Runs ``script`` in a fresh interpreter (so its peak RSS is its own, and a crash is not
    the test run's) and returns the JSON object it prints."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    print(report)
    return report


ON_COLLECT = """
class OnCollect:
    # An object in a cycle, freed only by the collector, whose finalizer runs `action`: the
    # finalizer then runs inside whichever allocation triggers the next collection.
    def __init__(self, action):
        self.action = action
        self.cycle = self
    def __del__(self):
        self.action()
"""
"""Source of the finalizer the hostile-caller scripts arm, for the scripts run in a fresh
interpreter."""
