"""`iqm_runstatus.dask.count_ndjson`: an archive of NDJSON files counted in Dask tasks gives the
counts, and the invalid lines with their file and line number, of one process reading each
file whole.

The cluster tests run a real `distributed.LocalCluster` of two worker processes. The property
test cuts generated files at every kind of place, on Dask's synchronous scheduler.
"""

from __future__ import annotations

import gzip
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iqm_runstatus import Status, StatusBatch
from iqm_runstatus._workload import iter_payloads
from support.profiles import examples
from support.scripts import run_python

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from iqm_runstatus.dask import (  # noqa: E402 - after the skips: it needs dask
    ArchiveCounts,
    InvalidLine,
    count_ndjson,
)

ROOT = Path(__file__).resolve().parents[1]

# The synchronous-scheduler tests may run while the module's cluster client is still open; they
# name their scheduler on purpose, so Dask's reminder that a client is active is not news.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Running on a single-machine scheduler when a distributed client is active"
)


def expected_counts(paths: list[Path], max_invalid: int = 10**9) -> ArchiveCounts:
    """One process: each file read whole by `StatusBatch.from_ndjson`, the invalid lines found
    by walking the file's lines one by one."""
    counts = dict.fromkeys(Status, 0)
    lines = payloads = invalid = 0
    invalid_lines: list[InvalidLine] = []
    for path in paths:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        batch = StatusBatch.from_ndjson(data)
        for status, n in batch.counts().items():
            counts[status] += n
        numbers = [
            number for number, line in enumerate(data.split(b"\n"), 1) if line.strip(b" \t\r\n")
        ]
        assert len(numbers) == len(batch)
        invalid_lines += [
            InvalidLine(str(path), numbers[index], error, message)
            for index, error, message in batch.errors
        ]
        lines += data.count(b"\n") + (bool(data) and not data.endswith(b"\n"))
        payloads += len(batch)
        invalid += len(batch.errors)
    return ArchiveCounts(
        counts=counts,
        files=len(paths),
        lines=lines,
        payloads=payloads,
        invalid=invalid,
        invalid_lines=invalid_lines[:max_invalid],
    )


# ---------------------------------------------------------------------------------------------
# The archive: 10 files, 10^6 lines.

BLOCKSIZE = 1 << 20
LINES_PER_FILE = 100_000
PLAIN_FILES = 9


def write_lines(path: Path, count: int, seed: int) -> None:
    with open(path, "wb") as out:
        for i, payload in enumerate(iter_payloads(count, seed=seed, invalid_rate=0.001)):
            out.write(payload + (b"\n \n" if i % 5000 == 1 else b"\n"))


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("archive")
    paths = []
    for i in range(PLAIN_FILES):
        path = folder / f"statuses-{i}.ndjson"
        write_lines(path, LINES_PER_FILE, seed=i)
        paths.append(path)
    # One line longer than three blocks, which starts in the first block and ends in the fourth,
    # in a file whose last line has no newline.
    long_line = b'{"status": "failed", "message": "%s"}' % (b"x" * (3 * BLOCKSIZE))
    tail = paths[0].read_bytes()
    paths[0].write_bytes(b'{"status": "ready"}\n' * 1000 + long_line + b"\n" + tail.rstrip(b"\n"))
    gz = folder / "statuses-9.ndjson.gz"
    plain = folder / "plain-9"
    write_lines(plain, LINES_PER_FILE + 10, seed=9)
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    return [*paths, gz]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.slow
def test_a_cluster_counts_what_one_process_counts(archive: list[Path], client: Any) -> None:
    assert len(archive) >= 8
    data = archive[0].read_bytes()
    # A line runs across the block boundaries, and not all of the archive is uncompressed.
    assert all(data[k * BLOCKSIZE - 1 : k * BLOCKSIZE + 1] == b"xx" for k in (1, 2, 3))
    assert archive[-1].name.endswith(".gz")

    with distributed.get_task_stream(client) as stream:
        found = count_ndjson(str(archive[0].parent / "statuses-*"), blocksize=BLOCKSIZE)
    expected = expected_counts(sorted(archive))
    assert found.lines >= 10**6
    assert found == ArchiveCounts(
        counts=expected.counts,
        files=expected.files,
        lines=expected.lines,
        payloads=expected.payloads,
        invalid=expected.invalid,
        invalid_lines=expected.invalid_lines[:1000],
    )
    assert found.invalid > 500 and found.unreadable == []
    # The counting ran in tasks on both worker processes, none in this one.
    workers = {task["worker"] for task in stream.data}
    assert len(workers) == 2
    assert len(stream.data) > len(archive)
    assert os.getpid() not in client.run(os.getpid).values()


@pytest.mark.slow  # starts a LocalCluster
def test_a_corrupt_gzip_member_is_reported_with_its_file(
    tmp_path: Path, archive: list[Path], client: Any
) -> None:
    """Files whose second gzip member is corrupt (its checksum, or its deflate stream), and one
    cut short: each listed as unreadable with the reason, every other file counted."""
    good = tmp_path / "good.ndjson"
    good.write_bytes(b'{"status": "ready"}\n{"status": "nope"}\n')
    first = gzip.compress(b'{"status": "failed"}\n' * 1000)
    second = gzip.compress(b'{"status": "aborted"}\n' * 1000)
    bad_crc = bytearray(second)
    bad_crc[-8] ^= 0xFF  # the member's CRC-32
    bad_stream = bytearray(second)
    bad_stream[len(second) // 2] ^= 0xFF
    files = {
        "crc.ndjson.gz": first + bad_crc,
        "stream.ndjson.gz": first + bad_stream,
        "truncated.ndjson.gz": first + second[: len(second) // 2],
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    found = count_ndjson(
        [
            tmp_path / "crc.ndjson.gz",
            good,
            tmp_path / "stream.ndjson.gz",
            tmp_path / "truncated.ndjson.gz",
        ],
        blocksize=BLOCKSIZE,
    )
    assert [Path(x.path).name for x in found.unreadable] == list(files)
    reasons = [x.reason for x in found.unreadable]
    assert reasons[0].startswith("BadGzipFile: CRC check failed"), reasons
    assert reasons[1].split(":")[0] in ("BadGzipFile", "EOFError", "error"), reasons
    assert reasons[2].startswith("EOFError: Compressed file ended"), reasons
    [(_, error, message)] = StatusBatch.from_ndjson(b'{"status": "nope"}').errors
    assert found == ArchiveCounts(
        counts=expected_counts([good]).counts,
        files=1,
        lines=2,
        payloads=2,
        invalid=1,
        invalid_lines=[InvalidLine(str(good), 2, error, message)],
        unreadable=found.unreadable,
    )


@pytest.mark.slow  # starts a LocalCluster
@pytest.mark.timeout(900)  # the script it starts has 600 s
def test_the_readme_example_against_a_scheduler_address(
    tmp_path: Path, archive: list[Path], client: Any
) -> None:
    """The README's example, run as written in a fresh interpreter that connects to the
    cluster's scheduler by its address; only the address and the glob are put in."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### On a Dask cluster", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert '"tcp://scheduler.example:8786"' in example
    assert '"s3://job-logs/2026-11/*.ndjson.gz"' in example
    small = [tmp_path / "a.ndjson.gz", tmp_path / "b.ndjson.gz"]
    for i, path in enumerate(small):
        path.write_bytes(gzip.compress(b"\n".join(iter_payloads(5000, seed=i, invalid_rate=0.01))))
    example = example.replace(
        '"tcp://scheduler.example:8786"', repr(client.scheduler.address)
    ).replace('"s3://job-logs/2026-11/*.ndjson.gz"', repr(str(tmp_path / "*.ndjson.gz")))
    (tmp_path / "example.py").write_text(example, encoding="utf-8")
    proc = run_python("example.py", cwd=tmp_path, timeout=600)
    expected = expected_counts(small)
    assert proc.stdout.splitlines()[0] == repr(expected.counts)
    assert f"{expected.invalid} invalid" in proc.stdout
    first = expected.invalid_lines[0]
    assert f"{first.path}:{first.line}: {first.error}" in proc.stdout


# ---------------------------------------------------------------------------------------------
# Block boundaries anywhere, on the synchronous scheduler.

LINES = st.sampled_from(
    [
        b'{"status": "ready"}',
        b'{"status": "failed", "message": "m", "warnings": ["w"]}',
        b'{"status": "pending execution"}',
        b'{"status": "nope"}',
        b"{not json",
        b"",
        b"  \t\r",
        b'{"status": "aborted"}\r',
        b'"\xff"',
    ]
)


@examples(150)
@given(
    files=st.lists(
        st.tuples(st.lists(LINES, max_size=30), st.booleans(), st.booleans()),
        min_size=1,
        max_size=4,
    ),
    blocksize=st.integers(1, 80),
    max_invalid=st.integers(0, 6),
)
def test_any_block_size_counts_what_one_process_counts(
    tmp_path_factory: pytest.TempPathFactory,
    files: list[tuple[list[bytes], bool, bool]],
    blocksize: int,
    max_invalid: int,
) -> None:
    """Each file's lines, with or without a last newline, gzip or not, cut into blocks of any
    size: the counts, the lines and the first `max_invalid` invalid lines of one pass."""
    folder = tmp_path_factory.mktemp("blocks")
    paths = []
    for i, (lines, last_newline, compressed) in enumerate(files):
        data = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
        path = folder / (f"{i}.ndjson.gz" if compressed else f"{i}.ndjson")
        path.write_bytes(gzip.compress(data) if compressed else data)
        paths.append(path)
    found = count_ndjson(
        [str(p) for p in paths], blocksize=blocksize, max_invalid=max_invalid, scheduler="sync"
    )
    assert found == expected_counts(paths, max_invalid)


def test_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "a.ndjson").write_bytes(b'{"status": "ready"}\n')
    with pytest.raises(FileNotFoundError, match="no file matches"):
        count_ndjson(str(tmp_path / "*.missing"), scheduler="sync")
    for blocksize in (0, -1, "0 B", 1.5, True):
        with pytest.raises(ValueError, match="blocksize"):
            count_ndjson(str(tmp_path / "a.ndjson"), blocksize=blocksize, scheduler="sync")
    with pytest.raises(ValueError, match="max_invalid"):
        count_ndjson(str(tmp_path / "a.ndjson"), max_invalid=-1, scheduler="sync")
    with pytest.raises(ValueError, match="threads must be at least 1"):
        count_ndjson(str(tmp_path / "a.ndjson"), threads=0, scheduler="sync")
    with pytest.raises(TypeError, match="'str' object cannot be interpreted as an integer"):
        count_ndjson(str(tmp_path / "a.ndjson"), threads="2", scheduler="sync")  # type: ignore[arg-type]
    found = count_ndjson(tmp_path / "a.ndjson", blocksize="1 KiB", scheduler="sync")
    assert found.counts[Status.READY] == 1 and found.valid == 1


def test_a_file_gone_before_its_task_runs_is_unreadable(tmp_path: Path) -> None:
    """Listed, then deleted before the tasks start: reported, not raised. A directory too."""
    from dask.callbacks import Callback

    kept = tmp_path / "kept.ndjson"
    kept.write_bytes(b'{"status": "ready"}\n')
    (tmp_path / "folder.ndjson").mkdir()
    gone = [tmp_path / "gone.ndjson.gz", tmp_path / "gone.ndjson"]
    for path in gone:
        path.write_bytes(gzip.compress(b'{"status": "ready"}\n'))

    def delete(dsk: Any, state: Any) -> None:
        for path in gone:
            path.unlink()

    with Callback(start_state=delete):
        found = count_ndjson(str(tmp_path / "*.ndjson*"), scheduler="sync")
    assert [(Path(x.path).name, x.reason.split(":")[0]) for x in found.unreadable] == [
        ("folder.ndjson", "IsADirectoryError"),
        ("gone.ndjson", "FileNotFoundError"),
        ("gone.ndjson.gz", "FileNotFoundError"),
    ]
    assert found.files == 1 and found.counts[Status.READY] == 1


def test_dangling_and_looping_symbolic_links_are_unreadable(tmp_path: Path) -> None:
    """A glob that matches a link to nothing and a loop of links reports them as unreadable
    files, as it does a directory, and counts the rest; it used to abort the whole count."""
    (tmp_path / "kept.ndjson").write_bytes(b'{"status": "ready"}\n')
    (tmp_path / "dangling.ndjson").symlink_to(tmp_path / "missing.ndjson")
    (tmp_path / "loop1.ndjson").symlink_to(tmp_path / "loop2.ndjson")
    (tmp_path / "loop2.ndjson").symlink_to(tmp_path / "loop1.ndjson")
    found = count_ndjson(str(tmp_path / "*.ndjson"), scheduler="sync")
    assert [(Path(x.path).name, x.reason.split(":")[0]) for x in found.unreadable] == [
        ("dangling.ndjson", "FileNotFoundError"),
        ("loop1.ndjson", "OSError"),
        ("loop2.ndjson", "OSError"),
    ]
    assert "symbolic link to nothing" in found.unreadable[0].reason
    assert found.files == 1 and found.counts[Status.READY] == 1
    # Named directly rather than matched, a link to nothing is reported the same way.
    found = count_ndjson([tmp_path / "kept.ndjson", tmp_path / "dangling.ndjson"], scheduler="sync")
    assert [Path(x.path).name for x in found.unreadable] == ["dangling.ndjson"]


def test_a_path_that_names_nothing_raises(tmp_path: Path) -> None:
    kept = tmp_path / "kept.ndjson"
    kept.write_bytes(b'{"status": "ready"}\n')
    for missing in ("missing.ndjson", "missing.ndjson.gz"):
        with pytest.raises(FileNotFoundError, match=missing):
            count_ndjson([kept, tmp_path / missing], scheduler="sync")


def test_importing_the_package_imports_no_dask() -> None:
    script = textwrap.dedent(
        """
        import sys
        import iqm_runstatus
        from iqm_runstatus import StatusBatch, __main__
        StatusBatch.from_ndjson(b'{"status": "ready"}')
        loaded = sorted({"dask", "distributed", "fsspec"} & set(sys.modules))
        assert not loaded, loaded
        print("ok")
        """
    )
    assert run_python("-c", script).stdout.strip() == "ok"
