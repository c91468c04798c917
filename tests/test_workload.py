"""The workload generator and the command line: deterministic, realistic, and rejected where bad."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from iqm_runstatus import RunStatus
from iqm_runstatus.__main__ import main
from iqm_runstatus._summary import summarize_stream
from iqm_runstatus._workload import THREE_PAYLOADS, generate_payloads, iter_payloads
from support.oracle import RefRunStatus
from support.outcomes import outcome
from support.scripts import run_python


def _reference(raw: bytes) -> RefRunStatus:
    return RefRunStatus.from_dict(json.loads(raw))


def test_three_payloads_are_the_sizes_the_benchmarks_name() -> None:
    assert {k: len(v) for k, v in THREE_PAYLOADS.items()} == {
        "pending": 32,
        "ready_warning": 84,
        "failed": 144,
    }
    assert THREE_PAYLOADS["pending"] == b'{"status":"pending compilation"}'
    ready = _reference(THREE_PAYLOADS["ready_warning"])
    assert ready.status == "ready" and ready.warnings is not None and len(ready.warnings) == 1
    failed = _reference(THREE_PAYLOADS["failed"])
    assert failed.status == "failed" and failed.message
    assert failed.warnings is not None and len(failed.warnings) == 2


def test_same_seed_same_payloads_and_a_longer_run_extends_a_shorter_one() -> None:
    a = generate_payloads(2000, seed=7)
    assert a == generate_payloads(2000, seed=7)
    assert a[:500] == generate_payloads(500, seed=7)
    assert a == list(iter_payloads(2000, seed=7))
    assert a != generate_payloads(2000, seed=8)


@pytest.mark.parametrize(
    ("seed", "rate", "digest"),
    [
        (0, 0.0, "c890406566c8f2e8e0bad8a56d8900f75a70090c3ed5c3b608adcb965d729fed"),
        (7, 0.1, "7f296eacfd48772ce0a6e59d8cb884b15626578e61ea3a1acca602fffc17592f"),
    ],
)
def test_the_payloads_of_a_seed_do_not_change(seed: int, rate: float, digest: str) -> None:
    """The workload of a seed is the same from release to release (benchmarks compare runs
    of it): these digests are of the payloads as the generator wrote them before its lines were
    joined from pre-rendered pieces. Each payload is also exactly the compact JSON of its own
    value, keys in the model's order."""
    payloads = generate_payloads(20_000, seed=seed, invalid_rate=rate)
    assert hashlib.sha256(b"\n".join(payloads)).hexdigest() == digest
    if rate == 0:
        for payload in payloads:
            again = json.dumps(json.loads(payload), separators=(",", ":"), ensure_ascii=False)
            assert again.encode() == payload


@pytest.mark.slow
def test_generating_costs_less_than_summarizing(tmp_path: Path) -> None:
    """Writing n generated payloads takes under 4 times as long as summarizing them, taken in
    turns: about 2.5 with lines joined from pre-rendered pieces and written in bulk, about 7
    when each line was a dict passed to json.dumps and written on its own."""
    path = tmp_path / "w.ndjson"
    fastest = {"generate": float("inf"), "summarize": float("inf")}
    for _ in range(3):
        start = time.perf_counter()
        assert main(["generate", "--count", "100000", "--seed", "2", str(path)]) == 0
        fastest["generate"] = min(fastest["generate"], time.perf_counter() - start)
        start = time.perf_counter()
        with path.open("rb") as stream:
            summary = summarize_stream(stream)
        fastest["summarize"] = min(fastest["summarize"], time.perf_counter() - start)
        assert summary.payloads == 100_000
    ratio = fastest["generate"] / fastest["summarize"]
    print(f"generate/summarize time ratio: {ratio:.2f}")
    assert ratio < 4


def test_the_mix_is_mostly_pending_and_ready() -> None:
    payloads = generate_payloads(20_000, seed=3)
    dicts = [json.loads(p) for p in payloads]
    share = {s: n / len(dicts) for s, n in Counter(d["status"] for d in dicts).items()}
    assert share["pending compilation"] + share["pending execution"] + share["ready"] > 0.8
    assert 0.03 < share["failed"] < 0.12 and 0.005 < share["aborted"] < 0.06
    assert all(d["message"] for d in dicts if d["status"] == "failed")
    assert any(d.get("warnings") for d in dicts if d["status"] == "ready")
    assert any(d.get("warnings") for d in dicts if d["status"] == "failed")
    assert any("message" in d and d["message"] is None for d in dicts)
    # Compact, as the server sends it.
    assert all(not p.startswith(b"{ ") and b'": ' not in p for p in payloads)


@pytest.mark.parametrize("rate", [0.0, 0.013, 0.25, 1.0])
def test_invalid_rate_is_exact_and_leaves_the_valid_payloads_alone(rate: float) -> None:
    count = 3000
    clean = generate_payloads(count, seed=11)
    mixed = generate_payloads(count, seed=11, invalid_rate=rate)
    changed = [i for i in range(count) if clean[i] != mixed[i]]
    assert len(changed) == round(count * rate)
    for i in changed:
        assert outcome(_reference, mixed[i])[0] == "err", mixed[i]


def test_every_payload_parses_as_the_reference_parses_it() -> None:
    # Valid and malformed alike: the same instance, or the same exception.
    for raw in generate_payloads(4000, seed=5, invalid_rate=0.3):
        assert outcome(RunStatus.from_json, raw) == outcome(_reference, raw), raw


def test_malformed_payloads_cover_every_kind() -> None:
    raised = [outcome(_reference, raw) for raw in generate_payloads(2000, seed=2, invalid_rate=1.0)]
    names = {kind.rpartition(".")[2] for ok, kind, *_ in raised if ok == "err"}
    assert {"JSONDecodeError", "KeyError", "ValueError", "ValidationError"} <= names


@pytest.mark.parametrize(("count", "rate"), [(-1, 0.0), (5, -0.1), (5, 1.5), (5, float("nan"))])
def test_bad_generator_arguments_raise_value_error(count: int, rate: float) -> None:
    with pytest.raises(ValueError):
        iter_payloads(count, invalid_rate=rate)


def test_cli_generate_writes_the_payloads_as_ndjson(tmp_path: Path) -> None:
    out = tmp_path / "w.ndjson"
    argv = ["generate", "--count", "300", "--seed", "4", "--invalid-rate", "0.1", str(out)]
    assert main(argv) == 0
    assert out.read_bytes().split(b"\n") == [
        *generate_payloads(300, seed=4, invalid_rate=0.1),
        b"",
    ]


@pytest.mark.slow  # a subprocess writing many payloads
def test_cli_generate_to_stdout() -> None:
    proc = run_python("-m", "iqm_runstatus", "generate", "--count", "20", "-", text=False)
    assert proc.stdout.splitlines() == generate_payloads(20)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nope"],
        ["bench", "--size", "0"],
        ["bench", "--repeat", "x"],
        ["generate", "-"],
        ["generate", "--count", "-3", "-"],
        ["generate", "--count", "3", "--invalid-rate", "2", "-"],
        ["generate", "--count", "3", "/nonexistent-dir/out.ndjson"],
    ],
)
def test_cli_bad_arguments_give_one_line_and_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err


def test_cli_bench_checks_and_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--size", "300", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "RunStatus.from_json" in out and "RunStatus.from_dict" in out and "speed-up" in out
