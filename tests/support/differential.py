"""The differential checks: our entry point and the oracle's agree on an input, in every
form it can take, and neither changes it."""

from __future__ import annotations

import copy
from typing import Any, Callable

from iqm_runstatus import RunStatus

from support.oracle import (
    oracle_from_dict,
    oracle_from_json,
    oracle_model_validate,
    oracle_model_validate_json,
)
from support.outcomes import outcome, squash

__all__ = [
    "assert_unchanged",
    "check_from_dict",
    "check_from_json",
    "check_model_validate",
    "check_model_validate_json",
    "raw_forms",
    "snapshot",
]

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
