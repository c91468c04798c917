"""Status counts over an archive of NDJSON files, on a Dask cluster.

``count_ndjson`` cuts each file into byte ranges at line ends, counts each range in a Dask task
with `StatusBatch.from_ndjson`, and adds the counts up on the caller's side. A compressed file
(``.gz``, ``.bz2``, ``.xz``, ... as fsspec infers from its name) cannot be cut: one task reads it
whole, a block at a time. Paths may be any fsspec URL (``s3://...``) the workers can read.

Needs the optional ``dask`` extra (dask and distributed). ``import iqm_runstatus`` never
imports this module.
"""

from __future__ import annotations

import lzma
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Optional, Union

try:
    from dask.base import compute
    from dask.delayed import delayed
    from dask.utils import parse_bytes
    from fsspec.core import get_fs_token_paths
    from fsspec.utils import infer_compression, read_block
except ImportError as missing:  # pragma: no cover - the test environments have dask
    raise ImportError(
        "iqm_runstatus.dask needs dask: pip install 'iqm-runstatus[dask]'"
    ) from missing

from ._model import Status
from ._summary import entry_lines, iter_chunks

__all__ = ["DEFAULT_BLOCKSIZE", "ArchiveCounts", "InvalidLine", "UnreadableFile", "count_ndjson"]

DEFAULT_BLOCKSIZE: Final = 64 << 20
"""Bytes of an uncompressed file one task counts; a task holds its block and the batch."""

DEFAULT_MAX_INVALID: Final = 1000
"""Invalid lines listed with their place, the first in archive order; all are counted."""

# What reading or decompressing a file raises when the file, not our code, is at fault: a
# corrupt gzip member (BadGzipFile is an OSError; a bad deflate stream is zlib.error), a
# truncated one (EOFError), a file gone or unreadable.
_UNREADABLE: Final = (OSError, EOFError, zlib.error, lzma.LZMAError)

_STATUSES: Final = tuple(Status)


class InvalidLine(NamedTuple):
    """A line whose payload `RunStatus.from_json` refuses: where it is and the exception."""

    path: str
    line: int
    """1-based, counting blank lines."""
    error: str
    """The exception's type name, as `StatusBatch.errors` gives it."""
    message: str


class UnreadableFile(NamedTuple):
    """A file that could not be read to its end (a corrupt gzip member, say): none of its lines
    are counted."""

    path: str
    reason: str


@dataclass(frozen=True)
class ArchiveCounts:
    """The counts over every readable file of an archive."""

    counts: dict[Status, int]
    """Every `Status` member, with 0 for those not seen."""
    files: int
    """The files counted, unreadable ones excluded."""
    lines: int
    payloads: int
    """Non-blank lines: ``sum(counts.values()) + invalid``."""
    invalid: int
    invalid_lines: list[InvalidLine] = field(default_factory=list)
    """The first ``max_invalid`` invalid lines, in the order of the paths and then lines."""
    unreadable: list[UnreadableFile] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return self.payloads - self.invalid


@dataclass
class _Part:
    """What one task sends back: small, whatever the size of its block."""

    lines: int = 0
    payloads: int = 0
    counts: list[int] = field(default_factory=lambda: [0] * len(_STATUSES))
    invalid: int = 0
    # (0-based line in the part, exception type, message), at most max_invalid of them.
    invalid_lines: list[tuple[int, str, str]] = field(default_factory=list)
    failure: Optional[str] = None

    def add(self, chunk: bytes, max_invalid: int, threads: Optional[int]) -> None:
        """Counts whole lines; only the last chunk of a part may lack its final newline."""
        if not chunk:
            return
        from . import StatusBatch

        batch = StatusBatch.from_ndjson(chunk, threads=threads)
        for status, n in batch.counts().items():
            self.counts[_STATUSES.index(status)] += n
        errors = batch.errors
        room = max_invalid - len(self.invalid_lines)
        if errors and room > 0:
            kept = errors[:room]
            lines = entry_lines(chunk, len(batch), [index for index, _, _ in kept])
            self.invalid_lines.extend(
                (self.lines + line, error, message)
                for line, (_, error, message) in zip(lines, kept)
            )
        self.invalid += len(errors)
        self.payloads += len(batch)
        self.lines += chunk.count(b"\n") + (not chunk.endswith(b"\n"))


def _count_part(
    fs: Any,
    path: str,
    compression: Optional[str],
    offset: int,
    length: int,
    max_invalid: int,
    threads: Optional[int],
) -> _Part:
    """The Dask task: counts the lines that start in ``[offset, offset + length)`` of an
    uncompressed file, or the whole of a compressed one (read ``length`` bytes at a time)."""
    part = _Part()
    try:
        if compression is None:
            with fs.open(path, "rb") as file:
                # fsspec moves both ends on to the next line start, as every task does: each
                # line is counted once, by the task its first byte falls to.
                block = read_block(file, offset, length, delimiter=b"\n")
            part.add(block, max_invalid, threads)
        else:
            with fs.open(path, "rb", compression=compression) as file:
                for chunk, _ in iter_chunks(file, length):
                    part.add(chunk, max_invalid, threads)
    except _UNREADABLE as exc:
        return _Part(failure=f"{type(exc).__name__}: {exc}")
    return part


def count_ndjson(
    paths_or_glob: Union[str, os.PathLike[str], Sequence[Union[str, os.PathLike[str]]]],
    *,
    blocksize: Union[int, str] = DEFAULT_BLOCKSIZE,
    max_invalid: int = DEFAULT_MAX_INVALID,
    threads: Optional[int] = 1,
    scheduler: Any = None,
    storage_options: Optional[dict[str, Any]] = None,
) -> ArchiveCounts:
    """Counts the statuses of the NDJSON payloads in the files a path, glob or list names.

    - ``blocksize`` (bytes, or a string such as ``"64 MiB"``): the most an uncompressed file's
      task reads, cut at line ends; a longer line is read whole by the task it starts in.
    - ``threads``: the core's threads per task (``StatusBatch.from_ndjson``); 1 leaves the
      parallelism to Dask's workers.
    - ``scheduler``: passed to ``dask.compute``; by default the active ``distributed.Client``,
      else Dask's default scheduler.
    - ``storage_options``: passed to fsspec for a remote URL.

    The counts equal ``StatusBatch.from_ndjson`` over each whole file, added up. A file that
    cannot be read to its end (a corrupt gzip member, a file gone since it was listed, a
    directory, a dangling symbolic link or a loop of them) is listed in ``unreadable`` and left
    out of every count.
    Raises ``FileNotFoundError`` when nothing matches or a path names nothing, ``ValueError``
    for a ``blocksize`` that is not a positive size or a negative ``max_invalid``, and what
    ``StatusBatch.from_ndjson`` raises for ``threads``.
    """
    size = parse_bytes(blocksize) if isinstance(blocksize, str) else blocksize
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"blocksize must be a positive number of bytes, not {blocksize!r}")
    if isinstance(max_invalid, bool) or not isinstance(max_invalid, int) or max_invalid < 0:
        raise ValueError(f"max_invalid must be an int >= 0, not {max_invalid!r}")
    from . import StatusBatch

    StatusBatch.from_ndjson(b"", threads=threads)  # its errors for `threads`, before any task
    if isinstance(paths_or_glob, (str, os.PathLike)):
        urls = [os.fspath(paths_or_glob)]
    else:
        urls = [os.fspath(url) for url in paths_or_glob]
    fs, _, paths = get_fs_token_paths(urls, mode="rb", storage_options=storage_options)
    if not paths:
        raise FileNotFoundError(f"no file matches {paths_or_glob!r}")

    tasks: list[Any] = []
    owners: list[int] = []  # the index in `paths` of each task's file
    failures: dict[int, str] = {}
    count_part = delayed(_count_part)
    for index, path in enumerate(paths):
        try:
            info = fs.info(path)
        except FileNotFoundError:
            if not fs.lexists(path):
                raise  # a path that names nothing
            failures[index] = f"FileNotFoundError: {path} is a symbolic link to nothing"
            continue
        except OSError as exc:  # a symbolic link loop (ELOOP), a directory we may not enter
            failures[index] = f"{type(exc).__name__}: {exc}"
            continue
        if info["type"] != "file":
            failures[index] = f"IsADirectoryError: {path} is a {info['type']}, not a file"
            continue
        compression = infer_compression(path)
        offsets: Sequence[int] = [0] if compression else range(0, info["size"], size)
        for offset in offsets:
            tasks.append(count_part(fs, path, compression, offset, size, max_invalid, threads))
            owners.append(index)
    parts: Sequence[_Part] = compute(*tasks, scheduler=scheduler) if tasks else ()
    return _add_up(paths, owners, parts, failures, max_invalid)


def _add_up(
    paths: list[str],
    owners: list[int],
    parts: Sequence[_Part],
    failures: dict[int, str],
    max_invalid: int,
) -> ArchiveCounts:
    """The archive's counts from the parts, in the order of the paths and of the parts."""
    by_file: list[list[_Part]] = [[] for _ in paths]
    for owner, part in zip(owners, parts):
        if part.failure is not None:
            failures.setdefault(owner, part.failure)
        by_file[owner].append(part)
    totals = _Part()
    invalid_lines: list[InvalidLine] = []
    for index, (path, file_parts) in enumerate(zip(paths, by_file)):
        if index in failures:
            continue
        first_line = 1
        for part in file_parts:
            for i, n in enumerate(part.counts):
                totals.counts[i] += n
            totals.lines += part.lines
            totals.payloads += part.payloads
            totals.invalid += part.invalid
            room = max_invalid - len(invalid_lines)
            invalid_lines.extend(
                InvalidLine(path, first_line + line, error, message)
                for line, error, message in part.invalid_lines[:room]
            )
            first_line += part.lines
    return ArchiveCounts(
        counts=dict(zip(_STATUSES, totals.counts)),
        files=len(paths) - len(failures),
        lines=totals.lines,
        payloads=totals.payloads,
        invalid=totals.invalid,
        invalid_lines=invalid_lines,
        unreadable=[UnreadableFile(paths[i], failures[i]) for i in sorted(failures)],
    )
