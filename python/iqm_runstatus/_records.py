"""The named tuples the tracker returns: a job's status change, and a rejected payload."""

from __future__ import annotations

from typing import NamedTuple, Optional

from ._model import Status

__all__ = ["TrackerError", "Transition"]


class Transition(NamedTuple):
    """A job whose status changed in an update."""

    job_id: str
    """the job's id, as stored (a UUID as ``str(uuid)``)"""
    previous: Optional[Status]
    """its status before the update; ``None`` for a job seen for the first time"""
    current: Status
    """its status now"""


class TrackerError(NamedTuple):
    """A payload an update rejected; the job keeps its last good status."""

    job_id: str
    """the job's id, as stored"""
    error_type: str
    """the name of the exception ``RunStatus.from_json`` raises for the payload"""
    message: str
    """that exception's message"""
