"""A real iqm-client 17.2 ``IQMClient`` against a scripted job server on loopback.

The same scenario (status polls, waiting for compilation and for results, a failed job,
malformed and invalid bodies) runs once with the client as installed and once after
``patch_iqm_client()``; everything the caller can observe must be the same, except that the
patched client hands out this package's ``RunStatus`` and ``Status``.
"""

from __future__ import annotations

import json
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from uuid import UUID

import iqm.iqm_client.iqm_client as client_module
import iqm_runstatus
import pytest
from iqm.iqm_client.iqm_client import CircuitExecutionError, IQMClient
from iqm_runstatus import patch_iqm_client, patched_iqm_client, unpatch_iqm_client

RefRunStatus = client_module.RunStatus
RefStatus = client_module.Status

JOB_STEPS = UUID("00000000-0000-4000-8000-000000000001")
JOB_COMPILE = UUID("00000000-0000-4000-8000-000000000002")
JOB_RESULTS = UUID("00000000-0000-4000-8000-000000000003")
JOB_FAILED = UUID("00000000-0000-4000-8000-000000000004")
JOB_MALFORMED = UUID("00000000-0000-4000-8000-000000000005")
JOB_NO_STATUS = UUID("00000000-0000-4000-8000-000000000006")
JOB_UNKNOWN_STATUS = UUID("00000000-0000-4000-8000-000000000007")
JOB_WRONG_TYPE = UUID("00000000-0000-4000-8000-000000000008")

PENDING_COMPILATION = b'{"status": "pending compilation"}'
PENDING_EXECUTION = b'{"status": "pending execution", "message": null}'
READY_WITH_WARNINGS = (
    b'{"status": "ready", "warnings": ["calibration is 3 h old", "QB3 excluded"], "x": 1}'
)

# Successive answers to GET /jobs/{id}/status; the last one repeats.
STATUS_SCRIPTS: dict[UUID, list[bytes]] = {
    JOB_STEPS: [PENDING_COMPILATION, PENDING_EXECUTION, READY_WITH_WARNINGS],
    JOB_COMPILE: [PENDING_COMPILATION, PENDING_COMPILATION, PENDING_EXECUTION],
    JOB_RESULTS: [
        PENDING_COMPILATION,
        PENDING_EXECUTION,
        PENDING_EXECUTION,
        READY_WITH_WARNINGS,
    ],
    JOB_FAILED: [
        PENDING_COMPILATION,
        b'{"status": "failed", "message": "qubit QB1 unavailable", "warnings": []}',
    ],
    JOB_MALFORMED: [b'{"status": "ready"'],
    JOB_NO_STATUS: [b'{"message": "no status here"}'],
    JOB_UNKNOWN_STATUS: [b'{"status": "cancelled"}'],
    JOB_WRONG_TYPE: [b'{"status": "ready", "warnings": "not a list"}'],
}

_REQUEST = {
    "circuits": [
        {
            "name": "bell",
            "instructions": [{"name": "measure", "qubits": ["QB1"], "args": {"key": "m"}}],
        }
    ],
    "shots": 2,
}

# Answers to GET /jobs/{id}, which wait_for_compilation and wait_for_results end with.
RESULT_BODIES: dict[UUID, dict[str, Any]] = {
    JOB_COMPILE: {"status": "pending execution", "metadata": {"request": _REQUEST}},
    JOB_RESULTS: {
        "status": "ready",
        "measurements": [{"m": [[0], [1]]}],
        "warnings": ["results are from a degraded run"],
        "metadata": {"request": _REQUEST},
    },
    JOB_FAILED: {
        "status": "failed",
        "message": "qubit QB1 unavailable",
        "metadata": {"request": _REQUEST},
    },
}

# Far more than the scenario needs; past it the server answers 500, which makes the client
# raise instead of polling on (a 502 would make iqm-client retry forever).
MAX_REQUESTS = 500

_PATH = re.compile(r"^/jobs/([0-9a-f-]{36})(/status)?$")


class JobServer(ThreadingHTTPServer):
    """Serves the scripts above on 127.0.0.1 and logs the requested paths."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.polls: Counter[UUID] = Counter()
        self.log: list[str] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        with self.lock:
            self.polls.clear()
            self.log.clear()

    def answer(self, path: str) -> tuple[int, bytes]:
        with self.lock:
            self.log.append(path)
            if len(self.log) > MAX_REQUESTS:
                return 500, b'{"detail": "request limit reached"}'
            match = _PATH.match(path)
            if match is None:
                return 404, b'{"detail": "not found"}'
            job = UUID(match.group(1))
            if match.group(2):
                script = STATUS_SCRIPTS.get(job)
                if script is None:
                    return 404, b'{"detail": "no such job"}'
                body = script[min(self.polls[job], len(script) - 1)]
                self.polls[job] += 1
                return 200, body
            if job not in RESULT_BODIES:
                return 404, b'{"detail": "no such job"}'
            return 200, json.dumps(RESULT_BODIES[job]).encode()


class _Handler(BaseHTTPRequestHandler):
    server: JobServer

    def do_GET(self) -> None:
        code, body = self.server.answer(self.path)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


@pytest.fixture
def server() -> Iterator[JobServer]:
    srv = JobServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


@pytest.fixture
def client(server: JobServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[IQMClient]:
    # No authentication (no token, tokens file or auth server), no proxy for loopback.
    for name in (
        "IQM_TOKEN",
        "IQM_TOKENS_FILE",
        "IQM_AUTH_SERVER",
        "IQM_AUTH_USERNAME",
        "IQM_AUTH_PASSWORD",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    # The wait loops sleep this long between polls.
    monkeypatch.setattr(client_module, "SECONDS_BETWEEN_CALLS", 0.0)
    unpatch_iqm_client()
    yield IQMClient(server.url)
    unpatch_iqm_client()


def describe(result: Any) -> tuple[Any, ...]:
    """The caller-visible content of a RunStatus or RunResult, whichever class it is."""
    status = result.status
    common = (status.value, status.name, result.message, result.warnings)
    if hasattr(result, "metadata"):
        return ("RunResult", *common, result.measurements, result.metadata.request.shots)
    return ("RunStatus", *common, sorted(result.model_fields_set), result.model_dump(mode="json"))


Step = tuple[str, tuple[Any, ...], list[tuple[str, str]]]


def run_step(name: str, call: Callable[[], Any], results: list[Any]) -> Step:
    """The step's result or exception, and the warnings it emitted, in order."""
    with warnings.catch_warnings(record=True) as caught:
        # Without "always", a repeated warning from the same line would be shown only once.
        warnings.simplefilter("always")
        try:
            result = call()
        except Exception as exc:
            outcome: tuple[Any, ...] = ("raised", type(exc).__name__, str(exc))
        else:
            results.append(result)
            outcome = ("ok", describe(result))
    emitted = [(w.category.__name__, str(w.message)) for w in caught]
    return name, outcome, emitted


def run_scenario(client: IQMClient, results: list[Any]) -> list[Step]:
    steps = [
        run_step(f"get_run_status #{i}", lambda: client.get_run_status(JOB_STEPS), results)
        for i in range(4)
    ]
    steps += [
        run_step(
            "wait_for_compilation", lambda: client.wait_for_compilation(JOB_COMPILE, 60), results
        ),
        run_step("wait_for_results", lambda: client.wait_for_results(JOB_RESULTS, 60), results),
        run_step(
            "wait_for_results failed", lambda: client.wait_for_results(JOB_FAILED, 60), results
        ),
        run_step("get_run_status failed", lambda: client.get_run_status(JOB_FAILED), results),
    ]
    for job in (JOB_MALFORMED, JOB_NO_STATUS, JOB_UNKNOWN_STATUS, JOB_WRONG_TYPE):
        steps.append(
            run_step(f"get_run_status {job}", lambda j=job: client.get_run_status(j), results)
        )
        steps.append(
            run_step(
                f"wait_for_results {job}", lambda j=job: client.wait_for_results(j, 60), results
            )
        )
    return steps


def test_same_outcomes_with_and_without_the_patch(server: JobServer, client: IQMClient) -> None:
    reference_results: list[Any] = []
    reference = run_scenario(client, reference_results)
    reference_log = list(server.log)

    server.reset()
    patched_results: list[Any] = []
    # The client was created before patching: it looks the names up at each call.
    with patched_iqm_client():
        patched = run_scenario(client, patched_results)
    patched_log = list(server.log)

    assert patched == reference
    # Same polls in the same order: the wait loops compared our statuses the same way.
    assert patched_log == reference_log
    assert len(patched_results) == len(reference_results)
    for ours, theirs in zip(patched_results, reference_results):
        if isinstance(theirs, RefRunStatus):
            assert type(ours) is iqm_runstatus.RunStatus
            assert type(ours.status) is iqm_runstatus.Status
            assert type(theirs.status) is RefStatus
        else:  # RunResult is not replaced
            assert type(ours) is type(theirs)


def test_get_run_status_polls(server: JobServer, client: IQMClient) -> None:
    patch_iqm_client()
    first = client.get_run_status(JOB_STEPS)
    second = client.get_run_status(JOB_STEPS)
    with pytest.warns(UserWarning) as record:
        third = client.get_run_status(JOB_STEPS)
    for status in (first, second, third):
        assert isinstance(status, iqm_runstatus.RunStatus)
    assert first.status is iqm_runstatus.Status.PENDING_COMPILATION
    assert (first.message, first.warnings, first.model_fields_set) == (None, None, {"status"})
    assert second.status is iqm_runstatus.Status.PENDING_EXECUTION
    assert second.model_fields_set == {"status", "message"}
    assert third.status is iqm_runstatus.Status.READY
    assert third.warnings == ["calibration is 3 h old", "QB3 excluded"]
    assert [str(w.message) for w in record] == third.warnings
    assert server.log == [f"/jobs/{JOB_STEPS}/status"] * 3


@pytest.mark.parametrize("patched", [False, True], ids=["installed", "patched"])
def test_wait_for_results_and_compilation(
    server: JobServer, client: IQMClient, patched: bool
) -> None:
    if patched:
        patch_iqm_client()
    compiled = client.wait_for_compilation(JOB_COMPILE, timeout_secs=60)
    assert compiled.status == iqm_runstatus.Status.PENDING_EXECUTION
    with pytest.warns(UserWarning) as record:
        done = client.wait_for_results(JOB_RESULTS, timeout_secs=60)
    assert done.status == iqm_runstatus.Status.READY
    assert done.measurements == [{"m": [[0], [1]]}]
    # get_run_status warns for the ready status, then get_run for the result.
    assert [str(w.message) for w in record] == [
        "calibration is 3 h old",
        "QB3 excluded",
        "results are from a degraded run",
    ]
    # Each loop polled until the first state it waits past, then fetched the result once.
    assert server.log == (
        [f"/jobs/{JOB_COMPILE}/status"] * 3
        + [f"/jobs/{JOB_COMPILE}"]
        + [f"/jobs/{JOB_RESULTS}/status"] * 4
        + [f"/jobs/{JOB_RESULTS}"]
    )


@pytest.mark.parametrize("patched", [False, True], ids=["installed", "patched"])
def test_failed_job(client: IQMClient, patched: bool) -> None:
    if patched:
        patch_iqm_client()
    with pytest.raises(CircuitExecutionError, match=r"^qubit QB1 unavailable$"):
        client.wait_for_results(JOB_FAILED, timeout_secs=60)
    status = client.get_run_status(JOB_FAILED)
    expected = iqm_runstatus.RunStatus if patched else RefRunStatus
    assert type(status) is expected
    assert status.status == RefStatus.FAILED
    assert status.message == "qubit QB1 unavailable"
    assert status.warnings == []


@pytest.mark.parametrize("patched", [False, True], ids=["installed", "patched"])
def test_bad_bodies(client: IQMClient, patched: bool) -> None:
    if patched:
        patch_iqm_client()
    with pytest.raises(CircuitExecutionError, match=r'^Invalid response: \{"status": "ready", '):
        client.get_run_status(JOB_MALFORMED)
    with pytest.raises(CircuitExecutionError, match=r"^Invalid response: .*'status'$"):
        client.get_run_status(JOB_NO_STATUS)
    with pytest.raises(ValueError, match=r"^'cancelled' is not a valid Status$"):
        client.get_run_status(JOB_UNKNOWN_STATUS)
    with pytest.raises(ValueError, match="1 validation error for RunStatus\nwarnings\n"):
        client.get_run_status(JOB_WRONG_TYPE)
