"""StatusBatch and parse_many: every entry equals `RunStatus.from_json` of its payload."""

from __future__ import annotations

import gc
import io
import json
import multiprocessing
import os
import pickle
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from iqm_runstatus import PayloadError, RunStatus, Status, StatusBatch, parse_many
from iqm_runstatus._workload import generate_payloads
from support.outcomes import outcome
from support.profiles import examples
from support.scripts import call_in_fresh_interpreter, run_python

CODE = {status: code for code, status in enumerate(Status)}

# Payloads the fast path is unsure about or rejects, each decided by the pure path.
ODD_PAYLOADS: list[Any] = [
    b'{"status":"ready","x":NaN}',
    b'{"status":"ready","status":"failed"}',
    b'{"status":"ready","message":"a","message":null}',
    b'{"status":"failed","message":"\\ud800 lone"}',
    '{"status":"failed","message":"\ud800"}',
    b'\xef\xbb\xbf{"status":"ready"}',
    '\ufeff{"status":"ready"}',
    b'{"status":"aborted","message":"caf\\u00e9","warnings":["\\n","\\"q\\""]}',
    bytearray(b'{"status":"ready","warnings":[]}'),
    memoryview(b'xx{"status":"pending execution"}')[2:],
    memoryview(b'{"status":"ready"}  ')[::2],
    b"[]",
    b"null",
    b'"ready"',
    b"",
    b"{",
    b'{"status":"ready","m":"\xff"}',
    b'{"status":"READY"}',
    b'{"message":"no status"}',
    b'{"status":"ready","warnings":"w"}',
    b'{"status":"ready","message":1}',
    b'{"status":"ready","x":1' + b"0" * 5000 + b"}",
    b'{"status":"ready","x":' + b"[" * 200 + b"]" * 200 + b"}",
    b'{"status":"ready","x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
]


def from_json(payload: Any) -> tuple[Any, ...]:
    """The outcome of ``RunStatus.from_json(payload)``, which its batch entry must equal."""
    return outcome(RunStatus.from_json, payload)


def entry(batch: StatusBatch, index: int) -> tuple[Any, ...]:
    """The outcome of ``batch[index]``."""
    return outcome(batch.__getitem__, index)


def from_json_error(payload: Any) -> tuple[str, str] | None:
    """The type name and message of what ``RunStatus.from_json`` raises for ``payload``, as
    ``batch.errors`` lists them, or ``None``."""
    try:
        RunStatus.from_json(payload)
    except Exception as exc:
        return (type(exc).__name__, str(exc))
    return None


def assert_matches(batch: StatusBatch, payloads: Sequence[Any]) -> None:
    assert len(batch) == len(payloads)
    error_indices = []
    for i, payload in enumerate(payloads):
        expected = from_json(payload)
        assert entry(batch, i) == expected, (i, payload)
        if expected[0] == "err":
            error_indices.append(i)
    assert [index for index, _, _ in batch.errors] == error_indices
    for index, type_name, message in batch.errors:
        assert (type_name, message) == from_json_error(payloads[index])


def expected_codes(payloads: Sequence[Any]) -> list[int]:
    codes = []
    for payload in payloads:
        try:
            codes.append(CODE[RunStatus.from_json(payload).status])
        except Exception:
            codes.append(255)
    return codes


def mixed_payloads() -> list[Any]:
    return generate_payloads(3000, seed=7, invalid_rate=0.15) + ODD_PAYLOADS


@pytest.fixture(scope="module")
def mixed() -> list[Any]:
    return mixed_payloads()


def test_every_entry_equals_from_json(mixed: list[Any]) -> None:
    assert_matches(StatusBatch.from_payloads(mixed), mixed)


def test_error_entries_raise_the_reference_exception() -> None:
    payloads = [b'{"message":"m"}', b"{", b'{"status":"x"}', b"[]", b'{"status":"ready"}']
    batch = StatusBatch.from_payloads(payloads)
    assert [(i, name) for i, name, _ in batch.errors] == [
        (0, "KeyError"),
        (1, "JSONDecodeError"),
        (2, "ValueError"),
        (3, "TypeError"),
    ]
    with pytest.raises(KeyError) as caught:
        batch[0]
    assert caught.value.args == ("status",)
    with pytest.raises(json.JSONDecodeError):
        batch[1]
    # Raised again on each access, with a fresh traceback.
    for _ in range(3):
        with pytest.raises(ValueError, match="'x' is not a valid Status"):
            batch[2]
    assert batch.statuses() == [None, None, None, None, Status.READY]
    with pytest.raises(KeyError):
        batch.to_list()


def test_a_batch_in_a_cycle_through_its_raised_exception_is_collected() -> None:
    """Raising an error entry gives its exception a traceback whose frame holds the batch (or
    an iterator over it): batch -> exception -> traceback -> frame -> batch. The collector frees
    that cycle only if it sees the batch's and the iterator's references."""

    def read(through_iterator: bool) -> weakref.ref[BaseException]:
        batch = StatusBatch.from_payloads([b'{"status":"ready"}', b"{"])
        entries = iter(batch)
        try:
            if through_iterator:
                list(entries)
            else:
                batch[1]
        except json.JSONDecodeError as exc:
            return weakref.ref(exc)
        raise AssertionError("no exception")

    for through_iterator in (False, True):
        exception = read(through_iterator)
        gc.collect()
        assert exception() is None


def test_fast_path_doubts_become_valid_entries() -> None:
    payloads = [b'{"status":"ready","x":NaN}', b'{"status":"ready","status":"failed"}']
    batch = StatusBatch.from_payloads(payloads)
    assert batch.errors == []
    assert batch.statuses() == [Status.READY, Status.FAILED]
    assert_matches(batch, payloads)


payload_dicts = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from([*(s.value for s in Status), "nope", None, 3]),
        "message": st.one_of(st.none(), st.text(max_size=8), st.integers()),
        "warnings": st.one_of(
            st.none(), st.lists(st.text(max_size=6), max_size=3), st.lists(st.integers())
        ),
        "extra": st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(max_size=4),
            lambda inner: st.lists(inner, max_size=3),
            max_leaves=5,
        ),
    },
)


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    obj = draw(payload_dicts)
    raw = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    mangle = draw(st.sampled_from(["none", "none", "truncate", "bytes", "str", "bytearray"]))
    if mangle == "truncate":
        return raw.encode()[: draw(st.integers(0, len(raw)))]
    if mangle == "str":
        return raw
    if mangle == "bytearray":
        return bytearray(raw.encode())
    if mangle == "bytes":
        return draw(st.binary(max_size=20))
    return raw.encode()


@examples(150, deadline=None)
@given(st.lists(payloads(), max_size=20), st.integers(1, 3))
def test_batch_equals_single_on_generated_input(items: list[Any], threads: int) -> None:
    assert_matches(StatusBatch.from_payloads(items, threads=threads), items)


def test_counts_indices_statuses_codes(mixed: list[Any]) -> None:
    batch = StatusBatch.from_payloads(mixed)
    codes = expected_codes(mixed)
    counts = batch.counts()
    assert list(counts) == list(Status)
    assert counts == {status: codes.count(CODE[status]) for status in Status}
    assert batch.indices(Status.FAILED, "aborted") == [
        i for i, code in enumerate(codes) if code in (3, 4)
    ]
    assert batch.indices() == [i for i, code in enumerate(codes) if code != 255]
    with pytest.raises(ValueError):
        batch.indices("running")
    assert batch.statuses() == [None if c == 255 else list(Status)[c] for c in codes]

    view = batch.codes
    assert view.readonly and view.obj is batch and view.format == "B"
    array = numpy.frombuffer(batch.codes, dtype=numpy.uint8)
    assert array.tolist() == codes
    assert not array.flags.writeable
    # Two views of the batch are the same memory: no copy was made.
    assert numpy.shares_memory(array, numpy.frombuffer(batch.codes, dtype=numpy.uint8))
    assert counts == StatusBatch.from_payloads([]).counts() | counts
    assert all(v == 0 for v in StatusBatch.from_payloads([]).counts().values())


def test_sequence_protocol(mixed: list[Any]) -> None:
    batch = StatusBatch.from_payloads(mixed[:50])
    assert entry(batch, -1) == entry(batch, 49) == from_json(mixed[49])
    assert entry(batch, -50) == from_json(mixed[0])
    with pytest.raises(IndexError):
        batch[50]
    with pytest.raises(IndexError):
        batch[-51]
    sub = batch[10:40:3]
    assert isinstance(sub, StatusBatch)
    assert_matches(sub, mixed[10:40:3])
    assert_matches(batch[::-1], mixed[:50][::-1])
    valid = StatusBatch.from_payloads([p for p in mixed[:50] if from_json(p)[0] == "ok"])
    assert list(valid) == valid.to_list() == [RunStatus.from_json(p) for p in valid_payloads(mixed)]
    assert repr(batch).startswith("StatusBatch(len=50")


def valid_payloads(items: Sequence[Any]) -> list[Any]:
    return [p for p in items[:50] if from_json(p)[0] == "ok"]


def summarise(batch: StatusBatch) -> tuple[dict[Status, int], list[Any], StatusBatch]:
    return batch.counts(), batch.errors, batch


def test_pickle_round_trip(mixed: list[Any]) -> None:
    batch = StatusBatch.from_payloads(mixed)
    data = pickle.dumps(batch)
    back = pickle.loads(data)
    assert_matches(back, mixed)
    assert bytes(back.codes) == bytes(batch.codes)
    # Compact: ten bytes an entry plus the distinct strings, not one object per entry.
    valid = StatusBatch.from_payloads(generate_payloads(20_000, seed=3))
    size = len(pickle.dumps(valid))
    assert size < 20_000 * 16 and size < len(pickle.dumps(valid.to_list())) / 3
    assert_matches(pickle.loads(pickle.dumps(batch[5:9])), mixed[5:9])


def pickle_through_a_fork_pool() -> None:
    """Run by the test below in a fresh interpreter, whose only threads are the pool's."""
    payloads = mixed_payloads()
    batch = StatusBatch.from_payloads(payloads)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        counts, errors, back = pool.submit(summarise, batch).result()
    assert counts == batch.counts()
    assert errors == batch.errors
    assert_matches(back, payloads)


@pytest.mark.slow  # a pool of fresh interpreters
def test_pickle_through_a_process_pool() -> None:
    call_in_fresh_interpreter("test_batch", "pickle_through_a_fork_pool")


def test_bad_pickle_state_is_refused() -> None:
    batch = StatusBatch.from_payloads([b'{"status":"failed","message":"m"}'])
    rebuild, (state,) = batch.__reduce__()
    bad_message_id = (*state[:3], b"\x09\x00\x00\x00", *state[4:])
    with pytest.raises(ValueError):
        rebuild(bad_message_id)
    with pytest.raises(ValueError):
        rebuild((*state[:1], b"\x00\x00", *state[2:]))
    with pytest.raises(ValueError):
        rebuild((99, *state[1:]))


def lines_of(text: bytes) -> list[bytes]:
    return [line for line in text.split(b"\n") if line.strip(b" \t\r")]


def test_from_ndjson_sources(tmp_path: Path, mixed: list[Any]) -> None:
    raw = [p for p in mixed if isinstance(p, bytes) and b"\n" not in p]
    text = b"\n" + b"\n\n".join(raw[:200]) + b"\n  \n\r\n"
    lines = lines_of(text)
    assert len(lines) == 200
    assert_matches(StatusBatch.from_ndjson(text), lines)
    path = tmp_path / "statuses.ndjson"
    path.write_bytes(text)
    assert_matches(StatusBatch.from_ndjson(path), lines)
    assert_matches(StatusBatch.from_ndjson(str(path)), lines)
    assert_matches(StatusBatch.from_ndjson(memoryview(text)), lines)
    with path.open("rb") as file:
        assert_matches(StatusBatch.from_ndjson(file), lines)
    assert_matches(StatusBatch.from_ndjson(io.BytesIO(text)), lines)
    assert_matches(StatusBatch.from_ndjson(bytearray(text)), lines)
    assert len(StatusBatch.from_ndjson(b"")) == 0
    assert len(StatusBatch.from_ndjson(b"\n \n")) == 0
    last_without_newline = StatusBatch.from_ndjson(b'{"status":"ready"}\n{"status":"failed"}')
    assert last_without_newline.statuses() == [Status.READY, Status.FAILED]
    with pytest.raises(TypeError):
        StatusBatch.from_ndjson(io.StringIO("{}"))
    with pytest.raises(TypeError):
        StatusBatch.from_ndjson(12)


def test_from_ndjson_str_is_a_path(tmp_path: Path) -> None:
    """A str is a path, as for `open` and `polars.read_ndjson`: NDJSON text given as a str
    is no file, not a batch of one error entry."""
    with pytest.raises(FileNotFoundError):
        StatusBatch.from_ndjson('{"status":"ready"}')
    with pytest.raises(FileNotFoundError):
        StatusBatch.from_ndjson(str(tmp_path / "missing.ndjson"))
    with pytest.raises(TypeError, match="binary file"):
        StatusBatch.from_ndjson(io.StringIO('{"status":"ready"}\n'))


def test_from_ndjson_str_of_json_text_says_to_give_bytes(tmp_path: Path) -> None:
    """A str that looks like JSON text gets an error saying that a str is a path and NDJSON
    text goes in as bytes, with the OSError type `open` raised (too long a name, or none
    such); a path is echoed cut to 100 characters, not whole."""
    line = '{"status": "failed", "message": "' + "m" * 100_000 + '"}\n'
    for text, error in [
        (line * 2, OSError),
        ('{"status":"ready"}\n', FileNotFoundError),
        (' [{"status":"ready"}]', FileNotFoundError),
    ]:
        with pytest.raises(error) as caught:
            StatusBatch.from_ndjson(text)
        message = str(caught.value)
        assert "a str as a path; give NDJSON text as bytes" in message, message[:300]
        assert len(message) < 400, message[:300]
    long_path = str(tmp_path / ("d" * 100) / ("e" * 100) / ("f" * 100)) + ".ndjson"
    with pytest.raises(FileNotFoundError) as caught:
        StatusBatch.from_ndjson(long_path)
    message = str(caught.value)
    assert "as bytes" not in message and len(message) < 300, message[:300]
    assert f"{len(long_path)} characters" in message
    with pytest.raises(FileNotFoundError) as caught:
        StatusBatch.from_ndjson(Path('{"status":"ready"}'))  # a path object is meant as one
    assert "as bytes" not in str(caught.value)


def test_from_ndjson_streams_a_file_across_chunks(tmp_path: Path) -> None:
    # More than two 1 MiB chunks, so lines straddle chunk boundaries.
    raw = generate_payloads(60_000, seed=11, invalid_rate=0.05)
    path = tmp_path / "big.ndjson"
    path.write_bytes(b"\n".join(raw) + b"\n")
    assert path.stat().st_size > 2 << 20
    batch = StatusBatch.from_ndjson(path)
    reference = StatusBatch.from_payloads(raw)
    assert bytes(batch.codes) == bytes(reference.codes)
    assert batch.errors == reference.errors
    for i in range(0, len(raw), 997):
        assert entry(batch, i) == from_json(raw[i])


def test_from_json_array(mixed: list[Any]) -> None:
    raw = [p for p in mixed[:500] if isinstance(p, bytes)]
    elements = [p for p in raw if is_json_value(p)]
    array = b"[" + b",".join(elements) + b"]"
    assert_matches(StatusBatch.from_json_array(array), elements)
    assert_matches(StatusBatch.from_json_array(array.decode()), elements)
    assert_matches(StatusBatch.from_json_array(memoryview(array)), elements)
    assert_matches(StatusBatch.from_json_array(bytearray(array)), elements)
    # Elements json.loads reads but serde_json does not split: NaN, deep nesting.
    odd = [b'{"status":"ready","x":NaN}', b'{"status":"failed","x":' + b"[" * 300 + b"]" * 300]
    odd[1] += b"}"
    assert_matches(StatusBatch.from_json_array(b"[" + b",".join(odd) + b"]"), odd)
    assert len(StatusBatch.from_json_array(b" [ ] ")) == 0
    with pytest.raises(TypeError):
        StatusBatch.from_json_array(b'{"status":"ready"}')
    with pytest.raises(TypeError):
        StatusBatch.from_json_array("3")
    with pytest.raises(json.JSONDecodeError):
        StatusBatch.from_json_array(b'[{"status":"ready"}')


def raised(fn: Any, raw: Any) -> tuple[str, Any]:
    """The exception type and message of ``fn(raw)``, or ``("ok", None)`` (the result itself,
    a list or a batch, is compared elsewhere)."""
    try:
        fn(raw)
    except Exception as exc:
        return ("error", (type(exc), str(exc)))
    return ("ok", None)


def loads_array(raw: Any) -> list[Any]:
    """What from_json_array documents for a whole document: json.loads's exception, or
    TypeError for a top-level value that is not an array."""
    value = json.loads(bytes(raw) if isinstance(raw, memoryview) else raw)
    if not isinstance(value, list):
        raise TypeError(
            "a JSON array of job statuses is expected at the top level, not " + type(value).__name__
        )
    return value


WHITESPACE = st.text(alphabet=" \t\n\r", max_size=3)


@st.composite
def array_elements(draw: st.DrawFn) -> str:
    """One element's text: status objects (as the generated payloads, or with duplicate
    keys), and the elements json.loads reads that serde_json does not split or that only the
    pure path decides: NaN, nesting past 128 levels or past Python's recursion limit, long
    integers, lone surrogates (escaped or raw), and values that are not objects."""
    kinds = ["object", "object", "object", "duplicate", "nan", "deep", "bigint", "surrogate"]
    kind = draw(st.sampled_from([*kinds, "raw_surrogate", "scalar", "list", "non_ascii"]))
    ws = draw(WHITESPACE)
    if kind == "object":
        return json.dumps(draw(payload_dicts), ensure_ascii=draw(st.booleans()))
    if kind == "duplicate":
        first, second = draw(st.sampled_from(list(Status))), draw(st.sampled_from(list(Status)))
        return f'{{"status":{ws}"{first.value}", "message": "m",{ws}"status": "{second.value}"}}'
    if kind == "nan":
        value = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400"]))
        return f'{{"status": "ready", "x":{ws}{value}}}'
    if kind == "deep":
        depth = draw(st.sampled_from([127, 129, 500, 3000]))
        inner = "[" * depth + ws + "]" * depth
        return f'{{"status": "failed", "x": {inner}}}'
    if kind == "bigint":
        return f'{{"status": "ready", "x": {"7" * draw(st.sampled_from([4300, 4301, 6000]))}}}'
    if kind == "surrogate":
        escape = draw(st.sampled_from(["\\ud800", "\\udc00x", "\\ud83d\\ude00"]))
        return f'{{"status": "failed", "message": "{escape}"}}'
    if kind == "raw_surrogate":
        return '{"status": "failed", "message": "\ud800"}'
    if kind == "non_ascii":
        return '{"status": "aborted", "message": "caf\u00e9 \U0001f600"}'
    if kind == "list":
        return json.dumps(draw(st.lists(st.sampled_from([1, "a", None]), max_size=3)))
    return draw(st.sampled_from(["1", "-2.5e3", '"ready"', "null", "true", "false"]))


@st.composite
def json_arrays(draw: st.DrawFn) -> tuple[Any, list[Any]]:
    """A JSON array and the text of each of its elements, as bytes or str (with a BOM for
    bytes, which json.loads skips)."""
    texts = draw(st.lists(array_elements(), max_size=12))
    parts = [draw(WHITESPACE) + "["]
    for at, text in enumerate(texts):
        parts.append(("," if at else "") + draw(WHITESPACE) + text + draw(WHITESPACE))
    parts.append("]" + draw(WHITESPACE))
    doc = "".join(parts)
    form = draw(st.sampled_from(["bytes", "str", "bom", "memoryview"]))
    if form == "str":
        return doc, texts
    data = doc.encode("utf-8", "surrogatepass")
    elements = [text.encode("utf-8", "surrogatepass") for text in texts]
    if form == "bom":
        return b"\xef\xbb\xbf" + data, elements
    return (memoryview(data) if form == "memoryview" else data), elements


@examples(200, deadline=None)
@given(json_arrays(), st.integers(1, 3))
def test_array_entries_equal_from_json_of_each_element(
    array: tuple[Any, list[Any]], threads: int
) -> None:
    """Entry i is RunStatus.from_json(<text of element i>): value, or an error entry with the
    same exception; the document being valid, no entry is a syntax or decoding error."""
    raw, elements = array
    batch = StatusBatch.from_json_array(raw, threads=threads)
    assert_matches(batch, elements)
    assert not {name for _, name, _ in batch.errors} & {"JSONDecodeError", "UnicodeDecodeError"}


@st.composite
def mangled_arrays(draw: st.DrawFn) -> Any:
    """Arrays of shallow elements (so json.loads decides validity without hitting a limit),
    cut short, or with a byte inserted, deleted or replaced."""
    texts = draw(
        st.lists(array_elements().filter(lambda t: "[[[" not in t and "777" not in t), max_size=5)
    )
    data = ("[" + ",".join(texts) + "]").encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf"])) + data
    at = draw(st.integers(0, len(data)))
    byte = bytes(
        [draw(st.sampled_from(list(b'[]{},:"\\ \t\n0-eE.NnItfax\x00\x1f\x7f\xff\xc3\xef')))]
    )
    how = draw(st.sampled_from(["truncate", "insert", "delete", "replace", "keep"]))
    if how == "truncate":
        data = data[:at]
    elif how == "insert":
        data = data[:at] + byte + data[at:]
    elif how == "delete":
        data = data[:at] + data[at + 1 :]
    elif how == "replace":
        data = data[:at] + byte + data[at + 1 :]
    if draw(st.booleans()):
        return data.decode("utf-8", "surrogateescape")
    return data


@examples(400, deadline=None)
@given(mangled_arrays())
def test_an_invalid_array_raises_what_json_loads_raises(raw: Any) -> None:
    """A document json.loads refuses raises its exception, type and message (position
    included); a valid one gives one entry an element, each as from_json of the element."""
    expected = raised(loads_array, raw)
    assert raised(StatusBatch.from_json_array, raw) == expected
    if expected[0] == "ok":
        values = loads_array(raw)
        batch = StatusBatch.from_json_array(raw)
        # Elements written back: json.dumps keeps what from_json reads (NaN, the last of
        # duplicate keys). Surrogates stay raw: as escapes, a lone high one followed by a lone
        # low one would read back as one paired character.
        assert_matches(batch, [json.dumps(value, ensure_ascii=False) for value in values])


@pytest.mark.parametrize(
    "doc",
    [
        '\ufeff[{"status": "ready"}]',
        "[1,]",
        '[{"status":"ready" x}]',
        '[{"status": "ready"}] []',
        "[01]",
        "[-NaN]",
        '["a\tb"]',
        '["\\x"]',
        "[\u00a0]",
        "",
        "  ",
    ],
)
def test_invalid_documents_raise_the_stdlib_error(doc: str) -> None:
    """The stdlib's JSONDecodeError itself: message and position. (As bytes, the BOM is
    skipped, as json.loads skips it.)"""
    with pytest.raises(json.JSONDecodeError) as stdlib:
        json.loads(doc)
    for raw in (doc, doc.encode(), memoryview(doc.encode())):
        if raw is not doc and doc.startswith("\ufeff"):
            assert_matches(StatusBatch.from_json_array(raw), [b'{"status": "ready"}'])
            continue
        with pytest.raises(json.JSONDecodeError) as caught:
            StatusBatch.from_json_array(raw)
        assert (caught.value.msg, caught.value.pos, str(caught.value)) == (
            stdlib.value.msg,
            stdlib.value.pos,
            str(stdlib.value),
        )


def test_array_boms_encodings_and_odd_sources() -> None:
    """bytes are read as json.loads reads them: one UTF-8 BOM skipped, UTF-16 and UTF-32
    detected; a str BOM is the stdlib's error; a str with lone surrogates is split too."""
    doc = '[{"status": "failed", "message": "caf\u00e9 \U0001f600"}, {"status": "ready"}]'
    texts = ['{"status": "failed", "message": "caf\u00e9 \U0001f600"}', '{"status": "ready"}']
    assert_matches(StatusBatch.from_json_array(b"\xef\xbb\xbf" + doc.encode()), texts)
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"):
        assert_matches(StatusBatch.from_json_array(doc.encode(encoding)), texts)
    with pytest.raises(UnicodeDecodeError):
        StatusBatch.from_json_array(doc.encode("utf-16-le")[:-1])
    with pytest.raises(json.JSONDecodeError, match="Unexpected UTF-8 BOM"):
        StatusBatch.from_json_array("\ufeff" + doc)
    lone = '[{"status": "failed", "message": "\ud800"}, "\udc00"]'
    assert_matches(
        StatusBatch.from_json_array(lone), ['{"status": "failed", "message": "\ud800"}', '"\udc00"']
    )
    assert_matches(
        StatusBatch.from_json_array(lone.encode("utf-8", "surrogatepass")),
        [b'{"status": "failed", "message": "\xed\xa0\x80"}', b'"\xed\xb0\x80"'],
    )

    class Text(str):
        pass

    assert_matches(StatusBatch.from_json_array(Text(doc)), texts)
    strided = memoryview(doc.encode().replace(b"", b" ")[1:])[::2]
    assert_matches(StatusBatch.from_json_array(strided), [t.encode() for t in texts])
    for not_json in (12, None, [b"[]"]):
        with pytest.raises(TypeError, match="the JSON object must be"):
            StatusBatch.from_json_array(not_json)  # type: ignore[arg-type]
    for scalar, name in [("3", "int"), ("-0", "int"), ("1e400", "float"), ("NaN", "float")]:
        with pytest.raises(TypeError, match=f"at the top level, not {name}$"):
            StatusBatch.from_json_array(scalar)
    assert raised(StatusBatch.from_json_array, '"s"') == raised(loads_array, '"s"')
    assert raised(StatusBatch.from_json_array, "null") == raised(loads_array, "null")


def test_error_entries_replay_their_payload_and_pickle_compactly() -> None:
    """Error entries keep the payload, not the exception: raised again from it, equal on
    every access and after pickling, and a batch of many costs bytes an entry."""
    lines = [b"{not json %d" % i for i in range(2000)]
    lines += [b'{"message": "m"}', b'{"status": "running"}', b'{"status": 1}', b"[1]"]
    lines += ['{"status": "failed", "message": 3, "\ud800": 1}'.encode("utf-8", "surrogatepass")]
    lines += [b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"x": ' + b"9" * 5000 + b"}"]
    batch = StatusBatch.from_ndjson(b"\n".join(lines))
    assert_matches(batch, lines)
    assert_matches(pickle.loads(pickle.dumps(batch)), lines)
    assert_matches(batch[2000:], lines[2000:])
    # Repeated messages are pickled once, not once an entry.
    size = len(pickle.dumps(batch))
    assert size < sum(map(len, lines)) + 40 * len(lines)
    assert sys.getsizeof(batch) < sum(map(len, lines)) + 64 * len(lines)


def is_json_value(payload: bytes) -> bool:
    """Whether `payload` is a whole JSON value, so it can sit in an array."""
    try:
        json.loads(payload)
    except ValueError:
        return False
    return True


def test_thread_count_does_not_change_the_result() -> None:
    raw = generate_payloads(30_000, seed=5, invalid_rate=0.1)
    one = StatusBatch.from_payloads(raw, threads=1)
    for threads in (2, 4, None):
        many = StatusBatch.from_payloads(raw, threads=threads)
        assert bytes(many.codes) == bytes(one.codes)
        assert many.errors == one.errors
        assert pickle.dumps(many[::1000]) == pickle.dumps(one[::1000])
    for below_one in (0, -1, -(2**70)):
        with pytest.raises(ValueError, match="threads must be at least 1"):
            StatusBatch.from_payloads(raw, threads=below_one)
    assert StatusBatch.from_payloads(raw, threads=2**70) == one


def test_a_big_batch_completes() -> None:
    raw = generate_payloads(1000, seed=9, invalid_rate=0.01) * 100
    batch = StatusBatch.from_payloads(raw)
    assert len(batch) == 100_000
    assert sum(batch.counts().values()) + len(batch.errors) == 100_000
    assert len(batch.to_list() if not batch.errors else batch.indices()) > 90_000


def test_the_gil_is_released_during_a_big_parse() -> None:
    raw = generate_payloads(1000, seed=2) * 1000
    counter = 0
    done = threading.Event()

    def spin() -> None:
        nonlocal counter
        while not done.is_set():
            counter += 1
            # Hands the GIL back at once, so the main thread never waits on this one.
            time.sleep(0)

    seen_at_end_of_input: list[int] = []

    def feed() -> Iterator[bytes]:
        yield from raw
        # From here on only the native code runs until from_payloads returns.
        seen_at_end_of_input.append(counter)

    # No forced thread switch: the spinner runs only when the main thread lets the GIL go.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    spinner = threading.Thread(target=spin)
    try:
        spinner.start()
        batch = StatusBatch.from_payloads(feed())
        after = counter
    finally:
        done.set()
        spinner.join()
        sys.setswitchinterval(interval)
    assert len(batch) == 1_000_000
    assert after > seen_at_end_of_input[0]


def test_hostile_inputs_give_error_entries() -> None:
    big_valid = b'{"status":"ready","message":"' + b"m" * (10 << 20) + b'"}'
    big_invalid = b'{"status":"ready","message":"' + b"m" * (10 << 20)
    hostile = [
        big_valid,
        big_invalid,
        b'{"status":"ready","message":"\xc3\x28"}',
        b"\xff\xfe\x00",
        b'{"status":"ready","x":' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    ]
    batch = StatusBatch.from_payloads(hostile)
    assert_matches(batch, hostile)
    assert batch.statuses()[0] is Status.READY
    invalid_lines = b"\n".join(b"{not json %d" % i for i in range(10_000))
    lines = StatusBatch.from_ndjson(invalid_lines)
    assert len(lines) == len(lines.errors) == 10_000
    assert {name for _, name, _ in lines.errors} == {"JSONDecodeError"}


def test_parse_many(mixed: list[Any]) -> None:
    good = [p for p in mixed if from_json(p)[0] == "ok"]
    assert parse_many(good) == [RunStatus.from_json(p) for p in good]
    assert parse_many(iter(good), threads=1) == [RunStatus.from_json(p) for p in good]
    assert parse_many([]) == []
    bad = [*good[:5], b'{"message":"m"}', b"{"]
    with pytest.raises(PayloadError, match="payload 5: KeyError") as caught:
        parse_many(bad)
    assert caught.value.index == 5
    assert isinstance(caught.value, ValueError)
    assert type(caught.value.__cause__) is KeyError
    assert caught.value.__cause__.args == ("status",)
    back = pickle.loads(pickle.dumps(caught.value))
    assert (back.index, str(back)) == (5, str(caught.value))


def test_to_list_restores_the_garbage_collector() -> None:
    batch = StatusBatch.from_payloads([b'{"status":"ready"}'] * 10 + [b"{"])
    assert gc.isenabled()
    assert len(batch[:10].to_list()) == 10
    assert gc.isenabled()
    with pytest.raises(json.JSONDecodeError):
        batch.to_list()
    assert gc.isenabled()
    gc.disable()
    try:
        batch[:10].to_list()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_pure_mode_loads_the_core_only_for_the_batch_tools() -> None:
    script = """
import sys
import iqm_runstatus
assert not iqm_runstatus.NATIVE
assert "iqm_runstatus._core" not in sys.modules
from iqm_runstatus import StatusBatch, parse_many
assert "iqm_runstatus._core" in sys.modules
assert StatusBatch.from_payloads([b'{"status":"ready"}']).counts()[iqm_runstatus.Status.READY] == 1
failed = b'{"status":"failed"}'
assert parse_many([failed])[0] == iqm_runstatus.RunStatus.from_json(failed)
print("ok")
"""
    env = {**os.environ, "IQM_RUNSTATUS_PURE": "1"}
    completed = run_python("-c", script, env=env)
    assert completed.stdout.strip() == "ok", completed.stderr


def test_memory_per_entry_beyond_the_distinct_strings_is_at_most_32_bytes() -> None:
    """Doubling a batch of the same statuses adds only per-entry columns: at most 32 bytes each.

    The tables of distinct strings are the same in both batches, so the size difference is
    what each extra entry costs.
    """
    payloads = generate_payloads(50_000, seed=7)
    small = StatusBatch.from_payloads(payloads)
    large = StatusBatch.from_payloads(payloads * 2)
    per_entry = (sys.getsizeof(large) - sys.getsizeof(small)) / len(payloads)
    assert 0 < per_entry <= 32
    # And the whole batch stays far below one RunStatus object per entry (hundreds of bytes).
    assert sys.getsizeof(large) / len(large) <= 64


def test_an_iterator_shared_by_threads_is_not_found_borrowed() -> None:
    """An error entry's exception comes from the pure path, Python code during which another
    thread may take the GIL and call next() on the same iterator: it gets the next entry, not
    "Already borrowed" (the iterator was held while the entry was built)."""
    lines = [b"{not json %d" % i for i in range(20_000)]
    batch = StatusBatch.from_ndjson(b"\n".join(lines))
    iterator = iter(batch)
    seen: list[str] = []
    lock = threading.Lock()

    def drain() -> None:
        while True:
            try:
                next(iterator)
            except StopIteration:
                return
            except Exception as exc:  # each entry's outcome is the point
                with lock:
                    seen.append(type(exc).__name__)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=drain) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        sys.setswitchinterval(interval)
    assert Counter(seen) == {"JSONDecodeError": len(lines)}
