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

# iqm-client 17.2 refreshes a token that has less than this many seconds left.
REFRESH_MARGIN_SECONDS = 60.0
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
        """A poller for the server of an ``IQMClient`` (iqm-client 17.2), with its
        ``User-Agent`` and ``Authorization``.

        The client is asked for its headers on the first ``add``, again when the token has
        less than a minute left (it refreshes the token then), and once when the server
        answers 401 or 403. The thread that iterates or waits asks it.

        No request goes out without the client's headers: jobs added before the client gave
        any wait for them, and are given up (see ``failed``) if asking fails (the client
        raises, or its token's claims cannot be read). A refresh that fails later keeps the
        headers the client gave last and is tried again after ``interval``; jobs the server
        refused are given up. ``stats()["auth_refresh_failures"]`` counts the failures.
        """
        base_url = client._base_url

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
