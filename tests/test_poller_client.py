"""`StatusPoller.from_client` with a real ``IQMClient``: its base URL, User-Agent and
Authorization, a token refreshed before it expires, and one refresh on 401.

``make test`` runs these with iqm-client 17.2, ``make test-clients`` with each release of the
line, whose clients keep their URL and token in three different ways (see ``from_client``).
Where no iqm-client installs (CPython 3.12 on), these tests are skipped."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from pathlib import Path

import pytest
from iqm_runstatus import Status, StatusPoller
from poller_support import Reply, clear_environment, iqm_client
from support.oracle import ORACLE, RefStatus

if ORACLE == "pure":
    pytest.skip("iqm-client does not install on this Python", allow_module_level=True)

JOB = str(uuid.UUID("00000000-0000-4000-8000-0000000000aa"))
FAST = {"interval": 0.05, "max_interval": 0.1, "timeout": 5.0}
# A status every release has, after which polling goes on: the first of the release's own that
# is not terminal (terminal ones named as the README says).
TERMINAL = {"ready", "failed", "aborted", "deleted", "deletion failed"}
PENDING = next(member.value for member in RefStatus if member.value not in TERMINAL)


@pytest.fixture(autouse=True)
def no_proxy_or_token(monkeypatch):
    clear_environment(monkeypatch, "IQM_TOKEN", "IQM_TOKENS_FILE", "IQM_CLIENT_API_VARIANT")


def jwt(expires_in: float, name: str) -> str:
    """An unsigned JWT with ``exp``: the client only reads the expiry."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(time.time() + expires_in), 'n': name})}.x"


def test_from_client_polls_with_the_clients_url_user_agent_and_token(server):
    server.prefix = "/cocos"
    server.set(JOB, "ready")
    client = iqm_client(server, token="secret-token")
    with StatusPoller.from_client(client, **FAST) as poller:
        poller.add(uuid.UUID(JOB))
        assert poller.wait()[JOB].status is Status.READY
    (request,) = server.seen(JOB)
    assert request.path == f"/cocos/jobs/{JOB}/status"
    assert request.headers["Authorization"] == "Bearer secret-token"
    assert request.headers["User-Agent"] == client._signature
    assert "iqm-client" in request.headers["User-Agent"]


# Waits out the seconds until the token is within the client's refresh margin.
@pytest.mark.slow
def test_a_token_about_to_expire_is_refreshed_through_the_client(server, tmp_path: Path):
    # The old token must still be valid when the poller first polls: a machine so loaded that
    # the window passed before that did not try the refresh, and the scenario runs again.
    for attempt in range(3):
        job = str(uuid.UUID(int=uuid.UUID(JOB).int + 1 + attempt))
        old, new, seen = token_refresh_scenario(server, tmp_path, job)
        if seen[0] == f"Bearer {old}":
            break
    assert seen[0] == f"Bearer {old}"
    assert seen[-1] == f"Bearer {new}"
    assert seen == sorted(seen, key=lambda header: header != f"Bearer {old}")


def token_refresh_scenario(server, tmp_path: Path, job: str) -> tuple[str, str, list[str]]:
    """A poller from a client whose token is within its refresh margin a few seconds after the
    first poll; the old and new tokens and the Authorization headers the server saw."""
    tokens = tmp_path / "tokens.json"
    # 64.5 s left (64 to 65 once `exp` is cut to whole seconds): valid for the first polls,
    # within the client's 60 s margin four to five seconds later.
    old, new = jwt(64.5, "old"), jwt(3600, "new")
    tokens.write_text(json.dumps({"auth_server_url": "http://auth.invalid", "access_token": old}))
    client = iqm_client(server, tokens_file=str(tokens))
    # Up to 17.x the client reads the file when it is made; from 18.0 at the first request,
    # which some releases make when constructed. Asked once here, every release holds `old`.
    assert client._default_headers()["Authorization"] == f"Bearer {old}"
    tokens.write_text(json.dumps({"auth_server_url": "http://auth.invalid", "access_token": new}))
    server.set(job, PENDING)

    def seen_headers() -> list[str]:
        return [request.headers["Authorization"] for request in server.seen(job)]

    with StatusPoller.from_client(client, **FAST) as poller:
        poller.add(job)
        # The waiting thread asks the client once the token is within the margin. The job
        # stays pending until the server has seen the new token: a job that ended first
        # would leave the old token as the last one sent, however the refresh went.
        while f"Bearer {new}" not in seen_headers():
            with pytest.raises(TimeoutError):
                poller.wait(timeout=0.2)
        server.set(job, "ready")
        assert poller.wait()[job].status is Status.READY
    return old, new, seen_headers()


def test_a_401_asks_the_client_once_then_gives_up(server, monkeypatch):
    client = iqm_client(server, token="tok")
    calls = []
    original = client._default_headers

    def counted():
        calls.append(time.monotonic())
        return original()

    monkeypatch.setattr(client, "_default_headers", counted)
    server.script(JOB, Reply(code=401))
    server.set(JOB, "ready")
    server.script("refused", Reply(code=401), Reply(code=403))
    with StatusPoller.from_client(client, **FAST) as poller:
        poller.add([JOB, "refused"])
        assert len(calls) == 1, "the client gives the headers on the first add"
        statuses = poller.wait()
        assert statuses[JOB].status is Status.READY
        assert poller.failed == {
            "refused": "HTTP 403 Forbidden: still refused after the headers were refreshed"
        }
        # Once for the first add; each refusal wave asks again, once.
        assert 2 <= len(calls) <= 3


def test_the_status_url_is_the_one_the_client_polls(server):
    server.prefix = "/station"
    server.set(JOB, "failed", message="m")
    client = iqm_client(server)
    with StatusPoller.from_client(client, **FAST) as poller:
        poller.add(JOB)
        assert poller.wait()[JOB].message == "m"
    client.get_run_status(uuid.UUID(JOB))
    # The poller's request and the client's own went to the same path.
    paths = {request.path for request in server.seen(JOB)}
    assert paths == {f"/station/jobs/{JOB}/status"}


def test_a_status_path_the_poller_cannot_poll_is_refused(server):
    try:
        from iqm.iqm_client.api import APIVariant
    except ImportError:  # before 18.6, and from 29.0
        pytest.skip("this release has one API, polled at {url}/jobs/{job_id}/status")
    client = iqm_client(server, api_variant=APIVariant.V2)
    status_url = client._api.url(
        next(e for e in client._api.urls if e.name == "GET_JOB_STATUS"), "{job_id}"
    )
    if status_url.endswith("/jobs/{job_id}/status"):
        # 25.0 to 28.x: the V2 variant polls {url}/station/jobs/{job_id}/status.
        server.set(JOB, "ready")
        with StatusPoller.from_client(client, **FAST) as poller:
            poller.add(JOB)
            assert poller.wait()[JOB].status is Status.READY
        assert [r.path for r in server.seen(JOB)] == [f"/station/jobs/{JOB}/status"]
    else:
        with pytest.raises(ValueError, match=re.escape(status_url)):
            StatusPoller.from_client(client, **FAST)
