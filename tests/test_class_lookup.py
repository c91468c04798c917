"""Attribute lookups on `RunStatus` as cheap as on a plain class, with pydantic's metaclass
behaviour kept: the native lookup is in place on every supported CPython, and what pydantic
does through its metaclass still works."""

from __future__ import annotations

import copy
import pickle
import textwrap
from typing import Any

import pytest
from iqm_runstatus import NATIVE, RunStatus, Status, pure_from_dict
from pydantic import BaseModel, PrivateAttr
from pydantic._internal._model_construction import ModelMetaclass
from support.scripts import run_reporting_script

pytestmark = pytest.mark.skipif(not NATIVE, reason="the native lookup is part of the core")


def test_the_native_lookup_is_in_place() -> None:
    from iqm_runstatus import _core

    metaclass = type(RunStatus)
    assert issubclass(metaclass, ModelMetaclass) and metaclass is not ModelMetaclass
    # Every supported CPython builds the layout route, which installs it.
    assert _core.CPYTHON_ROUTE == "layout"
    assert _core.class_lookups_are_fast(metaclass)
    assert not _core.class_lookups_are_fast(ModelMetaclass)


def test_lookups_find_what_pydantics_lookup_finds() -> None:
    from iqm_runstatus import _core

    assert RunStatus.from_json is _core.from_json
    assert RunStatus.from_dict is _core.from_dict
    assert list(RunStatus.model_fields) == ["status", "message", "warnings"]
    assert RunStatus.model_config == {}
    assert RunStatus.model_computed_fields == {}
    assert RunStatus.__name__ == "RunStatus" and RunStatus.__doc__
    # A miss goes to pydantic's __getattr__, which raises as it does for any model.
    with pytest.raises(AttributeError) as ours:
        RunStatus.not_there  # noqa: B018

    class Plain(BaseModel):
        status: Status

    with pytest.raises(AttributeError) as theirs:
        Plain.not_there  # type: ignore[attr-defined]  # noqa: B018
    assert ours.value.args == theirs.value.args
    assert getattr(RunStatus, "not_there", "default") == "default"
    assert not hasattr(RunStatus, "__pydantic_nonexistent__")


def test_private_attributes_subclassing_rebuild_pickling_and_copy() -> None:
    class WithPrivate(RunStatus):
        _seen: int = PrivateAttr(default=3)

    class Plain(BaseModel):
        _seen: int = PrivateAttr(default=3)

    # pydantic's __getattr__ serves a private attribute's declaration from the class.
    assert type(WithPrivate._seen) is type(Plain._seen)
    assert WithPrivate._seen.default == 3
    item = WithPrivate(status=Status.READY)
    assert item._seen == 3
    item._seen = 4
    assert copy.deepcopy(item)._seen == 4 and copy.copy(item) == item
    assert WithPrivate.model_rebuild(force=True) is True
    status = RunStatus.from_json(b'{"status": "failed", "message": "m", "warnings": ["w"]}')
    assert pickle.loads(pickle.dumps(status)) == status
    assert pickle.loads(pickle.dumps(RunStatus)) is RunStatus
    assert copy.deepcopy(status) == status == pure_from_dict(status.model_dump())


def test_a_lookup_set_on_the_metaclass_later_takes_over() -> None:
    """Setting ``__getattr__`` on the metaclass gives it CPython's own hook back, as for any
    class, and the new ``__getattr__`` answers misses."""
    report = run_reporting_script(
        textwrap.dedent(
            """
            import json
            from iqm_runstatus import RunStatus, _core
            metaclass = type(RunStatus)
            before = _core.class_lookups_are_fast(metaclass)
            metaclass.__getattr__ = lambda cls, name: "answered " + name
            print(json.dumps({
                "before": before,
                "after": _core.class_lookups_are_fast(metaclass),
                "miss": RunStatus.not_there,
                "hit": RunStatus.from_json(b'{"status": "ready"}').status.value,
            }))
            """
        )
    )
    assert report == {"before": True, "after": False, "miss": "answered not_there", "hit": "ready"}


@pytest.mark.parametrize("metaclass", [ModelMetaclass, type, Any])
def test_only_a_metaclass_of_its_own_is_changed(metaclass: Any) -> None:
    from iqm_runstatus import _core

    with pytest.raises(TypeError):
        _core.speed_up_class_lookups(metaclass)
