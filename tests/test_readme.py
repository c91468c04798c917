"""The README's code blocks run as written, so that the README cannot drift from the package.

Each ``python`` block runs in a fresh namespace and each ``sh`` block under ``bash -e``, in a
directory holding ``statuses.ndjson`` (the file the blocks read). A block that needs a server
is marked ``<!-- readme: not run (reason) -->`` on the line before its fence; one that another
test runs as written is marked ``<!-- readme: run by tests/test_X.py -->``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
from iqm_runstatus._workload import generate_payloads

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TESTS_DIR = ROOT / "tests"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
MARK = re.compile(r"<!-- readme: (not run \(.+\)|run by tests/(test_\w+\.py)) -->\n$")
# Blocks that need a server or a built artefact: a few, and each says why.
MOST_NOT_RUN = 6
# About 300 lines, with room for a short paragraph or two; detail goes to CONTRIBUTING.md.
MOST_LINES = 330


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int
    mark: Optional[str]
    run_by: Optional[str]

    @property
    def id(self) -> str:
        return f"{self.language}-line-{self.line}"


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    for fence in FENCE.finditer(text):
        before = text[: fence.start()]
        mark = MARK.search(before[before.rfind("\n", 0, len(before) - 1) + 1 :])
        blocks.append(
            Block(
                language=fence.group(1),
                code=fence.group(2),
                line=before.count("\n") + 1,
                mark=mark.group(1) if mark else None,
                run_by=mark.group(2) if mark else None,
            )
        )
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
RUN_HERE = [block for block in BLOCKS if block.mark is None]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    payloads = generate_payloads(2000, seed=7, invalid_rate=0.01)
    (tmp_path / "statuses.ndjson").write_bytes(b"\n".join(payloads) + b"\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_blocks_are_found() -> None:
    languages = {block.language for block in BLOCKS}
    assert languages == {"python", "sh"}, languages
    assert any("from iqm_runstatus import RunStatus" in block.code for block in RUN_HERE)


def test_few_blocks_are_left_unrun() -> None:
    not_run = [block.id for block in BLOCKS if block.mark and block.run_by is None]
    assert len(not_run) <= MOST_NOT_RUN, not_run


def test_a_block_run_elsewhere_is_read_from_the_readme_there() -> None:
    for block in BLOCKS:
        if block.run_by:
            source = (TESTS_DIR / block.run_by).read_text(encoding="utf-8")
            assert '"README.md"' in source and "```python" in source, block.run_by


def test_the_readme_stays_short() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= MOST_LINES, f"README.md has {lines} lines; move detail to CONTRIBUTING.md"


def test_the_files_the_readme_links_to_exist() -> None:
    targets = re.findall(r"\]\(([^)#:]+)\)", README.read_text(encoding="utf-8"))
    assert "examples/count_shards.py" in targets
    assert [t for t in targets if not (ROOT / t).is_file()] == []


def test_the_readme_opens_with_what_a_user_needs() -> None:
    headings = re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), re.MULTILINE)
    assert headings[:4] == ["Install", "Migration", "Client releases", "The two commands"]


def test_extras_are_installed_from_the_checkout() -> None:
    # The package is on no index: an extra is installed from a checkout or a wheel.
    text = README.read_text(encoding="utf-8")
    assert "pip install '.[dask]'" in text
    assert "pip install 'iqm-runstatus[" not in text and "pip install iqm-runstatus" not in text


@pytest.mark.parametrize(
    "block", [b for b in RUN_HERE if b.language == "python"], ids=lambda block: block.id
)
def test_python_block(block: Block, workdir: Path) -> None:
    code = compile(block.code, f"README.md:{block.line}", "exec")
    exec(code, {"__name__": "readme_block"})


@pytest.mark.parametrize(
    "block", [b for b in RUN_HERE if b.language == "sh"], ids=lambda block: block.id
)
def test_shell_block(block: Block, workdir: Path) -> None:
    if "make " in block.code:
        # `make run` and `make test` build and install: tests/test_makefile.py checks what
        # they do, and this checks that they are the targets they are said to be.
        for target in re.findall(r"^make (\S+)", block.code, re.MULTILINE):
            makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
            assert re.search(rf"^{target}:.*## ", makefile, re.MULTILINE), target
        return
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run(
        ["bash", "-e", "-c", block.code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
