"""``iqm-runstatus watch`` against a loopback server: transitions as text and NDJSON, the live
counts, and the exit codes (0 all terminal, 1 some given up, 2 bad arguments)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from iqm_runstatus.__main__ import main
from poller_support import Reply, clear_environment
from support.scripts import run_python

FAST = ["--interval", "0.02", "--max-interval", "0.05", "--timeout", "5", "--no-progress"]


@pytest.fixture(autouse=True)
def no_proxy_or_token(monkeypatch):
    clear_environment(monkeypatch, "IQM_TOKEN")


def jobs_file(tmp_path: Path, *ids: str) -> str:
    path = tmp_path / "jobs.txt"
    path.write_text("\n".join(ids) + "\n\n")
    return str(path)


def test_watch_prints_transitions_and_exits_0_when_all_are_terminal(server, tmp_path, capsys):
    server.script("a", Reply(body=b'{"status": "pending compilation"}'))
    server.set("a", "ready")
    server.set("b", "failed", message="m")
    code = main(["watch", server.url, "--jobs", jobs_file(tmp_path, "a", " b ", "a"), *FAST])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(lines) == [
        "a: - -> pending compilation",
        "a: pending compilation -> ready",
        "b: - -> failed",
    ]
    assert lines.index("a: - -> pending compilation") < lines.index(
        "a: pending compilation -> ready"
    )


def test_watch_json_and_exit_1_when_a_job_is_given_up(server, tmp_path, capsys):
    server.set("a", "aborted")
    code = main(
        ["watch", server.url, "--jobs", jobs_file(tmp_path, "a", "missing"), "--json", *FAST]
    )
    assert code == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # One record shape; `event` says what happened.
    assert {
        "event": "transition",
        "job_id": "a",
        "previous": None,
        "current": "aborted",
        "reason": None,
    } in records
    assert {
        "event": "given_up",
        "job_id": "missing",
        "previous": None,
        "current": None,
        "reason": "HTTP 404 Not Found: the server does not know the job",
    } in records
    assert len(records) == 2


def test_watch_sends_the_token_and_reads_stdin(server, monkeypatch):
    server.set("a", "ready")
    monkeypatch.setenv("IQM_TOKEN", "from-env")
    result = run_python(
        "-m", "iqm_runstatus", "watch", server.url, "--jobs", "-", *FAST, input="a\n", timeout=60
    )
    assert result.stdout == "a: - -> ready\n"
    assert server.seen("a")[0].headers["Authorization"] == "Bearer from-env"


def test_watch_shows_live_counts_per_status(server, tmp_path, capsys):
    pytest.importorskip("tqdm")
    for job in ("a", "b", "c"):
        server.set(job, "pending execution")
    threading.Timer(0.3, lambda: [server.set(j, "ready") for j in ("a", "b", "c")]).start()
    args = ["watch", server.url, "--jobs", jobs_file(tmp_path, "a", "b", "c", "gone")]
    code = main([*args, *FAST[:-1], "--force-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "pending execution 3" in err
    assert "ready 3, given up 1" in err
    assert "4/4" in err


def watch_bounded(*args: str) -> list[str]:
    """``watch`` in a subprocess that must exit 1 within a minute: a job polled for ever fails
    the test instead of hanging it."""
    result = run_python("-m", "iqm_runstatus", "watch", *args, timeout=60, returncode=1)
    return result.stdout.splitlines()


def test_watch_prints_rejected_bodies_and_gives_the_job_up(server, tmp_path):
    server.set_body("bad", b"<html>Down for maintenance</html>")
    server.set("good", "ready")
    jobs = jobs_file(tmp_path, "bad", "good")
    lines = watch_bounded(server.url, "--jobs", jobs, *FAST, "--max-retries", "1")
    prefix = "bad: body rejected: "
    rejected = [line[len(prefix) :] for line in lines if line.startswith(prefix)]
    assert rejected and rejected[-1].startswith("JSONDecodeError: "), lines
    assert [line for line in lines if line.startswith("bad: given up: ")] == [
        f"bad: given up: the body was rejected (2 times in a row): {rejected[-1]}"
    ]
    assert "good: - -> ready" in lines


def test_watch_json_records_rejected_bodies(server, tmp_path):
    server.set_body("bad", b"<html>Down for maintenance</html>")
    jobs = jobs_file(tmp_path, "bad")
    lines = watch_bounded(server.url, "--jobs", jobs, "--json", *FAST, "--max-retries", "0")
    records = [json.loads(line) for line in lines]
    assert [record["event"] for record in records] == ["rejected", "given_up"]
    assert {tuple(record) for record in records} == {
        ("event", "job_id", "previous", "current", "reason")
    }
    assert records[0]["reason"].startswith("JSONDecodeError: ")


def test_watch_with_no_job_ids_says_so_and_exits_2(tmp_path, capsys):
    path = tmp_path / "jobs.txt"
    path.write_text("\n  \n")
    assert main(["watch", "http://127.0.0.1:1", "--jobs", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"iqm-runstatus: error: {str(path)!r} lists no job ids (one id a line)\n"
    )


def test_watch_names_a_missing_jobs_file_once(tmp_path, capsys):
    missing = str(tmp_path / "missing.txt")
    assert main(["watch", "http://127.0.0.1:1", "--jobs", missing]) == 2
    err = capsys.readouterr().err
    assert err == f"iqm-runstatus: error: cannot read {missing!r}: No such file or directory\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["ftp://x", "--jobs", "JOBS"], "invalid base_url"),
        (["example.com", "--jobs", "JOBS"], "it has no scheme; write it as https://example.com"),
        (["http://127.0.0.1:1", "--jobs", "missing.txt"], "cannot read"),
        (["http://127.0.0.1:1", "--jobs", "JOBS", "--interval", "0"], "positive number"),
    ],
)
def test_watch_bad_arguments_exit_2(tmp_path, capsys, args, message):
    args = [jobs_file(tmp_path, "a") if arg == "JOBS" else arg for arg in args]
    assert main(["watch", *args]) == 2
    assert message in capsys.readouterr().err
