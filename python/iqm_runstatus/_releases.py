"""The `Status` and `RunStatus` of every iqm-client release from 15.0 to 32.1.1, as data.

`RunStatus` lived, on pydantic 2, from iqm-client 15.0 to 32.1.1 (33.0 removed it; 12.x and
older are pydantic 1), and its `Status` changed along the way. `VOCABULARIES` lists each
distinct version of the two classes with the first release that shipped it; a release uses the
entry of the nearest first release at or below it. Each entry is transcribed from that release's
``iqm/iqm_client/iqm_client.py`` or, from the release that moved them, ``models.py``, in the
source's order and spelling, so that it can be read side by side with it.

Which release's vocabulary this process uses is chosen once, at import, by `choose_release`:
the ``IQM_RUNSTATUS_CLIENT_RELEASE`` environment variable if set, else the installed iqm-client
distribution's version (read from its metadata: importing the client would pull in its large
dependency stack), else 17.2, the seed's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from importlib.machinery import PathFinder
from typing import NamedTuple, Optional

__all__ = [
    "DEFAULT_RELEASE",
    "ENV_VAR",
    "SUPPORTED_RANGE",
    "VOCABULARIES",
    "Choice",
    "Member",
    "Vocabulary",
    "choose_release",
    "installed_client_release",
    "parse_release",
    "vocabulary_for",
]

ENV_VAR = "IQM_RUNSTATUS_CLIENT_RELEASE"
"""Names the iqm-client release whose vocabulary to use, whatever is installed."""

DEFAULT_RELEASE = "17.2"
"""The release whose vocabulary is used when no iqm-client is installed: the seed's."""

SUPPORTED_RANGE = "15.0 to 32.1.1"
"""The iqm-client releases whose `RunStatus` this package mirrors (both ends included)."""


@dataclass(frozen=True)
class Member:
    """One `Status` member: its name, value and the docstring the source gives it (kept for
    reading; Python does not keep an enum member's docstring at run time)."""

    name: str
    value: str
    doc: Optional[str] = None


@dataclass(frozen=True)
class Vocabulary:
    """`Status` and `RunStatus` as one or more consecutive releases define them."""

    first_release: str = field(compare=False)
    """The first release that ships this definition (not compared: 27.0.0 has 25.0.0's)."""
    members: tuple[Member, ...]
    """`Status`'s members, in the source's order."""
    status_doc: str
    """`Status`'s docstring, as written in the source (indentation included)."""
    terminal: tuple[str, ...]
    """Names of the members from which a job does not go on: the release's
    ``Status.terminal_statuses()`` where it has one, else ready, failed and aborted, plus deleted
    and deletion failed where the release has them."""
    has_terminal_statuses: bool
    """Whether `Status` has the classmethod ``terminal_statuses()`` (returning `terminal`)."""
    missing_aliases: tuple[tuple[str, str], ...] = ()
    """What `Status._missing_` maps, as (value, member name) pairs; none: no ``_missing_``."""
    has_from_dict: bool = True
    """Whether the release's `RunStatus` has ``from_dict``. The client parses a status body with
    ``RunStatus.from_dict(response.json())`` where it does, and with
    ``RunStatus.model_validate(response.json())`` where it does not; ``from_json`` follows."""
    status_field_doc: str = (
        "current status of the job, in "
        "``{'pending compilation', 'pending execution', 'ready', 'failed', 'aborted'}``"
    )
    """The docstring of `RunStatus.status` (``message`` and ``warnings`` keep theirs throughout)."""

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(member.value for member in self.members)

    @property
    def terminal_values(self) -> tuple[str, ...]:
        by_name = {member.name: member.value for member in self.members}
        return tuple(by_name[name] for name in self.terminal)


_OLD_STATUS_DOC = "\n    Status of a job.\n    "
_STATUS_DOC = "Status of a job."
_FINAL = ("READY", "FAILED", "ABORTED")
_FINAL_WITH_DELETION = ("READY", "FAILED", "ABORTED", "DELETED", "DELETION_FAILED")
# The five values every release with `terminal_statuses()` returns (its own source's set).
_TERMINAL_STATUSES = ("READY", "FAILED", "ABORTED", "DELETED", "DELETION_FAILED")
_SNAKE_CASE_FIELD_DOC = (
    "current status of the job, in "
    "``{'pending_compilation', 'pending_execution', 'ready', 'failed', 'aborted'}``"
)
# 27.1.0 on: ``if value == "pending execution": return cls.PENDING_EXECUTION``.
_PENDING_EXECUTION_ALIAS = (("pending execution", "PENDING_EXECUTION"),)

_SEED = (
    Member("PENDING_COMPILATION", "pending compilation"),
    Member("PENDING_EXECUTION", "pending execution"),
    Member("READY", "ready"),
    Member("FAILED", "failed"),
    Member("ABORTED", "aborted"),
)
_WITH_DELETION = (
    *_SEED,
    Member("PENDING_DELETION", "pending deletion"),
    Member("DELETION_FAILED", "deletion failed"),
    Member("DELETED", "deleted"),
)
_WITH_INTAKE = (
    Member("RECEIVED", "received"),
    Member("PROCESSING", "processing"),
    Member("ACCEPTED", "accepted"),
    *_WITH_DELETION,
)
_WITH_COMPILED = (
    Member("RECEIVED", "received", "Job has been received but nothing has been done about it."),
    Member("PROCESSING", "processing"),
    Member(
        "ACCEPTED", "accepted", "Job has passed initial checks and will proceed to compilation."
    ),
    Member("PENDING_COMPILATION", "pending compilation", "Job has been queued for compilation."),
    Member(
        "PENDING_EXECUTION",
        "pending execution",
        "Job has been compiled and is queued for execution.",
    ),
    Member("COMPILED", "compiled", "Job has been compiled to a low-level representation."),
    Member("READY", "ready", "Job has been executed and results are available."),
    Member("FAILED", "failed", "Execution or compilation failed."),
    Member("ABORTED", "aborted", "User caneceled the execution."),
    Member("PENDING_DELETION", "pending deletion", "Job is set to be deleted."),
    Member(
        "DELETION_FAILED", "deletion failed", "Job was supposed to be deleted but deletion failed."
    ),
    Member("DELETED", "deleted", "Job deleted from the database."),
    Member("UNKNOWN", "unknown", "Job is in a state not recognized by this version of the client."),
)
_PIPELINE_25 = (
    Member("RECEIVED", "received", "Job has been received but nothing has been done about it."),
    Member("VALIDATING", "validating", "Job is being validated."),
    Member("PROCESSING", "processing"),
    Member(
        "ACCEPTED", "accepted", "Job has passed initial checks and will proceed to compilation."
    ),
    Member(
        "PREPARING_CALIBRATION",
        "preparing_calibration",
        "The calibration is being prepared for the job.",
    ),
    Member("PENDING_COMPILATION", "pending_compilation", "Job has been queued for compilation."),
    Member("COMPILING", "compiling", "The job is being compiled."),
    Member("COMPILED", "compiled", "Job has been compiled to a low-level representation."),
    Member(
        "STORING_SWEEP_METADATA",
        "storing_sweep_metadata",
        "Metadata about the sweep is being saved to the database.",
    ),
    Member("METADATA_STORED", "metadata_stored", "Metadata has been successfully saved."),
    Member(
        "PENDING_EXECUTION",
        "pending_execution",
        "Job has been compiled and is queued for execution.",
    ),
    Member("EXECUTION_START", "execution_start", "The job has begun execution on hardware."),
    Member("EXECUTION_END", "execution_end", "The job has completed execution on hardware."),
    Member(
        "PENDING_POST_PROCESSING",
        "pending_post_processing",
        "The job has finished executing and is pending post-processing.",
    ),
    Member("POST_PROCESSING", "post_processing", "The job results is being post-processed."),
    Member("READY", "ready", "Job has been executed and results are available."),
    Member("FAILED", "failed", "Execution or compilation failed."),
    Member("ABORTED", "aborted", "User cancelled the execution."),
    Member("PENDING_DELETION", "pending deletion", "Job is set to be deleted."),
    Member(
        "DELETION_FAILED", "deletion failed", "Job was supposed to be deleted but deletion failed."
    ),
    Member("DELETED", "deleted", "Job deleted from the database."),
    Member("UNKNOWN", "unknown", "Job is in a state not recognized by this version of the client."),
)
# 26.0.0 only: the pipeline under other names, commented rather than documented in the source.
_PIPELINE_26 = (
    Member("RECEIVED", "received"),
    Member("VALIDATION_STARTED", "validation_started"),
    Member("VALIDATION_ENDED", "validation_ended"),
    Member("FETCH_CALIBRATION_STARTED", "fetch_calibration_started"),
    Member("FETCH_CALIBRATION_ENDED", "fetch_calibration_ended"),
    Member("COMPILATION_STARTED", "compilation_started"),
    Member("COMPILATION_ENDED", "compilation_ended"),
    Member("SAVE_SWEEP_METADATA_STARTED", "save_sweep_metadata_started"),
    Member("SAVE_SWEEP_METADATA_ENDED", "save_sweep_metadata_ended"),
    Member("EXECUTION_PENDING", "execution_pending"),
    Member("EXECUTION_STARTED", "execution_started"),
    Member("EXECUTION_ENDED", "execution_ended"),
    Member("EXECUTION_STAGE_COMPLETED", "execution_completed"),
    Member("POST_PROCESSING_STARTED", "post_processing_started"),
    Member("POST_PROCESSING_ENDED", "post_processing_ended"),
    Member("READY", "ready"),
    Member("FAILED", "failed"),
    Member("ABORTED", "aborted"),
    Member("PENDING_DELETION", "pending deletion", "Job is set to be deleted."),
    Member(
        "DELETION_FAILED", "deletion failed", "Job was supposed to be deleted but deletion failed."
    ),
    Member("DELETED", "deleted", "Job deleted from the database."),
    Member("UNKNOWN", "unknown", "Job is in a state not recognized by this version of the client."),
)
_PIPELINE_28 = (
    Member("RECEIVED", "received", "Job has been received but nothing has been done about it."),
    Member("VALIDATION_STARTED", "validation_started", "Job is being validated."),
    Member("PROCESSING", "processing"),
    Member(
        "VALIDATION_ENDED",
        "validation_ended",
        "Job has passed initial checks and will proceed to compilation.",
    ),
    Member(
        "FETCH_CALIBRATION_STARTED",
        "fetch_calibration_started",
        "The calibration is being fetched for the job.",
    ),
    Member(
        "FETCH_CALIBRATION_ENDED", "fetch_calibration_ended", "Job has been fetched for the job."
    ),
    Member("COMPILATION_STARTED", "compilation_started", "The job is being compiled."),
    Member(
        "COMPILATION_ENDED",
        "compilation_ended",
        "Job has been compiled to a low-level representation.",
    ),
    Member(
        "SAVE_SWEEP_METADATA_STARTED",
        "save_sweep_metadata_started",
        "Metadata about the sweep is being saved to the database.",
    ),
    Member(
        "SAVE_SWEEP_METADATA_ENDED",
        "save_sweep_metadata_ended",
        "Metadata has been successfully saved.",
    ),
    Member(
        "PENDING_EXECUTION",
        "pending_execution",
        "Job has been compiled and is queued for execution.",
    ),
    Member("EXECUTION_STARTED", "execution_started", "The job has begun execution on hardware."),
    Member("EXECUTION_ENDED", "execution_ended", "The job has completed execution on hardware."),
    Member(
        "POST_PROCESSING_PENDING",
        "post_processing_pending",
        "The job has finished executing and is pending post-processing.",
    ),
    Member(
        "POST_PROCESSING_STARTED",
        "post_processing_started",
        "The job results is being post-processed.",
    ),
    Member(
        "POST_PROCESSING_ENDED",
        "post_processing_ended",
        "The job has been successfully post processed.",
    ),
    Member("READY", "ready", "Job has been executed and results are available."),
    Member("FAILED", "failed", "Execution or compilation failed."),
    Member("ABORTED", "aborted", "User cancelled the execution."),
    Member("PENDING_DELETION", "pending deletion", "Job is set to be deleted."),
    Member(
        "DELETION_FAILED", "deletion failed", "Job was supposed to be deleted but deletion failed."
    ),
    Member("DELETED", "deleted", "Job deleted from the database."),
    Member("UNKNOWN", "unknown", "Job is in a state not recognized by this version of the client."),
)

VOCABULARIES: tuple[Vocabulary, ...] = (
    Vocabulary("15.0", _SEED, _OLD_STATUS_DOC, _FINAL, has_terminal_statuses=False),
    Vocabulary(
        "17.3", _WITH_DELETION, _OLD_STATUS_DOC, _FINAL_WITH_DELETION, has_terminal_statuses=False
    ),
    # Three intake statuses come first.
    Vocabulary(
        "18.6", _WITH_INTAKE, _OLD_STATUS_DOC, _FINAL_WITH_DELETION, has_terminal_statuses=False
    ),
    # Reformatted: a one-line docstring (and `str | None` annotations, the same fields).
    Vocabulary(
        "22.5", _WITH_INTAKE, _STATUS_DOC, _FINAL_WITH_DELETION, has_terminal_statuses=False
    ),
    # `RunStatus.from_dict` goes; the client parses with `model_validate`.
    Vocabulary(
        "22.6",
        _WITH_INTAKE,
        _STATUS_DOC,
        _FINAL_WITH_DELETION,
        has_terminal_statuses=False,
        has_from_dict=False,
    ),
    Vocabulary(
        "22.8",
        _WITH_COMPILED,
        _STATUS_DOC,
        _TERMINAL_STATUSES,
        has_terminal_statuses=True,
        has_from_dict=False,
    ),
    Vocabulary(
        "25.0.0",
        _PIPELINE_25,
        _STATUS_DOC,
        _TERMINAL_STATUSES,
        has_terminal_statuses=True,
        has_from_dict=False,
        status_field_doc=_SNAKE_CASE_FIELD_DOC,
    ),
    Vocabulary(
        "26.0.0",
        _PIPELINE_26,
        _STATUS_DOC,
        _TERMINAL_STATUSES,
        has_terminal_statuses=True,
        has_from_dict=False,
        status_field_doc=_SNAKE_CASE_FIELD_DOC,
    ),
    # 27.0.0 goes back to 25.x's members.
    Vocabulary(
        "27.0.0",
        _PIPELINE_25,
        _STATUS_DOC,
        _TERMINAL_STATUSES,
        has_terminal_statuses=True,
        has_from_dict=False,
        status_field_doc=_SNAKE_CASE_FIELD_DOC,
    ),
    Vocabulary(
        "27.1.0",
        _PIPELINE_25,
        _STATUS_DOC,
        _TERMINAL_STATUSES,
        has_terminal_statuses=True,
        missing_aliases=_PENDING_EXECUTION_ALIAS,
        has_from_dict=False,
        status_field_doc=_SNAKE_CASE_FIELD_DOC,
    ),
    # Unchanged from here to 32.1.1, the last release with `RunStatus`.
    Vocabulary(
        "28.0.0",
        _PIPELINE_28,
        _STATUS_DOC,
        _TERMINAL_STATUSES,
        has_terminal_statuses=True,
        missing_aliases=_PENDING_EXECUTION_ALIAS,
        has_from_dict=False,
        status_field_doc=_SNAKE_CASE_FIELD_DOC,
    ),
)


# A PEP 440 version: the release numbers, then what pre-, post-, dev- and local parts may follow.
_VERSION = re.compile(
    r"v?(\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?"
    r"(?:-\d+|[-_.]?(?:post|rev|r)[-_.]?\d*)?"
    r"(?:[-_.]?dev[-_.]?\d*)?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?",
    re.IGNORECASE,
)


def parse_release(text: str) -> Optional[tuple[int, ...]]:
    """The release numbers of a version string (``"24.3.0"`` -> ``(24, 3)``, trailing zeros
    dropped so that 24.3 and 24.3.0 compare equal); None if it is not a version."""
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        return None
    numbers = [int(part) for part in match.group(1).split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def _supported(release: tuple[int, ...]) -> bool:
    return (15,) <= release <= (32, 1, 1)


def vocabulary_for(release: str) -> Vocabulary:
    """The vocabulary of an iqm-client release from 15.0 to 32.1.1: that of the nearest first
    release at or below it (so a version never published gets its predecessor's).

    Raises:
        ValueError: ``release`` is not a version, or is outside 15.0 to 32.1.1
    """
    parsed = parse_release(release) if isinstance(release, str) else None
    if parsed is None:
        raise ValueError(
            f"{release!r} is not an iqm-client release: name one from {SUPPORTED_RANGE}, "
            "such as '17.2' or '24.3.0'"
        )
    if not _supported(parsed):
        raise ValueError(
            f"iqm-client {release} is not supported: iqm_runstatus mirrors RunStatus and Status "
            f"of iqm-client {SUPPORTED_RANGE} (33.0 removed RunStatus; releases before 15.0 "
            "are on pydantic 1)"
        )
    chosen = VOCABULARIES[0]
    for vocabulary in VOCABULARIES:
        first = parse_release(vocabulary.first_release)
        assert first is not None
        if first <= parsed:
            chosen = vocabulary
    return chosen


class Choice(NamedTuple):
    """The release whose vocabulary this process uses, and why."""

    release: str
    """The release named: the environment variable's value, the installed version, or 17.2."""
    source: str
    """``"environment"`` (the variable), ``"installed"`` (the installed client) or
    ``"default"`` (no client, or an installed one outside the range)."""
    vocabulary: Vocabulary
    installed: Optional[str]
    """The installed iqm-client's version as its metadata says, None if none is installed."""


def _version_of(name: str) -> str:
    """A distribution's version, read from the head of its metadata: ``metadata.version`` would
    parse the whole file, long description included, at every import."""
    distribution = metadata.distribution(name)
    text = distribution.read_text("METADATA") or distribution.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line:  # the end of the headers
            break
        key, _, value = line.partition(":")
        if key.strip().lower() == "version":
            return value.strip()
    return distribution.version


def installed_client_release() -> Optional[str]:
    """The installed iqm-client's version, from its distribution metadata; None if no client is
    installed. Never imports the client.

    Raises:
        ImportError: ``iqm.iqm_client`` is importable but has no distribution metadata, so its
            release cannot be told
    """
    try:
        return _version_of("iqm-client")
    except metadata.PackageNotFoundError:
        pass
    # Found without importing anything: `iqm` may be a namespace package, or a regular one.
    parent = PathFinder.find_spec("iqm")
    locations = parent.submodule_search_locations if parent is not None else None
    if (
        locations is not None
        and PathFinder.find_spec("iqm.iqm_client", list(locations)) is not None
    ):
        raise ImportError(
            "iqm_runstatus: iqm.iqm_client is importable but no iqm-client distribution "
            "metadata was found, so its release (and so its Status values) cannot be told. "
            f"Reinstall iqm-client with pip, or set {ENV_VAR} to its release "
            f"(one of {SUPPORTED_RANGE})."
        )
    return None


def choose_release(environ: Mapping[str, str] = os.environ) -> Choice:
    """Which release's vocabulary to use: ``IQM_RUNSTATUS_CLIENT_RELEASE`` if set, else the
    installed iqm-client's if it is in the range, else 17.2's.

    An installed client outside the range does not stop the import: the default is used, and
    ``patch_iqm_client()`` refuses that client.

    Raises:
        ValueError: the environment variable names no release from 15.0 to 32.1.1
        ImportError: the installed client's metadata names no version, or the client is
            importable without metadata (and the environment variable is not set)
    """
    named = environ.get(ENV_VAR, "").strip()
    if named:
        try:
            vocabulary = vocabulary_for(named)
        except ValueError as exc:
            raise ValueError(f"{ENV_VAR}={named!r}: {exc}") from None
        return Choice(named, "environment", vocabulary, _installed_or_none())
    installed = installed_client_release()
    if installed is None:
        return Choice(DEFAULT_RELEASE, "default", vocabulary_for(DEFAULT_RELEASE), None)
    parsed = parse_release(installed)
    if parsed is None:
        raise ImportError(
            f"iqm_runstatus: the installed iqm-client's metadata gives the version "
            f"{installed!r}, which is not a release number, so its Status values cannot be "
            f"told. Set {ENV_VAR} to the client's release (one of {SUPPORTED_RANGE})."
        )
    if not _supported(parsed):
        return Choice(DEFAULT_RELEASE, "default", vocabulary_for(DEFAULT_RELEASE), installed)
    return Choice(installed, "installed", vocabulary_for(installed), installed)


def _installed_or_none() -> Optional[str]:
    """The installed client's version for the record, where the environment variable decides
    (a client without metadata is then no error)."""
    try:
        return installed_client_release()
    except ImportError:
        return None
