"""Fixtures shared by the whole test suite: the shared data folder and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Fixtures for real local infrastructure (Slurm clusters, PostgreSQL).
pytest_plugins = ["tests.fixtures_infra", "tests.fixtures_browser"]

#: The repository root (this file is ``<repo>/tests/conftest.py``).
REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_path() -> Path:
    """``$SUANLI_SHARED_DATA``, else ``<repo>/../shared/data``."""
    override = os.environ.get("SUANLI_SHARED_DATA")
    return (Path(override) if override else REPO_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; tests that read it are skipped, with the path tried, when absent."""
    path = shared_data_path()
    if not path.is_dir():
        pytest.skip(
            f"shared data folder not found at {path}; "
            "set SUANLI_SHARED_DATA to the folder holding catalog/ and traces/"
        )
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m suanli ARGS`` as a user would; capture text output."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "suanli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )
