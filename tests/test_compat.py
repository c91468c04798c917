"""pydantic compatibility: our classes and the instances every entry point makes behave as the
reference's do, point by point (class shape, schema, docstrings, dumping, pickling, copying,
hashing, assignment, gc)."""

from __future__ import annotations

import ast
import copy
import enum
import gc
import inspect
import json
import pickle
import textwrap
import typing
import weakref
from typing import Any, Callable, Optional

import iqm_runstatus
import pydantic
import pytest
from iqm_runstatus import RunStatus, Status
from support.oracle import RefRunStatus, RefStatus, ref_from_json
from support.outcomes import describe_model, describe_value, outcome

# --------------------------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------------------------


def test_status_members_names_values_and_order() -> None:
    """Status has the reference's five members, same names, values and order."""
    assert [(m.name, m.value) for m in Status] == [(m.name, m.value) for m in RefStatus]
    assert list(Status.__members__) == list(RefStatus.__members__)
    assert len(Status) == 5


def test_status_is_str_enum() -> None:
    """Status is a (str, Enum) like the reference: same MRO shape, equal to and hashing as str."""
    assert issubclass(Status, str)
    assert issubclass(Status, enum.Enum)
    assert [c.__name__ for c in Status.__mro__] == [c.__name__ for c in RefStatus.__mro__]
    assert Status.__bases__[0] is str
    for ours, ref in zip(Status, RefStatus):
        assert ours == ref.value
        assert hash(ours) == hash(ref.value)
        assert isinstance(ours, str)


def test_status_str_repr_format() -> None:
    """str(), repr() and format() of each member read the same as the reference's."""
    for ours, ref in zip(Status, RefStatus):
        assert str(ours) == str(ref)
        assert repr(ours) == repr(ref)
        assert format(ours) == format(ref)
        assert f"{ours}" == f"{ref}"


def test_status_lookup() -> None:
    """Status(value) and Status[name] find the members; bad values fail as in the reference."""
    for member in Status:
        assert Status(member.value) is member
        assert Status[member.name] is member
    assert outcome(Status, "READY")[:3] == outcome(RefStatus, "READY")[:3]


def test_status_docstring_and_names() -> None:
    """Status has the reference's docstring, name and qualified name."""
    assert Status.__doc__ == RefStatus.__doc__
    assert Status.__name__ == RefStatus.__name__ == "Status"
    assert Status.__qualname__ == RefStatus.__qualname__


def test_status_pickles_to_itself() -> None:
    """A Status member survives pickling as the identical member, at every protocol."""
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        for member in Status:
            assert pickle.loads(pickle.dumps(member, protocol)) is member


# --------------------------------------------------------------------------------------------
# RunStatus, the class
# --------------------------------------------------------------------------------------------


def test_run_status_is_base_model() -> None:
    """RunStatus is a real pydantic BaseModel subclass with the reference's names and MRO shape."""
    assert issubclass(RunStatus, pydantic.BaseModel)
    assert RunStatus.__name__ == RefRunStatus.__name__ == "RunStatus"
    assert RunStatus.__qualname__ == RefRunStatus.__qualname__
    assert [c.__name__ for c in RunStatus.__mro__] == [c.__name__ for c in RefRunStatus.__mro__]


def test_model_fields() -> None:
    """model_fields: same names in order, annotations, required flags, defaults and repr."""
    ours, ref = RunStatus.model_fields, RefRunStatus.model_fields
    assert list(ours) == list(ref) == ["status", "message", "warnings"]
    assert repr(ours) == repr(ref)
    for name in ours:
        assert ours[name].is_required() == ref[name].is_required()
        assert ours[name].default == ref[name].default
        assert ours[name].description == ref[name].description
        assert ours[name].alias == ref[name].alias
    assert ours["status"].annotation is Status
    assert ours["message"].annotation == ref["message"].annotation == Optional[str]
    assert ours["warnings"].annotation == ref["warnings"].annotation == Optional[list[str]]


def test_annotations_and_type_hints() -> None:
    """__annotations__ are the reference's strings and resolve to the same types."""
    assert RunStatus.__annotations__ == RefRunStatus.__annotations__
    hints = typing.get_type_hints(RunStatus)
    ref_hints = typing.get_type_hints(RefRunStatus)
    assert list(hints) == list(ref_hints)
    assert hints["status"] is Status and ref_hints["status"] is RefStatus
    assert hints["message"] == ref_hints["message"]
    assert hints["warnings"] == ref_hints["warnings"]


def test_model_config_and_computed_fields() -> None:
    """model_config and model_computed_fields are empty, as in the reference."""
    assert RunStatus.model_config == RefRunStatus.model_config == {}
    assert RunStatus.model_computed_fields == RefRunStatus.model_computed_fields == {}


@pytest.mark.parametrize("mode", ["validation", "serialization"])
def test_json_schema(mode: str) -> None:
    """model_json_schema() is identical to the reference's in both modes."""
    assert RunStatus.model_json_schema(mode=mode) == RefRunStatus.model_json_schema(mode=mode)


def test_class_docstrings() -> None:
    """The class docstrings are the reference's; from_dict documents itself the same way."""
    assert RunStatus.__doc__ == RefRunStatus.__doc__ == "Status of a circuit execution job."
    assert RunStatus.from_dict.__doc__.startswith("Parses the result from a dict.")
    assert RunStatus.from_json.__doc__


def _field_docstrings(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string literal right after a field) from the class source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = following.value.value
    return docs


def test_field_docstrings() -> None:
    """Each field carries the reference's attribute docstring in the source."""
    docs = _field_docstrings(RunStatus)
    assert docs == _field_docstrings(RefRunStatus)
    assert list(docs) == ["status", "message", "warnings"]


def test_from_dict_is_static_and_takes_inp() -> None:
    """from_dict is a staticmethod callable from the class and instances, with keyword 'inp'."""
    assert isinstance(inspect.getattr_static(RunStatus, "from_dict"), staticmethod)
    instance = RunStatus(status=Status.READY)
    payload = {"status": "failed", "message": "m"}
    expected = outcome(RefRunStatus.from_dict, payload)
    assert outcome(RunStatus.from_dict, payload) == expected
    assert outcome(instance.from_dict, payload) == expected
    assert outcome(lambda: RunStatus.from_dict(inp=payload)) == expected


def test_from_dict_wrong_arity() -> None:
    """Calling from_dict with no or two arguments is a TypeError, as for the reference."""
    for args in [(), ({"status": "ready"}, {})]:
        assert outcome(RunStatus.from_dict, *args)[1] == "builtins.TypeError"
        assert outcome(RefRunStatus.from_dict, *args)[1] == "builtins.TypeError"


# --------------------------------------------------------------------------------------------
# Instances made by every entry point
# --------------------------------------------------------------------------------------------

PAYLOADS: dict[str, dict[str, Any]] = {
    "minimal": {"status": "ready"},
    "message": {"status": "failed", "message": "boom \u00e9\U0001f600"},
    "warnings": {"status": "pending execution", "warnings": ["w1", "w2"]},
    "explicit_nulls": {"status": "aborted", "message": None, "warnings": None},
    "all_fields": {"status": "pending compilation", "message": "m", "warnings": []},
    "extras": {"x": 1, "status": "ready", "y": {"z": [1, 2]}, "message": "m"},
    "reversed_order": {"warnings": ["w"], "message": "m", "status": "failed"},
}

# Each entry point, ours and the reference's counterpart, as functions of the payload dict.
ENTRY_POINTS: dict[str, tuple[Callable[[dict], Any], Callable[[dict], Any]]] = {
    "from_dict": (RunStatus.from_dict, RefRunStatus.from_dict),
    "from_json_bytes": (
        lambda p: RunStatus.from_json(json.dumps(p).encode()),
        lambda p: ref_from_json(json.dumps(p).encode()),
    ),
    "from_json_str": (
        lambda p: RunStatus.from_json(json.dumps(p, ensure_ascii=False)),
        lambda p: ref_from_json(json.dumps(p, ensure_ascii=False)),
    ),
    "from_json_bytearray": (
        lambda p: RunStatus.from_json(bytearray(json.dumps(p).encode())),
        lambda p: ref_from_json(bytearray(json.dumps(p).encode())),
    ),
    "from_json_memoryview": (
        lambda p: RunStatus.from_json(memoryview(json.dumps(p).encode())),
        lambda p: ref_from_json(memoryview(json.dumps(p).encode())),
    ),
    "model_validate": (RunStatus.model_validate, RefRunStatus.model_validate),
    "model_validate_json_str": (
        lambda p: RunStatus.model_validate_json(json.dumps(p)),
        lambda p: RefRunStatus.model_validate_json(json.dumps(p)),
    ),
    "model_validate_json_bytes": (
        lambda p: RunStatus.model_validate_json(json.dumps(p).encode()),
        lambda p: RefRunStatus.model_validate_json(json.dumps(p).encode()),
    ),
    "constructor": (
        lambda p: RunStatus(**{k: v for k, v in p.items() if k in RunStatus.model_fields}),
        lambda p: RefRunStatus(**{k: v for k, v in p.items() if k in RefRunStatus.model_fields}),
    ),
}


@pytest.fixture(params=list(PAYLOADS), ids=list(PAYLOADS))
def payload(request: pytest.FixtureRequest) -> dict[str, Any]:
    return copy.deepcopy(PAYLOADS[request.param])


@pytest.fixture(params=list(ENTRY_POINTS), ids=list(ENTRY_POINTS))
def entry(request: pytest.FixtureRequest) -> tuple[Callable[[dict], Any], Callable[[dict], Any]]:
    return ENTRY_POINTS[request.param]


def _pydantic_built(payload: dict[str, Any]) -> RunStatus:
    """The same instance built by pydantic's own __init__ (fields given explicitly)."""
    return RunStatus(**{k: v for k, v in payload.items() if k in RunStatus.model_fields})


def test_instance_matches_reference(entry: Any, payload: dict) -> None:
    """dump, dump_json, fields_set, repr, own Status enum: all as the reference's instance."""
    ours, ref = entry
    assert outcome(ours, payload) == outcome(ref, payload)


def test_instance_equals_pydantic_built(entry: Any, payload: dict) -> None:
    """The instance equals RunStatus(...) built by pydantic, in value, fields set and state."""
    instance = entry[0](payload)
    built = _pydantic_built(payload)
    assert type(instance) is RunStatus
    assert instance == built
    assert instance.model_fields_set == built.model_fields_set
    assert instance.__getstate__() == built.__getstate__()
    assert list(instance.__dict__) == list(built.__dict__) == ["status", "message", "warnings"]
    assert type(instance.__dict__) is dict
    assert type(instance.__pydantic_fields_set__) is set
    assert instance.__pydantic_extra__ is None and instance.model_extra is None
    assert instance.__pydantic_private__ is None
    assert vars(instance) == vars(built)
    assert type(instance.status) is Status


def test_model_dump_variants(entry: Any, payload: dict) -> None:
    """model_dump / model_dump_json with the common options equal the reference's output."""
    ours, ref = entry[0](payload), entry[1](payload)
    for kwargs in [
        {},
        {"exclude_unset": True},
        {"exclude_none": True},
        {"exclude_defaults": True},
        {"include": {"status", "message"}},
        {"exclude": {"warnings"}},
        {"by_alias": True},
    ]:
        assert describe_value(ours.model_dump(**kwargs)) == describe_value(ref.model_dump(**kwargs))
        assert ours.model_dump(mode="json", **kwargs) == ref.model_dump(mode="json", **kwargs)
        assert ours.model_dump_json(**kwargs) == ref.model_dump_json(**kwargs)
    assert ours.model_dump_json(indent=2) == ref.model_dump_json(indent=2)
    assert type(ours.model_dump()["status"]) is Status


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(entry: Any, payload: dict, protocol: int) -> None:
    """pickle at every protocol gives back an equal instance with the same state and fields set."""
    instance = entry[0](payload)
    loaded = pickle.loads(pickle.dumps(instance, protocol))
    assert type(loaded) is RunStatus
    assert loaded == instance
    assert loaded.model_fields_set == instance.model_fields_set
    assert loaded.__getstate__() == instance.__getstate__()
    assert loaded.status is instance.status  # enum members unpickle to themselves
    assert describe_model(loaded) == describe_model(instance)


def test_copy_and_deepcopy(entry: Any, payload: dict) -> None:
    """copy.copy and copy.deepcopy behave as on the reference's instance, sharing included."""
    ours, ref = entry[0](payload), entry[1](payload)
    for fn in (copy.copy, copy.deepcopy):
        ours_copy, ref_copy = fn(ours), fn(ref)
        assert ours_copy == ours
        assert describe_model(ours_copy) == describe_model(ours)
        assert ours_copy.__getstate__() == ours.__getstate__()

        def sharing(original: Any, duplicate: Any) -> tuple[bool, ...]:
            return (
                duplicate.__dict__ is original.__dict__,
                duplicate.__pydantic_fields_set__ is original.__pydantic_fields_set__,
                duplicate.warnings is original.warnings and original.warnings is not None,
            )

        assert sharing(ours, ours_copy) == sharing(ref, ref_copy)


def test_model_copy(entry: Any, payload: dict) -> None:
    """model_copy(update=...) and model_copy(deep=True) act as on the reference's instance."""
    ours, ref = entry[0](payload), entry[1](payload)
    for kwargs in [{}, {"deep": True}, {"update": {"message": "new"}}, {"update": {"x": 1}}]:
        ours_copy, ref_copy = ours.model_copy(**kwargs), ref.model_copy(**kwargs)
        assert describe_model(ours_copy) == describe_model(ref_copy)
        assert ours_copy.__getstate__().keys() == ref_copy.__getstate__().keys()
    assert describe_model(ours) == describe_model(ref)  # originals untouched


def test_getstate_equals_pydantic_built(entry: Any, payload: dict) -> None:
    """__getstate__() has exactly the keys and values of a pydantic-built instance."""
    state = entry[0](payload).__getstate__()
    expected = _pydantic_built(payload).__getstate__()
    assert list(state) == list(expected)
    assert state == expected


def test_unhashable(entry: Any, payload: dict) -> None:
    """Hashing fails with the reference's TypeError (a non-frozen model is unhashable)."""
    ours, ref = entry[0](payload), entry[1](payload)
    assert outcome(hash, ours)[:3] == outcome(hash, ref)[:3]
    assert outcome(hash, ours)[1] == "builtins.TypeError"
    assert RunStatus.__hash__ is None


def test_attribute_assignment(entry: Any, payload: dict) -> None:
    """Setting fields updates fields set without validation; unknown names fail the same way."""
    ours, ref = entry[0](payload), entry[1](payload)
    for name, value in [("message", "new"), ("warnings", ["x"]), ("status", "not validated")]:
        setattr(ours, name, value)
        setattr(ref, name, value)
        assert ours.model_fields_set == ref.model_fields_set
        assert getattr(ours, name) == value
        assert repr(ours) == repr(ref)
    for name in ["not_a_field", "_private", "model_config"]:
        assert outcome(setattr, ours, name, 1)[:3] == outcome(setattr, ref, name, 1)[:3]
    assert outcome(delattr, ours, "message")[:3] == outcome(delattr, ref, "message")[:3]


def test_isinstance_checks(entry: Any, payload: dict) -> None:
    """Instances are RunStatus and BaseModel instances, and not the reference's class."""
    instance = entry[0](payload)
    assert isinstance(instance, RunStatus)
    assert isinstance(instance, pydantic.BaseModel)
    assert not isinstance(instance, RefRunStatus)
    assert type(instance) is RunStatus
    assert instance.__class__ is RunStatus
    assert isinstance(instance.status, Status) and isinstance(instance.status, str)


def test_gc_tracking_and_weakref(entry: Any, payload: dict) -> None:
    """Instances are tracked by the gc like pydantic's, and can be weakly referenced."""
    ours, ref = entry[0](payload), entry[1](payload)
    assert gc.is_tracked(ours) == gc.is_tracked(ref) is True
    assert gc.is_tracked(ours.__dict__)
    reference = weakref.ref(ours)
    assert reference() is ours
    del ours
    gc.collect()
    assert reference() is None


def test_instances_share_no_state(entry: Any, payload: dict) -> None:
    """Two instances parsed from the same input own separate dicts, fields sets and lists."""
    first, second = entry[0](payload), entry[0](payload)
    assert first.__dict__ is not second.__dict__
    assert first.__pydantic_fields_set__ is not second.__pydantic_fields_set__
    if first.warnings is not None:
        assert first.warnings is not second.warnings
    first.message = "changed"
    first.__dict__["extra_key"] = 1
    if first.warnings is not None:
        first.warnings.append("appended")
    assert second == entry[0](payload)
    assert "extra_key" not in second.__dict__
    assert describe_model(second) == describe_model(entry[0](payload))


@pytest.mark.parametrize("warnings", [[], ["a"], ["a", "b\u00e9"]], ids=repr)
def test_fresh_warnings_list(entry: Any, warnings: list[str]) -> None:
    """A warnings list in the input is never the list the instance holds."""
    payload = {"status": "ready", "warnings": warnings}
    instance = entry[0](payload)
    assert instance.warnings == payload["warnings"]
    assert instance.warnings is not payload["warnings"]
    instance.warnings.append("mutated")
    assert payload["warnings"] == warnings and "mutated" not in payload["warnings"]


def test_model_validate_returns_same_instance(entry: Any, payload: dict) -> None:
    """model_validate(instance) hands back the instance itself, as pydantic does."""
    instance = entry[0](payload)
    assert RunStatus.model_validate(instance) is instance
    ref_instance = entry[1](payload)
    assert RefRunStatus.model_validate(ref_instance) is ref_instance


def test_equality_rules(entry: Any, payload: dict) -> None:
    """Equality follows pydantic: by fields and class; never equal to the reference's class."""
    ours, ref = entry[0](payload), entry[1](payload)
    assert ours == entry[0](payload)
    assert ours != ref
    assert (ours == ref) == (_pydantic_built(payload) == ref)
    other = _pydantic_built(payload)
    other.message = "something else"
    assert ours != other


# --------------------------------------------------------------------------------------------
# Options, subclasses and pydantic's own constructors
# --------------------------------------------------------------------------------------------

OPTION_INPUTS = [
    {"status": "ready"},
    {"status": Status.READY},
    {"status": "ready", "message": 1},
    {"status": "ready", "warnings": ("a",)},
]


@pytest.mark.parametrize("data", OPTION_INPUTS, ids=lambda d: repr(d))
@pytest.mark.parametrize(
    "kwargs", [{"strict": True}, {"strict": False}, {"context": {"k": 1}}], ids=repr
)
def test_model_validate_with_options(data: dict, kwargs: dict) -> None:
    """model_validate with options goes to pydantic and matches the reference's answer."""
    ref_data = {k: (RefStatus(v.value) if isinstance(v, Status) else v) for k, v in data.items()}
    assert outcome(lambda: RunStatus.model_validate(data, **kwargs)) == outcome(
        lambda: RefRunStatus.model_validate(ref_data, **kwargs)
    )


@pytest.mark.parametrize("raw", ['{"status": "ready"}', '{"status": "x"}', b'{"status": 1}'])
@pytest.mark.parametrize("kwargs", [{"strict": True}, {"context": None}], ids=repr)
def test_model_validate_json_with_options(raw: Any, kwargs: dict) -> None:
    """model_validate_json with options matches pydantic's answer on the reference."""
    assert outcome(lambda: RunStatus.model_validate_json(raw, **kwargs)) == outcome(
        lambda: RefRunStatus.model_validate_json(raw, **kwargs)
    )


def _subclass_of(base: type) -> type:
    class Sub(base):  # type: ignore[misc,valid-type]
        pass

    return Sub


def test_subclass_behaviour() -> None:
    """A subclass validates into itself; from_dict still returns RunStatus, as in the reference."""
    sub, ref_sub = _subclass_of(RunStatus), _subclass_of(RefRunStatus)
    data = {"status": "failed", "message": "m"}
    assert type(sub.model_validate(data)) is sub
    assert type(sub.model_validate_json(json.dumps(data))) is sub
    assert type(ref_sub.model_validate(data)) is ref_sub
    assert type(sub.from_dict(data)) is RunStatus
    assert type(ref_sub.from_dict(data)) is RefRunStatus
    assert type(sub.from_json(json.dumps(data))) is RunStatus
    assert sub.model_validate(data).model_dump() == ref_sub.model_validate(data).model_dump()
    for bad in [{"status": "x"}, {"message": 1}, []]:
        assert outcome(sub.model_validate, bad) == outcome(ref_sub.model_validate, bad)
    for raw in ['{"status": "x"}', "[", '{"status": "ready"}']:
        assert (
            outcome(sub.model_validate_json, raw)[:3]
            == outcome(ref_sub.model_validate_json, raw)[:3]
        )


def test_model_construct() -> None:
    """pydantic's model_construct is untouched: it gives the reference's unvalidated instance."""
    ours = RunStatus.model_construct(status=Status.READY, message="m")
    ref = RefRunStatus.model_construct(status=RefStatus.READY, message="m")
    assert describe_model(ours) == describe_model(ref)


def test_native_flag_follows_environment() -> None:
    """NATIVE is a bool and is off exactly when IQM_RUNSTATUS_PURE asks for the pure path."""
    import os

    pure = os.environ.get("IQM_RUNSTATUS_PURE", "").strip().lower() in ("1", "true", "yes")
    assert isinstance(iqm_runstatus.NATIVE, bool)
    assert iqm_runstatus.NATIVE is (not pure)
    assert set(iqm_runstatus.__all__) >= {
        "NATIVE",
        "RunStatus",
        "Status",
        "pure_from_dict",
        "pure_from_json",
    }
