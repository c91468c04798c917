"""`StatusPoller`: the Rust poller, with what belongs to Python: an `IQMClient`'s headers, and
iteration under asyncio."""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from . import _core
from ._records import Transition

if TYPE_CHECKING:
    import asyncio

__all__ = ["StatusPoller"]

# iqm-client refreshes a token that has less than this many seconds left (every release
# from 15.0 to 32.1.1).
REFRESH_MARGIN_SECONDS = 60.0
# Stands for the job id in a client's status URL, to find where the id goes.
_JOB_ID_MARK = "00000000-0000-0000-0000-000000000000"
# How often an `async for` that saw no change services the poller all the same (a header
# refresh that falls due wakes no one).
ASYNC_IDLE_SECONDS = 1.0


def _seconds_left(authorization: Optional[str]) -> Optional[float]:
    """Seconds until a bearer JWT's ``exp``, or ``None`` for a header without one (not a
    bearer JWT, or claims without ``exp``).

    ``ValueError`` for a JWT whose claims cannot be read (not base64 JSON, an ``exp`` that is
    no finite number, nesting too deep): the poller then counts a failed header refresh and
    gives up the jobs that would be polled with headers it cannot keep fresh, instead of
    polling on with a token it cannot refresh in time.
    """
    if not authorization or not authorization.startswith("Bearer "):
        return None
    parts = authorization[len("Bearer ") :].split(".")
    if len(parts) != 3:
        return None
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(body))
        if not isinstance(claims, dict) or "exp" not in claims:
            return None
        expires = float(claims["exp"])
        if not math.isfinite(expires):
            raise ValueError(f"exp is {claims['exp']!r}")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError) as err:
        raise ValueError(f"the token's claims could not be read: {err}") from None
    except RecursionError:
        raise ValueError("the token's claims could not be read: nested too deeply") from None
    return expires - time.time()


def _client_base_url(client: Any) -> str:
    """The URL an ``IQMClient``'s ``/jobs/{job_id}/status`` hangs from.

    Up to iqm-client 18.5 the client keeps its URL as ``_base_url``. From 18.6 its ``_api``
    (an ``APIConfig``) builds each endpoint's URL, from ``iqm_server_url`` and the API variant
    (18.6 to 28.x) or from ``station_control_url`` (29.0 on); it is asked for the status URL,
    so that the variant's path is the one polled.
    """
    api = getattr(client, "_api", None)
    if api is None:
        return str(client._base_url)
    endpoint = next((e for e in api.urls if getattr(e, "name", None) == "GET_JOB_STATUS"), None)
    if endpoint is None:
        raise ValueError("this client's API has no job status endpoint")
    url = str(api.url(endpoint, _JOB_ID_MARK))
    suffix = f"/jobs/{_JOB_ID_MARK}/status"
    if not url.endswith(suffix):
        raise ValueError(
            f"this client polls job statuses at {url.replace(_JOB_ID_MARK, '{job_id}')}; "
            "StatusPoller polls {base_url}/jobs/{job_id}/status only"
        )
    return url[: -len(suffix)]


class StatusPoller(_core.StatusPoller):
    """Polls ``GET {base_url}/jobs/{job_id}/status`` for many jobs from threads of its own.

    ``for transitions in poller`` (or ``async for``) yields lists of ``Transition`` as jobs
    change status, and ends when every added job is terminal or given up; ``wait`` blocks until
    jobs are terminal. See the README for the polling policy.

    Transitions not yet taken are kept at most one per job, so memory is bounded by the number
    of jobs even if nobody iterates: a job's transitions are merged into one, from the status
    the consumer was last shown to the latest (none if it is back at that status). Each job's
    transitions thus form a chain, with the statuses the consumer was too slow to see left out.

    Wherever ids are taken (``add``, ``remove``, ``wait``), a ``str`` or ``uuid.UUID`` is one
    id and anything else an iterable of ids; ``bytes`` or other types are a ``TypeError``.
    """

    @classmethod
    def from_client(cls, client: Any, **kwargs: Any) -> StatusPoller:
        """A poller for the server of an ``IQMClient`` (iqm-client 15.0 to 32.1.1), with its
        ``User-Agent`` and ``Authorization``.

        The client is asked for its headers on the first ``add``, again when the token has
        less than a minute left (it refreshes the token then), and once when the server
        answers 401 or 403. The thread that iterates or waits asks it.

        Raises ``ValueError`` for a client whose status URL does not end in
        ``/jobs/{job_id}/status`` (the V2 API variant of iqm-client 18.6 to 24.x).

        No request goes out without the client's headers: jobs added before the client gave
        any wait for them, and are given up (see ``failed``) if asking fails (the client
        raises, or its token's claims cannot be read). A refresh that fails later keeps the
        headers the client gave last and is tried again after ``interval``; jobs the server
        refused are given up. ``stats()["auth_refresh_failures"]`` counts the failures.
        """
        base_url = _client_base_url(client)

        def provider() -> tuple[Mapping[str, str], Optional[float]]:
            headers = dict(client._default_headers())
            left = _seconds_left(headers.get("Authorization"))
            return headers, None if left is None else max(0.0, left - REFRESH_MARGIN_SECONDS)

        return cls(base_url, _header_provider=provider, **kwargs)

    def __aiter__(self) -> StatusPoller:
        return self

    async def __anext__(self) -> list[Transition]:
        # Imported here: asyncio is large, and importing the package must not cost it.
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            # Emptied before looking, so that any change after the look signals it again.
            fd = self._wakeup_fd()
            self._drain_wakeup()
            batch = self._next_ready()
            if batch is None:
                raise StopAsyncIteration
            if batch:
                return batch
            if fd < 0:
                continue  # closed since: the next look ends the iteration
            woken = loop.create_future()

            def wake(woken: asyncio.Future[None] = woken) -> None:
                if not woken.done():
                    woken.set_result(None)

            loop.add_reader(fd, wake)
            try:
                await asyncio.wait({woken}, timeout=ASYNC_IDLE_SECONDS)
            finally:
                loop.remove_reader(fd)
