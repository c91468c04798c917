"""Client CPU of polling as a scheduler meets it: the status server in another process, answering
at once or after 20 ms, and the whole client process's CPU (``getrusage``, every thread) over
the polls it took.

Scenarios:

- ``one-shot``: the jobs are added, the server answers each ``ready`` at once, and the client
  waits for all of them (for ``StatusPoller``: ``add`` then ``wait()``); CPU per job, from the
  client's construction to the statuses in hand (iqm-client's construction is left out);
- ``steady``: pending jobs polled every 50 ms (``interval = max_interval = 0.05``), measured
  over a window after two sweeps; CPU per poll. Then the server turns every job ``ready`` and
  the client must see each one.

Clients: ``StatusPoller`` (with a thread in ``wait()``), aiohttp with 64 connections and
``JobTracker.update_many``, and iqm-client 17.2's ``get_run_status`` in a loop (on fewer jobs:
it is slow; the figures per poll stay comparable). A figure counts only once every job reached
its status.

``make bench-poll`` runs them against the Rust server of ``benches/status-server`` with its
latency set over HTTP, so that the server's CPU is in another process; ``poll_report.py``
renders the table. ``python -m benches.test_poll_cpu SCENARIO CLIENT`` runs one of them alone
(for profiling; needs ``BENCH_STATUS_SERVER``), and prints the CPU of each thread too.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from iqm_runstatus import JobTracker, Status, StatusPoller

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Scenario:
    steady: bool
    latency_ms: int


SCENARIOS = {
    "one-shot 0 ms": Scenario(steady=False, latency_ms=0),
    "one-shot 20 ms": Scenario(steady=False, latency_ms=20),
    "steady 0 ms": Scenario(steady=True, latency_ms=0),
    "steady 20 ms": Scenario(steady=True, latency_ms=20),
}
CLIENTS = ("poller", "aiohttp-64", "iqm-client")
# Jobs per (kind, client) when timed; iqm-client polls one job at a time, so it gets fewer.
JOBS = {
    ("one-shot", "poller"): 5000,
    ("one-shot", "aiohttp-64"): 5000,
    ("one-shot", "iqm-client"): 200,
    ("steady", "poller"): 1000,
    ("steady", "aiohttp-64"): 1000,
    ("steady", "iqm-client"): 50,
}
INTERVAL = 0.05
WINDOW = 3.0
# How long any step may take before the run counts as failed.
LIMIT = 120.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def thread_ticks() -> dict[int, tuple[str, int]]:
    """(name, user + system clock ticks) of each thread of this process, by thread id."""
    ticks = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks[int(task.name)] = (name, int(fields[11]) + int(fields[12]))
    return ticks


class Window:
    """The CPU of the process, and of each thread, between `start` and `stop`."""

    def start(self) -> None:
        self.threads = thread_ticks()
        self.started, self.cpu = time.monotonic(), cpu_seconds()

    def stop(self) -> None:
        self.cpu = cpu_seconds() - self.cpu
        self.seconds = time.monotonic() - self.started
        after = thread_ticks()
        per_name: dict[str, float] = {}
        tick = os.sysconf("SC_CLK_TCK")
        for tid, (name, ticks) in after.items():
            before = self.threads.get(tid, (name, 0))[1]
            per_name[name] = per_name.get(name, 0.0) + (ticks - before) / tick
        self.per_thread = per_name


def set_on_server(url: str, what: str, value: int) -> None:
    with urllib.request.urlopen(f"{url}/_{what}/{value}", timeout=10) as response:
        response.read()


def wait_for(condition: Callable[[], bool], limit: float = LIMIT) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the client did not get there in time")
        time.sleep(0.01)


def all_ready(jobs: list[str], statuses: dict[str, Any]) -> None:
    """The check every figure passes before it counts."""
    assert sorted(statuses) == sorted(jobs)
    # iqm-client's RunStatus has its own enum: compared by value.
    assert all(status.status.value == Status.READY.value for status in statuses.values())


# One-shot runs: each returns the polls it took, having checked that every job is ready.


def poller_one_shot(url: str, jobs: list[str], window: Window) -> int:
    window.start()
    with StatusPoller(url, concurrency=64) as poller:
        poller.add(jobs)
        statuses = poller.wait(timeout=LIMIT)
    window.stop()
    all_ready(jobs, statuses)
    return int(poller.stats()["requests"])


def aiohttp_one_shot(url: str, jobs: list[str], window: Window) -> int:
    import aiohttp

    async def main() -> dict[str, Any]:
        tracker = JobTracker()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

            async def fetch(job_id: str) -> bytes:
                async with session.get(f"{url}/jobs/{job_id}/status") as response:
                    return await response.read()

            for start in range(0, len(jobs), 64):
                chunk = jobs[start : start + 64]
                tracker.update_many(chunk, await asyncio.gather(*map(fetch, chunk)))
        return {job_id: tracker.status(job_id) for job_id in jobs}

    window.start()
    statuses = asyncio.run(main())
    window.stop()
    all_ready(jobs, statuses)
    return len(jobs)


def iqm_client_one_shot(url: str, jobs: list[str], window: Window) -> int:
    from iqm.iqm_client.iqm_client import IQMClient

    client = IQMClient(url)
    window.start()
    statuses = {job_id: client.get_run_status(uuid.UUID(job_id)) for job_id in jobs}
    window.stop()
    all_ready(jobs, statuses)
    return len(jobs)


ONE_SHOT: dict[str, Callable[[str, list[str], Window], int]] = {
    "poller": poller_one_shot,
    "aiohttp-64": aiohttp_one_shot,
    "iqm-client": iqm_client_one_shot,
}


# Steady runs: each polls every job every INTERVAL until every job is ready, counting its
# polls in `polls[0]`, and returns the final statuses.


def poller_steady(url: str, jobs: list[str], polls: list[Callable[[], int]]) -> dict[str, Any]:
    # Enough requests in flight to keep the interval at the server's latency.
    with StatusPoller(
        url, interval=INTERVAL, max_interval=INTERVAL, concurrency=len(jobs)
    ) as poller:
        polls.append(lambda: int(poller.stats()["requests"]))
        poller.add(jobs)
        return dict(poller.wait(timeout=LIMIT * 2))


def aiohttp_steady(url: str, jobs: list[str], polls: list[Callable[[], int]]) -> dict[str, Any]:
    import aiohttp

    count = [0]
    polls.append(lambda: count[0])

    async def main() -> dict[str, Any]:
        tracker = JobTracker()
        ready: set[str] = set()
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

            async def fetch(job_id: str) -> bytes:
                async with session.get(f"{url}/jobs/{job_id}/status") as response:
                    return await response.read()

            while len(ready) < len(jobs):
                started = loop.time()
                pending = [job_id for job_id in jobs if job_id not in ready]
                for start in range(0, len(pending), 64):
                    chunk = pending[start : start + 64]
                    bodies = await asyncio.gather(*map(fetch, chunk))
                    count[0] += len(chunk)
                    for transition in tracker.update_many(chunk, bodies):
                        if transition.current is Status.READY:
                            ready.add(transition.job_id)
                await asyncio.sleep(max(0.0, started + INTERVAL - loop.time()))
        return {job_id: tracker.status(job_id) for job_id in jobs}

    return asyncio.run(main())


def iqm_client_steady(url: str, jobs: list[str], polls: list[Callable[[], int]]) -> dict[str, Any]:
    from iqm.iqm_client.iqm_client import IQMClient

    client = IQMClient(url)
    count = [0]
    polls.append(lambda: count[0])
    statuses: dict[str, Any] = {}
    while len(statuses) < len(jobs):
        started = time.monotonic()
        for job_id in jobs:
            if job_id in statuses:
                continue
            status = client.get_run_status(uuid.UUID(job_id))
            count[0] += 1
            if status.status.value == "ready":
                statuses[job_id] = status
        time.sleep(max(0.0, started + INTERVAL - time.monotonic()))
    return statuses


STEADY: dict[str, Callable[[str, list[str], list[Callable[[], int]]], dict[str, Any]]] = {
    "poller": poller_steady,
    "aiohttp-64": aiohttp_steady,
    "iqm-client": iqm_client_steady,
}


def steady(client: str, url: str, jobs: list[str], window: Window, seconds: float) -> int:
    polls: list[Callable[[], int]] = []
    outcome: dict[str, Any] = {}
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.update(STEADY[client](url, jobs, polls))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    try:
        wait_for(lambda: bool(failure) or (bool(polls) and polls[0]() >= 2 * len(jobs)))
        assert not failure, failure
        before = polls[0]()
        window.start()
        time.sleep(seconds)
        window.stop()
        taken = polls[0]() - before
    finally:
        set_on_server(url, "phase", 1)
        thread.join(timeout=LIMIT)
    assert not thread.is_alive(), "the client did not see every job ready"
    assert not failure, failure
    all_ready(jobs, outcome)
    return taken


def measure(
    scenario: str, client: str, url: str, jobs_count: int, seconds: float
) -> dict[str, Any]:
    setting = SCENARIOS[scenario]
    jobs = [str(uuid.UUID(int=i, version=4)) for i in range(jobs_count)]
    set_on_server(url, "latency", setting.latency_ms)
    set_on_server(url, "phase", 0 if setting.steady else 1)
    window = Window()
    if setting.steady:
        polls = steady(client, url, jobs, window, seconds)
    else:
        polls = ONE_SHOT[client](url, jobs, window)
        assert polls == len(jobs), f"{polls} polls for {len(jobs)} jobs answered at once"
    assert polls > 0
    return {
        "scenario": scenario,
        "client": client,
        "jobs": jobs_count,
        "polls": polls,
        "seconds": window.seconds,
        "polls_per_second": polls / window.seconds,
        "cpu_per_poll_us": window.cpu / polls * 1e6,
        "cpu_share": window.cpu / window.seconds,
        "threads_us_per_poll": {
            name: cpu / polls * 1e6 for name, cpu in sorted(window.per_thread.items()) if cpu
        },
    }


@pytest.mark.timeout(600)
@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_poll_cpu(benchmark: Any, status_server: str, scenario: str, client: str) -> None:
    if client == "iqm-client":
        pytest.importorskip("iqm.iqm_client")
    if client == "aiohttp-64":
        pytest.importorskip("aiohttp")
    if not benchmark.disabled and not os.environ.get("BENCH_STATUS_SERVER"):
        pytest.skip("timed polling runs need the Rust status server: make bench-poll")
    kind = "steady" if SCENARIOS[scenario].steady else "one-shot"
    jobs, seconds = (16, 0.2) if benchmark.disabled else (JOBS[kind, client], WINDOW)
    benchmark.group = "poll-cpu"
    result = benchmark.pedantic(
        measure, args=(scenario, client, status_server, jobs, seconds), rounds=1, iterations=1
    )
    benchmark.extra_info.update(result)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[0] not in SCENARIOS or argv[1] not in CLIENTS:
        print(f"usage: SCENARIO ({', '.join(SCENARIOS)}) CLIENT ({', '.join(CLIENTS)}) [jobs]")
        return 2
    scenario, client = argv[0], argv[1]
    kind = "steady" if SCENARIOS[scenario].steady else "one-shot"
    jobs = int(argv[2]) if len(argv) == 3 else JOBS[kind, client]
    binary = os.environ["BENCH_STATUS_SERVER"]
    server = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        result = measure(scenario, client, url, jobs, WINDOW)
    finally:
        server.kill()
        server.wait(timeout=10)
    for key, value in result.items():
        print(f"{key}: {value:.1f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
