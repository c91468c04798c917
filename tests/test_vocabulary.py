"""The status set is data: the native core registered with another client release's model (the
23 statuses of iqm-client 32.1.1, test data in ``support.client_32``) parses, counts, indexes,
exports, tracks and polls by that model's vocabulary and terminal set, and leaves what the
vocabulary lacks (the ``_missing_`` alias, unknown values) to the model's own pure path.

The model is registered in a fresh interpreter, since ``init`` runs once a process; this
module's ``latest_*`` functions run there (so the module imports no ``iqm_runstatus`` at the
top). A pickle crosses vocabularies by value, in both directions."""

from __future__ import annotations

import json
import os
import pickle
import time
from typing import Any

import pytest
from support import client_32
from support.scripts import IMPORT_SUPPORT, TESTS_DIR, run_python


def run_with_latest(function: str, *args: Any) -> Any:
    """``function(core, *args)`` of this module, in a fresh interpreter whose core has the
    32.1.1 model registered; returns what it returns, through JSON."""
    script = (
        f"{IMPORT_SUPPORT}import json\nfrom support import client_32\n"
        "core = client_32.register()\nimport test_vocabulary\n"
        f"print(json.dumps(test_vocabulary.{function}(core, *{args!r})))\n"
    )
    env = {**os.environ, "IQM_RUNSTATUS_PURE": "1"}
    proc = run_python("-c", script, env=env, cwd=TESTS_DIR, timeout=300)
    return json.loads(proc.stdout.splitlines()[-1])


def payloads_of_every_status() -> list[bytes]:
    out = []
    for i, status in enumerate(client_32.Status):
        fields: dict[str, Any] = {"status": status.value}
        if i % 3 == 1:
            fields["message"] = f"m{i}"
        if i % 3 == 2:
            fields["warnings"] = [f"w{i}", "x"]
        out.append(json.dumps(fields).encode())
    return out


def latest_single_payloads(core: Any) -> int:
    Status, RunStatus = client_32.Status, client_32.RunStatus
    pure = client_32.pure_from_json
    seen: list[Any] = []

    for raw in payloads_of_every_status():
        want = pure(raw)
        for parse in (core.from_json, core.validate_json):
            got = parse(raw)
            assert type(got) is RunStatus and got == want, (raw, got, want)
            assert got.status is Status(json.loads(raw)["status"])
            assert got.model_fields_set == want.model_fields_set
        assert core.validate_python(json.loads(raw)) == want
        assert core.from_dict(json.loads(raw)) == want
        seen.append(want.status)
    assert seen == list(Status)
    # The alias the client's _missing_ maps is not in the table: the pure path answers it.
    assert core.from_json(b'{"status": "pending execution"}').status is Status.PENDING_EXECUTION
    # A value of another release is the model's own error.
    for foreign in (b'{"status": "pending compilation"}', b'{"status": "Ready"}'):
        with pytest.raises(Exception) as fast:
            core.from_json(foreign)
        with pytest.raises(Exception) as reference:
            pure(foreign)
        assert type(fast.value) is type(reference.value)
        assert str(fast.value) == str(reference.value)
    return len(seen)


def test_every_value_of_another_release_parses_as_its_model_does() -> None:
    assert run_with_latest("latest_single_payloads") == 23


def latest_pure_path_calls(core: Any) -> list[int]:
    """The pure-path calls while parsing payloads of every status (none, if the core knows
    the vocabulary), and then the alias (one)."""
    for raw in payloads_of_every_status():
        core.from_json(raw)
        core.from_dict(json.loads(raw))
    core.StatusBatch.from_payloads(payloads_of_every_status())
    core.JobTracker().update_many([str(i) for i in range(23)], payloads_of_every_status())
    fast = client_32.pure_path_calls()
    core.from_json(b'{"status": "pending execution"}')
    return [fast, client_32.pure_path_calls() - fast]


def test_the_fast_path_answers_every_value_itself() -> None:
    assert run_with_latest("latest_pure_path_calls") == [0, 1]


MIXED = [
    b'{"status": "post_processing_ended"}',
    b'{"status": "ready", "message": "done"}',
    b'{"status": "pending execution"}',
    b'{"status": "deleted"}',
    b'{"status": "pending compilation"}',
    b'{"status": "received", "warnings": ["w"]}',
    b'{"status": "post_processing_ended", "warnings": null}',
    b'{"status": "deletion failed"}',
]


def latest_batch(core: Any) -> dict[str, Any]:
    Status = client_32.Status
    pa = pytest.importorskip("pyarrow")
    batch = core.StatusBatch.from_ndjson(b"\n".join(MIXED))
    members = list(Status)
    counts = batch.counts()
    assert list(counts) == members
    expected = {s: 0 for s in members}
    for raw in MIXED:
        try:
            expected[client_32.pure_from_json(raw).status] += 1
        except ValueError:
            pass
    assert counts == expected
    assert batch.indices(Status.POST_PROCESSING_ENDED, "deleted") == [0, 3, 6]
    assert batch.indices("pending_execution") == [2]
    assert batch.indices() == [0, 1, 2, 3, 5, 6, 7]
    codes = list(batch.codes)
    assert codes == [15, 16, 10, 21, 255, 0, 15, 20]
    assert batch.statuses() == [None if c == 255 else members[c] for c in codes]
    # Arrow: the status dictionary is the vocabulary, in enum order.
    table = pa.table(batch)
    table.validate(full=True)
    status = table.column("status").combine_chunks()
    assert status.dictionary.to_pylist() == [s.value for s in members]
    assert table.column("status").to_pylist() == [
        None if c == 255 else members[c].value for c in codes
    ]
    # A pickle under the same vocabulary comes back whole.
    back = pickle.loads(pickle.dumps(batch))
    assert list(back.codes) == codes
    assert [back[i] for i in batch.indices()] == [batch[i] for i in batch.indices()]
    shared = core.StatusBatch.from_payloads(
        [b'{"status":"failed","message":"m"}', b'{"status":"ready"}', b"{"]
    )
    only_new = core.StatusBatch.from_payloads([b'{"status":"post_processing_ended"}'])
    return {
        "shared": pickle.dumps(shared).hex(),
        "only_new": pickle.dumps(only_new).hex(),
    }


def latest_unpickle(core: Any, shared: str, only_old: str) -> list[Any]:
    Status = client_32.Status
    batch = pickle.loads(bytes.fromhex(shared))
    assert [batch[0].status, batch[1].status] == [Status.FAILED, Status.READY]
    assert list(batch.codes) == [17, 16, 255]
    assert batch[0].message == "m"
    with pytest.raises(ValueError, match="pending compilation"):
        pickle.loads(bytes.fromhex(only_old))
    return list(batch.codes)


def test_batches_count_index_export_and_pickle_by_the_vocabulary() -> None:
    from iqm_runstatus import Status, StatusBatch

    pickles = run_with_latest("latest_batch")
    # Pickled under 32.1.1, loaded under the seed's vocabulary: statuses map by value.
    shared = pickle.loads(bytes.fromhex(pickles["shared"]))
    assert list(shared.codes) == [3, 2, 255]
    assert [shared[0].status, shared[1].status] == [Status.FAILED, Status.READY]
    with pytest.raises(ValueError, match="post_processing_ended"):
        pickle.loads(bytes.fromhex(pickles["only_new"]))
    # And the other way.
    mine = StatusBatch.from_payloads(
        [b'{"status":"failed","message":"m"}', b'{"status":"ready"}', b"{"]
    )
    old = StatusBatch.from_payloads([b'{"status":"pending compilation"}'])
    codes = run_with_latest("latest_unpickle", pickle.dumps(mine).hex(), pickle.dumps(old).hex())
    assert codes == [17, 16, 255]


def latest_tracker(core: Any) -> list[str]:
    Status = client_32.Status
    tracker = core.JobTracker()
    for i, raw in enumerate(payloads_of_every_status()):
        assert tracker.update(f"job-{i}", raw) is not None
    for i, status in enumerate(Status):
        assert tracker.is_terminal(f"job-{i}") == (status in client_32.TERMINAL), status
    assert list(tracker.counts().items()) == [(s, 1) for s in Status]
    assert tracker.jobs(Status.DELETED, "deletion failed") == ["job-20", "job-21"]
    transition = tracker.update("job-0", b'{"status": "post_processing_ended"}')
    assert (transition.previous, transition.current) == (
        Status.RECEIVED,
        Status.POST_PROCESSING_ENDED,
    )
    assert not tracker.is_terminal("job-0")
    assert tracker.update("job-0", b'{"status": "deletion failed"}') is not None
    assert tracker.is_terminal("job-0")
    return sorted(job for job in tracker.jobs() if tracker.is_terminal(job))


def test_the_tracker_uses_the_registered_terminal_set() -> None:
    terminal = run_with_latest("latest_tracker")
    # ready, failed, aborted, deletion failed and deleted (job-16 to job-21 but 19), and job-0.
    assert terminal == sorted(["job-0", "job-16", "job-17", "job-18", "job-20", "job-21"])


def latest_poller(core: Any) -> dict[str, str]:
    from poller_support import StatusServer

    Status = client_32.Status
    with StatusServer() as server:
        server.set("gone", "deleted")
        server.set("stuck", "deletion failed")
        server.set("busy", "post_processing_ended")
        poller = core.StatusPoller(server.url, interval=0.02, max_interval=0.05)
        try:
            poller.add(["gone", "stuck", "busy"])
            done = poller.wait(["gone", "stuck"], timeout=120)
            deadline = time.monotonic() + 120
            while (
                "busy" not in poller.tracker
                or poller.tracker.status("busy").status is not Status.POST_PROCESSING_ENDED
            ):
                assert time.monotonic() < deadline, "the poller never read the busy job"
                time.sleep(0.01)
            # Not terminal: the poller keeps asking until the job ends.
            assert not poller.tracker.is_terminal("busy")
            asked = len(server.seen("busy"))
            while len(server.seen("busy")) < asked + 2:
                assert time.monotonic() < deadline, "the poller stopped polling a running job"
                time.sleep(0.01)
            server.set("busy", "ready")
            done.update(poller.wait(["busy"], timeout=120))
        finally:
            poller.close()
    return {job: status.status.value for job, status in sorted(done.items())}


def refused_vocabularies() -> list[str]:
    """What ``init`` says of enums that cannot be a vocabulary; then the good model registers
    (a refused ``init`` leaves nothing half-registered)."""
    from enum import Enum

    core = client_32.load_core()
    big = Enum("Big", {f"S{i}": f"s{i}" for i in range(256)}, type=str)  # type: ignore[misc]
    empty = Enum("Empty", {}, type=str)  # type: ignore[misc]
    plain = Enum("Plain", {"A": 1})
    messages = []
    for replace in (
        {"status_enum": big, "terminal": ()},
        {"status_enum": empty, "terminal": ()},
        {"status_enum": plain, "terminal": ()},
        {"terminal": ["ready"]},
    ):
        try:
            client_32.register(core, **replace)
        except (TypeError, ValueError) as error:
            messages.append(f"{type(error).__name__}: {error}")
    client_32.register(core)
    assert core.from_json(b'{"status":"deleted"}').status is client_32.Status.DELETED
    with pytest.raises(RuntimeError, match="already"):
        client_32.register(core)
    return messages


def test_what_cannot_be_a_vocabulary_is_refused_clearly() -> None:
    script = (
        f"{IMPORT_SUPPORT}import json\nimport test_vocabulary\n"
        "print(json.dumps(test_vocabulary.refused_vocabularies()))\n"
    )
    env = {**os.environ, "IQM_RUNSTATUS_PURE": "1"}
    proc = run_python("-c", script, env=env, cwd=TESTS_DIR, timeout=300)
    assert json.loads(proc.stdout.splitlines()[-1]) == [
        "ValueError: a Status enum has more than 255 members",
        "ValueError: a Status enum has no members",
        "TypeError: not the RunStatus model: Status must be a (str, Enum)",
        "TypeError: not the RunStatus model: each terminal status must be a Status member",
    ]


def test_the_poller_stops_at_the_registered_terminal_set() -> None:
    assert run_with_latest("latest_poller") == {
        "busy": "ready",
        "gone": "deleted",
        "stuck": "deletion failed",
    }
