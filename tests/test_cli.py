"""`summarize`: the counts of a per-line parse, line numbers right across chunks, clean errors."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from iqm_runstatus import RunStatus, Status
from iqm_runstatus import _summary as summary_module
from iqm_runstatus.__main__ import main
from iqm_runstatus._workload import generate_payloads
from support.scripts import run_python


def _expected(lines: list[bytes]) -> dict[str, Any]:
    """What summarize must report, from one `RunStatus.from_json` per non-blank line."""
    counts: Counter[str] = Counter()
    messages: Counter[str | None] = Counter()
    warnings: Counter[str] = Counter()
    invalid: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip(b" \t\r"):
            continue
        try:
            status = RunStatus.from_json(line)
        except Exception as exc:
            invalid.append((number, type(exc).__name__))
            continue
        counts[status.status.value] += 1
        if status.status is Status.FAILED:
            messages[status.message] += 1
        warnings.update(status.warnings or ())
    return {
        "counts": {s.value: counts[s.value] for s in Status},
        "messages": messages,
        "warnings": warnings,
        "invalid": invalid,
    }


def _summarize_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The JSON summary, every invalid line listed unless ``argv`` says otherwise; the exit
    code says whether any line was invalid."""
    code = main(["summarize", "--json", "--no-progress", "--max-invalid", "100000", *argv])
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    result: dict[str, Any] = json.loads(out)
    assert code == (1 if result["invalid"] else 0)
    return result


def _check(got: dict[str, Any], lines: list[bytes], top: int) -> None:
    want = _expected(lines)
    assert got["counts"] == want["counts"]
    assert got["lines"] == len(lines)
    assert got["invalid"] == len(want["invalid"])
    assert got["valid"] == sum(want["counts"].values())
    assert got["payloads"] == got["valid"] + got["invalid"]
    assert got["blank_lines"] == got["lines"] - got["payloads"]
    assert [(x["line"], x["error"]) for x in got["invalid_lines"]] == want["invalid"]
    assert all(x["message"] and "\n" not in x["message"] for x in got["invalid_lines"])
    assert got["distinct_failure_messages"] == len(want["messages"])
    assert got["distinct_warnings"] == len(want["warnings"])
    # Ties may come in any order: compare the counts, and each message's own count.
    got_messages = [(x["message"], x["count"]) for x in got["failure_messages"]]
    assert [n for _, n in got_messages] == [n for _, n in want["messages"].most_common(top)]
    assert all(want["messages"][m] == n for m, n in got_messages)
    got_warnings = [(x["warning"], x["count"]) for x in got["warnings"]]
    assert [n for _, n in got_warnings] == [n for _, n in want["warnings"].most_common(top)]
    assert all(want["warnings"][w] == n for w, n in got_warnings)
    assert got["approximate"] is False


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("summarize") / "w.ndjson"
    argv = ["generate", "--count", "20000", "--seed", "3", "--invalid-rate", "0.01", str(path)]
    assert main(argv) == 0
    return path


@pytest.mark.parametrize("chunk_bytes", [None, 4096, 100_003])
def test_summarize_matches_a_per_line_parse(
    workload: Path, chunk_bytes: int | None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(workload), "--top", "7"]
    if chunk_bytes is not None:
        argv += ["--chunk-bytes", str(chunk_bytes)]
    got = _summarize_json(argv, capsys)
    lines = workload.read_bytes().split(b"\n")[:-1]
    assert got["invalid"] == 200 and got["source"] == str(workload)
    _check(got, lines, top=7)


@pytest.mark.parametrize("chunk_bytes", [1, 37, 64, 1 << 20])
def test_blank_lines_count_for_numbering_across_chunks(
    tmp_path: Path, chunk_bytes: int, capsys: pytest.CaptureFixture[str]
) -> None:
    payloads = generate_payloads(300, seed=9, invalid_rate=0.2)
    lines: list[bytes] = []
    for i, payload in enumerate(payloads):
        if i % 7 == 0:
            lines.append(b"")
        if i % 11 == 0:
            lines.append(b" \t\r")
        # CRLF line ends: the \r is whitespace after the payload.
        lines.append(payload + b"\r" if i % 5 == 0 else payload)
    path = tmp_path / "blanks.ndjson"
    # No newline after the last line: it is still a line.
    path.write_bytes(b"\n".join(lines))
    got = _summarize_json([str(path), "--chunk-bytes", str(chunk_bytes)], capsys)
    assert got["blank_lines"] > 0 and got["invalid"] == 60
    _check(got, lines, top=5)


def test_the_stream_is_read_in_bounded_chunks(
    workload: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Never the whole file at once: every read and every parsed chunk is about a chunk's size.
    reads: list[int] = []
    chunks: list[int] = []
    real_open = open

    class Recording:
        def __init__(self, path: str, mode: str) -> None:
            assert mode == "rb"
            self.file = real_open(path, "rb")

        def read(self, n: int = -1) -> bytes:
            reads.append(n)
            return self.file.read(n)

        def fileno(self) -> int:
            return self.file.fileno()

        def close(self) -> None:
            self.file.close()

    import iqm_runstatus.__main__ as cli

    add_chunk = summary_module.Summary.add_chunk

    def recording_add_chunk(self: Any, chunk: bytes) -> None:
        chunks.append(len(chunk))
        add_chunk(self, chunk)

    monkeypatch.setattr(cli, "open", Recording, raising=False)
    monkeypatch.setattr(summary_module.Summary, "add_chunk", recording_add_chunk)
    got = _summarize_json([str(workload), "--chunk-bytes", "65536"], capsys)
    assert got["payloads"] == 20000
    assert reads and all(n == 65536 for n in reads)
    longest = max(map(len, workload.read_bytes().split(b"\n")))
    assert len(chunks) > 10 and max(chunks) <= 65536 + longest


def test_empty_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.ndjson"
    path.write_bytes(b"")
    got = _summarize_json([str(path)], capsys)
    assert got["lines"] == got["payloads"] == got["invalid"] == 0
    assert got["counts"] == {s.value: 0 for s in Status}
    assert main(["summarize", "--no-progress", str(path)]) == 0
    assert "0 payloads" in capsys.readouterr().out


def test_invalid_lines_kept_are_capped_but_all_counted(
    workload: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = _summarize_json([str(workload), "--max-invalid", "13"], capsys)
    assert got["invalid"] == 200 and len(got["invalid_lines"]) == 13
    assert got["invalid_lines_truncated"] is True
    lines = workload.read_bytes().split(b"\n")[:-1]
    assert [x["line"] for x in got["invalid_lines"]] == [n for n, _ in _expected(lines)["invalid"]][
        :13
    ]
    got = _summarize_json([str(workload), "--max-invalid", "0"], capsys)
    assert got["invalid"] == 200 and got["invalid_lines"] == []


def test_text_report(workload: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["summarize", "--no-progress", "--top", "2", "--max-invalid", "1000", str(workload)]
    assert main(argv) == 1  # invalid lines found
    out = capsys.readouterr().out
    want = _expected(workload.read_bytes().split(b"\n")[:-1])
    for status, n in want["counts"].items():
        row = next(line for line in out.splitlines() if line.strip().startswith(status + " "))
        assert f"{n:,}" in row and f"{n / 20000:.2%}" in row
    assert "invalid" in out and "1.00%" in out
    assert "most common failure messages (2 of" in out and "most common warnings (2 of" in out
    first_line, first_error = want["invalid"][0]
    assert f"  line {first_line}: {first_error}: " in out
    assert out.count("\n  line ") == 200


def test_rare_strings_are_dropped_beyond_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every failure message distinct (as messages holding job ids are): memory stays bounded.
    monkeypatch.setattr(summary_module, "MAX_DISTINCT", 10)
    lines = [json.dumps({"status": "failed", "message": f"job {i} failed"}) for i in range(50)]
    lines += [json.dumps({"status": "failed", "message": "common"})] * 20
    path = tmp_path / "distinct.ndjson"
    path.write_text("\n".join(lines) + "\n")
    got = _summarize_json([str(path), "--chunk-bytes", "200"], capsys)
    assert got["approximate"] is True and got["distinct_failure_messages"] <= 11
    assert got["failure_messages"][0] == {"message": "common", "count": 20}
    assert got["counts"]["failed"] == 70
    assert main(["summarize", "--no-progress", "--chunk-bytes", "200", str(path)]) == 0
    assert "lower bounds" in capsys.readouterr().out


def test_failures_without_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nomessage.ndjson"
    lines = ['{"status":"failed"}', '{"status":"failed","message":null}', '{"status":"ready"}']
    path.write_text("\n".join(lines) + "\n")
    got = _summarize_json([str(path)], capsys)
    assert got["failure_messages"] == [{"message": None, "count": 2}]
    assert main(["summarize", "--no-progress", str(path)]) == 0
    out = capsys.readouterr().out
    assert "most common failure messages (1 of 1 distinct):" in out and "(no message)" in out
    assert "warnings" not in out and "invalid lines" not in out


def test_stdin(workload: Path) -> None:
    with workload.open("rb") as stdin:
        proc = run_python(
            "-m",
            "iqm_runstatus",
            "summarize",
            "--json",
            "--max-invalid",
            "999",
            "-",
            stdin=stdin,
            text=False,
            returncode=1,
        )
    got = json.loads(proc.stdout)
    assert got["source"] == "<stdin>" and not proc.stderr
    _check(got, workload.read_bytes().split(b"\n")[:-1], top=5)


def test_console_script(workload: Path) -> None:
    script = shutil.which("iqm-runstatus", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the package is not installed with its scripts")
    proc = subprocess.run(
        [script, "summarize", str(workload)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1, proc.stderr
    assert "pending compilation" in proc.stdout and "invalid lines (200" in proc.stdout


# The progress bar: tqdm on stderr, only on a terminal for more than a chunk, never on stdout.


def test_forced_progress_bar_goes_to_stderr(
    workload: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tqdm")
    argv = ["summarize", "--json", "--force-progress", "--chunk-bytes", "65536", str(workload)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["payloads"] == 20000
    # tqdm's bar counts the bytes read, in binary multiples.
    assert "100%" in captured.err and "B/s" in captured.err


@pytest.mark.parametrize(
    ("tty", "extra", "shown"),
    [
        (True, [], True),
        (False, [], False),
        (True, ["--no-progress"], False),
        (True, ["--no-progress", "--force-progress"], False),
    ],
)
def test_progress_bar_only_on_a_terminal(
    workload: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tty: bool,
    extra: list[str],
    shown: bool,
) -> None:
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    argv = ["summarize", "--chunk-bytes", "65536", *extra, str(workload)]
    assert main(argv) == 1
    assert ("100%" in capsys.readouterr().err) is shown


def test_no_bar_for_a_file_of_one_chunk(
    workload: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["summarize", str(workload)]) == 1
    assert capsys.readouterr().err == ""


def test_without_tqdm_there_is_no_bar(
    workload: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # None in sys.modules makes `import tqdm` raise ImportError, as if it were not installed.
    monkeypatch.setitem(sys.modules, "tqdm", None)
    argv = ["summarize", "--json", "--force-progress", str(workload)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["invalid"] == 200 and captured.err == ""


# Errors: one line on stderr, exit code 2, no traceback.


@pytest.mark.parametrize(
    "argv",
    [
        ["summarize"],
        ["summarize", "--top", "0", "-"],
        ["summarize", "--top", "x", "-"],
        ["summarize", "--max-invalid", "-1", "-"],
        ["summarize", "--chunk-bytes", "0", "-"],
        ["summarize", "--bogus", "-"],
        ["summarize", "/nonexistent-dir/statuses.ndjson"],
        ["summarize", "."],
    ],
)
def test_bad_arguments_and_files_give_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "error:" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "secret.ndjson"
    path.write_bytes(b'{"status":"ready"}\n')
    path.chmod(0)
    assert main(["summarize", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err


def test_permission_denied_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same path as an unreadable file, also when the tests run as root.
    import iqm_runstatus.__main__ as cli

    def denied(path: str, mode: str) -> Any:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(cli, "open", denied, raising=False)
    assert main(["summarize", "statuses.ndjson"]) == 2
    err = capsys.readouterr().err
    assert err == "iqm-runstatus: error: cannot read 'statuses.ndjson': Permission denied\n"


def test_read_error_midway_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing_read(stream: Any, chunk_bytes: int = 0) -> Any:
        yield b'{"status":"ready"}\n', 19
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(summary_module, "iter_chunks", failing_read)
    path = tmp_path / "w.ndjson"
    path.write_bytes(b'{"status":"ready"}\n')
    assert main(["summarize", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Input/output error" in captured.err
    assert captured.out == ""


def test_missing_file_via_subprocess_has_no_traceback() -> None:
    proc = run_python("-m", "iqm_runstatus", "summarize", "/nonexistent/x.ndjson", returncode=2)
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "No such file" in proc.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from iqm_runstatus import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"iqm-runstatus {__version__}\n"
    proc = run_python("-m", "iqm_runstatus", "--version")
    assert proc.stdout == f"iqm-runstatus {__version__}\n"


def test_at_most_twenty_invalid_lines_by_default(
    workload: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["summarize", "--json", "--no-progress", str(workload)]) == 1
    got = json.loads(capsys.readouterr().out)
    assert got["invalid"] == 200 and len(got["invalid_lines"]) == 20
    assert got["invalid_lines_truncated"] is True
    assert main(["summarize", "--no-progress", str(workload)]) == 1
    out = capsys.readouterr().out
    assert out.count("\n  line ") == 20 and "(200, the first 20 shown)" in out


def test_huge_messages_are_cut_the_same_way_in_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 20 MB failure message, warning and invalid line are shown cut short, on one line,
    and the text report shows what the JSON holds."""
    huge = "x" * (20 << 20)
    lines = [
        json.dumps({"status": "failed", "message": "A\nB " + huge, "warnings": ["W " + huge]}),
        json.dumps({"status": "nope " + huge}),
    ]
    path = tmp_path / "huge.ndjson"
    path.write_text("\n".join(lines) + "\n")
    assert main(["summarize", "--json", "--no-progress", str(path)]) == 1
    out = capsys.readouterr().out
    assert len(out) < 10_000
    got = json.loads(out)
    message = got["failure_messages"][0]["message"]
    warning = got["warnings"][0]["warning"]
    reason = got["invalid_lines"][0]["message"]
    assert message.startswith("A B xxx") and message.endswith("...") and len(message) == 200
    assert warning.startswith("W xxx") and len(warning) == 200
    assert reason.endswith("...") and len(reason) == 200
    assert main(["summarize", "--no-progress", str(path)]) == 1
    text = capsys.readouterr().out
    assert len(text) < 10_000
    for shown in (message, warning, reason):
        assert shown in text


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
)
def test_compressed_files_are_read_as_the_dask_counter_reads_them(
    workload: Path,
    tmp_path: Path,
    suffix: str,
    compress: Callable[[bytes], bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A file named .gz, .bz2 or .xz is decompressed: the summary of the plain file, and a
    progress bar that counts the bytes read without a compressed size as its total."""
    path = tmp_path / ("w.ndjson" + suffix)
    path.write_bytes(compress(workload.read_bytes()))
    got = _summarize_json([str(path), "--chunk-bytes", "65536"], capsys)
    assert got["invalid"] == 200 and got["source"] == str(path)
    _check(got, workload.read_bytes().split(b"\n")[:-1], top=5)
    assert main(["summarize", "--json", "--force-progress", str(path)]) == 1
    bar = capsys.readouterr().err
    assert "B" in bar and "%|" not in bar, bar  # bytes counted, no share of a total


def test_a_corrupt_compressed_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = gzip.compress(b'{"status": "ready"}\n' * 1000)
    for name, content in [("truncated.gz", data[: len(data) // 2]), ("bad.gz", b"not gzip")]:
        path = tmp_path / name
        path.write_bytes(content)
        assert main(["summarize", "--no-progress", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot read" in err and "Traceback" not in err


def test_exit_code_says_whether_any_line_was_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0 when every payload is valid, 1 when a line is invalid, as the help says; and counts
    of one are singular ("1 blank line")."""
    path = tmp_path / "ok.ndjson"
    path.write_bytes(b'{"status": "ready"}\n\n')
    assert main(["summarize", "--no-progress", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: 2 lines, 1 payload (1 blank line skipped)" in out
    path.write_bytes(b'{"status": "ready"}\n{"status": "nope"}\n')
    assert main(["summarize", "--no-progress", str(path)]) == 1
    assert "2 lines, 2 payloads (0 blank lines skipped)" in capsys.readouterr().out
    assert main(["summarize", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Exit status: 0 if every payload is valid, 1 if any line is invalid" in help_text
    assert ".gz" in help_text


def test_the_top_level_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    description = " ".join(capsys.readouterr().out.split("\n\n")[1].split())  # after usage
    for command in ("Benchmark", "generate", "summarize", "watch"):
        assert command in description, description
