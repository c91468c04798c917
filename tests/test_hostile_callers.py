"""Hostile callers: inputs that change while they are parsed, dicts that grow under the walk,
lengths that lie, thread starts that fail, subclasses that override ``decode()`` and a model
rebuilt with another config.

Every case runs in a fresh interpreter, so a crash fails its test instead of ending pytest.
The pure path (``pure_from_dict``/``pure_from_json``, checked against the reference elsewhere)
is the oracle; each script prints a JSON report and exits 0 only if every check held.

Finalizers here run in the collections that allocations trigger, which CPython 3.11 and older
run at once; newer versions defer them to the next bytecode, where the cases still run and
must still hold.
"""

from __future__ import annotations

import os
import sys
import textwrap
from typing import Any, Optional

import pytest
from support.scripts import IMPORT_SUPPORT, run_reporting_script

# Shared by the scripts: a finalizer that runs `action` once it is collected, and `outcome`,
# whose description of a result checks that every str is sound (its ASCII flag agrees with its
# characters: a str wrongly flagged ASCII reads bytes >= 128).
PRELUDE = (
    IMPORT_SUPPORT
    + """
import gc, json, sys
from iqm_runstatus import RunStatus, StatusBatch, JobTracker, parse_many
from iqm_runstatus import pure_from_dict, pure_from_json
from support.outcomes import describe_model, outcome
from support.scripts import OnCollect

counted = []

def arm(action):
    # A cycle only the collector frees, then a collection at the next allocation: it runs once
    # more objects were made than freed since the last one, which the kept lists make sure of.
    OnCollect(action)
    counted[:] = [[] for _ in range(4)]
    gc.set_threshold(1)
"""
)


def run(body: str, env: Optional[dict[str, str]] = None) -> dict[str, Any]:
    """Runs the prelude and ``body`` in a fresh interpreter; returns what it printed."""
    script = PRELUDE + textwrap.dedent(body)
    return run_reporting_script(script, env=env)


@pytest.mark.skipif(
    sys.version_info >= (3, 12), reason="3.12 on runs finalizers at the next bytecode instead"
)
def test_an_armed_finalizer_runs_inside_the_call() -> None:
    """What the cases below rely on: a finalizer armed just before ``outcome(fn, arg)`` runs at
    the first allocation inside ``fn``, not before ``fn`` starts."""
    report = run(
        """
        fired, seen, runs = [], [None, None], []
        def probe(arg):
            seen[0] = len(fired)
            allocated = {arg}  # a set: no free list, so the armed collection runs here
            seen[1] = len(fired)
            return allocated
        # One call first, so that what the first call alone allocates (caches filled on first
        # use) does not run the finalizer before `probe` starts.
        outcome(probe, None)
        for trial in range(20):
            fired.clear()
            arm(lambda: fired.append(1))
            outcome(probe, None)
            gc.set_threshold(700)
            runs.append(seen[:])
        print(json.dumps({"runs": runs}))
        """
    )
    assert report["runs"] == [[0, 1]] * 20


# --------------------------------------------------------------------------------------------
# Memory that changes under the parser: mutable buffers are copied before the parse
# --------------------------------------------------------------------------------------------

# Lists of up to eight plain items are kept while scanned; longer ones are read again.
MUTABLE_BUFFER_CASE = """
items = ["w%02d-" % i + "x" * 20 for i in range({items})]
doc = json.dumps({{"status": "failed", "message": "m", "warnings": items}}).encode()
expected = outcome(pure_from_json, doc)
start, end = doc.index(b"["), doc.index(b"]")
# The same length, so an exported buffer allows the write: non-ASCII text and fewer items.
rewritten = b'"\\xc3\\xa9' + b"y" * (end - start - 5) + b'"'
assert len(rewritten) == end - start - 1
data = bytearray(doc)
def rewrite():
    if {resize}:
        data.extend(b" " * 100_000)
    else:
        data[start + 1 : end] = rewritten
parse, argument = {call}, {wrap}
results = []
for trial in range(50):
    data[:] = doc
    arm(rewrite)
    results.append(outcome(parse, argument))
    gc.set_threshold(700)
assert all(result == expected for result in results), results
print(json.dumps({{"trials": len(results), "rewritten": bytes(data) != doc}}))
"""


@pytest.mark.parametrize("resize", [False, True], ids=["rewrite", "resize"])
@pytest.mark.parametrize("items", [3, 12], ids=["kept_items", "reread_items"])
@pytest.mark.parametrize(
    ("call", "wrap"),
    [
        ("RunStatus.from_json", "data"),
        ("RunStatus.from_json", "memoryview(data)"),
        # The native function itself: the Python method around it allocates before the call.
        ("__import__('iqm_runstatus')._core.validate_json", "data"),
    ],
    ids=["from_json_bytearray", "from_json_memoryview", "model_validate_json_bytearray"],
)
def test_buffer_changed_by_a_finalizer_during_the_parse(
    items: int, resize: bool, call: str, wrap: str
) -> None:
    """A finalizer that rewrites or resizes the bytearray mid-parse does not change the result:
    the parse reads a copy taken before it began."""
    run(MUTABLE_BUFFER_CASE.format(items=items, resize=resize, call=call, wrap=wrap))


def test_mmap_is_read_as_json_loads_reads_it() -> None:
    """An mmap is no document for json.loads (TypeError), so not for from_json either; a
    memoryview of it is read from a copy, so a finalizer's write does not reach the parse."""
    run(
        """
        import mmap
        doc = json.dumps({"status": "ready", "warnings": ["a" * 30] * 12}).encode()
        mm = mmap.mmap(-1, len(doc))
        mm[:] = doc
        assert outcome(RunStatus.from_json, mm) == outcome(pure_from_json, mm)
        assert outcome(RunStatus.from_json, mm)[1] == "builtins.TypeError"
        def rewrite():
            mm[doc.index(b"[") + 1] = 0xC3
        expected = outcome(pure_from_json, doc)
        parse, view = RunStatus.from_json, memoryview(mm)
        for trial in range(20):
            mm[:] = doc
            arm(rewrite)
            got = outcome(parse, view)
            gc.set_threshold(700)
            assert got == expected, got
        view.release()
        print(json.dumps({}))
        """
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_shared_memory_written_by_another_process() -> None:
    """Another process rewrites a shared mapping while this one parses views of it: every
    result is a sound status or an exception of the documented kinds, never a crash."""
    report = run(
        """
        import mmap, os, signal, time
        def document(items):
            return json.dumps(
                {"status": "failed", "message": "m", "warnings": items}, ensure_ascii=False
            ).encode()
        # The same length and shape: the scan of one often completes before the other lands.
        first = document(["a" * 11] * 10)
        second = document(["\u00e9" * 5 + "a"] * 10)
        assert len(first) == len(second)
        mm = mmap.mmap(-1, len(first))
        mm[:] = first
        child = os.fork()
        if child == 0:
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                mm[:] = second
                mm[:] = first
            os._exit(0)
        kinds = {"ok": 0}
        parse, view = RunStatus.from_json, memoryview(mm)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            for _ in range(200):
                try:
                    describe_model(parse(view))
                    kinds["ok"] += 1
                except (ValueError, TypeError, KeyError) as exc:
                    kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        print(json.dumps(kinds))
        """
    )
    assert report["ok"] > 0


# --------------------------------------------------------------------------------------------
# A caller's dict or list changed by a finalizer while the native path reads it
# --------------------------------------------------------------------------------------------

DICT_GROWS_CASE = """
def make():
    return {{"warnings": ["w1", "w2"], "status": "failed", "message": "m", "extra": 1}}
expected = outcome(pure_from_dict, make())
parse = {call}
for trial in range(50):
    target = make()
    def grow():
        for n in range(20):
            target["added%d" % n] = n
    arm(grow)
    got = outcome(parse, target)
    gc.set_threshold(700)
    assert got == expected, got
print(json.dumps({{}}))
"""


@pytest.mark.parametrize("call", ["RunStatus.from_dict", "RunStatus.model_validate"])
def test_dict_grown_by_a_finalizer_during_the_call(call: str) -> None:
    """The reference copies the dict before it reads it: a finalizer that adds keys while the
    call runs changes nothing, and never raises SystemError."""
    run(DICT_GROWS_CASE.format(call=call))


def test_warnings_list_changed_by_a_finalizer_during_the_copy() -> None:
    """A finalizer that empties or refills the warnings list while it is copied: the result is
    the list before or after the change, whole, never a list with holes."""
    run(
        """
        def make():
            return {"status": "ready", "warnings": ["w%d" % i for i in range(30)]}
        before = outcome(pure_from_dict, make())
        parse = RunStatus.from_dict
        for change in ("clear", "extend", "non_str"):
            for trial in range(30):
                target = make()
                items = target["warnings"]
                def act():
                    if change == "clear":
                        items.clear()
                    elif change == "extend":
                        items.extend(["z"] * 50)
                    else:
                        items[:] = [1] * len(items)
                arm(act)
                got = outcome(parse, target)
                gc.set_threshold(700)
                after = outcome(pure_from_dict, target)
                assert got in (before, after), (change, got)
        print(json.dumps({}))
        """
    )


# --------------------------------------------------------------------------------------------
# Sizes from Python are hints; a thread that cannot start leaves the work to the others
# --------------------------------------------------------------------------------------------

LYING_LENGTH_CASE = """
class Lying:
    def __init__(self, items, length):
        self.items, self.length = items, length
    def __iter__(self):
        return iter(self.items)
    def __len__(self):
        return self.length

class HintingIterator:
    def __init__(self, items, hint):
        self.items, self.hint = iter(items), hint
    def __iter__(self):
        return self
    def __next__(self):
        return next(self.items)
    def __length_hint__(self):
        return self.hint

payloads = [b'{{"status": "ready"}}', b'{{"status": "failed", "message": "m"}}', b"{{"]
ids = ["a", "b", "c"]
expected = [outcome(pure_from_json, p) for p in payloads]
wrap = {wrap}
for length in (sys.maxsize, 2**40, 2**31):
    batch = StatusBatch.from_payloads(wrap(payloads, length))
    assert [outcome(batch.__getitem__, i) for i in range(3)] == expected
    try:
        parse_many(wrap(payloads[:2], length))
    except Exception as exc:
        raise AssertionError(exc)
    tracker = JobTracker()
    errors = []
    tracker.update_many(wrap(ids, length), wrap(payloads, length), errors=errors)
    assert tracker.counts()["ready"] == 1 and len(errors) == 1, errors
print(json.dumps({{}}))
"""


@pytest.mark.parametrize("wrap", ["Lying", "HintingIterator"])
def test_lengths_that_lie(wrap: str) -> None:
    """An iterable whose ``__len__`` or ``__length_hint__`` claims far more items than it
    has: the batch tools use the items there are, with no abort and no PanicException."""
    run(LYING_LENGTH_CASE.format(wrap=wrap))


def test_thread_that_cannot_start() -> None:
    """When the parse's worker threads cannot be started (here: a stack size no mapping can
    hold), the chunks are parsed on the calling thread and the result is the same."""
    env = dict(os.environ, RUST_MIN_STACK=str(1 << 46))
    run(
        """
        from iqm_runstatus._workload import generate_payloads
        payloads = generate_payloads(40_000, seed=3, invalid_rate=0.01)
        many = StatusBatch.from_payloads(payloads, threads=4)
        one = StatusBatch.from_payloads(payloads, threads=1)
        assert bytes(many.codes) == bytes(one.codes) and many.errors == one.errors
        tracker = JobTracker()
        tracker.update_many([str(i) for i in range(len(payloads))], payloads, threads=4)
        assert len(tracker) == len(payloads) - len(one.errors)
        print(json.dumps({"entries": len(many)}))
        """,
        env=env,
    )


# --------------------------------------------------------------------------------------------
# Exact types on the fast path: subclasses and a rebuilt model get pydantic's own answer
# --------------------------------------------------------------------------------------------


def test_subclass_that_overrides_decode() -> None:
    """json.loads calls a bytes or bytearray subclass's own ``decode()``: the result is the
    document it returns, in every entry point and in batches."""
    run(
        """
        real = b'{"status": "failed", "message": "real"}'
        shown = '{"status": "ready", "message": "decoded"}'
        class Decoding(bytes):
            def decode(self, *args, **kwargs):
                return shown
        class DecodingArray(bytearray):
            def decode(self, *args, **kwargs):
                return shown
        for raw in (Decoding(real), DecodingArray(real)):
            expected = outcome(pure_from_json, raw)
            assert expected[1]["message"] == ("str", "decoded"), expected
            assert outcome(RunStatus.from_json, raw) == expected
            batch = StatusBatch.from_payloads([raw])
            assert outcome(batch.__getitem__, 0) == expected
            assert [describe_model(s) for s in parse_many([raw])] == [expected[1]]
        class DecodingDocument(bytes):
            def decode(self, *args, **kwargs):
                return "[" + shown + "]"
        expected = outcome(pure_from_json, shown)
        batch = StatusBatch.from_json_array(DecodingDocument(b"[" + real + b"]"))
        assert outcome(batch.__getitem__, 0) == expected
        batch = StatusBatch.from_ndjson(Decoding(real))
        assert outcome(batch.__getitem__, 0) == expected
        print(json.dumps({}))
        """
    )


def test_model_rebuilt_with_another_config() -> None:
    """``extra="forbid"`` and ``model_rebuild()`` after import: every entry point applies the
    new validation, as pydantic and the reference's ``from_dict`` then do."""
    run(
        """
        doc = {"status": "ready", "surplus": 1}
        raw = json.dumps(doc).encode()
        assert outcome(RunStatus.from_dict, doc)[0] == "ok"
        RunStatus.model_config["extra"] = "forbid"
        RunStatus.model_rebuild(force=True)
        expected = outcome(pure_from_dict, doc)
        assert expected[0] == "err" and expected[1].endswith(".ValidationError"), expected
        assert outcome(RunStatus.from_dict, doc) == expected
        assert outcome(RunStatus.from_json, raw) == expected
        assert outcome(RunStatus.model_validate, doc)[1].endswith(".ValidationError")
        assert outcome(RunStatus.model_validate_json, raw)[1].endswith(".ValidationError")
        batch = StatusBatch.from_payloads([raw, b'{"status": "ready"}'])
        assert outcome(batch.__getitem__, 0) == expected
        assert outcome(batch.__getitem__, 1)[0] == "ok"
        assert [index for index, _, _ in batch.errors] == [0]
        print(json.dumps({}))
        """
    )
