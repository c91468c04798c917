"""Make an installed iqm-client (15.0 to 32.1.1) parse job statuses with this package's `RunStatus`.

``IQMClient.get_run_status`` looks ``RunStatus`` up as a global of ``iqm.iqm_client.iqm_client``
at every call, and parses with ``RunStatus.from_dict(response.json())`` (up to 22.5) or, through
``_deserialize_response``, ``RunStatus.model_validate(response.json())`` (from 22.6): both are
this package's methods once the name is replaced, so replacing it (and the re-exports in
``iqm.iqm_client.models`` and the ``iqm.iqm_client`` package) is enough for the client to
return this package's objects. ``Status`` is replaced too, so that
``Status.READY`` reached through the client's modules is this package's member; comparisons
between the two enums hold either way, as both are ``str`` enums with the same values.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from types import ModuleType

from ._model import CLIENT_RELEASE, CLIENT_RELEASE_SOURCE, VOCABULARY, RunStatus, Status
from ._releases import (
    ENV_VAR,
    SUPPORTED_RANGE,
    Vocabulary,
    installed_client_release,
    parse_release,
    vocabulary_for,
)

__all__ = ["iqm_client_patched", "patch_iqm_client", "patched_iqm_client", "unpatch_iqm_client"]

# The module whose `get_run_status` looks the class up, then the package that re-exports the
# classes with `import *`; both get the names. From 17.6 the classes live in `models` (which
# `iqm_client` imports them from), patched where it has them.
_MODULES = ("iqm.iqm_client.iqm_client", "iqm.iqm_client")
_MODELS_MODULE = "iqm.iqm_client.models"
_REPLACEMENTS: dict[str, object] = {"RunStatus": RunStatus, "Status": Status}
_MISSING = object()  # marks a name the module did not have, so unpatching deletes it again

_lock = threading.Lock()
# (module, name) -> the value before patching; None while not patched.
_saved: dict[tuple[ModuleType, str], object] | None = None
# The patch is on while `patch_iqm_client` holds it or any `patched_iqm_client` block is open,
# in any thread: each block counts itself, so overlapping blocks do not end each other's patch.
_held_by_call = False
_open_blocks = 0


def _client_modules() -> list[ModuleType]:
    modules = []
    for name in _MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise ImportError(
                "patch_iqm_client() needs IQM's Python client, a release from "
                f"{SUPPORTED_RANGE}: pip install 'iqm-client=={CLIENT_RELEASE}' "
                f"(importing {name} failed: {exc})"
            ) from exc
    try:
        models = importlib.import_module(_MODELS_MODULE)
    except ImportError:
        return modules
    return [models, *modules]


def _describe(vocabulary: Vocabulary) -> str:
    extras = [
        "from_dict" if vocabulary.has_from_dict else "no from_dict",
        "terminal_statuses()" if vocabulary.has_terminal_statuses else "no terminal_statuses()",
    ]
    if vocabulary.missing_aliases:
        extras.append("_missing_ maps " + ", ".join(repr(a) for a, _ in vocabulary.missing_aliases))
    return f"{len(vocabulary.members)} statuses {list(vocabulary.values)}; {', '.join(extras)}"


def _live_differences(module: ModuleType, expected: Vocabulary) -> list[str]:
    """How a module's live `Status`/`RunStatus` differ from a release's as published."""
    theirs = module.__dict__.get("Status")
    their_run_status = module.__dict__.get("RunStatus")
    if not (isinstance(theirs, type) and issubclass(theirs, Enum)):
        return [f"{module.__name__}.Status is {theirs!r}, not an enum"]
    if not isinstance(their_run_status, type):
        return [f"{module.__name__}.RunStatus is {their_run_status!r}, not a class"]
    found = [(member.name, member.value) for member in theirs]
    differences = []
    if found != [(member.name, member.value) for member in expected.members]:
        differences.append(f"Status has {len(found)} statuses {[value for _, value in found]}")
    if hasattr(theirs, "terminal_statuses") != expected.has_terminal_statuses:
        differences.append(
            "Status.terminal_statuses() is "
            + ("" if expected.has_terminal_statuses else "not ")
            + "missing"
        )
    for alias, name in expected.missing_aliases:
        try:
            mapped = theirs(alias).name
        except ValueError:
            mapped = None
        if mapped != name:
            differences.append(f"Status({alias!r}) is not Status.{name}")
    if "_missing_" in theirs.__dict__ and not expected.missing_aliases:
        differences.append("Status has a _missing_ hook")
    if hasattr(their_run_status, "from_dict") != expected.has_from_dict:
        differences.append(
            "RunStatus " + ("lacks" if expected.has_from_dict else "has") + " from_dict"
        )
    return differences


def _check_compatible(modules: list[ModuleType]) -> None:
    """Refuse a client whose models are not the ones this package mirrors: a release outside the
    range, a build whose live classes differ from its release's, or a release other than the
    one whose vocabulary this process uses."""
    installed = installed_client_release()
    if installed is None:
        installed = str(getattr(modules[-1], "__version__", "unknown"))
    parsed = parse_release(installed)
    if parsed is None or not (15,) <= parsed <= (32, 1, 1):
        raise RuntimeError(
            f"iqm-client {installed} is not supported: patch_iqm_client() works with iqm-client "
            f"{SUPPORTED_RANGE}, the releases whose RunStatus this package mirrors"
        )
    expected = vocabulary_for(installed)
    # The definitions the client uses: its own module's globals, and `models` where it has them
    # (the package's re-exports are copies of those names).
    for module in modules:
        if module.__name__ == "iqm.iqm_client" or (
            module.__name__ == _MODELS_MODULE and "Status" not in module.__dict__
        ):
            continue
        differences = _live_differences(module, expected)
        if differences:
            raise RuntimeError(
                f"iqm-client {installed} is not supported as installed: in {module.__name__}, "
                f"{'; '.join(differences)}, where iqm-client {installed} as published has "
                f"{_describe(expected)} (a patched or unknown build?)"
            )
    if expected != VOCABULARY:
        raise RuntimeError(
            f"iqm-client {installed} is not supported by this process: iqm_runstatus mirrors "
            f"iqm-client {CLIENT_RELEASE} (chosen by: {CLIENT_RELEASE_SOURCE}; "
            f"{_describe(VOCABULARY)}), "
            f"and iqm-client {installed} has {_describe(expected)}. Unset {ENV_VAR} or set it "
            f"to {installed}."
        )


def _apply(modules: list[ModuleType]) -> None:
    """Replace the names, unless already replaced; the caller holds `_lock`."""
    global _saved
    if _saved is not None:
        return
    _check_compatible(modules)
    saved: dict[tuple[ModuleType, str], object] = {}
    for module in modules:
        for name, replacement in _REPLACEMENTS.items():
            if module.__name__ == _MODELS_MODULE and name not in module.__dict__:
                continue
            saved[module, name] = module.__dict__.get(name, _MISSING)
            setattr(module, name, replacement)
    _saved = saved


def _restore_if_unheld() -> None:
    """Put the names back once neither a call nor a block holds the patch; the caller holds
    `_lock`."""
    global _saved
    if _saved is None or _held_by_call or _open_blocks:
        return
    for (module, name), original in _saved.items():
        if original is _MISSING:
            module.__dict__.pop(name, None)
        else:
            setattr(module, name, original)
    _saved = None


def patch_iqm_client() -> None:
    """Make iqm-client use this package's `RunStatus` and `Status`.

    Replaces the two names in ``iqm.iqm_client.iqm_client``, ``iqm.iqm_client`` and, where
    it defines them, ``iqm.iqm_client.models``; clients
    created before or after the call then return this package's objects from
    ``get_run_status``. The patch stays until `unpatch_iqm_client`, also when made inside a
    `patched_iqm_client` block. Calling it again while patched does nothing.

    Raises:
        ImportError: iqm-client is not installed
        RuntimeError: the installed iqm-client is outside 15.0 to 32.1.1, its live `Status`
            or `RunStatus` differ from its release's as published, or it is another release
            than `CLIENT_RELEASE` (chosen with ``IQM_RUNSTATUS_CLIENT_RELEASE``)
    """
    global _held_by_call
    modules = _client_modules()
    with _lock:
        _apply(modules)
        _held_by_call = True


def unpatch_iqm_client() -> None:
    """Put back the names `patch_iqm_client` replaced, exactly as they were.

    Does nothing when not patched. While `patched_iqm_client` blocks are open (in this thread
    or another), the patch stays until the last of them exits, and is then undone.
    """
    global _held_by_call
    with _lock:
        _held_by_call = False
        _restore_if_unheld()


def iqm_client_patched() -> bool:
    """Whether `patch_iqm_client` or a `patched_iqm_client` block is in effect."""
    return _saved is not None


@contextmanager
def patched_iqm_client() -> Iterator[None]:
    """`patch_iqm_client` for the duration of a ``with`` block.

    Blocks nest and may overlap across threads: the patch stays until the last open block
    exits, and a patch made by `patch_iqm_client` (before or inside the block) stays after it.
    """
    global _open_blocks
    modules = _client_modules()
    with _lock:
        _apply(modules)
        _open_blocks += 1
    try:
        yield
    finally:
        with _lock:
            _open_blocks -= 1
            _restore_if_unheld()
