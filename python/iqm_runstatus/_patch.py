"""Make an installed iqm-client 17.2 parse job statuses with this package's `RunStatus`.

``IQMClient.get_run_status`` looks ``RunStatus`` up as a global of ``iqm.iqm_client.iqm_client``
at every call, so replacing that name (and the re-export in the ``iqm.iqm_client`` package)
is enough for the client to return this package's objects. ``Status`` is replaced too, so that
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

from ._model import RunStatus, Status

__all__ = ["iqm_client_patched", "patch_iqm_client", "patched_iqm_client", "unpatch_iqm_client"]

# The module that defines the classes (checked before patching), then the package that
# re-exports them with `import *`.
_MODULES = ("iqm.iqm_client.iqm_client", "iqm.iqm_client")
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
                "patch_iqm_client() needs IQM's Python client: pip install 'iqm-client==17.2' "
                f"(importing {name} failed: {exc})"
            ) from exc
    return modules


def _check_compatible(client: ModuleType) -> None:
    """Refuse a client whose models are not the ones this package replaces."""
    theirs = getattr(client, "Status", None)
    their_run_status = getattr(client, "RunStatus", None)
    values = None
    if isinstance(theirs, type) and issubclass(theirs, Enum):
        values = [member.value for member in theirs]
    if values != [member.value for member in Status] or not hasattr(their_run_status, "from_dict"):
        version = getattr(importlib.import_module("iqm.iqm_client"), "__version__", "unknown")
        raise RuntimeError(
            f"iqm-client {version} is not supported: its RunStatus/Status differ from "
            "iqm-client 17.2's, which this package replaces"
        )


def _apply(modules: list[ModuleType]) -> None:
    """Replace the names, unless already replaced; the caller holds `_lock`."""
    global _saved
    if _saved is not None:
        return
    _check_compatible(modules[0])
    saved: dict[tuple[ModuleType, str], object] = {}
    for module in modules:
        for name, replacement in _REPLACEMENTS.items():
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

    Replaces the two names in ``iqm.iqm_client.iqm_client`` and ``iqm.iqm_client``; clients
    created before or after the call then return this package's objects from
    ``get_run_status``. The patch stays until `unpatch_iqm_client`, also when made inside a
    `patched_iqm_client` block. Calling it again while patched does nothing.

    Raises:
        ImportError: iqm-client is not installed
        RuntimeError: the installed iqm-client's models differ from iqm-client 17.2's
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
