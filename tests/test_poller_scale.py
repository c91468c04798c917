"""`StatusPoller` with 10^5 jobs added at once, against a loopback server in another process;
the memory a job costs is measured and printed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pytest
from iqm_runstatus import Status, StatusPoller

# An asyncio server in its own process (its own GIL): every job is ready, over keep-alive.
SERVER = textwrap.dedent(
    """
    import asyncio, sys

    BODY = b'{"status": "ready"}'
    RESPONSE = b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(BODY), BODY)

    async def serve(reader, writer):
        buffer = b""
        while True:
            data = await reader.read(65536)
            if not data:
                break
            buffer += data
            count = buffer.count(b"\\r\\n\\r\\n")
            buffer = buffer[buffer.rfind(b"\\r\\n\\r\\n") + 4 :] if count else buffer
            writer.write(RESPONSE * count)
        writer.close()

    async def main():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())
    """
)


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest.mark.slow
def test_a_hundred_thousand_jobs_added_at_once():
    count = 100_000
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        ids = [str(uuid.UUID(int=i, version=4)) for i in range(count)]
        with StatusPoller(f"http://127.0.0.1:{port}", timeout=30.0) as poller:
            before = resident_bytes()
            poller.add(ids)
            added = resident_bytes()
            statuses = poller.wait()
            polled = resident_bytes()
            assert len(statuses) == count
            assert poller.tracker.counts()[Status.READY] == count
            assert poller.failed == {}
            stats = poller.stats()
            assert stats["requests"] == count
            assert set(stats["polls"].values()) == {1}
            del statuses, stats
            transitions = sum(len(batch) for batch in poller)
            assert transitions == count
        per_job_added = (added - before) / count
        per_job_polled = (polled - before) / count
        print(
            f"\\n10^5 jobs: {per_job_added:.0f} bytes a job once added, "
            f"{per_job_polled:.0f} bytes a job polled (schedule, tracker and {count} "
            f"RunStatus objects returned by wait)"
        )
        # The schedule and the tracker: a few hundred bytes a job, not kilobytes.
        assert per_job_added < 1024
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
