"""Fuzzing with finalizers: every entry point is called with a finalizer armed to run inside
the call, one that mutates the input or re-enters the library.

Hypothesis runs in a fresh interpreter (a crash or a hang fails the test instead of ending
pytest), with collections at nearly every allocation so the finalizer runs mid-call on
CPython 3.11 and older (newer versions run it at the next bytecode). Each result or exception
must be the pure path's for the input as it was before the call or as it is after it, never a
crash, a hang, a ``SystemError`` or a ``PanicException``, and every string must be sound.
It runs 400 examples, scaled by the hypothesis profile (``support.profiles``);
``FUZZ_EXAMPLES`` sets them instead.
"""

from __future__ import annotations

import json
import os

import pytest
from support.profiles import scale
from support.scripts import IMPORT_SUPPORT, run_python

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", scale(400)))

SCRIPT = (
    IMPORT_SUPPORT
    + r"""
import copy, faulthandler, gc, json, os
faulthandler.enable()
from hypothesis import HealthCheck, given, settings, strategies as st
from iqm_runstatus import JobTracker, RunStatus, StatusBatch, parse_many, _core, _model
from iqm_runstatus import pure_from_dict, pure_from_json
from support.outcomes import describe_model, outcome
from support.scripts import OnCollect

def settle(fn, arg):
    # The result itself (a batch, a list), or the exception, never an internal error.
    try:
        return ("ok", fn(arg))
    except Exception as exc:
        assert not isinstance(exc, SystemError), repr(exc)
        return ("err", type(exc).__name__, str(exc))

def checked(result):
    # A RunStatus a batch tool gave: exact strs in its warnings, and sound strs throughout
    # (describe_model checks those).
    assert type(result) is RunStatus, type(result)
    assert all(type(w) is str for w in (result.warnings or []))
    return describe_model(result)

def pure_json(raw):
    return pure_from_json(bytes(raw) if isinstance(raw, (bytearray, memoryview)) else raw)

SINGLE = {
    "from_json": (RunStatus.from_json, pure_json),
    "validate_json": (_core.validate_json, _model._pydantic_validate_json),
    "from_dict": (RunStatus.from_dict, pure_from_dict),
    "validate_python": (_core.validate_python, _model._pydantic_validate_python),
}

statuses = st.sampled_from(
    ["pending compilation", "pending execution", "ready", "failed", "aborted", "bogus"])
texts = st.text(max_size=12)
documents = st.fixed_dictionaries(
    {"status": statuses},
    optional={
        "message": st.one_of(st.none(), texts, st.integers()),
        "warnings": st.one_of(st.none(), st.lists(texts, max_size=12),
                              st.lists(st.one_of(texts, st.integers()), max_size=3)),
        "extra": st.integers(),
    },
)

def encode(doc, ascii_only):
    return json.dumps(doc, ensure_ascii=ascii_only).encode()

def snapshot(value):
    if isinstance(value, memoryview):
        return bytes(value)
    return copy.deepcopy(value)

def mutate(target, how, noise):
    # Changes `target` in place, as far as its type allows.
    if isinstance(target, memoryview):
        target = target.obj
    if isinstance(target, bytearray):
        if how == "rewrite":
            cut = len(target) // 2
            target[cut:] = (noise * (len(target) // len(noise) + 1))[: len(target) - cut]
        elif how == "resize":
            try:
                target.extend(b" ")
            except BufferError:
                pass
    elif isinstance(target, dict):
        # One change at a time, so the input is either as before or as after it.
        warnings = target.get("warnings")
        if how == "list" and isinstance(warnings, list):
            warnings[:] = warnings[: len(warnings) // 2] + [1]
        elif how == "rewrite":
            for n in range(12):
                target["added%d" % n] = n
            target.pop("status", None)
        elif how == "resize":
            target.clear()
    elif isinstance(target, list):
        for item in target:
            mutate(item, how, noise)
        if how == "resize":
            target.clear()

def reenter(doc):
    outcome(RunStatus.from_json, bytearray(doc))
    outcome(RunStatus.from_dict, json.loads(doc))
    StatusBatch.from_payloads([doc, bytearray(doc)])
    gc.collect()

def run_armed(call, arg, action, through=settle):
    # Collections run at an allocation once more objects were made than freed since the last
    # one: a few kept objects make sure the count is past the threshold, so the first
    # allocation inside the call (`through` calls it first thing) collects.
    OnCollect(action)
    counted = [[] for _ in range(4)]
    gc.set_threshold(1)
    try:
        return through(call, arg)
    finally:
        gc.set_threshold(700)
        del counted
        gc.collect()

def check_entries(batch):
    for i in range(len(batch)):
        got = settle(batch.__getitem__, i)
        if got[0] == "ok":
            checked(got[1])

EXAMPLES = int(os.environ["FUZZ_EXAMPLES"])

@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.data())
def fuzz(data):
    doc = data.draw(documents, label="doc")
    raw = encode(doc, data.draw(st.booleans(), label="ascii"))
    entry = data.draw(st.sampled_from(
        sorted(SINGLE) + ["from_payloads", "parse_many", "from_json_array", "from_ndjson",
                          "update_many", "update"]), label="entry")
    how = data.draw(st.sampled_from(["rewrite", "resize", "list", "reenter"]), label="how")
    tracker = JobTracker()
    if entry in ("from_json", "validate_json"):
        form = data.draw(st.sampled_from(["bytes", "bytearray", "memoryview", "str"]))
        if form == "memoryview" and entry == "validate_json":
            form = "bytearray"
        arg = {"bytes": raw, "bytearray": bytearray(raw), "memoryview": memoryview(bytearray(raw)),
               "str": raw.decode()}[form]
    elif entry in ("from_dict", "validate_python"):
        arg = json.loads(raw)
    elif entry in ("from_json_array", "from_ndjson"):
        docs = [encode(data.draw(documents), True) for _ in range(data.draw(st.integers(0, 4)))]
        joined = b"[" + b",".join(docs) + b"]" if entry == "from_json_array" else b"\n".join(docs)
        arg = bytearray(joined)
    else:
        arg = [bytearray(encode(data.draw(documents), True))
               for _ in range(data.draw(st.integers(1, 4)))]
    before = snapshot(arg)
    noise = data.draw(st.binary(min_size=1, max_size=16), label="noise")
    other = encode(data.draw(documents, label="reentry doc"), True)
    if how != "reenter":
        action = lambda: mutate(arg, how, noise)
    elif entry in ("update_many", "update"):
        action = lambda: tracker.update_many(["j0", "j1"], [other, raw])
    else:
        action = lambda: reenter(other)

    if entry in SINGLE:
        call, pure = SINGLE[entry]
        got = run_armed(call, arg, action, outcome)
        after = snapshot(arg)
        assert got in (outcome(pure, before), outcome(pure, after)), (got, before, after)
        return
    if entry == "from_payloads":
        got = run_armed(StatusBatch.from_payloads, arg, action)
    elif entry == "parse_many":
        got = run_armed(parse_many, arg, action)
    elif entry == "from_json_array":
        got = run_armed(StatusBatch.from_json_array, arg, action)
    elif entry == "from_ndjson":
        got = run_armed(StatusBatch.from_ndjson, arg, action)
    else:
        ids = ["j%d" % i for i in range(len(arg))]
        if entry == "update_many":
            got = run_armed(lambda items: tracker.update_many(ids, items), arg, action)
        else:
            got = run_armed(lambda items: tracker.update(ids[0], items[0]), arg, action)
        for job in tracker.jobs():
            checked(tracker.status(job))
        return
    if got[0] == "ok" and isinstance(got[1], StatusBatch):
        check_entries(got[1])
    elif got[0] == "ok":
        [checked(item) for item in got[1]]

fuzz()
print(json.dumps({"examples": EXAMPLES}))
"""
)


@pytest.mark.slow  # a fuzz run in a fresh interpreter
@pytest.mark.timeout(900)  # the script it starts has 600 s
def test_every_entry_point_with_a_finalizer_armed() -> None:
    """No crash, hang or internal error whatever a finalizer does during a call."""
    done = run_python("-c", SCRIPT, env=dict(os.environ, FUZZ_EXAMPLES=str(EXAMPLES)), timeout=600)
    assert json.loads(done.stdout.splitlines()[-1]) == {"examples": EXAMPLES}
