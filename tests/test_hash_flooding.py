"""Hash flooding: distinct strings that a weak hash sends to a few buckets must not make the
batch tools slower than random strings do (``SECURITY.md``, *Hash flooding*).

A batch finds each distinct message and warning by its hash, and a ``JobTracker`` each job by
the hash of its id. The strings here are zero-padded counters, as ids and messages often are,
and strings crafted against the hand-made hash the package once had: a shared prefix and
differences only in the high bytes of the last eight-byte word sent all of them to one bucket
of a batch's table whatever its seed, and interning them was quadratic.

Each case runs in a fresh interpreter (``support.scripts.run_reporting_script``) that checks
the results and reports the time for the patterned strings over the time for as many random
strings of the same length, taken in turns: about 1 with a sound hash, whatever the machine
and its load. With the old hash it was over 100 for crafted messages, about 30 for counters as
messages and about 17 for crafted job ids (counters as job ids were spared). No absolute time
is asserted; ``crates/core/src/columns.rs`` checks the spread of the hash itself on these and other
patterned sets.
"""

from __future__ import annotations

import pytest
from support.scripts import run_reporting_script

# The old hash mixed a few more bits into a job id's hash than into a message's, which spread
# crafted ids over a few dozen buckets rather than one: the tracker needs more of them to show.
COUNTS = {"batch_of_messages": 100_000, "tracker_of_ids": 400_000}

SCRIPT = """
import json, random, time
from iqm_runstatus import JobTracker, Status, StatusBatch

BASE64 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"

def crafted(count):
    # 15 bytes: 11 shared, then the number in four base-64 digits.
    return [
        "Job failed " + "".join(BASE64[(i >> shift) & 63] for shift in (0, 6, 12, 18))
        for i in range(count)
    ]

def counters(count):
    return [f"job-{{i:010d}}" for i in range(count)]

def random_like(texts):
    # As many distinct strings of the same lengths, every character drawn at random.
    draw = random.Random(1).choices
    made = {{"".join(draw(BASE64, k=len(t))) for t in texts}}
    while len(made) < len(texts):
        made.add("".join(draw(BASE64, k=len(texts[0]))))
    return list(made)

def batch_of_messages(texts):
    raw = "".join(json.dumps({{"status": "failed", "message": t}}) + "\\n" for t in texts).encode()
    def run():
        return StatusBatch.from_ndjson(raw)
    def check(batch):
        return len(batch) == len(texts) and all(
            batch[i].message == texts[i] for i in range(0, len(texts), 97)
        )
    return run, check

def tracker_of_ids(texts):
    payloads = [b'{{"status": "ready"}}'] * len(texts)
    def run():
        tracker = JobTracker()
        tracker.update_many(texts, payloads)
        return tracker
    def check(tracker):
        return len(tracker) == len(texts) and all(
            tracker.status(texts[i]).status is Status.READY for i in range(0, len(texts), 97)
        )
    return run, check

def elapsed(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start

patterned = {kind}({count})
control = random_like(patterned)
assert len(set(patterned)) == len(control) == {count}
runs = []
report = {{"checked": True}}
for texts in (patterned, control):
    run, check = {target}(texts)
    report["checked"] &= check(run())
    runs.append(run)
# In turns, so that other load on the machine slows both alike; the fastest of each counts.
times = [[], []]
for _ in range(5):
    for run, taken in zip(runs, times):
        taken.append(elapsed(run))
report["ratio"] = min(times[0]) / min(times[1])
print(json.dumps(report))
"""


@pytest.mark.parametrize("kind", ["crafted", "counters"])
# The tracker needs 400,000 ids to show the old collisions, which takes seconds a case.
# A ratio of two timings: the slow tier's.
@pytest.mark.slow
@pytest.mark.parametrize("target", ["batch_of_messages", "tracker_of_ids"])
def test_patterned_strings_cost_what_random_ones_do(target: str, kind: str) -> None:
    """Distinct patterned strings take under 3 times as long as random ones of the same length
    (about 1 with a sound hash, far more when they collide), and every string is stored and
    found again."""
    report = run_reporting_script(SCRIPT.format(count=COUNTS[target], kind=kind, target=target))
    assert report["checked"]
    assert report["ratio"] < 3
