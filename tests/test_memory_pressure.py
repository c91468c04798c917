"""Threads the package starts, when memory is short: a thread that cannot start is an
exception that names it, never an abort, and a thread's stack is the size the package sets,
whatever `RUST_MIN_STACK` says. (Parses under `RLIMIT_AS` are in `test_hostile_batch.py`.)

Each case runs in a fresh interpreter: its address-space limit or environment is its own.
"""

from __future__ import annotations

import os

from support.scripts import run_reporting_script

START_UNDER_A_LIMIT = """
import json, resource
from iqm_runstatus import StatusPoller

def mapped():
    with open("/proc/self/status") as status:
        for field in status:
            if field.startswith("VmSize:"):
                return int(field.split()[1]) * 1024

poller = StatusPoller("http://127.0.0.1:9", max_retries=0)
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
# Less room than one thread stack: the network thread cannot start.
resource.setrlimit(resource.RLIMIT_AS, (mapped() + (1 << 20), hard))
try:
    poller.add("job")
    report = {"first": "started"}
except (RuntimeError, MemoryError) as exc:
    report = {"first": f"{type(exc).__name__}: {exc}"}
finally:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
poller.add("job")  # raises, and the script fails, if the thread does not start now
report["then"] = "started"
poller.close()
print(json.dumps(report))
"""


def test_a_poller_thread_that_cannot_start_raises_runtime_error_naming_it() -> None:
    """Under an address-space limit too tight for a thread stack, `add` raises RuntimeError
    saying the poller's thread did not start (asserted: the failure did happen), and once the
    limit is lifted the same poller starts and polls."""
    report = run_reporting_script(START_UNDER_A_LIMIT)
    assert report["first"].startswith("RuntimeError: the poller's thread did not start"), report
    assert report["then"] == "started"


START_WITH_A_HUGE_MIN_STACK = """
import json
from iqm_runstatus import StatusPoller
poller = StatusPoller("http://127.0.0.1:9", max_retries=0, interval=0.01, timeout=1.0)
try:
    poller.add("job")
    for _ in poller:
        pass
    report = {"outcome": "started", "requests": poller.stats()["requests"]}
except Exception as exc:
    report = {"outcome": f"{type(exc).__name__}: {exc}"}
poller.close()
print(json.dumps(report))
"""


def test_thread_stacks_are_sized_whatever_rust_min_stack_says() -> None:
    """With `RUST_MIN_STACK` at 1 TiB, a stack no system maps, the poller's thread starts and
    polls (its stack size is the package's own); it inherited that size, and did not start,
    before."""
    env = {**os.environ, "RUST_MIN_STACK": str(1 << 40)}
    report = run_reporting_script(START_WITH_A_HUGE_MIN_STACK, env=env)
    assert report == {"outcome": "started", "requests": 1}
