"""Hostile input beyond test_bad_input.py: 100 MB documents, a million levels of nesting, a
million warnings, stray bytes at every position, surrogates, NaN, 100 000-digit numbers,
escaped duplicate keys, odd buffers and dicts whose keys or values raise.

Each test gets the reference's result or its documented exception. The largest inputs run in a
subprocess that reports its peak resident set (``ru_maxrss``) before and after the parse, so
the parse's own peak memory is bounded by a stated multiple of the input size.
"""

from __future__ import annotations

import array
import textwrap
from typing import Any

import pytest
from iqm.iqm_client.iqm_client import RunStatus as RefRunStatus
from iqm_runstatus import RunStatus, pure_from_dict, pure_from_json
from support.differential import raw_forms
from support.oracle import ref_from_json
from support.outcomes import outcome
from support.scripts import run_reporting_script

HUNDRED_MB = 100 * 1024 * 1024
JSON_DECODE_ERROR = "json.decoder.JSONDecodeError"
UNICODE_DECODE_ERROR = "builtins.UnicodeDecodeError"
VALIDATION_ERROR = "pydantic_core._pydantic_core.ValidationError"


def assert_same(raw: Any) -> tuple[Any, ...]:
    """from_json equals the pure path and the reference; model_validate_json equals pydantic's
    on the reference model (for the types it takes). Returns from_json's outcome."""
    ours = outcome(RunStatus.from_json, raw)
    assert ours == outcome(pure_from_json, raw)
    assert ours == outcome(ref_from_json, raw)
    if isinstance(raw, (bytes, bytearray, str)):
        assert outcome(RunStatus.model_validate_json, raw) == outcome(
            RefRunStatus.model_validate_json, raw
        )
    return ours


def assert_same_all_forms(doc: str | bytes) -> tuple[Any, ...]:
    """:func:`assert_same` on bytes, bytearray, memoryview and str; the bytes outcome."""
    forms = raw_forms(doc)
    for raw in forms.values():
        assert_same(raw)
    return outcome(RunStatus.from_json, forms["bytes"])


# --------------------------------------------------------------------------------------------
# Huge inputs, in a subprocess that measures its peak memory
# --------------------------------------------------------------------------------------------

# Builds `raw` as a bytearray grown in 1 MiB steps (so building it peaks at about its own
# size), then records the peak RSS around one native parse, then checks the pure path agrees.
MEASURE = """
import gc, json, resource
from iqm_runstatus import RunStatus, pure_from_json

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def run(fn):
    try:
        result = fn(raw)
    except Exception as exc:
        return ("err", type(exc).__name__)
    return ("ok", result.status.value, result.message, result.warnings,
            sorted(result.model_fields_set))

raw = bytearray()
{build}
gc.collect()
before = peak()
ours = run(RunStatus.from_json)
after = peak()
same = ours == run(pure_from_json)
print(json.dumps({{"size": len(raw), "growth": after - before, "outcome": ours[:2],
                  "same": same}}))
"""


def measure(build: str) -> dict[str, Any]:
    """Runs :data:`MEASURE` with ``build`` filling ``raw``; returns its report."""
    return run_reporting_script(MEASURE.format(build=textwrap.dedent(build).strip()))


@pytest.mark.slow
def test_hundred_megabyte_message() -> None:
    """A 100 MB message parses to the pure path's result; the parse's peak memory is under
    twice the input (the message itself is one copy)."""
    report = measure(
        f"""
        raw += b'{{"status": "failed", "message": "'
        chunk = b"0123456789abcdef" * 65536
        for _ in range({HUNDRED_MB} // len(chunk)):
            raw += chunk
        raw += b'", "warnings": ["w"]}}'
        """
    )
    assert report["same"]
    assert report["outcome"] == ["ok", "failed"]
    assert report["growth"] < 2 * report["size"]


@pytest.mark.slow
def test_hundred_megabytes_of_whitespace() -> None:
    """A document padded with 100 MB of whitespace parses without copying: the parse's peak
    memory grows by less than a tenth of the input."""
    report = measure(
        f"""
        chunk = b" \\n\\t\\r" * 262144
        for _ in range({HUNDRED_MB} // len(chunk) // 2):
            raw += chunk
        raw += b'{{"status": "ready", "message": "m"}}'
        for _ in range({HUNDRED_MB} // len(chunk) // 2):
            raw += chunk
        """
    )
    assert report["same"]
    assert report["outcome"] == ["ok", "ready"]
    assert report["growth"] < report["size"] // 10


@pytest.mark.slow
def test_million_deep_nesting_in_ignored_field() -> None:
    """10**6 levels of nesting under an extra key: RecursionError, as json.loads raises, with
    the parse's peak memory under 8 times the input (neither parser recurses that deep)."""
    depth = 10**6
    report = measure(
        f"""
        raw += b'{{"status": "ready", "deep": ' + b"[" * {depth} + b"]" * {depth} + b"}}"
        """
    )
    assert report["same"]
    assert report["outcome"] == ["err", "RecursionError"]
    assert report["growth"] < 8 * report["size"]
    doc = '{"status": "ready", "deep": ' + '{"k": ' * depth + "1" + "}" * depth + "}"
    ours = outcome(RunStatus.from_json, doc)
    assert ours[:2] == outcome(pure_from_json, doc)[:2] == ("err", "builtins.RecursionError")
    assert outcome(RunStatus.model_validate_json, doc) == outcome(
        RefRunStatus.model_validate_json, doc
    )


@pytest.mark.slow
def test_million_element_warnings_list() -> None:
    """10**6 distinct warnings: the pure path's list; peak memory under 16 times the input
    (each ~10-byte warning becomes a ~60-byte str object plus its list slot)."""
    report = measure(
        """
        raw += b'{"status": "ready", "warnings": ["w"'
        for start in range(0, 10**6 - 1, 1000):  # in slices: no big temporary to mask the peak
            raw += b"".join(b', "w%d"' % i for i in range(start, min(start + 1000, 10**6 - 1)))
        raw += b"]}"
        """
    )
    assert report["same"]
    assert report["outcome"] == ["ok", "ready"]
    assert report["growth"] < 16 * report["size"]


@pytest.mark.parametrize(
    "value",
    [
        "9" * 10**5,
        "-" + "9" * 10**5,
        "9" * 10**5 + ".5",
        "9" * 10**5 + "e-99999",
        "0." + "1" * 10**5,
    ],
    ids=["int", "negative_int", "float", "int_with_exponent", "long_fraction"],
)
@pytest.mark.parametrize("field", ["x", "message", "status", "warnings"])
def test_hundred_thousand_digit_numbers(value: str, field: str) -> None:
    """Numbers of 10**5 digits: integers past Python's digit limit raise ValueError; floats
    that long are read (to inf or a rounded value) by json.loads; either way the reference's
    outcome."""
    inner = f"[{value}]" if field == "warnings" else value
    doc = '{"status": "ready", "' + field + '": ' + inner + "}"
    if field == "status":
        doc = '{"status": ' + value + "}"
    ours = assert_same(doc)
    assert_same(doc.encode())
    if "." not in value and "e" not in value:
        assert ours[1] == "builtins.ValueError"


# --------------------------------------------------------------------------------------------
# Bytes and characters at every position
# --------------------------------------------------------------------------------------------

PAYLOAD = '{"status": "failed", "message": "caf\u00e9 \U0001f600", "warnings": ["w1"], "x": [1]}'


@pytest.mark.parametrize(
    "bad",
    [b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xed\xa0\x80"],
    ids=["ff", "continuation", "truncated_2", "truncated_3", "above_max", "overlong", "surrogate"],
)
def test_invalid_utf8_at_every_position(bad: bytes) -> None:
    """An invalid UTF-8 sequence inserted at, or replacing the byte at, every position: the
    reference's outcome; UnicodeDecodeError whenever the bytes are not UTF-8 (json.loads
    decodes with surrogatepass, so an encoded surrogate inside a string is a lone surrogate,
    and a replaced lead byte may complete a character)."""
    data = PAYLOAD.encode()
    for at in range(len(data) + 1):
        for raw in (data[:at] + bad + data[at:], data[:at] + bad + data[at + 1 :]):
            for form in (raw, bytearray(raw), memoryview(raw)):
                result = assert_same(form)
            try:
                raw.decode("utf-8", "surrogatepass")
            except UnicodeDecodeError:
                assert result[1] == UNICODE_DECODE_ERROR, raw


@pytest.mark.parametrize("nul", ["\x00", "\\u0000"], ids=["raw", "escaped"])
def test_nul_at_every_position(nul: str) -> None:
    """A NUL, raw or escaped, at every position: the reference's outcome (a raw NUL is never
    valid JSON; an escaped one is a character inside strings)."""
    for at in range(len(PAYLOAD) + 1):
        result = assert_same_all_forms(PAYLOAD[:at] + nul + PAYLOAD[at:])
        if nul == "\x00":
            assert result[1] == JSON_DECODE_ERROR


SURROGATE_ESCAPES = [
    "\\ud800",
    "\\udbff",
    "\\udc00",
    "\\uDFFF",
    "\\ud83d\\ude00",
    "\\uD83D\\uDE00",
    "\\ude00\\ud83d",
    "\\ud800\\ud800",
    "\\ud800\\u0041",
    "\\ud800\\n",
    "a\\ud800",
    "\\udc00z",
]


@pytest.mark.parametrize("escape", SURROGATE_ESCAPES)
@pytest.mark.parametrize(
    "template",
    [
        '{"status": "ready", "message": "%s"}',
        '{"status": "ready", "warnings": ["ok", "%s"]}',
        '{"status": "ready", "x": "%s"}',
        '{"status": "ready", "%s": 1}',
        '{"status": "ready%s"}',
        '{"mess%sage": "m", "status": "ready"}',
    ],
    ids=["message", "warning", "extra_value", "extra_key", "status", "field_key"],
)
def test_surrogate_escapes(template: str, escape: str) -> None:
    """Lone and paired surrogate escapes anywhere: the reference's result, a lone surrogate
    kept as json.loads keeps it."""
    assert_same_all_forms(template.replace("%s", escape))


@pytest.mark.parametrize(
    "doc",
    [
        '{"status": "ready", "warnings": [NaN]}',
        '{"status": NaN}',
        '{"status": Infinity}',
        '{"status": "ready", "message": -Infinity}',
        '{"status": "ready", "x": {"y": [NaN, Infinity, -Infinity]}}',
        '{"status": "ready", "x": -NaN}',
        '{"status": "ready", "x": nan}',
        '{"status": "ready", "x": infinity}',
        '{"status": "ready", "x": +Infinity}',
        '{"status": "ready", "x": 1e400, "y": -1e400}',
        '{"status": "ready", "message": 1e400}',
        "NaN",
        "-Infinity",
    ],
)
def test_nan_and_infinity(doc: str) -> None:
    """NaN and Infinity, which json.loads reads and strict JSON does not, anywhere."""
    assert_same_all_forms(doc)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
@pytest.mark.parametrize("bom", [False, True])
def test_utf16_and_utf32_with_non_ascii(encoding: str, bom: bool) -> None:
    """UTF-16/32 in both byte orders, with and without a BOM, holding non-ASCII and astral
    text and escapes: the encodings json.loads detects give its result, the others its error."""
    doc = '{"status": "failed", "message": "caf\u00e9 \U0001f600 \\u00e9", "warnings": ["\u65e5"]}'
    data = ("\ufeff" if bom else "").encode(encoding) + doc.encode(encoding)
    for raw in (data, bytearray(data), memoryview(data)):
        assert_same(raw)


def test_bom_then_whitespace_and_bom_inside() -> None:
    """A UTF-8 BOM before whitespace, after whitespace, inside a string and after the object."""
    for data in (
        b'\xef\xbb\xbf \n{"status": "ready"}',
        b' \xef\xbb\xbf{"status": "ready"}',
        b'{"status": "ready", "message": "\xef\xbb\xbf"}',
        b'{"status": "ready"}\xef\xbb\xbf',
    ):
        for raw in (data, bytearray(data), memoryview(data)):
            assert_same(raw)


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------

FIELD_VALUES = {"status": ['"ready"', '"nope"', "1"], "message": ['"m"', "null", "2"]}
FIELD_VALUES["warnings"] = ['["w"]', "null", '"w"']


def _escaped_spellings(name: str) -> list[str]:
    """``name`` with each single character, and every character, written as a \\u escape."""
    spellings = [name[:i] + f"\\u{ord(c):04x}" + name[i + 1 :] for i, c in enumerate(name)]
    spellings.append("".join(f"\\u{ord(c):04X}" for c in name))
    return spellings


@pytest.mark.parametrize("field", ["status", "message", "warnings"])
def test_keys_differing_only_by_escapes(field: str) -> None:
    """A field key written with escapes, alone or next to the plain key, before or after it,
    with valid and invalid values: json.loads sees one key, and the last value wins."""
    base = ['"status": "failed"'] if field != "status" else []
    for spelling in _escaped_spellings(field):
        for first in FIELD_VALUES[field]:
            members = [*base, f'"{spelling}": {first}']
            assert_same_all_forms("{" + ", ".join(members) + "}")
            for second in FIELD_VALUES[field]:
                for pair in (
                    [f'"{field}": {first}', f'"{spelling}": {second}'],
                    [f'"{spelling}": {first}', f'"{field}": {second}'],
                ):
                    assert_same_all_forms("{" + ", ".join([*base, *pair]) + "}")


def test_duplicate_keys_in_every_combination() -> None:
    """Every field twice, with every pair of valid and invalid values, next to the others."""
    for field, values in FIELD_VALUES.items():
        others = [f'"{name}": {vals[0]}' for name, vals in FIELD_VALUES.items() if name != field]
        for first in values:
            for second in values:
                members = [f'"{field}": {first}', *others, f'"{field}": {second}']
                assert_same_all_forms("{" + ", ".join(members) + "}")


# --------------------------------------------------------------------------------------------
# Odd buffers and hostile dicts
# --------------------------------------------------------------------------------------------

DOC = b'{"status": "aborted", "message": "m"}'


def _interleaved(data: bytes, filler: int) -> bytearray:
    out = bytearray()
    for byte in data:
        out += bytes([byte, filler])
    return out


@pytest.mark.parametrize(
    "make",
    [
        lambda: memoryview(_interleaved(DOC, 0x20))[::2],
        lambda: memoryview(_interleaved(DOC, 0xFF))[::2],
        lambda: memoryview(array.array("b", _interleaved(DOC, 0x7B)))[::2],
        lambda: memoryview(bytes(_interleaved(DOC, 0x22))).cast("c")[::2],
        lambda: memoryview(bytearray(DOC)[::-1])[::-1],
        lambda: memoryview(DOC)[::1],
        lambda: memoryview(array.array("b", DOC)),
        lambda: memoryview(DOC).cast("c"),
        lambda: memoryview(array.array("I", [0x22222222] * 4))[::2],
    ],
    ids=[
        "strided_bytearray",
        "strided_over_invalid_utf8",
        "strided_signed_array",
        "strided_char_format",
        "reversed_twice",
        "unit_step",
        "signed_array",
        "char_format",
        "strided_wide_items",
    ],
)
def test_non_contiguous_and_odd_format_memoryviews(make: Any) -> None:
    """Strided views (whose bytes in memory are not the document) and views of other item
    formats: read as the pure path reads them, via ``tobytes()``."""
    ours = outcome(RunStatus.from_json, make())
    assert ours == outcome(pure_from_json, make())
    assert ours == outcome(ref_from_json, make())


class Toggle:
    """Objects that behave until ``armed`` is set, then raise from __eq__ and __hash__ (a
    dict can only be built while hashing works)."""

    armed = False


class HostileKey:
    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        if Toggle.armed:
            raise RuntimeError("hash")
        return hash(self.name)  # collides with the field name it imitates

    def __eq__(self, other: object) -> bool:
        if Toggle.armed:
            raise RuntimeError("eq")
        return self is other


class HostileStrKey(str):
    __slots__ = ()

    def __hash__(self) -> int:
        if Toggle.armed:
            raise RuntimeError("hash")
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        if Toggle.armed:
            raise RuntimeError("eq")
        return str.__eq__(self, other)


class HostileValue:
    def __hash__(self) -> int:
        raise RuntimeError("hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")


HOSTILE_DICTS = {
    "key_colliding_with_status_first": lambda: {HostileKey("status"): 1, "status": "ready"},
    "key_colliding_with_status_last": lambda: {"status": "ready", HostileKey("status"): 1},
    "key_colliding_with_message": lambda: {"status": "ready", HostileKey("message"): "m"},
    "str_subclass_status_key": lambda: {HostileStrKey("status"): "ready"},
    "str_subclass_extra_key": lambda: {"status": "ready", HostileStrKey("x"): 1},
    "str_subclass_message_key": lambda: {"status": "ready", HostileStrKey("message"): "m"},
    "hostile_status_value": lambda: {"status": HostileValue()},
    "hostile_message_value": lambda: {"status": "ready", "message": HostileValue()},
    "hostile_warning": lambda: {"status": "ready", "warnings": ["w", HostileValue()]},
    "hostile_extra_value": lambda: {"status": "ready", "x": HostileValue()},
}


@pytest.mark.parametrize("make", HOSTILE_DICTS.values(), ids=HOSTILE_DICTS.keys())
def test_dicts_whose_keys_or_values_raise(make: Any) -> None:
    """Dicts holding keys whose __eq__/__hash__ raise (armed after the dict is built) and
    values that raise: the reference's result or the very exception it propagates."""
    inp = make()
    Toggle.armed = True
    try:
        ours = outcome(RunStatus.from_dict, inp)
        assert ours == outcome(pure_from_dict, inp)
        assert ours == outcome(RefRunStatus.from_dict, inp)
        assert outcome(RunStatus.model_validate, inp) == outcome(RefRunStatus.model_validate, inp)
    finally:
        Toggle.armed = False
