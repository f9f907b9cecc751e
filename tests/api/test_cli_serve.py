"""``suanli serve`` on the command line: options and the errors it stops with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from suanli.cli import app, catalog, scenario, serve, simulate, trace  # noqa: F401  (registers)
from suanli.errors import InputError
from tests.control.helpers import FIXTURES

SCENARIO = str(FIXTURES / "serve-two-sites.yaml")


def run_serve(*args: str, token: str | None = None) -> str:
    """Run ``suanli serve ARGS`` in process; return the InputError's text."""
    env = {"SUANLI_ADMIN_TOKEN": token} if token else {}
    result = CliRunner().invoke(app, ["serve", *args], env=env)
    assert isinstance(result.exception, InputError), result.output
    return str(result.exception)


def test_help_lists_the_options() -> None:
    out = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    for opt in (
        "--scenario",
        "--db",
        "--slurm-config",
        "--dry-run",
        "--port",
        "--policy",
        "--admin-token-file",
    ):
        assert opt in out


def test_needs_a_site_backend_and_exits_2() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SUANLI_ADMIN_TOKEN"}
    r = subprocess.run(
        [sys.executable, "-m", "suanli", "serve", "--scenario", SCENARIO],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "COLUMNS": "200"},
    )
    assert r.returncode == 2 and "give --slurm-config FILE or --dry-run" in r.stderr


def test_checks_the_slurm_config(tmp_path: Path) -> None:
    cfg = tmp_path / "slurm.yaml"
    cfg.write_text("sites:\n  east: {slurm_conf: /x}\n  mars: {}\n")
    text = run_serve(
        "--scenario", SCENARIO, "--slurm-config", str(cfg), "--db", str(tmp_path / "d")
    )
    assert "sites.west: missing" in text and "sites.mars" in text and "no GRES type" in text


@pytest.mark.parametrize(
    ("db", "token", "words"),
    [
        ("d.db", None, "SUANLI_ADMIN_TOKEN"),
        ("d.db", "short", "shorter than 16"),
        ("mysql://x/y", "a-long-enough-token-123", "unsupported database"),
    ],
)
def test_database_and_admin_token(tmp_path: Path, db: str, token: str | None, words: str) -> None:
    url = db if "://" in db else str(tmp_path / db)
    assert words in run_serve("--scenario", SCENARIO, "--dry-run", "--db", url, token=token)
