"""``iqm-runstatus watch``: polls a server for the jobs of a file with `StatusPoller` and prints
each transition, as text or NDJSON; on a terminal, a live count per status (tqdm, optional)."""

from __future__ import annotations

import json
import select
import sys
from collections.abc import Iterator
from typing import Any, Optional, TextIO

from ._model import TERMINAL_STATUSES, Status
from ._poller import StatusPoller
from ._records import Transition

# How long `watch` waits for a change before it looks all the same (a header refresh that falls
# due wakes no one).
IDLE_SECONDS = 1.0


def read_job_ids(stream: TextIO) -> list[str]:
    """One job id a line; surrounding whitespace and blank lines are ignored."""
    return [line.strip() for line in stream if line.strip()]


def _progress(total: int, force: bool) -> Any:
    """A tqdm bar on stderr counting settled jobs, or None (no terminal, or no tqdm)."""
    if not (force or sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="job", file=sys.stderr, dynamic_ncols=True)


def _counts_text(counts: dict[Status, int], given_up: int) -> str:
    parts = [f"{status.value} {n}" for status, n in counts.items() if n]
    if given_up:
        parts.append(f"given up {given_up}")
    return ", ".join(parts)


def _changes(poller: StatusPoller) -> Iterator[list[Transition]]:
    """The poller's transitions as they come, and an empty list whenever something else changed
    (a body rejected, a job given up), until every job is terminal or given up."""
    while True:
        # Emptied before looking, so that any change after the look signals it again.
        fd = poller._wakeup_fd()
        poller._drain_wakeup()
        batch = poller._next_ready()
        if batch is None:
            return
        yield batch
        if not batch and fd >= 0:
            # Woken by any change; the idle limit lets a header refresh that falls due run.
            select.select([fd], [], [], IDLE_SECONDS)


def watch(
    base_url: str,
    job_ids: list[str],
    *,
    as_json: bool,
    token: Optional[str],
    settings: dict[str, Any],
    progress: bool,
    force_progress: bool,
    out: TextIO,
) -> int:
    """Polls until every job is terminal or given up: 0 if all are terminal, 1 otherwise.

    Prints each transition, each rejected body (once for each new rejection of a job) and each
    job given up. With ``as_json`` every record has the same fields: ``event``
    (``transition``, ``rejected`` or ``given_up``), ``job_id``, ``previous`` and ``current``
    (the statuses of a transition, else ``None``), and ``reason`` (what was wrong, else
    ``None``).
    """
    bar = _progress(len(set(job_ids)), force_progress) if progress else None
    reported: set[str] = set()
    rejected: dict[str, tuple[str, str]] = {}

    def write(event: str, job_id: str, text: str, **fields: Optional[str]) -> None:
        if as_json:
            record = {"event": event, "job_id": job_id, "previous": None, "current": None}
            record.update(fields)
            record.setdefault("reason", None)
            out.write(json.dumps(record) + "\n")
        else:
            out.write(f"{job_id}: {text}\n")

    def report_failures(poller: StatusPoller) -> None:
        for job_id, reason in poller.failed.items():
            if job_id in reported:
                continue
            reported.add(job_id)
            write("given_up", job_id, f"given up: {reason}", reason=reason)

    def report_rejections(poller: StatusPoller) -> None:
        current = {error.job_id: (error.error_type, error.message) for error in poller.errors}
        for job_id, error in current.items():
            if rejected.get(job_id) != error:
                reason = f"{error[0]}: {error[1]}"
                write("rejected", job_id, f"body rejected: {reason}", reason=reason)
        rejected.clear()
        rejected.update(current)

    def show(transition: Transition) -> None:
        previous = None if transition.previous is None else transition.previous.value
        current = transition.current.value
        text = f"{previous or '-'} -> {current}"
        write("transition", transition.job_id, text, previous=previous, current=current)

    try:
        with StatusPoller(base_url, token=token, **settings) as poller:
            poller.add(job_ids)
            for batch in _changes(poller):
                for transition in batch:
                    show(transition)
                report_rejections(poller)
                report_failures(poller)
                out.flush()
                if bar is not None:
                    counts = poller.tracker.counts()
                    terminal = sum(n for status, n in counts.items() if status in TERMINAL_STATUSES)
                    bar.n = terminal + len(poller.failed)
                    bar.set_postfix_str(_counts_text(counts, len(poller.failed)))
            report_rejections(poller)
            report_failures(poller)
            if bar is not None:
                bar.n = bar.total
                bar.set_postfix_str(_counts_text(poller.tracker.counts(), len(poller.failed)))
            out.flush()
            return 1 if poller.failed else 0
    finally:
        if bar is not None:
            bar.close()
