"""Polling benchmarks: the same jobs polled over loopback HTTP by each client, one after the
other, against one status server.

Clients: iqm-client 17.2 ``get_run_status`` in a loop, and in a ``ThreadPoolExecutor(32)``;
aiohttp with 64 requests in flight and ``JobTracker.update_many``; ``StatusPoller``. Each
polls as fast as it can. Figures, in ``extra_info``: client CPU per poll (``getrusage`` of this
process, every thread included), polls per second, and the delay from a status change on the
server to the transition seen in Python (p50, p99 over the jobs).

``make bench-poll`` runs them against the Rust server in ``benches/status-server`` and renders
``benches/report/poll.md`` and ``poll.png`` (``benches/poll_report.py``). Under
``--benchmark-disable`` (``make test``) they run once on a few jobs against the Python server in
``benches/poll_server.py``, as a check that every client works.
"""

from __future__ import annotations

import asyncio
import os
import resource
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

import pytest
from iqm_runstatus import JobTracker, Status, StatusPoller

CLIENTS = ("iqm-client", "iqm-client-threads32", "aiohttp-64", "poller")

# A server in another process and every client against it: the slow tier's check.
pytestmark = pytest.mark.slow


class Run:
    """What a client reports while it polls: its polls, and when each job was seen ready."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self.ready: dict[str, float] = {}
        self.stop = threading.Event()
        self.polls_of: Optional[Callable[[], int]] = None

    def counter(self) -> list[int]:
        # One counter a thread, summed when read: no lock on the hot path.
        count = [0]
        self.counts.append(count)  # type: ignore[arg-type]
        return count

    def polls(self) -> int:
        if self.polls_of is not None:
            return self.polls_of()
        return sum(count[0] for count in self.counts)  # type: ignore[index]

    def mark(self, job_id: str) -> None:
        self.ready.setdefault(job_id, time.monotonic())


def iqm_client_loop(url: str, jobs: list[str], run: Run, workers: int = 1) -> None:
    from iqm.iqm_client.iqm_client import IQMClient

    client = IQMClient(url)
    ids = [uuid.UUID(job) for job in jobs]

    def loop(share: list[uuid.UUID]) -> None:
        count = run.counter()
        while not run.stop.is_set():
            for job_id in share:
                status = client.get_run_status(job_id)
                count[0] += 1
                if status.status.value == "ready":
                    run.mark(str(job_id))
                if run.stop.is_set():
                    return

    if workers == 1:
        loop(ids)
        return
    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(loop, ids[i::workers]) for i in range(workers)]:
            done.result()


def aiohttp_client(url: str, jobs: list[str], run: Run) -> None:
    import aiohttp

    async def main() -> None:
        tracker = JobTracker()
        count = run.counter()
        connector = aiohttp.TCPConnector(limit=64)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def fetch(job_id: str) -> bytes:
                async with session.get(f"{url}/jobs/{job_id}/status") as response:
                    return await response.read()

            while not run.stop.is_set():
                for start in range(0, len(jobs), 64):
                    chunk = jobs[start : start + 64]
                    bodies = await asyncio.gather(*(fetch(job_id) for job_id in chunk))
                    count[0] += len(chunk)
                    for transition in tracker.update_many(chunk, bodies):
                        if transition.current is Status.READY:
                            run.mark(transition.job_id)

    asyncio.run(main())


def poller_client(url: str, jobs: list[str], run: Run) -> None:
    # Each job is due again a millisecond after its answer: as fast as the others poll.
    with StatusPoller(url, interval=0.001, max_interval=0.001, concurrency=64) as poller:
        run.polls_of = lambda: int(poller.stats()["requests"])
        poller.add(jobs)
        stopper = threading.Thread(target=lambda: (run.stop.wait(), poller.close()))
        stopper.start()
        for batch in poller:
            for transition in batch:
                if transition.current is Status.READY:
                    run.mark(transition.job_id)
        run.stop.set()
        stopper.join()


RUNNERS: dict[str, Callable[[str, list[str], Run], None]] = {
    "iqm-client": iqm_client_loop,
    "iqm-client-threads32": lambda url, jobs, run: iqm_client_loop(url, jobs, run, workers=32),
    "aiohttp-64": aiohttp_client,
    "poller": poller_client,
}


def set_phase(url: str, phase: int) -> None:
    with urllib.request.urlopen(f"{url}/_phase/{phase}", timeout=10) as response:
        response.read()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_for(condition: Callable[[], bool], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the client did not get there in time")
        time.sleep(0.005)


def measure(client: str, url: str, jobs: list[str], seconds: float) -> dict[str, Any]:
    set_phase(url, 0)
    run = Run()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            RUNNERS[client](url, jobs, run)
        except BaseException as exc:
            failure.append(exc)
            raise

    thread = threading.Thread(target=target)
    thread.start()
    try:
        # The first sweep opens the connections; the measured window starts after it.
        wait_for(lambda: run.polls() >= len(jobs) or bool(failure), 120)
        cpu, polls, started = cpu_seconds(), run.polls(), time.monotonic()
        time.sleep(seconds)
        cpu, polls, elapsed = (
            cpu_seconds() - cpu,
            run.polls() - polls,
            time.monotonic() - started,
        )
        set_phase(url, 1)
        flipped = time.monotonic()
        wait_for(lambda: len(run.ready) == len(jobs) or bool(failure), 120)
    finally:
        run.stop.set()
        thread.join(timeout=60)
    assert not failure, failure
    assert sorted(run.ready) == sorted(jobs)
    delays = sorted(at - flipped for at in run.ready.values())
    return {
        "client": client,
        "jobs": len(jobs),
        "polls": polls,
        "seconds": elapsed,
        "polls_per_second": polls / elapsed,
        "cpu_per_poll_us": cpu / polls * 1e6,
        "cpu_share": cpu / elapsed,
        "latency_p50_ms": delays[len(delays) // 2] * 1e3,
        "latency_p99_ms": delays[min(len(delays) - 1, len(delays) * 99 // 100)] * 1e3,
    }


@pytest.mark.parametrize("client", CLIENTS)
def test_poll(benchmark: Any, status_server: str, client: str) -> None:
    if client.startswith("iqm-client"):
        pytest.importorskip("iqm.iqm_client")
    if client.startswith("aiohttp"):
        pytest.importorskip("aiohttp")
    if not benchmark.disabled and not os.environ.get("BENCH_STATUS_SERVER"):
        # Timed against the Python server, the server would be what is measured.
        pytest.skip("timed polling runs need the Rust status server: make bench-poll")
    jobs_count, seconds = (64, 0.3) if benchmark.disabled else (1000, 3.0)
    jobs = [str(uuid.UUID(int=i, version=4)) for i in range(jobs_count)]
    benchmark.group = "poll"
    result = benchmark.pedantic(
        measure, args=(client, status_server, jobs, seconds), rounds=1, iterations=1
    )
    benchmark.extra_info.update(result)
    assert result["polls"] > 0
