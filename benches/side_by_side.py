"""This checkout against another git revision, side by side in one run.

``make bench-against REV=<revision>`` (or ``python -m benches.side_by_side REV``) builds REV's
wheel into ``build/against/<commit>/`` (kept for the next run), then times the same calls on
the same inputs in two worker processes, one importing this checkout's build and one REV's,
alternating between them round after round, and prints each call's median time on both sides
and their ratio. ``--callgrind`` also counts each call's instructions under valgrind, which no
other load on the machine changes.

Both sides use the vocabulary of ``--release`` (17.2 unless given), set through
``IQM_RUNSTATUS_CLIENT_RELEASE`` (a revision from before that variable uses the seed's, which
is 17.2's). The inputs are made once, here, and handed to both workers.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Each call is timed in windows of about this long; a window's calls run in a plain loop.
WINDOW_SECONDS = 0.02
# The batch size of the batch calls.
BATCH = 10**4

# The calls compared: (name, statement on `arg`, input key). A batch call's `threads=1` keeps
# thread scheduling out of the comparison.
SINGLE_CALLS = (
    ("from_json", "RunStatus.from_json(arg)", "raw"),
    ("from_dict", "RunStatus.from_dict(arg)", "dict"),
)
BATCH_CALLS = (
    ("batch counts", "StatusBatch.from_payloads(arg, threads=1).counts()", "payloads"),
    ("batch to_list", "parse_many(arg, threads=1)", "valid"),
    ("batch ndjson counts", "StatusBatch.from_ndjson(arg, threads=1).counts()", "ndjson"),
)
TRACKER = "tracker second poll"

# Runs in each side's interpreter: reads the inputs, then answers "<case> <calls>" lines on
# stdin with the nanoseconds those calls took. With a third argument it runs that many calls of
# one case and exits, for callgrind.
WORKER = r"""
import json, pickle, sys, time
import iqm_runstatus
from iqm_runstatus import JobTracker, RunStatus, StatusBatch, parse_many

with open(sys.argv[1], "rb") as f:
    inputs = pickle.load(f)
cases = {}
for name, statement, key in inputs["calls"]:
    source = "def run(arg, calls):\n    for _ in calls:\n        " + statement + "\n"
    namespace = {"RunStatus": RunStatus, "StatusBatch": StatusBatch, "parse_many": parse_many}
    exec(compile(source, name, "exec"), namespace)
    cases[name] = (namespace["run"], inputs["args"][key])

def tracker_poll(arg, calls):
    ids, first, second = arg
    spent = 0
    for _ in calls:
        tracker = JobTracker()
        tracker.update_many(ids, first, threads=1)
        start = time.perf_counter_ns()
        tracker.update_many(ids, second, threads=1)
        spent += time.perf_counter_ns() - start
    return spent

def timed(name, count):
    run, arg = cases[name]
    if run is tracker_poll:
        return run(arg, range(count))
    start = time.perf_counter_ns()
    run(arg, range(count))
    return time.perf_counter_ns() - start

cases[inputs["tracker"]] = (tracker_poll, inputs["args"]["tracker"])
vocabulary = [member.value for member in iqm_runstatus.Status]
if len(sys.argv) > 2:
    name, count = sys.argv[2], int(sys.argv[3])
    timed(name, count)
    sys.exit(0)
print(json.dumps({"package": iqm_runstatus.__file__, "vocabulary": vocabulary}), flush=True)
for line in sys.stdin:
    name, count = line.rsplit(" ", 1)
    print(timed(name, int(count)), flush=True)
"""


def build_revision(revision: str) -> Path:
    """The folder holding REV's installed package (built once per commit), for PYTHONPATH."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{revision}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    home = ROOT / "build" / "against" / commit[:12]
    site = home / "site"
    if (site / "iqm_runstatus").is_dir():
        return site
    shutil.rmtree(home, ignore_errors=True)
    source = home / "source"
    source.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", commit], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    print(f"building {revision} ({commit[:12]}) into {home.relative_to(ROOT)}", flush=True)
    # A target folder of its own: the dependencies compile once, and this checkout's build
    # is never overwritten by the other revision's.
    env = dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target" / "against"))
    maturin = Path(sys.executable).parent / "maturin"
    wheels = home / "wheel"
    subprocess.run(
        [
            str(maturin),
            "build",
            "--quiet",
            "--release",
            "--interpreter",
            sys.executable,
            "--out",
            str(wheels),
        ],
        cwd=source,
        env=env,
        check=True,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(site),
            *map(str, wheels.glob("*.whl")),
        ],
        check=True,
    )
    return site


def make_inputs() -> dict[str, Any]:
    """The calls and their inputs, from this checkout's generator and vocabulary."""
    from iqm_runstatus._model import TERMINAL_STATUSES, Status
    from iqm_runstatus._workload import THREE_PAYLOADS, generate_payloads

    args: dict[str, Any] = {}
    calls = []
    for payload, raw in THREE_PAYLOADS.items():
        for name, statement, key in SINGLE_CALLS:
            case = f"{name} {payload} ({len(raw)} B)"
            args[case] = raw if key == "raw" else json.loads(raw)
            calls.append((case, statement, case))
    payloads = generate_payloads(BATCH, seed=1, invalid_rate=0.001)
    valid = generate_payloads(BATCH, seed=1)
    args.update(payloads=payloads, valid=valid, ndjson=b"\n".join(valid) + b"\n")
    calls += list(BATCH_CALLS)
    # The second poll: every tenth job changed, ready to running and anything else to ready.
    running = next(s for s in Status if s not in TERMINAL_STATUSES)
    ready = json.dumps({"status": "ready"}).encode()
    moved = json.dumps({"status": running.value}).encode()
    second = [
        (moved if b'"ready"' in raw else ready) if i % 10 == 0 else raw
        for i, raw in enumerate(payloads)
    ]
    args["tracker"] = ([f"job-{i:07d}" for i in range(BATCH)], payloads, second)
    return {"calls": calls, "args": args, "tracker": TRACKER}


class Worker:
    """One side's interpreter, answering timing requests."""

    def __init__(self, label: str, env: dict[str, str], inputs: Path) -> None:
        self.label = label
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(inputs)],
            env=env,
            cwd=inputs.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.hello = json.loads(self.process.stdout.readline())

    def time(self, case: str, calls: int) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{case} {calls}\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()


def calibrate(worker: Worker, case: str) -> int:
    """Calls per window: enough for about `WINDOW_SECONDS`."""
    calls = 1
    while True:
        spent = worker.time(case, calls)
        if spent >= WINDOW_SECONDS * 1e9 / 4 or calls >= 1 << 20:
            return max(1, round(calls * WINDOW_SECONDS * 1e9 / max(spent, 1)))
        calls *= 4


def instructions(env: dict[str, str], inputs: Path, case: str, calls: int) -> int:
    """Instructions of one process that makes `calls` calls of `case`, start to exit."""
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}/callgrind.out",
                sys.executable,
                "-c",
                WORKER,
                str(inputs),
                case,
                str(calls),
            ],
            env=env,
            cwd=inputs.parent,
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind:\n{result.stderr}")
    return int(found.group(1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benches.side_by_side", description=__doc__)
    parser.add_argument("revision", help="the git revision to compare with, such as a commit")
    parser.add_argument("--release", default="17.2", help="the client release's vocabulary")
    parser.add_argument("--rounds", type=int, default=15, help="timing rounds per call")
    parser.add_argument(
        "--callgrind", action="store_true", help="also count instructions a call (valgrind)"
    )
    args = parser.parse_args(argv)
    if args.callgrind and shutil.which("valgrind") is None:
        parser.error("--callgrind needs valgrind (apt-get install valgrind)")
    site = build_revision(args.revision)

    os.environ["IQM_RUNSTATUS_CLIENT_RELEASE"] = args.release
    inputs = make_inputs()
    base_env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IQM_RUNSTATUS_PURE")
    }
    base_env.update(PYTHONHASHSEED="0", IQM_RUNSTATUS_CLIENT_RELEASE=args.release)
    sides = {
        "new": base_env,
        "old": dict(base_env, PYTHONPATH=str(site)),
    }
    cases = [name for name, _, _ in inputs["calls"]] + [TRACKER]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "inputs.pickle"
        path.write_bytes(pickle.dumps(inputs))
        workers = {label: Worker(label, env, path) for label, env in sides.items()}
        try:
            for label, worker in workers.items():
                print(f"{label}: {worker.hello['package']}")
            if workers["old"].hello["vocabulary"] != workers["new"].hello["vocabulary"]:
                raise SystemExit(
                    "the two sides use different vocabularies: "
                    f"{workers['old'].hello['vocabulary']} and {workers['new'].hello['vocabulary']}"
                )
            if str(site) not in workers["old"].hello["package"]:
                raise SystemExit(f"the old side did not import the build in {site}")
            per_window = {case: calibrate(workers["new"], case) for case in cases}
            times: dict[str, dict[str, list[float]]] = {c: {"old": [], "new": []} for c in cases}
            for round_number in range(args.rounds):
                # Alternating which side goes first, so that a drift in load hits both alike.
                order = ("old", "new") if round_number % 2 == 0 else ("new", "old")
                for case in cases:
                    for label in order:
                        spent = workers[label].time(case, per_window[case])
                        times[case][label].append(spent / per_window[case])
        finally:
            for worker in workers.values():
                worker.close()

        counts: dict[str, dict[str, float]] = {}
        if args.callgrind:
            batch_cases = {name for name, _, _ in BATCH_CALLS} | {TRACKER}
            for case in cases:
                # The instructions of many calls less those of a few: the import, the set-up
                # and the first calls' warm-up (caches, the allocator's pools) cancel out.
                few, many = (2, 12) if case in batch_cases else (1000, 21000)
                counts[case] = {
                    label: (
                        instructions(env, path, case, many) - instructions(env, path, case, few)
                    )
                    / (many - few)
                    for label, env in sides.items()
                }

    print(f"\n{args.revision} (old) against this checkout (new), vocabulary of {args.release}:")
    print(f"fastest of {args.rounds} alternating windows (load only adds time); time per call")
    width = max(map(len, cases))
    header = f"{'call':<{width}} {'old':>12} {'new':>12} {'new/old':>8}"
    if counts:
        header += f" {'old instr':>12} {'new instr':>12} {'new/old':>8}"
    print(header)
    for case in cases:
        old = min(times[case]["old"])
        new = min(times[case]["new"])
        line = f"{case:<{width}} {_duration(old):>12} {_duration(new):>12} {new / old:>8.3f}"
        if counts:
            old_count, new_count = counts[case]["old"], counts[case]["new"]
            line += f" {old_count:>12,.0f} {new_count:>12,.0f} {new_count / old_count:>8.3f}"
        print(line)
    return 0


def _duration(nanoseconds: float) -> str:
    if nanoseconds >= 1e6:
        return f"{nanoseconds / 1e6:,.2f} ms"
    if nanoseconds >= 1e3:
        return f"{nanoseconds / 1e3:,.2f} us"
    return f"{nanoseconds:,.0f} ns"


if __name__ == "__main__":
    sys.exit(main())
