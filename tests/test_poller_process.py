"""`StatusPoller` across processes and event loops: fork, Ctrl-C and asyncio. The fork and
signal tests run in subprocesses of their own, since they could take the interpreter down."""

from __future__ import annotations

import asyncio
import subprocess
import textwrap
import time
from pathlib import Path

from iqm_runstatus import Status, StatusPoller, Transition
from poller_support import StatusServer
from support.scripts import run_python

TESTS = Path(__file__).parent


def run_script(source: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return run_python(
        "-c", textwrap.dedent(source), *args, timeout=timeout, cwd=TESTS, returncode=None
    )


def test_a_forked_child_gets_a_clear_error_and_can_poll_anew():
    result = run_script(
        """
        import os, sys
        from iqm_runstatus import StatusPoller, Status
        from poller_support import StatusServer

        server = StatusServer()
        server.set("a", "pending compilation")
        server.set("b", "ready")
        poller = StatusPoller(server.url, interval=0.02, max_interval=0.05)
        poller.add("a")
        assert next(poller)[0].current is Status.PENDING_COMPILATION
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for call in (lambda: poller.add("b"), lambda: next(poller), poller.wait,
                             poller.stats):
                    try:
                        call()
                        code = 3
                    except RuntimeError as exc:
                        assert "did not survive fork" in str(exc), exc
                poller.close()  # nothing to join here, and no hang
                fresh = StatusPoller(server.url, interval=0.02)
                fresh.add("b")
                assert fresh.wait()["b"].status is Status.READY
                fresh.close()
            except BaseException as exc:
                print("child:", repr(exc), flush=True)
                code = 4
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        server.set("a", "ready")
        assert poller.wait()["a"].status is Status.READY
        poller.close()
        print("ok")
        """
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok"), result.stdout + result.stderr


def test_a_forked_child_never_hangs_on_the_tracker_the_poller_feeds():
    # The poller's thread takes the tracker's lock for each answer; a fork at that moment
    # leaves the lock held in the child, where that thread no longer exists. The child must
    # then get a clear error, not wait for ever. Many forks during busy polling catch it.
    result = run_script(
        """
        import os, time
        from iqm_runstatus import StatusPoller
        from poller_support import StatusServer

        server = StatusServer()
        ids = [f"job-{i}" for i in range(200)]
        for job in ids:
            server.set(job, "pending compilation")
        poller = StatusPoller(server.url, interval=0.001, max_interval=0.001)
        poller.add(ids)
        tracker = poller.tracker
        deadline = time.monotonic() + 10
        while len(tracker) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.01)
        outcomes = {"read": 0, "error": 0}
        for _ in range(200):
            pid = os.fork()
            if pid == 0:
                try:
                    len(tracker)
                    code = 10
                except RuntimeError as exc:
                    code = 11 if "did not survive fork()" in str(exc) else 3
                except BaseException:
                    code = 4
                os._exit(code)
            deadline = time.monotonic() + 10
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    raise SystemExit("a forked child hung on the tracker")
                time.sleep(0.001)
            code = os.waitstatus_to_exitcode(status)
            assert code in (10, 11), code
            outcomes["read" if code == 10 else "error"] += 1
        poller.close()
        print("ok", outcomes)
        """,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout, result.stdout + result.stderr


def test_ctrl_c_interrupts_iteration_and_wait_quickly():
    result = run_script(
        """
        import os, signal, threading, time
        from iqm_runstatus import StatusPoller
        from poller_support import StatusServer

        server = StatusServer()
        server.set("a", "pending compilation")
        poller = StatusPoller(server.url, interval=0.05, max_interval=0.05)
        poller.add("a")
        delays = []
        for wait in (lambda: list(poller), lambda: poller.wait()):
            sent = []
            def interrupt():
                time.sleep(0.3)
                sent.append(time.monotonic())
                os.kill(os.getpid(), signal.SIGINT)
            threading.Thread(target=interrupt).start()
            try:
                wait()
            except KeyboardInterrupt:
                delays.append(time.monotonic() - sent[0])
        poller.close()
        print(" ".join(f"{delay:.3f}" for delay in delays))
        """
    )
    assert result.returncode == 0, result.stdout + result.stderr
    delays = [float(delay) for delay in result.stdout.split()]
    assert len(delays) == 2
    # The promise is 100 ms (the wait sleeps in 20 ms slices between checks for signals); the
    # bound leaves wide slack for a loaded machine, and still fails a wait that ignores Ctrl-C.
    assert all(delay < 0.5 for delay in delays), delays


def test_async_for_does_not_block_the_event_loop():
    with StatusServer() as server:
        for job in ("a", "b"):
            server.set(job, "pending compilation")

        async def main() -> tuple[list[Transition], int]:
            ticks = 0
            stop = asyncio.Event()

            async def ticker() -> None:
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticking = asyncio.create_task(ticker())
            seen: list[Transition] = []
            with StatusPoller(server.url, interval=0.05, max_interval=0.1) as poller:
                poller.add(["a", "b"])
                async for batch in poller:
                    seen.extend(batch)
                    if len(seen) == 2:
                        await asyncio.sleep(0.3)
                        server.set("a", "ready")
                        server.set("b", "failed")
            stop.set()
            await ticking
            return seen, ticks

        started = time.monotonic()
        seen, ticks = asyncio.run(main())
        elapsed = time.monotonic() - started
        assert sorted(seen, key=repr) == sorted(
            [
                Transition("a", None, Status.PENDING_COMPILATION),
                Transition("b", None, Status.PENDING_COMPILATION),
                Transition("a", Status.PENDING_COMPILATION, Status.READY),
                Transition("b", Status.PENDING_COMPILATION, Status.FAILED),
            ],
            key=repr,
        )
        # The ticker ran all along: about one tick per 10 ms of the run, fewer under load.
        assert ticks > elapsed / 0.01 * 0.25, (ticks, elapsed)
