"""``iqm-runstatus watch``: polls a server for the jobs of a file with `StatusPoller` and prints
each transition, as text or NDJSON; on a terminal, a live count per status (tqdm, optional)."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional, TextIO

from ._model import TERMINAL_STATUSES, Status
from ._poller import StatusPoller
from ._records import Transition


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
    """Polls until every job is terminal or given up: 0 if all are terminal, 1 otherwise."""
    bar = _progress(len(set(job_ids)), force_progress) if progress else None
    reported: set[str] = set()

    def report_failures(poller: StatusPoller) -> None:
        for job_id, reason in poller.failed.items():
            if job_id in reported:
                continue
            reported.add(job_id)
            if as_json:
                out.write(json.dumps({"job_id": job_id, "given_up": reason}) + "\n")
            else:
                out.write(f"{job_id}: given up: {reason}\n")

    def show(transition: Transition) -> None:
        previous = None if transition.previous is None else transition.previous.value
        if as_json:
            record = {
                "job_id": transition.job_id,
                "previous": previous,
                "current": transition.current.value,
            }
            out.write(json.dumps(record) + "\n")
        else:
            out.write(f"{transition.job_id}: {previous or '-'} -> {transition.current.value}\n")

    try:
        with StatusPoller(base_url, token=token, **settings) as poller:
            poller.add(job_ids)
            for batch in poller:
                for transition in batch:
                    show(transition)
                report_failures(poller)
                out.flush()
                if bar is not None:
                    counts = poller.tracker.counts()
                    terminal = sum(n for status, n in counts.items() if status in TERMINAL_STATUSES)
                    bar.n = terminal + len(poller.failed)
                    bar.set_postfix_str(_counts_text(counts, len(poller.failed)))
            report_failures(poller)
            if bar is not None:
                bar.n = bar.total
                bar.set_postfix_str(_counts_text(poller.tracker.counts(), len(poller.failed)))
            out.flush()
            return 1 if poller.failed else 0
    finally:
        if bar is not None:
            bar.close()
