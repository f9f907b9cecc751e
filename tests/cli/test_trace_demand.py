"""``suanli trace convert --from servegen|azure-llm|mooncake`` and ``trace inspect`` of a
demand file, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import suanli.cli.trace  # noqa: F401  (registers the trace commands)
from suanli.cli import app
from suanli.errors import SuanliError
from suanli.workload.demand_file import read_demand
from tests.conftest import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class _Result:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(*args: str) -> _Result:
    """``suanli ARGS`` in process, as :func:`suanli.cli.main` runs it (user errors: 2)."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
    if isinstance(result.exception, SuanliError):
        return _Result(2, result.stdout, str(result.exception))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return _Result(result.exit_code, result.stdout, result.stderr)


def test_convert_servegen_then_inspect(tmp_path: Path) -> None:
    out = tmp_path / "demand.json"
    r = run(
        "trace",
        "convert",
        str(FIXTURES / "servegen-mini"),
        "--from",
        "servegen",
        "--out",
        str(out),
        "--service",
        "chat",
        "--region",
        "cn-west",
        "--timezone",
        "Asia/Urumqi",
        "--peak",
        "8",
        "--window-minutes",
        "30",
    )
    assert r.returncode == 0, r.stderr
    line = r.stdout.splitlines()[0]
    assert "1 curve(s); chat@cn-west: 2 windows of 30 min (Asia/Urumqi), peak 8.00 req/s" in line
    assert "mean input 20.0" in line
    (curve,) = read_demand(out).curves
    assert curve.rate_rps == (8.0, 4.0)
    r = run("trace", "inspect", str(out), "--output", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["curves"][0]["windows"] == 2
    assert doc["curves"][0]["peak_rps"] == 8.0
    assert doc["requests"] == []


def test_convert_mooncake_keeps_requests(tmp_path: Path) -> None:
    out = tmp_path / "kimi.json"
    src = FIXTURES / "demand" / "mooncake-mini.jsonl"
    r = run("trace", "convert", str(src), "--from", "mooncake", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "5 requests in 1 trace(s)" in r.stdout
    assert len(read_demand(out).requests[0].trace) == 5


def test_refusals_exit_2_without_traceback(tmp_path: Path) -> None:
    azure = str(FIXTURES / "demand" / "azure-mini.csv")
    out = str(tmp_path / "d.json")
    # an option of the batch converters, with a demand source
    r = run("trace", "convert", azure, "--from", "azure-llm", "--out", out, "--cluster", "x")
    assert r.returncode == 2
    assert "--cluster do not apply to --from azure-llm" in r.stderr
    assert "Traceback" not in r.stderr
    # a demand option with a batch source
    r = run("trace", "convert", azure, "--from", "philly", "--out", out, "--peak", "5")
    assert r.returncode == 2
    assert "--peak do not apply to --from philly" in r.stderr
    # an unknown source lists every valid one
    r = run("trace", "convert", azure, "--from", "azure", "--out", out)
    assert r.returncode == 2
    for name in ("servegen", "azure-llm", "mooncake", "philly", "openb"):
        assert name in r.stderr
    assert not (tmp_path / "d.json").exists()


def test_bad_demand_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "suanli-demand", "version": 7}')
    r = run_cli("trace", "inspect", str(bad))
    assert r.returncode == 2
    assert str(bad) in r.stderr
    assert "version: unsupported version 7" in r.stderr
    assert "Traceback" not in r.stderr
    src = tmp_path / "bad.jsonl"
    src.write_text('{"timestamp": 0, "input_length": 0, "output_length": 1}\n')
    r = run_cli(
        "trace", "convert", str(src), "--from", "mooncake", "--out", str(tmp_path / "o.json")
    )
    assert r.returncode == 2
    assert f"{src}:1: input_length" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o.json").exists()
