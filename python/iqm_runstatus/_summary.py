"""Aggregates over an NDJSON stream of job-status payloads, read a chunk of whole lines at a time.

Only aggregates are kept (counts, the most common strings, the first invalid lines), so a file
larger than memory can be summarized. Each chunk is parsed by `StatusBatch.from_ndjson`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Callable, Final, Optional

from ._model import Status

__all__ = [
    "CHUNK_BYTES",
    "MAX_INVALID",
    "InvalidLine",
    "Summary",
    "clip",
    "entry_lines",
    "iter_chunks",
    "summarize_stream",
]

CHUNK_BYTES: Final = 8 << 20
"""Bytes read at a time; a chunk is cut after its last newline."""

MAX_DISTINCT: Final = 100_000
"""Distinct failure messages or warnings kept before the rarest are dropped."""

SHOWN_CHARS: Final = 200
"""Length a message, warning or invalid line's error is cut to, in text and JSON alike."""

MAX_INVALID: Final = 20
"""Invalid lines kept and shown by default; all are counted."""

# The lines `from_ndjson` skips: only spaces, tabs and carriage returns (JSON whitespace).
_BLANK_LINE: Final = re.compile(rb"^[ \t\r]*\n", re.MULTILINE)


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` on one line and at most `limit` characters: a report shows one line per entry
    (pydantic's messages span several), and a huge message is not echoed whole."""
    text = " ".join(text[: limit * 4].split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class InvalidLine:
    """A line the reference rejects: its 1-based number in the stream and the exception."""

    line: int
    error: str
    message: str


def _prune(counter: Counter[Any]) -> None:
    # Keep the commonest half: bounded memory for streams of ever new strings (messages
    # holding job ids), at the price of undercounting strings that were dropped and came back.
    kept = counter.most_common(MAX_DISTINCT // 2)
    counter.clear()
    counter.update(dict(kept))


@dataclass
class Summary:
    """Counts over the chunks added so far; blank lines count as lines but not as payloads."""

    max_invalid: int = MAX_INVALID
    lines: int = 0
    payloads: int = 0
    counts: Counter[Status] = field(default_factory=Counter)
    failure_messages: Counter[Optional[str]] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    invalid: int = 0
    invalid_lines: list[InvalidLine] = field(default_factory=list)
    approximate: bool = False
    """Whether rare strings were dropped, so their counts are lower bounds."""

    @property
    def blank_lines(self) -> int:
        return self.lines - self.payloads

    def add_chunk(self, chunk: bytes) -> None:
        """Adds whole lines; `chunk` ends with a newline (or is empty)."""
        if not chunk:
            return
        # Imported at first use: the CLI's other commands must not load the native core while
        # IQM_RUNSTATUS_PURE is set, and they import this module for its limits.
        from . import StatusBatch

        batch = StatusBatch.from_ndjson(chunk)
        first_line = self.lines + 1
        nlines = chunk.count(b"\n")
        for status, n in batch.counts().items():
            self.counts[status] += n
        for i in batch.indices(Status.FAILED):
            self.failure_messages[batch[i].message] += 1
        for i in batch.indices():
            warnings = batch[i].warnings
            if warnings:
                self.warnings.update(warnings)
        errors = batch.errors
        self.invalid += len(errors)
        room = self.max_invalid - len(self.invalid_lines)
        if room > 0 and errors:
            kept = errors[:room]
            lines = entry_lines(chunk, len(batch), [index for index, _, _ in kept])
            numbers = [first_line + n for n in lines]
            self.invalid_lines.extend(
                InvalidLine(number, error, clip(message))
                for number, (_, error, message) in zip(numbers, kept)
            )
        self.lines += nlines
        self.payloads += len(batch)
        for counter in (self.failure_messages, self.warnings):
            if len(counter) > MAX_DISTINCT:
                _prune(counter)
                self.approximate = True

    def to_dict(self, top: int) -> dict[str, Any]:
        """The summary as JSON-ready values, with the `top` commonest messages and warnings."""
        return {
            "lines": self.lines,
            "blank_lines": self.blank_lines,
            "payloads": self.payloads,
            "valid": self.payloads - self.invalid,
            "invalid": self.invalid,
            "counts": {s.value: self.counts[s] for s in Status},
            "failure_messages": [
                {"message": None if m is None else clip(m), "count": n}
                for m, n in self.failure_messages.most_common(top)
            ],
            "distinct_failure_messages": len(self.failure_messages),
            "warnings": [
                {"warning": clip(w), "count": n} for w, n in self.warnings.most_common(top)
            ],
            "distinct_warnings": len(self.warnings),
            "approximate": self.approximate,
            "invalid_lines": [
                {"line": x.line, "error": x.error, "message": x.message} for x in self.invalid_lines
            ],
            "invalid_lines_truncated": self.invalid > len(self.invalid_lines),
        }


def entry_lines(chunk: bytes, payloads: int, entries: list[int]) -> list[int]:
    """0-based line indices in `chunk` of the given ascending entry (non-blank line) indices;
    `payloads` is the number of entries `StatusBatch.from_ndjson(chunk)` has."""
    lines = chunk.count(b"\n") + (not chunk.endswith(b"\n"))
    if payloads == lines:  # no blank line: entry i is line i
        return entries
    blanks: list[int] = []
    line = pos = 0
    for match in _BLANK_LINE.finditer(chunk):
        line += chunk.count(b"\n", pos, match.start())
        pos = match.start()
        blanks.append(line)
    # The i-th non-blank line is line i + (the number of blank lines before it).
    out: list[int] = []
    j = 0
    for i in entries:
        while j < len(blanks) and blanks[j] <= i + j:
            j += 1
        out.append(i + j)
    return out


def iter_chunks(stream: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[bytes, int]]:
    """Yields (whole lines ending with a newline, bytes read for them) from a binary stream.

    A last line without a newline gets one. A line longer than `chunk_bytes` is read whole.
    """
    pending: list[bytes] = []
    read = 0
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            break
        read += len(block)
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            pending.append(block)
            continue
        pending.append(block[:cut])
        yield b"".join(pending), read
        pending = [block[cut:]] if cut < len(block) else []
        read = 0
    if pending:
        pending.append(b"\n")
        yield b"".join(pending), read


def summarize_stream(
    stream: BinaryIO,
    *,
    max_invalid: int = MAX_INVALID,
    chunk_bytes: int = CHUNK_BYTES,
    on_progress: Callable[[int], object] | None = None,
) -> Summary:
    """Summarizes the NDJSON payloads of a binary stream; `on_progress` gets the bytes read."""
    summary = Summary(max_invalid=max_invalid)
    for chunk, read in iter_chunks(stream, chunk_bytes):
        summary.add_chunk(chunk)
        if on_progress is not None:
            on_progress(read)
    return summary
