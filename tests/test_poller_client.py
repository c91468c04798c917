"""`StatusPoller.from_client` with a real iqm-client 17.2 ``IQMClient``: its base URL,
User-Agent and Authorization, a token refreshed before it expires, and one refresh on 401.
Where iqm-client 17.2 does not install (CPython 3.12 on), these tests are skipped."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pytest
from iqm_runstatus import Status, StatusPoller
from poller_support import Reply, clear_environment
from support.oracle import ORACLE

if ORACLE == "pure":
    pytest.skip("iqm-client 17.2 does not install on this Python", allow_module_level=True)

from iqm.iqm_client.iqm_client import IQMClient

JOB = str(uuid.UUID("00000000-0000-4000-8000-0000000000aa"))
FAST = {"interval": 0.05, "max_interval": 0.1, "timeout": 5.0}


@pytest.fixture(autouse=True)
def no_proxy_or_token(monkeypatch):
    clear_environment(monkeypatch, "IQM_TOKEN", "IQM_TOKENS_FILE")


def jwt(expires_in: float, name: str) -> str:
    """An unsigned JWT with ``exp``: the client only reads the expiry."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part({'exp': int(time.time() + expires_in), 'n': name})}.x"


def test_from_client_polls_with_the_clients_url_user_agent_and_token(server):
    server.prefix = "/cocos"
    server.set(JOB, "ready")
    client = IQMClient(server.url, token="secret-token")
    with StatusPoller.from_client(client, **FAST) as poller:
        poller.add(uuid.UUID(JOB))
        assert poller.wait(timeout=10)[JOB].status is Status.READY
    (request,) = server.seen(JOB)
    assert request.path == f"/cocos/jobs/{JOB}/status"
    assert request.headers["Authorization"] == "Bearer secret-token"
    assert request.headers["User-Agent"] == client._signature
    assert "iqm-client" in request.headers["User-Agent"]


def test_a_token_about_to_expire_is_refreshed_through_the_client(server, tmp_path: Path):
    tokens = tmp_path / "tokens.json"
    # 62.5 s left (62 to 63 once `exp` is cut to whole seconds): valid for the first polls,
    # within the client's 60 s margin two to three seconds later.
    old, new = jwt(62.5, "old"), jwt(3600, "new")
    tokens.write_text(json.dumps({"auth_server_url": "http://auth.invalid", "access_token": old}))
    client = IQMClient(server.url, tokens_file=str(tokens))
    tokens.write_text(json.dumps({"auth_server_url": "http://auth.invalid", "access_token": new}))
    server.set(JOB, "pending execution")

    def seen_headers() -> list[str]:
        return [request.headers["Authorization"] for request in server.seen(JOB)]

    with StatusPoller.from_client(client, **FAST) as poller:
        poller.add(JOB)
        # The waiting thread asks the client once the token is within the margin. The job
        # stays pending until the server has seen the new token: a job that ended first
        # would leave the old token as the last one sent, however the refresh went.
        deadline = time.monotonic() + 10
        while f"Bearer {new}" not in seen_headers():
            assert time.monotonic() < deadline, "the token was never refreshed"
            with pytest.raises(TimeoutError):
                poller.wait(timeout=0.2)
        server.set(JOB, "ready")
        assert poller.wait(timeout=10)[JOB].status is Status.READY
    seen = seen_headers()
    assert seen[0] == f"Bearer {old}"
    assert seen[-1] == f"Bearer {new}"
    assert seen == sorted(seen, key=lambda header: header != f"Bearer {old}")


def test_a_401_asks_the_client_once_then_gives_up(server, monkeypatch):
    client = IQMClient(server.url, token="tok")
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
        statuses = poller.wait(timeout=10)
        assert statuses[JOB].status is Status.READY
        assert poller.failed == {
            "refused": "HTTP 403 Forbidden: still refused after the headers were refreshed"
        }
        # Once for the first add; each refusal wave asks again, once.
        assert 2 <= len(calls) <= 3
