"""Fixtures of the report tests: a small simulated report (the browser is in
tests/fixtures_browser.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run_cli

TINY = REPO_ROOT / "tests" / "fixtures" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report directory: ``suanli simulate tests/fixtures/tiny.yaml`` (default policies)."""
    out = tmp_path_factory.mktemp("report") / "tiny"
    res = run_cli("simulate", str(TINY), "--out", str(out), "--no-plots")
    assert res.returncode == 0, res.stderr
    return out
