"""`make run` and `make test` take `PYTHON=`, and stop at once, saying why, for an interpreter
that cannot run them."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or not (ROOT / "Makefile").exists(), reason="needs make"
)


# The Makefile's variables a caller may have in the environment (.ci/run exports
# REUSE_WHEELS): the commands checked here are those of a plain `make`.
MAKE_VARIABLES = {"REUSE_WHEELS", "PYTHON", "PYTHONS", "TEST_PYTHONS", "VENV", "FUZZ_SMOKE_SECONDS"}


def make(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MAKE") and k not in MAKE_VARIABLES
    }
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def interpreter(version: str) -> str | None:
    found = shutil.which(f"python{version}")
    prefix = (
        subprocess.run(
            ["pyenv", "prefix", version], capture_output=True, text=True, check=False
        ).stdout.strip()
        if shutil.which("pyenv")
        else ""
    )
    candidate = Path(prefix) / "bin" / f"python{version}"
    return str(candidate) if prefix and candidate.exists() else found


def test_an_interpreter_that_does_not_run() -> None:
    for target in ("run", "test"):
        result = make(target, "PYTHON=no-such-python")
        assert result.returncode != 0
        assert "PYTHON=no-such-python does not run: name a CPython 3.9 to 3.13" in result.stderr


def test_an_unsupported_interpreter() -> None:
    python = interpreter("3.8")
    if python is None:
        pytest.skip("no Python 3.8 here")
    result = make("run", f"PYTHON={python}")
    assert result.returncode != 0
    assert "is Python 3.8; iqm_runstatus supports CPython 3.9 to 3.13" in result.stderr


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_make_test_needs_an_interpreter_the_reference_installs_on(version: str) -> None:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} here")
    result = make("test", f"PYTHON={python}")
    assert result.returncode != 0
    assert f"is Python {version}, where iqm-client 17.2" in result.stderr
    assert "make test needs CPython 3.9 to 3.11" in result.stderr
    # It stopped before making a virtualenv from that interpreter.
    assert not (ROOT / f".venv-{version}").exists()


def dry_run(*args: str) -> str:
    """The commands make would run for ``args``, every target taken as out of date (``-B``),
    none run (``-n``)."""
    result = make("-n", "-B", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_installs_only_what_it_runs() -> None:
    commands = dry_run("run")
    assert "-r requirements-run.txt" in commands
    assert "requirements-dev.txt" not in commands and "requirements-test.txt" not in commands
    assert "maturin develop --release" in commands
    assert commands.rstrip().endswith("-m iqm_runstatus bench")


@pytest.mark.parametrize("target", ["test", "test-fast", "lint", "venv"])
def test_the_test_and_lint_targets_add_the_rest(target: str) -> None:
    commands = dry_run(target)
    assert "-r requirements-run.txt" in commands
    assert "-r requirements-dev.txt" in commands


def test_the_requirements_nest() -> None:
    def includes(name: str) -> list[str]:
        text = (ROOT / name).read_text(encoding="utf-8")
        return [line.split()[1] for line in text.splitlines() if line.startswith("-r ")]

    assert includes("requirements-run.txt") == []
    assert includes("requirements-test.txt") == ["requirements-run.txt"]
    assert includes("requirements-dev.txt") == ["requirements-test.txt"]


def test_each_interpreter_keeps_its_own_virtualenv() -> None:
    default = make("-n", "-B", "run").stdout
    assert "python3 -m venv .venv\n" in default
    other = "3.10" if "3.10" != sys_version() else "3.9"
    python = interpreter(other)
    if python is None:
        pytest.skip(f"no Python {other} here")
    commands = dry_run("run", f"PYTHON={python}")
    assert f"rm -rf .venv-{other}\n" in commands
    assert f"-m venv .venv-{other}\n" in commands
    assert f".venv-{other}/bin/python -m iqm_runstatus bench" in commands
    assert "rm -rf .venv\n" not in commands


def test_a_changed_requirements_file_upgrades_the_virtualenv(tmp_path: Path) -> None:
    # A virtualenv whose stamps are older than every requirements file: make installs the
    # files again into it, and does not make it anew.
    venv = tmp_path / "venv"
    venv.mkdir()
    for stamp in (f".python-{sys_version()}", ".installed-run", ".installed-dev"):
        (venv / stamp).touch()
        os.utime(venv / stamp, (0, 0))
    os.utime(venv / f".python-{sys_version()}")  # the virtualenv itself is current
    result = make("-n", "venv", f"VENV={venv}", "PYTHON=python3")
    assert result.returncode == 0, result.stderr
    assert "-r requirements-run.txt" in result.stdout
    assert "-r requirements-dev.txt" in result.stdout
    assert "rm -rf" not in result.stdout and " -m venv " not in result.stdout


def test_make_test_fast_prints_the_slowest_tests() -> None:
    assert "--durations=10" in dry_run("test-fast")


def sys_version() -> str:
    result = subprocess.run(
        ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


# The modules the benchmark adds to those the interpreter starts with (site's own aside).
BENCH_IMPORTS = """
import json, sys
before = set(sys.modules)
from iqm_runstatus.__main__ import main
assert main(["bench", "--size", "200", "--repeat", "1"]) == 0
print(json.dumps(sorted({name.partition(".")[0] for name in set(sys.modules) - before})))
"""


def requirement_closure(names: list[str]) -> set[str]:
    """The distributions ``names`` install, with everything they require (extras aside)."""
    found: set[str] = set()
    todo = [canonical(name) for name in names]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            if "extra ==" not in requirement.partition(";")[2]:
                todo.append(canonical(re.match(r"[A-Za-z0-9._-]+", requirement).group(0)))
    return found


def top_level_owners() -> dict[str, set[str]]:
    """The distributions that installed each top-level module (before Python 3.11,
    ``metadata.packages_distributions`` reads only ``top_level.txt``: the file lists then)."""
    owners: dict[str, set[str]] = {}
    if sys.version_info >= (3, 11):
        for module, names in metadata.packages_distributions().items():
            owners[module] = {canonical(name) for name in names}
        return owners
    for dist in metadata.distributions():
        for file in dist.files or []:
            top = file.parts[0] if file.parts else ""
            module = top[: -len(".py")] if top.endswith(".py") else top.split(".")[0]
            owners.setdefault(module, set()).add(canonical(dist.metadata["Name"]))
    return owners


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_benchmark_imports_only_what_make_run_installs() -> None:
    # `make run` installs requirements-run.txt and nothing else: the benchmark it runs must
    # need no other distribution.
    lines = (ROOT / "requirements-run.txt").read_text(encoding="utf-8").splitlines()
    listed = [re.match(r"[A-Za-z0-9._-]+", line).group(0) for line in lines if line[:1].isalpha()]
    allowed = requirement_closure(listed) | {"iqm-runstatus"}
    proc = subprocess.run(
        [sys.executable, "-c", BENCH_IMPORTS],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = json.loads(proc.stdout.splitlines()[-1])
    owners = top_level_owners()
    imported = {dist for module in modules for dist in owners.get(module, ())}
    assert imported <= allowed, imported - allowed
    assert "pydantic" in imported


def test_make_clean_removes_every_interpreters_virtualenv() -> None:
    assert "rm -rf .venv .venv-* " in dry_run("clean")


def test_make_test_pythons_runs_the_fast_tier_and_the_differential_tests() -> None:
    # `-o` takes the wheels as built: only the commands of the tests are listed, none run.
    result = make("-n", "-o", "dist/.built-3.11", "test-pythons", "PYTHONS=3.11")
    assert result.returncode == 0, result.stderr
    fast, differential = [line for line in result.stdout.splitlines() if "-m pytest" in line]
    assert "HYPOTHESIS_PROFILE=dev" in fast and '-m "not slow"' in fast
    assert "HYPOTHESIS_PROFILE=ci" in differential and "tests/test_parity.py" in differential
    # The sdist check builds without LTO: it checks that the sdist builds, not how fast.
    assert "CARGO_PROFILE_RELEASE_LTO=off" in result.stdout


@pytest.mark.parametrize("option", [["-p", "no:timeout"], ["-o", "timeout=0"]])
def test_a_run_without_the_time_limit_stops(option: list[str]) -> None:
    # Every pytest run of the suite (make test, each interpreter's and each client release's
    # virtualenv) has pytest-timeout's limit: one without it stops before running a test.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *option,
            "tests/test_profiles.py",
            "-k",
            "test_dev_runs_a_tenth",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "pytest-timeout is not active" in result.stderr + result.stdout
    assert " passed" not in result.stdout


def test_reuse_wheels_installs_the_wheel_instead_of_compiling_again() -> None:
    # CI (REUSE_WHEELS=1): the virtualenv and the client matrix get the wheel `make wheels`
    # builds for their interpreter; nothing else compiles the release extension.
    commands = dry_run("build", "test-clients", "REUSE_WHEELS=1")
    tag = "cp" + sys_version().replace(".", "")
    assert f"install --quiet --no-deps --force-reinstall dist/*-{tag}-{tag}-*.whl" in commands
    # One wheel compiled, for both (the other interpreters' are `make wheels`' alone).
    assert commands.count("maturin build") == 1, commands
    assert "--zig" in commands
    assert "maturin develop" not in commands
    assert "cp dist/*-cp311-cp311-*.whl build/clients/wheel/" in commands


def test_without_reuse_wheels_make_build_needs_no_zig() -> None:
    commands = dry_run("build")
    assert "maturin develop --release" in commands
    assert "--zig" not in commands and "requirements-wheels.txt" not in commands


def test_test_pythons_runs_the_interpreters_test_pythons_names() -> None:
    result = make(
        "-n", "-o", "dist/.built-3.9-3.10", "test-pythons", "PYTHONS=3.9 3.10", "TEST_PYTHONS=3.10"
    )
    assert result.returncode == 0, result.stderr
    assert "venv=build/pythons/$version" in result.stdout
    assert "for version in 3.10; do" in result.stdout


def test_the_fuzz_smoke_takes_its_length() -> None:
    assert "-max_total_time=30 " in dry_run("fuzz-smoke", "FUZZ_SMOKE_SECONDS=30")
    assert "-max_total_time=60 " in dry_run("fuzz-smoke")
