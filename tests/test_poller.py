"""`StatusPoller` against a real loopback HTTP server: construction, iteration, `wait`, the
polling policy, bad input, `close`, and reading the tracker from threads while it polls."""

from __future__ import annotations

import json
import threading
import time
import uuid
from email.utils import formatdate

import pytest
from iqm_runstatus import RunStatus, Status, StatusPoller, TrackerError, Transition, pure_from_json
from poller_support import (
    Reply,
    StatusServer,
    clear_environment,
    client_sockets,
    gaps,
    poller_threads,
)
from support.scripts import run_python

PENDING = Status.PENDING_COMPILATION
EXECUTING = Status.PENDING_EXECUTION
READY = Status.READY

# Small intervals keep the policy tests fast; the timeout bounds a test that would hang.
FAST = {"interval": 0.02, "max_interval": 0.1, "timeout": 5.0}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    clear_environment(monkeypatch)


def collect(poller: StatusPoller) -> list[Transition]:
    """Every transition until the iteration ends (a hang fails by the test's timeout)."""
    seen: list[Transition] = []
    for batch in poller:
        assert batch, "an iteration step yields at least one transition"
        seen.extend(batch)
    return seen


# --- construction and bad input --------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["", "not a url", "ftp://example.com", "http://", "http://h/x?q=1", "http://h/x#f", "/jobs"],
)
def test_invalid_base_url_raises_value_error(url):
    with pytest.raises(ValueError, match="base_url"):
        StatusPoller(url)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"concurrency": 0},
        {"interval": 0},
        {"interval": -1.0},
        {"interval": float("nan")},
        {"max_interval": 0.5, "interval": 1.0},
        {"timeout": 0},
        {"max_body_size": 0},
        {"headers": {"bad name": "x"}},
        {"headers": {"X-Ok": "bad\nvalue"}},
        {"token": "a\nb"},
    ],
)
def test_invalid_settings_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        StatusPoller("http://127.0.0.1:1", **kwargs)


@pytest.mark.parametrize("bad", [1, None, [1], [b"job"], [uuid.uuid4(), 2.5]])
def test_job_id_of_wrong_type_raises_type_error(bad):
    with StatusPoller("http://127.0.0.1:1") as poller:
        with pytest.raises(TypeError, match="job id"):
            poller.add(bad)
        assert poller.stats()["polls"] == {}


def test_threads_start_lazily_and_close_joins_them(server):
    before = poller_threads()
    poller = StatusPoller(server.url, **FAST)
    assert poller_threads() == before, "construction starts no thread"
    assert collect(poller) == [], "with no job the iteration ends at once"
    assert poller_threads() == before
    server.set("a", "ready")
    poller.add("a")
    # The thread names itself once it runs.
    wait_until(lambda: poller_threads() == before + 1)
    assert collect(poller) == [Transition("a", None, READY)]
    poller.close()
    assert poller_threads() == before
    poller.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        poller.add("b")


# --- iteration and wait ---------------------------------------------------------------------


def test_iteration_yields_transitions_until_every_job_is_terminal(server):
    ids = ["j1", "j2", str(uuid.uuid4())]
    for job in ids:
        server.set(job, "pending compilation")
    with StatusPoller(server.url, **FAST) as poller:
        poller.add([ids[0], ids[1], uuid.UUID(ids[2])])
        seen: list[Transition] = []
        for batch in poller:
            assert all(isinstance(item, Transition) for item in batch)
            seen.extend(batch)
            if len(seen) == 3:
                server.set("j1", "pending execution")
                server.set("j2", "failed", message="boom")
                server.set(ids[2], "ready", warnings=["w"])
            if any(t.job_id == "j1" and t.current == EXECUTING for t in seen):
                server.set("j1", "aborted")
        by_job = {job: [(t.previous, t.current) for t in seen if t.job_id == job] for job in ids}
        assert by_job["j1"] == [(None, PENDING), (PENDING, EXECUTING), (EXECUTING, Status.ABORTED)]
        assert by_job["j2"] == [(None, PENDING), (PENDING, Status.FAILED)]
        assert by_job[ids[2]] == [(None, PENDING), (PENDING, READY)]
        assert poller.tracker.status("j2") == RunStatus(status=Status.FAILED, message="boom")
        assert poller.tracker.status(ids[2]).warnings == ["w"]
        assert poller.failed == {}


def test_duplicate_ids_are_polled_once(server):
    job = str(uuid.uuid4())
    server.set(job, "ready")
    with StatusPoller(server.url, **FAST) as poller:
        poller.add([job, job, uuid.UUID(job)])
        poller.add(job)
        assert collect(poller) == [Transition(job, None, READY)]
        assert len(server.seen(job)) == 1
        assert poller.stats()["polls"] == {job: 1}


def test_url_headers_and_token_are_sent(server):
    server.prefix = "/api/v1"
    server.set("a b/c", "ready")
    with StatusPoller(server.url + "/", token="tok", headers={"X-Extra": "1"}, **FAST) as poller:
        poller.add("a b/c")
        collect(poller)
        (request,) = server.seen("a%20b%2Fc")
        assert request.path == "/api/v1/jobs/a%20b%2Fc/status"
        assert request.headers["Authorization"] == "Bearer tok"
        assert request.headers["X-Extra"] == "1"
        assert request.headers["User-Agent"].startswith("iqm-runstatus/")


def test_wait_returns_terminal_statuses_and_times_out(server):
    server.set("done", "ready", message="m")
    server.set("stuck", "pending execution")
    with StatusPoller(server.url, **FAST) as poller:
        poller.add(["done", "stuck"])
        result = poller.wait(["done"])
        assert result == {"done": RunStatus(status=READY, message="m")}
        assert isinstance(result["done"], RunStatus)
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="1 of 2 jobs still pending"):
            poller.wait(timeout=0.2)
        assert time.monotonic() - started > 0.15, "wait waits for its timeout"
        with pytest.raises(KeyError, match="never-added"):
            poller.wait(["never-added"])
        server.set("stuck", "failed")
        assert poller.wait() == {
            "done": RunStatus(status=READY, message="m"),
            "stuck": RunStatus(status=Status.FAILED),
        }


def test_add_while_iterating_and_remove(server):
    server.set("first", "pending compilation")
    server.set("second", "ready")
    server.set("gone", "pending compilation")
    with StatusPoller(server.url, **FAST) as poller:
        poller.add(["first", "gone"])
        seen: list[Transition] = []
        for batch in poller:
            seen.extend(batch)
            if len(seen) == 2:
                assert poller.remove(["gone", "unknown"]) == 1
                threading.Thread(target=poller.add, args=("second",)).start()
            if any(t.job_id == "second" for t in seen):
                server.set("first", "ready")
        assert Transition("second", None, READY) in seen
        assert Transition("first", PENDING, READY) in seen
        polls_of_gone = len(server.seen("gone"))
        time.sleep(0.2)
        assert len(server.seen("gone")) == polls_of_gone, "a removed job is not polled"
        assert "gone" in poller.tracker, "its last status stays in the tracker"


# --- the polling policy ---------------------------------------------------------------------


# The exact schedule is pinned in paused time by the engine's tests (crates/poller); these
# check it end to end over real sockets, in the slow tier since each waits out real intervals.
@pytest.mark.slow
def test_interval_grows_while_unchanged_and_resets_on_a_transition(server):
    server.set("job", "pending compilation")
    # The exact schedule (x1.5, the cap, the reset on a change, the jitter) is asserted in
    # paused time by the engine's tests (crates/poller/src/tests/). Here, over HTTP: each poll
    # is scheduled from the answer before it, so load on the machine only ever lengthens a gap,
    # and the growth is checked by lower bounds, which a late poll cannot break.
    with StatusPoller(server.url, interval=0.1, max_interval=0.4, timeout=5) as poller:
        poller.add("job")
        wait_until(lambda: len(server.times("job")) >= 7)
        steps = gaps(server.times("job"))
        # x1.5 each time, +-10% jitter: 0.1, 0.15, 0.225, 0.34, then capped at 0.4.
        assert steps[0] >= 0.1 * 0.9
        assert steps[2] >= 0.225 * 0.9
        assert steps[3] >= 0.3375 * 0.9
        assert all(step >= 0.4 * 0.9 for step in steps[4:])
        server.set("job", "pending execution")
        changed_at = time.monotonic()
        while not any(t.current == EXECUTING for t in next(poller)):
            pass
        # Still polled after the transition, the interval growing again from the start.
        wait_until(lambda: len([t for t in server.times("job") if t > changed_at]) >= 3)
        steps = gaps([t for t in server.times("job") if t > changed_at])
        assert steps[0] >= 0.1 * 0.9


def test_terminal_job_is_never_polled_again(server):
    server.set("job", "aborted")
    with StatusPoller(server.url, **FAST) as poller:
        poller.add("job")
        assert poller.wait()["job"].status is Status.ABORTED
        time.sleep(0.3)
        assert len(server.seen("job")) == 1


@pytest.mark.slow
@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_in_seconds_is_honoured(server, code):
    server.script("job", Reply(code=code, headers={"Retry-After": "1"}))
    server.set("job", "ready")
    with StatusPoller(server.url, **FAST) as poller:
        poller.add("job")
        assert poller.wait()["job"].status is READY
        (step,) = gaps(server.times("job"))
        # Exactly as asked, in paused time: crates/poller/src/tests/.
        assert step > 0.95
        stats = poller.stats()
        assert stats["responses"] == {code: 1, 200: 1}
        assert stats["retries"] == 1


@pytest.mark.slow
def test_retry_after_as_an_http_date_is_honoured(server):
    when = formatdate(time.time() + 2, usegmt=True)
    server.script("job", Reply(code=503, headers={"Retry-After": when}))
    server.set("job", "ready")
    with StatusPoller(server.url, **FAST) as poller:
        poller.add("job")
        assert poller.wait()["job"].status is READY
        (step,) = gaps(server.times("job"))
        # The date has whole seconds: the wait is at least one second (the exact delay against
        # an injected clock is asserted in crates/poller/src/tests/).
        assert step > 0.9


def test_gateway_errors_are_retried_with_backoff(server):
    server.script("job", Reply(code=502), Reply(code=504), Reply(code=502))
    server.set("job", "ready")
    with StatusPoller(server.url, interval=0.1, max_interval=1.0, timeout=5) as poller:
        poller.add("job")
        assert collect(poller) == [Transition("job", None, READY)]
        steps = gaps(server.times("job"))
        # 0.1, 0.2, 0.4 with +-10% jitter: doubling (growth by 1.5 would stay under 0.25).
        assert steps[0] >= 0.1 * 0.9
        assert steps[1] >= 0.2 * 0.9
        assert steps[2] >= 0.4 * 0.9
        stats = poller.stats()
        assert stats["responses"] == {502: 2, 504: 1, 200: 1}
        assert stats["retries"] == 3


def test_given_up_after_max_retries_consecutive_failures(server):
    server.script("job", *[Reply(code=502)] * 10)
    server.set("other", "ready")
    with StatusPoller(server.url, max_retries=3, **FAST) as poller:
        poller.add(["job", "other"])
        transitions = collect(poller)
        assert transitions == [Transition("other", None, READY)]
        assert len(server.seen("job")) == 4
        assert poller.failed == {"job": "HTTP 502 Bad Gateway (4 failures in a row)"}
        assert poller.wait() == {"other": RunStatus(status=READY)}


def test_a_success_resets_the_failure_count(server):
    server.script(
        "job",
        Reply(code=502),
        Reply(code=502),
        Reply(body=b'{"status": "pending compilation"}'),
        Reply(code=502),
        Reply(code=502),
    )
    server.set("job", "ready")
    with StatusPoller(server.url, max_retries=2, **FAST) as poller:
        poller.add("job")
        assert poller.wait()["job"].status is READY
        assert poller.failed == {}


def test_timeouts_cover_the_whole_response(server):
    # A server that answers at once but trickles the body: only a timeout on the whole
    # response ends the request.
    trickle = Reply(body=b'{"status": "ready"}' + b" " * 100, trickle=0.05)
    server.script("slow", trickle, trickle)
    server.script("late", Reply(delay=2.0), Reply(delay=2.0))
    with StatusPoller(server.url, interval=0.02, max_interval=0.1, timeout=0.3, max_retries=1) as p:
        p.add(["slow", "late"])
        assert collect(p) == []
        assert set(p.failed) == {"slow", "late"}
        for reason in p.failed.values():
            assert reason == "no complete response within 0.300 s (2 failures in a row)"
        assert p.stats()["timeouts"] == 4


def test_connection_errors_are_retried_then_given_up():
    with StatusServer() as closed:
        url = closed.url
    with StatusPoller(url, max_retries=2, **FAST) as poller:
        poller.add("job")
        assert collect(poller) == []
        assert poller.failed["job"].startswith("connection failed")
        assert poller.failed["job"].endswith("(3 failures in a row)")
        stats = poller.stats()
        assert stats["transport_errors"] == 3
        assert stats["retries"] == 2


def test_404_gives_the_job_up(server):
    with StatusPoller(server.url, **FAST) as poller:
        poller.add("unknown")
        assert collect(poller) == []
        assert poller.failed == {"unknown": "HTTP 404 Not Found: the server does not know the job"}
        assert len(server.seen("unknown")) == 1


@pytest.mark.parametrize("code", [401, 403])
def test_refused_without_a_client_gives_up_at_once(server, code):
    server.script("job", Reply(code=code))
    server.set("job", "ready")
    with StatusPoller(server.url, token="old", **FAST) as poller:
        poller.add("job")
        assert collect(poller) == []
        assert "no client to refresh the headers from" in poller.failed["job"]
        assert str(code) in poller.failed["job"]


def test_other_client_errors_give_the_job_up(server):
    server.script("job", Reply(code=400))
    with StatusPoller(server.url, **FAST) as poller:
        poller.add("job")
        collect(poller)
        assert poller.failed == {"job": "HTTP 400 Bad Request: not a status answer"}


def test_redirects_are_not_followed_and_authorization_stays(server):
    with StatusServer() as elsewhere:
        elsewhere.set("job", "ready")
        target = elsewhere.url.replace("127.0.0.1", "localhost") + "/jobs/job/status"
        server.script("job", Reply(code=302, headers={"Location": target}))
        with StatusPoller(server.url, token="secret", **FAST) as poller:
            poller.add("job")
            assert collect(poller) == []
            assert poller.failed["job"] == (
                f"HTTP 302 Found: redirects are not followed (to {target})"
            )
        assert elsewhere.seen() == []


def wait_until(condition) -> None:
    """Returns once `condition()` is true (a hang fails by the test's timeout)."""
    while not condition():
        time.sleep(0.005)


def error_of(job_id: str, payload: bytes) -> TrackerError:
    """The `TrackerError` the reference's exception for `payload` makes."""
    with pytest.raises(Exception) as raised:
        pure_from_json(payload)
    return TrackerError(job_id, type(raised.value).__name__, str(raised.value))


def test_malformed_body_is_the_jobs_error_and_the_last_good_status_stays(server):
    server.set("job", "pending execution")
    # Rejected bodies in a row would give the job up after max_retries: not in this test.
    with StatusPoller(
        server.url, interval=0.02, max_interval=0.05, timeout=5, max_retries=10**6
    ) as poller:
        poller.add("job")
        assert next(poller) == [Transition("job", None, EXECUTING)]
        # The thread that iterates hands the bodies the fast parser is unsure of to the pure path.
        transitions: list[list[Transition]] = []
        iterating = threading.Thread(target=lambda: transitions.extend(poller))
        iterating.start()
        for bad in (b'{"status": "nope"}', b"{not json", b'{"message": "no status"}'):
            server.set_body("job", bad)
            wait_until(lambda bad=bad: poller.errors == [error_of("job", bad)])
            assert poller.tracker.status("job") == RunStatus(status=EXECUTING)
            assert poller.failed == {}
        polls = len(server.seen("job"))
        time.sleep(0.2)
        assert len(server.seen("job")) > polls, "the job is polled again on its schedule"
        server.set("job", "pending execution")
        wait_until(lambda: poller.errors == [])
        server.set("job", "ready")
        iterating.join(timeout=5)
        assert transitions == [[Transition("job", EXECUTING, READY)]]


def test_a_body_only_the_pure_path_reads_gives_its_transition(server):
    # Duplicate keys: the fast parser leaves the body to the pure path, which takes the last.
    server.set_body("job", b'{"status": "pending compilation", "status": "ready"}')
    with StatusPoller(server.url, **FAST) as poller:
        poller.add("job")
        assert collect(poller) == [Transition("job", None, READY)]
        assert poller.wait()["job"] == pure_from_json(
            b'{"status": "pending compilation", "status": "ready"}'
        )


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_the_jobs_error(server, chunked):
    huge = json.dumps({"status": "ready", "message": "x" * 5000}).encode()
    server.script("job", Reply(body=huge, chunked=chunked))
    server.set("job", "ready")
    # A long interval keeps the error in place until it is read.
    with StatusPoller(server.url, max_body_size=1000, interval=0.5, timeout=5) as poller:
        poller.add("job")
        wait_until(lambda: poller.errors != [])
        (error,) = poller.errors
        assert error.job_id == "job" and error.error_type == "ResponseTooLarge"
        if chunked:
            assert error.message == "the response body is longer than the limit of 1000 bytes"
        else:
            assert error.message == (
                f"the response body has {len(huge)} bytes, more than the limit of 1000"
            )
        assert collect(poller) == [Transition("job", None, READY)]
        assert poller.stats()["bytes"] == len(b'{"status": "ready"}')


def test_stats_count_requests_responses_and_bytes(server):
    body = b'{"status": "ready"}'
    server.script("a", Reply(code=503))
    server.set_body("a", body)
    server.set_body("b", body)
    with StatusPoller(server.url, **FAST) as poller:
        poller.add(["a", "b"])
        collect(poller)
        stats = poller.stats()
        assert stats == {
            "requests": 3,
            "responses": {200: 2, 503: 1},
            "retries": 1,
            "timeouts": 0,
            "transport_errors": 0,
            "bytes": 2 * len(body),
            "auth_refresh_failures": 0,
            "polls": {"a": 2, "b": 1},
        }
        assert server.connections <= 2, "the requests share keep-alive connections"


def test_concurrency_bounds_the_requests_in_flight(server):
    ids = [f"job{i}" for i in range(12)]
    for job in ids:
        server.script(job, Reply(body=b'{"status": "ready"}', delay=0.2))
    with StatusPoller(server.url, concurrency=3, **FAST) as poller:
        poller.add(ids)
        started = time.monotonic()
        assert len(collect(poller)) == 12
        # Twelve requests of 0.2 s, three at a time: four rounds.
        assert time.monotonic() - started > 0.75
        assert server.connections <= 3


# --- threads and close ----------------------------------------------------------------------


def test_eight_threads_read_the_tracker_while_it_polls(server):
    ids = [f"job{i}" for i in range(200)]
    for job in ids:
        server.set(job, "pending compilation")
    problems: list[BaseException] = []
    stop = threading.Event()
    with StatusPoller(server.url, **FAST) as poller:
        tracker = poller.tracker

        def read() -> None:
            try:
                while not stop.is_set():
                    counts = tracker.counts()
                    assert sum(counts.values()) <= len(ids)
                    for job in tracker.jobs()[:20]:
                        assert isinstance(tracker.status(job), RunStatus)
                    # Leaves the GIL to the iterating thread now and then.
                    time.sleep(0.001)
            except BaseException as exc:
                problems.append(exc)

        readers = [threading.Thread(target=read) for _ in range(8)]
        for reader in readers:
            reader.start()
        poller.add(ids)
        seen = 0
        for batch in poller:
            seen += len(batch)
            if seen == len(ids):
                for job in ids:
                    server.set(job, "ready")
        stop.set()
        for reader in readers:
            reader.join()
        assert problems == []
        assert tracker.counts()[READY] == len(ids)
        assert seen == 2 * len(ids)


def test_close_during_requests_in_flight_leaves_no_thread_or_socket(server):
    before = poller_threads()
    # Relative to the start: a poller left over by an earlier test may still reach this port.
    sockets_before = client_sockets(server.port)
    for i in range(10):
        server.script(f"job{i}", Reply(body=b'{"status": "ready"}', delay=3.0))
    poller = StatusPoller(server.url, **FAST)
    poller.add([f"job{i}" for i in range(10)])
    wait_until(lambda: len(server.seen()) == 10)
    assert client_sockets(server.port) == sockets_before + 10
    poller.close()
    assert server.answered == 0, "close cancels the requests, it does not wait for answers"
    assert poller_threads() == before
    assert client_sockets(server.port) == sockets_before
    assert collect(poller) == [], "a closed poller's iteration ends"
    with pytest.raises(RuntimeError, match="closed with 10 of 10 jobs still pending"):
        poller.wait()


def test_iteration_in_one_thread_close_from_another(server):
    server.set("job", "pending compilation")
    poller = StatusPoller(server.url, **FAST)
    poller.add("job")
    result: list[list[Transition]] = []

    def iterate() -> None:
        for batch in poller:
            result.append(batch)

    thread = threading.Thread(target=iterate)
    thread.start()
    # Closed while the thread waits for a change that never comes.
    wait_until(lambda: result != [])
    time.sleep(0.1)
    poller.close()
    thread.join(timeout=2)
    assert not thread.is_alive()
    assert result == [[Transition("job", None, PENDING)]]


def test_repr(server):
    with StatusPoller(server.url + "/base/", **FAST) as poller:
        assert repr(poller) == (f'StatusPoller("{server.url}/base", jobs=0, pending=0, failed=0)')


def test_http_proxy_and_no_proxy_are_honoured(server, monkeypatch):
    server.set("job", "ready")
    with StatusServer() as proxy:
        proxy.set("job", "failed")
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        with StatusPoller(server.url, **FAST) as poller:
            poller.add("job")
            assert poller.wait()["job"].status is Status.FAILED
        (request,) = proxy.seen("job")
        assert request.path == f"{server.url}/jobs/job/status"
        assert server.seen() == []
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with StatusPoller(server.url, **FAST) as poller:
            poller.add("job")
            assert poller.wait()["job"].status is READY
        assert len(proxy.seen()) == 1


def test_https_goes_through_tls(server):
    # The loopback server speaks plain HTTP: the TLS handshake fails, and says so.
    with StatusPoller(server.url.replace("http:", "https:"), max_retries=0, **FAST) as poller:
        poller.add("job")
        assert collect(poller) == []
        reason = poller.failed["job"]
        assert reason.startswith("connection failed"), reason
        assert reason.endswith("(1 failure in a row)")
    assert server.seen() == [], "no HTTP request went out in the clear"


class KeepsItsPoller:
    """A client as `from_client` reads one, that keeps the poller made from it: a cycle through
    the poller's header provider."""

    def __init__(self, url: str) -> None:
        self._base_url = url
        self.poller: StatusPoller | None = None

    def _default_headers(self) -> dict[str, str]:
        return {"User-Agent": "cycle-test"}


@pytest.mark.parametrize("started", [False, True])
def test_a_cycle_through_the_header_provider_is_collected(server, started):
    import gc
    import weakref

    server.set("a", "ready")
    client = KeepsItsPoller(server.url)
    poller = client.poller = StatusPoller.from_client(client, **FAST)
    # The collector sees the tracker and the provider (the closure that holds the client).
    referents = gc.get_referents(poller)
    assert poller.tracker in referents
    assert any(getattr(r, "__closure__", None) for r in referents)
    if started:
        poller.add("a")
        assert poller.wait()["a"].status is READY
    gone = weakref.ref(client)
    del client, poller, referents
    gc.collect()
    assert gone() is None


def test_importing_the_package_does_not_import_asyncio():
    # asyncio is only needed for `async for`; a scheduler that never uses it should not pay
    # for its import, nor for its objects in every collection.
    run_python(
        "-c",
        "import sys, iqm_runstatus; assert iqm_runstatus.StatusPoller;"
        " assert 'asyncio' not in sys.modules, 'asyncio imported'",
    )
