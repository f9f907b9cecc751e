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
        "--sites",
        "--slurm-config",
        "--dry-run",
        "--placement",
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
    assert r.returncode == 2 and "give one of --sites FILE or --dry-run" in r.stderr
    assert "Traceback" not in r.stderr
    two = run_serve("--scenario", SCENARIO, "--dry-run", "--sites", "x.yaml")
    assert "(got --sites and --dry-run)" in two


def test_checks_the_sites_file(tmp_path: Path) -> None:
    cfg = tmp_path / "sites.yaml"
    cfg.write_text("sites:\n  east: {backend: slurm, slurm_conf: /x}\n  mars: {backend: slurm}\n")
    text = run_serve("--scenario", SCENARIO, "--sites", str(cfg), "--db", str(tmp_path / "d"))
    assert f"{cfg}: sites.west: missing" in text and "sites.mars" in text
    assert "no device type for nvidia_h100_sxm5" in text
    bad = CliRunner().invoke(
        app, ["serve", "--scenario", SCENARIO, "--dry-run", "--placement", "nope"]
    )
    assert "unknown placement rule 'nope'; valid placement rules: best-fit" in str(bad.exception)


def test_the_old_slurm_config_still_works_with_a_warning(tmp_path: Path) -> None:
    """--slurm-config: the same checks, after a deprecation message (this release only)."""
    cfg = tmp_path / "slurm.yaml"
    cfg.write_text("sites:\n  east: {slurm_conf: /x}\n  mars: {}\n")
    result = CliRunner().invoke(
        app,
        ["serve", "--scenario", SCENARIO, "--slurm-config", str(cfg), "--db", str(tmp_path / "d")],
        env={"SUANLI_ADMIN_TOKEN": "a-long-enough-token-0123456789-xyz"},
    )
    assert isinstance(result.exception, InputError)
    assert "--slurm-config is deprecated" in result.output
    text = str(result.exception)
    assert "sites.west: missing" in text and "sites.mars" in text and "no device type" in text


@pytest.mark.parametrize(
    ("db", "token", "words"),
    [
        ("d.db", None, "SUANLI_ADMIN_TOKEN"),
        ("d.db", "short", "too weak: shorter than 32"),
        ("mysql://x/y", "a-long-enough-token-0123456789-xyz", "unsupported database"),
    ],
)
def test_database_and_admin_token(tmp_path: Path, db: str, token: str | None, words: str) -> None:
    url = db if "://" in db else str(tmp_path / db)
    assert words in run_serve("--scenario", SCENARIO, "--dry-run", "--db", url, token=token)
