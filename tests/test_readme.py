"""The README's shell examples run as written, in a scratch copy of the repository.

Every ``sh`` block in README.md carries a marker in the HTML comment just above it:

* ``<!-- readme-test: run -->`` — run here;
* ``<!-- readme-test: run needs=shared -->`` — run when ``../shared/data`` is there (else skip);
* ``<!-- readme-test: run needs=slurm -->`` — run when local Slurm clusters can be started
  (else skip, or fail under ``SUANLI_REQUIRE_INFRA=1``);
* ``<!-- readme-test: skip: REASON -->`` — not run, for the reason given.

A block runs with ``bash -euo pipefail`` in a scratch directory that holds a link to every
top-level entry of the repository (so ``tests/fixtures/…`` and ``.venv/bin/…`` resolve) and
``../shared`` beside it; the package's scripts come first on ``PATH``, as after ``make setup``.
Whatever the block starts in the background is stopped when it ends. Afterwards the scratch
directory must hold nothing new but ``out/``: examples write their files there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from devtools.slurm_local import unavailable_reason as slurm_unavailable_reason

from tests.conftest import REPO_ROOT, shared_data_path
from tests.fixtures_infra import infra_missing

README = REPO_ROOT / "README.md"
MARKER = re.compile(
    r"<!-- readme-test: (?P<spec>.*?) -->\n```(?:sh|bash)\n(?P<body>.*?)^```", re.M | re.S
)
BLOCK = re.compile(r"^```(?:sh|bash)$", re.M)
#: Longest a block may run (the slowest, ``plan --compare``, takes about a minute).
TIMEOUT_S = 600


@dataclass(frozen=True)
class Example:
    """One shell block of the README: its line, how the test treats it, its text."""

    line: int
    spec: str
    body: str

    @property
    def id(self) -> str:
        return f"README.md:{self.line}"


def examples() -> list[Example]:
    text = README.read_text(encoding="utf-8")
    return [
        Example(text.count("\n", 0, m.start("body")), m["spec"].strip(), m["body"])
        for m in MARKER.finditer(text)
    ]


def test_every_shell_block_is_marked() -> None:
    """A new example cannot go untested by accident: every sh block says how it is tested."""
    text = README.read_text(encoding="utf-8")
    blocks = [text.count("\n", 0, m.start()) + 1 for m in BLOCK.finditer(text)]
    marked = [e.line for e in examples()]
    assert blocks == marked, f"sh blocks at lines {sorted(set(blocks) - set(marked))} lack a marker"
    for e in examples():
        assert e.spec == "run" or e.spec.startswith(("run needs=", "skip: ")), (e.id, e.spec)


def scratch_copy(tmp_path: Path) -> Path:
    """``tmp/repo``: links to the repository's top-level entries but ``out``; ``tmp/shared``."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for entry in REPO_ROOT.iterdir():
        if entry.name not in {"out", ".git"}:
            (repo / entry.name).symlink_to(entry)
    shared = shared_data_path().parent
    if shared.is_dir():
        (tmp_path / "shared").symlink_to(shared)
    return repo


def stop_group(pgid: int, grace_s: float = 30.0) -> None:
    """SIGTERM every process the block left (servers, clusters), then SIGKILL the stragglers."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def run_block(example: Example, repo: Path, log: Path) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUANLI_", "SLURM_"))}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "COLUMNS": "160",
        "NO_COLOR": "1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", example.body],
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            rc = -1
        finally:
            stop_group(proc.pid)
    return rc, log.read_text(errors="replace")


@pytest.mark.parametrize("example", examples(), ids=lambda e: e.id)
def test_readme_example_runs(example: Example, tmp_path: Path) -> None:
    if example.spec.startswith("skip: "):
        pytest.skip(example.spec.removeprefix("skip: "))
    if example.spec == "run needs=shared" and not shared_data_path().is_dir():
        pytest.skip(f"shared data folder not found at {shared_data_path()}")
    if example.spec == "run needs=slurm" and (reason := slurm_unavailable_reason()):
        infra_missing(reason)
    repo = scratch_copy(tmp_path)
    before = {p.name for p in repo.iterdir()}
    rc, output = run_block(example, repo, tmp_path / "output.txt")
    assert rc == 0, (
        f"{example.id} exited {rc} ({'timed out' if rc == -1 else 'failed'}):\n{output[-4000:]}"
    )
    new = sorted({p.name for p in repo.iterdir()} - before - {"out"})
    assert not new, f"{example.id} wrote {new} outside out/"
