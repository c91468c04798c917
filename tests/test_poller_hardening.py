"""`StatusPoller` and `JobTracker` promises a scheduler that runs for months relies on: no Python
code under a Rust lock, durations that never mean "now" by overflow, one id one path segment,
one id or many the same everywhere, no silent loss of authentication, `close` releasing its
descriptors, a transition queue bounded by the number of jobs, rejected bodies made visible,
and arguments checked with errors that name them.

Tests that can deadlock run in a subprocess with a timeout, so that a bug fails instead of
hanging."""

from __future__ import annotations

import base64
import json
import math
import sys
import textwrap
import uuid
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iqm_runstatus import JobTracker, Status, StatusPoller, Transition
from poller_support import Reply, StatusServer, clear_environment
from support.profiles import scale
from support.scripts import IMPORT_SUPPORT, run_python

READY = Status.READY
FAST = {"interval": 0.02, "max_interval": 0.05, "timeout": 5.0}
# A closed port on loopback: each request fails at once, and max_retries=0 gives the job up.
REFUSED = "http://127.0.0.1:1"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    clear_environment(monkeypatch)


def run_script(body: str) -> str:
    """Runs ``body`` in a fresh interpreter (the tests' support importable); a deadlock fails
    the test at the timeout instead of hanging it."""
    script = IMPORT_SUPPORT + textwrap.dedent(body)
    return run_python("-c", script, timeout=120).stdout


# --- no Python code under the poller's lock --------------------------------------------------


def test_wait_converts_ids_before_it_locks():
    # The ids' own code (a generator's next, a UUID subclass's __str__) calls back into the
    # poller: with the lock held while they run, the same thread waits on itself for ever.
    out = run_script(
        f"""
        import uuid
        from iqm_runstatus import StatusPoller

        poller = StatusPoller({REFUSED!r}, max_retries=0, timeout=5)
        job = uuid.UUID("00000000-0000-4000-8000-000000000001")
        poller.add(["a", job])

        def ids():
            poller.stats()
            yield "a"
            poller.stats()
            yield job

        class Loud(uuid.UUID):
            def __str__(self):
                poller.stats()
                return super().__str__()

        assert poller.wait(ids()) == {{}}
        assert poller.wait([Loud(str(job))], timeout=60) == {{}}
        poller.remove(ids())
        poller.close()
        print("done")
        """
    )
    assert out == "done\n"


# CPython 3.12 runs the cyclic collector only between bytecodes, not inside an allocation made
# from native code: there these tests cannot arm a finalizer inside the call, and say so.
COLLECTS_INSIDE_ALLOCATIONS = sys.version_info < (3, 12)
needs_collection_inside_allocations = pytest.mark.skipif(
    not COLLECTS_INSIDE_ALLOCATIONS,
    reason="CPython 3.12+ collects cycles only between bytecodes, not inside a native call",
)


# Script lines that make every allocation between `arm(action)` and `disarm()` run a finalizer
# calling `action`: each finalizer leaves the next cycle behind. `disarm()` returns how many ran.
ARMED_FINALIZERS = """
import gc

_action = None
_calls = 0


class _Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        global _calls
        if _action is not None:
            _calls += 1
            _action()
            _Cycle()


def arm(action):
    global _action
    gc.collect()
    _action = action
    gc.set_threshold(1, 1, 1)
    _Cycle()


def disarm():
    global _action
    _action = None
    gc.set_threshold(700, 10, 10)
    gc.collect()
    return _calls
"""


@needs_collection_inside_allocations
def test_transitions_are_built_after_the_lock_is_released():
    # A collection during the building of a Transition runs finalizers; one that calls
    # `stats()` deadlocks if the transitions are built under the lock. Each finalizer leaves
    # the next cycle behind, so that every allocation while armed collects one.
    with StatusServer() as server:
        for job in ("a", "b", "c"):
            server.set(job, "ready")
        out = run_script(
            ARMED_FINALIZERS
            + f"""
from iqm_runstatus import StatusPoller

poller = StatusPoller({server.url!r}, interval=0.02, max_interval=0.05, timeout=5)
poller.add(["a", "b", "c"])
poller.wait()
arm(poller.stats)
transitions = [t.job_id for batch in poller for t in batch]
calls = disarm()
assert sorted(transitions) == ["a", "b", "c"], transitions
assert calls > 0, "no finalizer ran"
poller.close()
print("done")
"""
        )
    assert out == "done\n"


@needs_collection_inside_allocations
def test_the_first_uuid_id_can_be_converted_again_from_a_finalizer():
    # The first UUID id imports `uuid.UUID`; a collection during that import runs finalizers,
    # and one that converts an id again must not wait on the import's own one-time cell.
    out = run_script(
        ARMED_FINALIZERS
        + """
import uuid
from iqm_runstatus import JobTracker

tracker = JobTracker()
job = uuid.UUID("00000000-0000-4000-8000-000000000003")
arm(lambda: tracker.forget([job]))
tracker.forget([job])
calls = disarm()
assert calls > 0, "no finalizer ran"
print("done")
        """
    )
    assert out == "done\n"


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [math.inf, 1e300, sys.float_info.max, 2.0**64, 1e12])
def test_a_huge_wait_timeout_is_no_limit(server, timeout):
    server.script("job", Reply(body=b'{"status": "pending execution"}'))
    server.set("job", "ready")
    with StatusPoller(server.url, **FAST) as poller:
        poller.add("job")
        assert poller.wait(timeout=timeout)["job"].status is READY


@pytest.mark.parametrize("timeout", [math.nan, -1.0, -math.inf])
def test_a_wait_timeout_that_is_no_duration_is_a_value_error(timeout):
    with StatusPoller(REFUSED) as poller:
        with pytest.raises(ValueError, match="timeout"):
            poller.wait(timeout=timeout)


@pytest.mark.parametrize("name", ["interval", "max_interval", "timeout"])
@pytest.mark.parametrize("value", [math.nan, -1.0, 0.0, -math.inf])
def test_a_setting_that_is_no_duration_is_a_value_error_naming_it(name, value):
    with pytest.raises(ValueError, match=name):
        StatusPoller(REFUSED, **{name: value})


def test_huge_settings_are_capped_not_refused(server):
    server.set("job", "ready")
    huge = {"interval": 0.02, "max_interval": math.inf, "timeout": math.inf}
    with StatusPoller(server.url, **huge) as poller:
        poller.add("job")
        assert poller.wait()["job"].status is READY


# --- one id, one path segment -----------------------------------------------------------------


@pytest.mark.parametrize("job_id", ["", ".", ".."])
def test_ids_that_are_no_path_segment_are_refused(server, job_id):
    with StatusPoller(server.url, **FAST) as poller:
        with pytest.raises(ValueError, match="path segment"):
            poller.add(job_id)
        with pytest.raises(ValueError, match="path segment"):
            poller.add(["fine", job_id])
        assert poller.stats()["polls"] == {}, "nothing of a refused call is added"
    assert server.seen() == []


JOB_IDS = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(
        ["...", "./a", "a/..", "%2e%2e", "%2E", "..%2f", "/", "?", "#", "a b", "é", "\x00", "~"]
    ),
).filter(lambda job_id: job_id not in (".", ".."))


# Each example starts a poller against the server: a few dozen cover the id shapes above.
ID_PATH_EXAMPLES = scale(25)


def test_every_accepted_id_is_polled_at_exactly_its_own_path_segment():
    """The request line of every accepted id is ``/jobs/<id, percent-encoded>/status``: one
    segment, which decodes to the id, under the base URL's path (SECURITY.md, "one id, one
    segment")."""
    with StatusServer(prefix="/api") as server:

        @settings(
            max_examples=ID_PATH_EXAMPLES,
            suppress_health_check=[HealthCheck.too_slow],
            deadline=None,
        )
        @given(st.lists(JOB_IDS, min_size=1, max_size=6, unique=True))
        def check(job_ids):
            with server.lock:
                server.requests.clear()
            # No job is known: each is answered 404 and given up after its first request.
            with StatusPoller(server.url, **FAST) as poller:
                poller.add(job_ids)
                assert poller.wait() == {}
                assert sorted(poller.failed) == sorted(job_ids)
            paths = sorted(seen.path for seen in server.seen())
            assert paths == sorted(
                f"/api/jobs/{quote(job_id, safe='')}/status" for job_id in job_ids
            )
            for path in paths:
                segment = path.split("/")[3]
                assert unquote(segment) in job_ids

        check()


# --- one id or many ---------------------------------------------------------------------------


def test_a_str_or_uuid_is_one_id_in_every_tracker_method():
    tracker = JobTracker()
    ready = b'{"status": "ready"}'
    tracker.update_many(["a", "b", "c", "abc"], [ready] * 4)
    assert tracker.forget("abc") == 1
    assert tracker.jobs() == ["a", "b", "c"]
    (transition,) = tracker.update_many("ab", [ready])
    assert transition == Transition("ab", None, READY)
    assert "a" in tracker and "ab" in tracker
    job = uuid.UUID("00000000-0000-4000-8000-000000000002")
    tracker.update_many(job, [ready])
    assert tracker.forget(job) == 1
    with pytest.raises(ValueError, match="1 job ids but 2 payloads"):
        tracker.update_many("ab", [ready, ready])


@pytest.mark.parametrize("bad", [b"abc", bytearray(b"abc"), memoryview(b"abc"), 5, None])
def test_ids_of_another_type_are_a_type_error_naming_argument_and_type(bad):
    tracker = JobTracker()
    expected = f"job_ids: job ids must be str or uuid.UUID, not {type(bad).__name__}"
    with pytest.raises(TypeError, match=expected):
        tracker.forget(bad)
    with pytest.raises(TypeError, match=expected):
        tracker.update_many(bad, [b'{"status": "ready"}'])
    with pytest.raises(TypeError, match=expected):
        tracker.forget(["fine", bad])
    with StatusPoller(REFUSED) as poller:
        for method in (poller.add, poller.remove, poller.wait):
            with pytest.raises(TypeError, match=expected):
                method([bad])
            if bad is not None:  # wait(None) waits for every job
                with pytest.raises(TypeError, match=expected):
                    method(bad)
        assert poller.stats()["polls"] == {}


@pytest.mark.parametrize("bad", [b"abc", 5])
def test_one_id_of_another_type_is_a_type_error_naming_job_id(bad):
    tracker = JobTracker()
    expected = f"job_id: job ids must be str or uuid.UUID, not {type(bad).__name__}"
    with pytest.raises(TypeError, match=expected):
        tracker.update(bad, b'{"status": "ready"}')
    with pytest.raises(TypeError, match=expected):
        tracker.status(bad)
    assert len(tracker) == 0


def test_a_str_or_uuid_is_one_id_in_every_poller_method(server):
    server.set("abc", "ready")
    with StatusPoller(server.url, **FAST) as poller:
        poller.add("abc")
        assert list(poller.wait("abc")) == ["abc"]
        assert poller.remove("abc") == 1
        assert poller.stats()["polls"] == {}


# --- no silent loss of authentication ---------------------------------------------------------


def bearer_jwt(claims_json: str) -> str:
    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    return f"Bearer {part(json.dumps({'alg': 'none'}))}.{part(claims_json)}.x"


class FakeClient:
    """What `from_client` reads of an IQMClient: the base URL and the default headers."""

    def __init__(self, base_url: str, headers) -> None:
        self._base_url = base_url
        self.headers = headers
        self.calls = 0

    def _default_headers(self) -> dict[str, str]:
        self.calls += 1
        return self.headers()


def failing_headers():
    raise RuntimeError("the token service is down")


@pytest.mark.parametrize(
    "headers, reason",
    [
        (failing_headers, "RuntimeError: the token service is down"),
        (
            lambda: {"Authorization": bearer_jwt('{"exp": 1' + "0" * 400 + "}")},
            "the token's claims could not be read",
        ),
        (
            lambda: {
                "Authorization": bearer_jwt(
                    '{"exp": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
                )
            },
            "the token's claims could not be read",
        ),
    ],
)
def test_headers_that_cannot_be_had_give_the_jobs_up_and_are_counted(server, headers, reason):
    server.set("job", "ready")
    client = FakeClient(server.url, headers)
    with StatusPoller.from_client(client, **FAST) as poller:
        poller.add("job")
        assert poller.wait() == {}
        assert reason in poller.failed["job"]
        assert "could not be obtained from the client" in poller.failed["job"]
        assert poller.stats()["auth_refresh_failures"] >= 1
    assert server.seen() == [], "no request goes out without the client's headers"


def test_a_later_add_asks_the_client_again_and_every_request_is_authorized(server):
    server.set("a", "ready")
    server.set("b", "ready")
    answers = [failing_headers, lambda: {"Authorization": "Bearer good"}]
    client = FakeClient(server.url, lambda: answers.pop(0)() if len(answers) > 1 else answers[0]())
    with StatusPoller.from_client(client, **FAST) as poller:
        poller.add("a")
        assert poller.wait() == {}
        poller.add("b")
        assert poller.wait("b")["b"].status is READY
        assert poller.stats()["auth_refresh_failures"] == 1
        assert list(poller.failed) == ["a"]
    seen = server.seen()
    assert [request.job_id for request in seen] == ["b"]
    assert all(request.headers.get("Authorization") == "Bearer good" for request in seen)


# --- close releases the wakeup descriptors ---------------------------------------------------


def test_close_gives_back_every_descriptor_async_for_made():
    out = run_script(
        f"""
        import asyncio, os
        from iqm_runstatus import StatusPoller

        async def drain(poller):
            return [t async for batch in poller for t in batch]

        def one_round():
            poller = StatusPoller({REFUSED!r}, max_retries=0, timeout=5)
            poller.add("job")
            assert asyncio.run(drain(poller)) == []
            assert poller.failed
            poller.close()
            assert poller._wakeup_fd() == -1, "a closed poller makes no new descriptor"

        one_round()  # lazy set-up (imports, the runtime's first use) before counting
        before = len(os.listdir("/proc/self/fd"))
        for _ in range(20):
            one_round()
        after = len(os.listdir("/proc/self/fd"))
        assert after == before, (before, after)
        print("done")
        """
    )
    assert out == "done\n"


# --- the transition queue is bounded by the number of jobs -----------------------------------


def test_transitions_nobody_takes_are_coalesced_per_job(server):
    # A job that flaps between two statuses many times while the caller only waits: what is
    # left to iterate is one transition per job, from the status it was last shown to the latest.
    flaps = [b'{"status": "pending compilation"}', b'{"status": "pending execution"}'] * 30
    server.script("flap", *(Reply(body=body) for body in flaps))
    server.set("flap", "ready")
    server.set("steady", "ready")
    with StatusPoller(server.url, interval=0.005, max_interval=0.01, timeout=5) as poller:
        poller.add(["flap", "steady"])
        assert set(poller.wait()) == {"flap", "steady"}
        assert len(server.seen("flap")) > len(flaps), "every flap was polled"
        transitions = [t for batch in poller for t in batch]
    assert sorted(transitions) == [
        Transition("flap", None, READY),
        Transition("steady", None, READY),
    ]


# --- rejected bodies are visible --------------------------------------------------------------

MAINTENANCE = b"<html><body>Down for maintenance</body></html>"


@pytest.mark.parametrize("oversized", [False, True])
def test_a_body_rejected_more_than_max_retries_times_gives_the_job_up(server, oversized):
    body = (
        json.dumps({"status": "ready", "message": "x" * 5000}).encode()
        if oversized
        else MAINTENANCE
    )
    server.set_body("job", body)
    with StatusPoller(server.url, max_retries=2, max_body_size=1000, **FAST) as poller:
        poller.add("job")
        assert poller.wait() == {}
        reason = poller.failed["job"]
        assert reason.startswith("the body was rejected (3 times in a row): ")
        (error,) = poller.errors
        assert f"{error.error_type}: {error.message}" in reason
        assert error.error_type == ("ResponseTooLarge" if oversized else "JSONDecodeError")
    assert len(server.seen("job")) == 3


def test_a_good_body_resets_the_count_of_rejections(server):
    pending = b'{"status": "pending execution"}'
    replies = [MAINTENANCE, MAINTENANCE, pending] * 3
    server.script("job", *(Reply(body=body) for body in replies))
    server.set("job", "ready")
    with StatusPoller(server.url, max_retries=2, **FAST) as poller:
        poller.add("job")
        assert poller.wait()["job"].status is READY
        assert poller.failed == {}


def test_the_wait_timeout_counts_the_jobs_whose_latest_body_was_rejected(server):
    server.set_body("bad", MAINTENANCE)
    server.set("slow", "pending execution")
    with StatusPoller(server.url, max_retries=10**6, **FAST) as poller:
        poller.add(["bad", "slow"])
        for _ in range(1000):
            with pytest.raises(TimeoutError) as raised:
                poller.wait(timeout=0.05)
            if poller.errors:
                break
        with pytest.raises(TimeoutError) as raised:
            poller.wait(timeout=0.05)
    assert str(raised.value) == (
        "2 of 2 jobs still pending after 0.05 s; the latest body of 1 of them was rejected "
        "(see errors)"
    )


# --- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["max_retries", "concurrency", "max_body_size"])
def test_a_negative_count_is_a_value_error_naming_it(name):
    with pytest.raises(ValueError, match=f"{name} must not be negative"):
        StatusPoller(REFUSED, **{name: -1})


def test_a_huge_count_is_capped():
    StatusPoller(REFUSED, max_retries=10**30, concurrency=10**30, max_body_size=10**30).close()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"headers": {"X": 1}}, 'headers: the value of "X" must be a str, not int'),
        ({"headers": {1: "x"}}, "headers: a header name must be a str, not int"),
        ({"token": 5}, "token: token must be a str, not int"),
    ],
)
def test_headers_and_token_of_another_type_are_a_type_error_naming_them(kwargs, message):
    with pytest.raises(TypeError) as raised:
        StatusPoller(REFUSED, **kwargs)
    assert str(raised.value) == message


def test_a_base_url_without_a_scheme_says_so():
    with pytest.raises(ValueError, match=r"it has no scheme; write it as https://example\.com/api"):
        StatusPoller("example.com/api")


def test_a_positional_setting_says_to_pass_it_by_name():
    with pytest.raises(TypeError) as raised:
        StatusPoller(REFUSED, 1.0)  # type: ignore[misc]
    assert str(raised.value) == (
        "StatusPoller takes the base URL as its only positional argument: pass the settings "
        "by name, as in StatusPoller(base_url, interval=1.0)"
    )
