"""iqm-client 17.2's ``Status`` and ``RunStatus``, copied from ``iqm/iqm_client/iqm_client.py``
(only the quotes reformatted), for the interpreters that release does not install on (CPython
3.12 on).

With ``IQM_RUNSTATUS_ORACLE=pure`` the tests that compare classes (shape, schema, docstrings,
instances, pickling) compare with these. ``test_oracles.py`` checks, where the release installs,
that they are indistinguishable from it.
"""

from __future__ import annotations

from enum import Enum
from typing import Optional, Union

from pydantic import BaseModel, Field


class Status(str, Enum):
    """
    Status of a job.
    """

    PENDING_COMPILATION = "pending compilation"
    PENDING_EXECUTION = "pending execution"
    READY = "ready"
    FAILED = "failed"
    ABORTED = "aborted"


class RunStatus(BaseModel):
    """Status of a circuit execution job."""

    status: Status = Field(...)
    """current status of the job, in ``{'pending compilation', 'pending execution', 'ready', 'failed', 'aborted'}``"""  # noqa: E501
    message: Optional[str] = Field(None)
    """if the job failed, an error message"""
    warnings: Optional[list[str]] = Field(None)
    """list of warning messages"""

    @staticmethod
    def from_dict(inp: dict[str, Union[str, dict]]) -> RunStatus:
        """Parses the result from a dict.

        Args:
            inp: value to parse, has to map to RunResult

        Returns:
            parsed job status

        """
        input_copy = inp.copy()
        return RunStatus(status=Status(input_copy.pop("status")), **input_copy)
