"""Hypothesis strategies for Python values: status dicts the reference accepts, and ones with
defects (unknown statuses, wrong types, non-str keys, str subclasses, deep nesting)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from iqm_runstatus import Status

from support.oracle import FIELD_NAMES, STATUS_VALUES, RefStatus

__all__ = [
    "StrSub",
    "any_texts",
    "invalid_payloads",
    "json_scalars",
    "json_values",
    "nest",
    "status_dicts",
    "texts",
    "unknown_statuses",
    "valid_payloads",
]


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


def nest(value: Any, depth: int) -> Any:
    """``value`` inside ``depth`` levels of alternating dicts and lists."""
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
            payload[key] = nest(draw(json_scalars), draw(st.integers(1, 20)))
    items = list(payload.items())
    return dict(draw(st.permutations(items)))


status_dicts = st.one_of(valid_payloads(), invalid_payloads())
