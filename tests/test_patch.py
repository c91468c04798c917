"""patch_iqm_client / unpatch_iqm_client: what they replace, what they restore, when they refuse."""

from __future__ import annotations

import enum
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import iqm.iqm_client
import iqm.iqm_client.iqm_client as client_module
import iqm_runstatus
import pytest
from iqm_runstatus import (
    RunStatus,
    Status,
    iqm_client_patched,
    patch_iqm_client,
    patched_iqm_client,
    unpatch_iqm_client,
)
from support.scripts import run_python, run_reporting_script

MODULES = (client_module, iqm.iqm_client)
NAMES = ("RunStatus", "Status")
# What the modules hold before any patching, taken at collection time.
ORIGINALS = {(m.__name__, n): m.__dict__[n] for m in MODULES for n in NAMES}
PACKAGE_PARENT = Path(iqm_runstatus.__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _always_unpatched() -> Iterator[None]:
    # A failing test must not leave the client patched for the rest of the suite.
    unpatch_iqm_client()
    yield
    unpatch_iqm_client()


def current() -> dict[tuple[str, str], object]:
    return {(m.__name__, n): m.__dict__.get(n, "<missing>") for m in MODULES for n in NAMES}


def assert_originals() -> None:
    now = current()
    for key, original in ORIGINALS.items():
        assert now[key] is original, key
    assert not iqm_client_patched()


def assert_patched() -> None:
    for module in MODULES:
        assert module.RunStatus is RunStatus
        assert module.Status is Status
    assert iqm_client_patched()


def test_originals_are_the_reference() -> None:
    # Guards the other tests: they would prove nothing if the reference were already ours.
    for (_, name), value in ORIGINALS.items():
        assert value is not getattr(iqm_runstatus, name)
        assert getattr(value, "__module__", "") == "iqm.iqm_client.iqm_client"


def test_patch_replaces_both_names_in_both_modules() -> None:
    patch_iqm_client()
    assert_patched()
    status = client_module.RunStatus.from_dict({"status": "ready", "warnings": ["w"]})
    assert type(status) is RunStatus
    assert status.status is Status.READY


def test_unpatch_restores_the_very_same_objects() -> None:
    patch_iqm_client()
    unpatch_iqm_client()
    assert_originals()
    assert (
        type(client_module.RunStatus.from_dict({"status": "ready"}))
        is ORIGINALS[("iqm.iqm_client.iqm_client", "RunStatus")]
    )


def test_patch_is_idempotent() -> None:
    patch_iqm_client()
    patch_iqm_client()
    assert_patched()
    # One unpatch undoes any number of patches: a second patch must not save our own classes
    # as the "originals".
    unpatch_iqm_client()
    assert_originals()


def test_unpatch_without_patch_does_nothing() -> None:
    unpatch_iqm_client()
    unpatch_iqm_client()
    assert_originals()


def test_patch_again_after_unpatch() -> None:
    for _ in range(3):
        patch_iqm_client()
        assert_patched()
        unpatch_iqm_client()
        assert_originals()


def test_unpatch_restores_a_name_that_was_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package namespace might not re-export a name; unpatching must not leave ours there.
    monkeypatch.delattr(iqm.iqm_client, "Status")
    patch_iqm_client()
    assert iqm.iqm_client.Status is Status
    unpatch_iqm_client()
    assert not hasattr(iqm.iqm_client, "Status")


def test_context_manager_patches_and_restores() -> None:
    with patched_iqm_client():
        assert_patched()
    assert_originals()


def test_context_manager_restores_on_error() -> None:
    with pytest.raises(KeyError), patched_iqm_client():
        assert_patched()
        raise KeyError("boom")
    assert_originals()


def test_context_manager_keeps_an_earlier_patch() -> None:
    patch_iqm_client()
    with patched_iqm_client():
        with patched_iqm_client():
            assert_patched()
        assert_patched()
    assert_patched()
    unpatch_iqm_client()
    assert_originals()


def test_client_comparisons_hold_across_the_two_enums() -> None:
    # IQMClient compares statuses with `==`, `!=` and `in` against the Status its module holds,
    # which is ours when patched, while RunResult (not replaced) keeps holding the reference's.
    reference = ORIGINALS[("iqm.iqm_client.iqm_client", "Status")]
    assert isinstance(reference, type) and issubclass(reference, enum.Enum)
    for ours, theirs in zip(Status, reference):
        assert ours == theirs and theirs == ours
        assert not ours != theirs
        assert hash(ours) == hash(theirs)
        pending = (reference.PENDING_COMPILATION, reference.PENDING_EXECUTION)
        assert (ours in pending) == (theirs in pending)


def test_incompatible_client_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A later client with another set of states must not silently get our five.
    other = enum.Enum("Status", {"READY": "ready", "CANCELLED": "cancelled"}, type=str)
    monkeypatch.setattr(client_module, "Status", other)
    with pytest.raises(RuntimeError, match="not supported"):
        patch_iqm_client()
    assert client_module.Status is other
    assert client_module.RunStatus is ORIGINALS[("iqm.iqm_client.iqm_client", "RunStatus")]
    assert iqm.iqm_client.Status is ORIGINALS[("iqm.iqm_client", "Status")]
    assert not iqm_client_patched()


def test_client_without_run_status_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(client_module, "RunStatus")
    with pytest.raises(RuntimeError, match="not supported"):
        patch_iqm_client()
    assert not hasattr(client_module, "RunStatus")
    assert not iqm_client_patched()


MISSING_CLIENT_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
# A None entry makes `import` fail as if the package were not installed.
for name in ("iqm", "iqm.iqm_client", "iqm.iqm_client.iqm_client"):
    sys.modules[name] = None
import iqm_runstatus
try:
    iqm_runstatus.patch_iqm_client()
except ImportError as exc:
    print(type(exc).__name__, "|", exc, "|", iqm_runstatus.iqm_client_patched())
else:
    print("no error")
with_block = "no error"
try:
    with iqm_runstatus.patched_iqm_client():
        pass
except ImportError as exc:
    with_block = type(exc).__name__
print(with_block)
iqm_runstatus.unpatch_iqm_client()
print(iqm_runstatus.RunStatus.from_json(b'{"status": "ready"}').status.value)
"""


def test_missing_client_raises_a_clear_import_error() -> None:
    done = run_python(
        "-c", textwrap.dedent(MISSING_CLIENT_SCRIPT), str(PACKAGE_PARENT), timeout=120
    )
    first, second, third = done.stdout.splitlines()
    kind, message, patched = first.split(" | ")
    assert kind == "ImportError"
    assert "pip install 'iqm-client==17.2'" in message
    assert patched == "False"
    assert second == "ImportError"
    # The package itself does not need the client.
    assert third == "ready"


# Blocks that overlap, in threads. Each case runs in a fresh interpreter, which reports what
# its threads saw; the threads are ordered with barriers, so that the overlap is certain.

THREADS_SCRIPT = """
import json, threading, time
import iqm.iqm_client
import iqm.iqm_client.iqm_client as client_module
import iqm_runstatus
from iqm_runstatus import (
    iqm_client_patched, patch_iqm_client, patched_iqm_client, unpatch_iqm_client,
)

ORIGINALS = [client_module.RunStatus, client_module.Status, iqm.iqm_client.RunStatus]

def state():
    ours = [iqm_runstatus.RunStatus, iqm_runstatus.Status, iqm_runstatus.RunStatus]
    now = [client_module.RunStatus, client_module.Status, iqm.iqm_client.RunStatus]
    if all(a is b for a, b in zip(now, ours)) and iqm_client_patched():
        return "patched"
    if all(a is b for a, b in zip(now, ORIGINALS)) and not iqm_client_patched():
        return "original"
    return "mixed"

seen = {{}}
failures = []

def in_thread(target, *args):
    def run():
        try:
            target(*args)
        except BaseException as exc:
            failures.append(repr(exc))
            raise
    thread = threading.Thread(target=run)
    thread.start()
    return thread

{body}
print(json.dumps({{"seen": seen, "failures": failures, "after": state()}}))
"""


def run_threads(body: str) -> dict[str, Any]:
    return run_reporting_script(THREADS_SCRIPT.format(body=textwrap.dedent(body).strip()))


def test_overlapping_blocks_keep_the_patch_until_the_last_exits() -> None:
    """Thread A enters, thread B enters, A exits: B is still patched; once B exits, the names
    are the client's again."""
    report = run_threads(
        """
        both_in, a_out = threading.Barrier(2), threading.Event()

        def a():
            with patched_iqm_client():
                both_in.wait(timeout=60)
            seen["A after its exit"] = state()
            a_out.set()

        def b():
            with patched_iqm_client():
                both_in.wait(timeout=60)
                a_out.wait(timeout=60)
                seen["B after A's exit"] = state()
            seen["B after its exit"] = state()

        for thread in [in_thread(a), in_thread(b)]:
            thread.join()
        """
    )
    assert report["failures"] == []
    assert report["seen"] == {
        "A after its exit": "patched",
        "B after A's exit": "patched",
        "B after its exit": "original",
    }
    assert report["after"] == "original"


def test_many_threads_overlapping_blocks_always_see_the_patch() -> None:
    """Eight threads each open and close blocks, nested and not, many times, all starting
    together: every check inside a block sees the patch, and nothing is left patched."""
    report = run_threads(
        """
        start = threading.Barrier(8)

        def worker(name):
            start.wait(timeout=60)
            states = set()
            for round in range(300):
                with patched_iqm_client():
                    # A block waits for I/O, as a client's wait loop does: the other threads
                    # run, and enter and leave their blocks, meanwhile.
                    time.sleep(1e-4)
                    states.add(state())
                    if round % 3 == 0:
                        with patched_iqm_client():
                            time.sleep(1e-4)
                            states.add(state())
                    states.add(state())
                time.sleep(1e-4)  # and does other work between blocks
            seen[name] = sorted(states)

        for thread in [in_thread(worker, f"thread {i}") for i in range(8)]:
            thread.join()
        """
    )
    assert report["failures"] == []
    assert report["seen"] == {f"thread {i}": ["patched"] for i in range(8)}
    assert report["after"] == "original"


def test_unpatch_inside_open_blocks_waits_for_the_last_exit() -> None:
    """An explicit patch withdrawn while another thread's block is open: the block keeps the
    patch, which ends when the block exits."""
    report = run_threads(
        """
        inside, unpatched = threading.Event(), threading.Event()
        patch_iqm_client()

        def block():
            with patched_iqm_client():
                inside.set()
                unpatched.wait(timeout=60)
                seen["block after unpatch"] = state()
            seen["block after its exit"] = state()

        thread = in_thread(block)
        inside.wait(timeout=60)
        unpatch_iqm_client()
        seen["unpatching thread"] = state()
        unpatched.set()
        thread.join()
        """
    )
    assert report["failures"] == []
    assert report["seen"] == {
        "unpatching thread": "patched",
        "block after unpatch": "patched",
        "block after its exit": "original",
    }
    assert report["after"] == "original"


def test_patch_made_inside_a_block_stays_after_it() -> None:
    with patched_iqm_client():
        patch_iqm_client()
    assert_patched()
    unpatch_iqm_client()
    assert_originals()


def test_unpatch_inside_a_block_takes_effect_at_its_exit() -> None:
    with patched_iqm_client():
        unpatch_iqm_client()
        assert_patched()
    assert_originals()


def test_a_refused_block_leaves_no_count_behind(monkeypatch: pytest.MonkeyPatch) -> None:
    other = enum.Enum("Status", {"READY": "ready"}, type=str)
    monkeypatch.setattr(client_module, "Status", other)
    with pytest.raises(RuntimeError, match="not supported"), patched_iqm_client():
        pass
    monkeypatch.undo()
    with patched_iqm_client():
        assert_patched()
    assert_originals()
