"""JSON text: documents written with random escapes, whitespace and odd literals, the named
edge-case documents, and mutators that damage a document (truncation, bad bytes, BOMs,
other encodings)."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import strategies as st

from support.oracle import FIELD_NAMES, STATUS_VALUES
from support.strategies import (
    any_texts,
    json_scalars,
    nest,
    texts,
    unknown_statuses,
    valid_payloads,
)

__all__ = [
    "EDGE_DOCUMENTS",
    "json_object_text",
    "json_string_literal",
    "json_value_text",
    "mutated",
    "raw_documents",
    "valid_documents",
    "whitespace",
]


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
            members.append(("deep", nest(draw(json_scalars), draw(st.integers(1, 40)))))
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
