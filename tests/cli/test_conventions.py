"""Conventions a user expects of a command line: ``--version``, ``--output json``, settings
from environment variables, JSON log lines, help without noise."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from suanli.cli import app, catalog, plan, scenario, serve, simulate, trace  # noqa: F401
from suanli.cli.logs import UVICORN_LOGGERS, JsonFormatter, LogFormat, configure_logging
from suanli.cli.output import dumps
from suanli.errors import InputError
from tests.conftest import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = FIXTURES / "tiny.yaml"
TINY_PLAN = FIXTURES / "tiny-plan.yaml"
TRACE = Path(__file__).resolve().parents[1] / "trace" / "fixtures" / "suanli" / "example.csv"
SERVE_SCENARIO = FIXTURES / "serve-two-sites.yaml"
TOKEN = "a-long-enough-token-0123456789-xyz"


def test_version() -> None:
    for flag in ("--version", "-V"):
        r = run_cli(flag)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"suanli {version('suanli')}\n"


def test_no_arguments_still_shows_help_and_commands() -> None:
    r = run_cli()
    text = r.stdout + r.stderr
    assert "Usage" in text and "--version" in text
    for command in ("catalog", "validate", "simulate", "plan", "serve", "trace"):
        assert command in text


def test_flags_have_no_type_label_in_help() -> None:
    for command in ("simulate", "serve", "plan"):
        out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        assert "<bool>" not in out, command
        assert "--help" in out and "<str>" in out


def test_validate_json_good_and_bad(tmp_path: Path) -> None:
    good = run_cli("validate", str(TINY), "--output", "json")
    assert good.returncode == 0, good.stderr
    doc = json.loads(good.stdout)
    assert doc["valid"] is True and doc["scenario"] == "tiny" and doc["hours"] == 24
    s = doc["summary"]
    assert s["total_devices"] == 96 and [x["id"] for x in s["sites"]] == ["east", "west"]
    assert s["classes"][0]["name"] == "train" and s["offered_load"] > 0
    data = yaml.safe_load(TINY.read_text())
    data["sites"][0]["pools"][0]["accelerator"] = "nvidia_h1000"
    data["horizon"]["hours"] = -1
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(yaml.safe_dump(data))
    bad = run_cli("validate", str(bad_file), "--output", "json")
    assert bad.returncode == 2
    doc = json.loads(bad.stdout)
    assert doc["valid"] is False and doc["problems"]
    for p in doc["problems"]:
        assert set(p) == {"where", "line", "field", "what", "hint"}
        assert p["where"] == str(bad_file)
    assert "horizon.hours" in {p["field"] for p in doc["problems"]}
    missing = run_cli("validate", str(tmp_path / "nope.yaml"), "--output", "json")
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["problems"][0]["what"] == "no such scenario file"


def test_simulate_json_is_one_stable_document(tmp_path: Path) -> None:
    args = ("simulate", str(TINY), "-p", "fifo", "-p", "backfill", "--no-plots")
    out = tmp_path / "report"
    runs = [run_cli(*args, "--out", str(out), "--output", "json") for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert runs[0].stdout == runs[1].stdout
    doc = json.loads(runs[0].stdout)
    assert set(doc) == {
        "scenario",
        "seed",
        "horizon_h",
        "currency",
        "placement",
        "drain",
        "jobs",
        "devices",
        "policies",
        "written",
    }
    assert doc["scenario"] == "tiny" and doc["devices"] == 96 and doc["drain"] is False
    assert list(doc["policies"]) == ["backfill", "fifo"]
    fifo = doc["policies"]["fifo"]
    assert fifo["jobs"]["submitted"] == doc["jobs"]
    for key in ("jct_h", "utilisation", "energy_mwh", "cost", "carbon_t", "fairness"):
        assert key in fifo
    metrics = json.loads((out / "metrics.json").read_text())
    assert doc["policies"] == metrics["policies"]
    assert doc["written"]["dir"] == str(out) and "metrics.json" in doc["written"]["files"]
    assert not any(f.endswith(".png") for f in doc["written"]["files"])
    assert "fifo" in runs[0].stderr  # progress goes to standard error


def test_simulate_table_says_what_it_wrote(tmp_path: Path) -> None:
    r = run_cli("simulate", str(TINY), "-p", "fifo", "--no-plots", "--out", str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    assert "report written" in r.stdout and "PNG plots" not in r.stdout


def test_plan_json_and_compare_json(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    r = run_cli(
        "plan", "--demand", str(TINY_PLAN), "--exact", "1", "--out", str(out), "--output", "json"
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["name"] == "tiny-plan" and doc["status"] == "optimal"
    assert doc["totals"]["new_devices"] > 0 and doc["pools"] and doc["inputs"]["planning"]
    assert doc["written"]["files"] == sorted(p.name for p in out.iterdir())
    plan_json = json.loads((out / "plan.json").read_text())
    assert doc["totals"]["new_devices"] == plan_json["totals"]["new_devices"]
    again = run_cli(
        "plan", "--demand", str(TINY_PLAN), "--exact", "1", "--out", str(out), "--output", "json"
    )
    assert again.stdout == r.stdout
    cmp = run_cli("plan", "--compare", str(TINY_PLAN), "--exact", "1", "--output", "json")
    assert cmp.returncode == 0, cmp.stderr
    doc = json.loads(cmp.stdout)
    assert set(doc) == {"comparison", "plans", "infeasible", "written"}
    assert [row["plan"] for row in doc["comparison"]] == ["tiny-plan"]
    assert doc["plans"][0]["name"] == "tiny-plan" and doc["infeasible"] == []
    assert doc["written"] is None


def test_trace_inspect_json(tmp_path: Path) -> None:
    args = ("trace", "inspect", str(TRACE), "--fleet", "nvidia_h100_sxm5:128", "--output", "json")
    r = run_cli(*args, "--out", str(tmp_path / "plots"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == {"file", "source", "meta", "stats", "fleet", "written"}
    assert doc["stats"]["jobs"] == 4 and doc["stats"]["tenants"] == 2
    assert doc["stats"]["gang"]["max"] == 64 and sum(doc["stats"]["gang_counts"].values()) == 4
    assert doc["meta"]["reference"] == "nvidia_h100_sxm5"
    assert doc["fleet"]["devices"] == 128 and doc["fleet"]["jobs"] == 4
    assert doc["written"]["files"] == ["arrivals.png", "duration_cdf.png", "gang_sizes.png"]
    plain = run_cli("trace", "inspect", str(TRACE), "--output", "json")
    assert json.loads(plain.stdout)["fleet"] is None
    assert run_cli("trace", "inspect", str(TRACE), "--output", "json").stdout == plain.stdout


def test_catalog_speaks_output_and_keeps_format() -> None:
    new = run_cli("catalog", "--vendor", "huawei", "--output", "json")
    old = run_cli("catalog", "--vendor", "huawei", "--format", "json")
    assert new.returncode == 0 and new.stdout == old.stdout and json.loads(new.stdout)
    assert "--format" not in run_cli("catalog", "--help").stdout
    clash = run_cli("catalog", "--output", "json", "--format", "csv")
    assert clash.returncode == 2 and "Traceback" not in clash.stderr


def test_json_dumps_is_stable_and_strict() -> None:
    text = dumps({"b": (1, 2.0), "a": float("nan"), "c": 0.1 + 0.2, "d": Path("x")})
    assert text == '{\n  "a": null,\n  "b": [\n    1,\n    2.0\n  ],\n  "c": 0.3,\n  "d": "x"\n}'


# --- suanli serve: settings from the environment, log lines ---------------------------------


@pytest.fixture
def saved_logging() -> Iterator[None]:
    """Put the root and uvicorn loggers back as they were after a test that sets them up."""
    root = logging.getLogger()
    names = ("", *UVICORN_LOGGERS)
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level) for n in names}
    propagate = {n: logging.getLogger(n).propagate for n in UVICORN_LOGGERS}
    yield
    for n, (handlers, level) in saved.items():
        logger = logging.getLogger(n) if n else root
        logger.handlers[:] = handlers
        logger.setLevel(level)
    for n, p in propagate.items():
        logging.getLogger(n).propagate = p


def test_serve_reads_settings_from_the_environment(tmp_path: Path) -> None:
    env = {
        "SUANLI_ADMIN_TOKEN": TOKEN,
        "SUANLI_SCENARIO": str(SERVE_SCENARIO),
        "SUANLI_DB": str(tmp_path / "s.db"),
        "SUANLI_DRY_RUN": "1",
        "SUANLI_POLICY": "nonexistent",
    }
    result = CliRunner().invoke(app, ["serve"], env=env)
    assert isinstance(result.exception, InputError), result.output
    text = str(result.exception)
    assert "--policy: unknown policy 'nonexistent'" in text and "valid policies: " in text
    flag_wins = CliRunner().invoke(app, ["serve", "--placement", "nope"], env=env)
    assert "unknown placement rule 'nope'" in str(flag_wins.exception)


def test_serve_passes_env_settings_to_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kw: calls.append(kw))
    monkeypatch.setattr(serve, "configure_logging", lambda fmt, level: calls.append({fmt: level}))
    env = {
        "SUANLI_ADMIN_TOKEN": TOKEN,
        "SUANLI_SCENARIO": str(SERVE_SCENARIO),
        "SUANLI_DB": str(tmp_path / "s.db"),
        "SUANLI_DRY_RUN": "true",
        "SUANLI_HOST": "0.0.0.0",
        "SUANLI_PORT": "8123",
        "SUANLI_LOG_LEVEL": "debug",
        "SUANLI_LOG_FORMAT": "json",
    }
    result = CliRunner().invoke(app, ["serve"], env=env)
    assert result.exit_code == 0, result.output
    assert calls[0] == {LogFormat.json: "debug"}
    kw = calls[1]
    assert (kw["host"], kw["port"], kw["log_level"], kw["log_config"]) == (
        "0.0.0.0",
        8123,
        "debug",
        None,
    )
    calls.clear()
    result = CliRunner().invoke(app, ["serve", "--port", "9000"], env=env)
    assert result.exit_code == 0, result.output
    assert calls[1]["port"] == 9000  # the flag wins over the variable


def test_serve_help_names_the_variables() -> None:
    out = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"}).output
    for var in ("SUANLI_SCENARIO", "SUANLI_PORT", "SUANLI_POLICY", "SUANLI_LOG_FORMAT"):
        assert var in out
    assert "--log-format" in out


def test_bad_log_level_is_a_usage_error(tmp_path: Path) -> None:
    env = {"SUANLI_ADMIN_TOKEN": TOKEN, "SUANLI_DB": str(tmp_path / "s.db")}
    args = ["serve", "--scenario", str(SERVE_SCENARIO), "--dry-run", "--log-level", "loud"]
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 2 and "--log-level" in result.output


def test_json_formatter_writes_one_object_per_line() -> None:
    record = logging.LogRecord("suanli.control", logging.WARNING, __file__, 1, "n=%d", (3,), None)
    record.created = 1_767_225_600.25  # 2026-01-01T00:00:00.250Z
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-01-01T00:00:00.250Z",
        "level": "WARNING",
        "logger": "suanli.control",
        "message": "n=3",
    }
    try:
        raise ValueError("bad")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "oops", (), sys.exc_info())
    doc = json.loads(JsonFormatter().format(failed))
    assert doc["message"] == "oops" and "ValueError: bad" in doc["exception"]


def test_configure_logging_sends_uvicorn_through_json(
    capsys: pytest.CaptureFixture[str], saved_logging: None
) -> None:
    root = logging.getLogger()
    root.handlers.clear()  # as in a fresh process; saved_logging restores them
    assert configure_logging(LogFormat.json, "info")
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://x")
    logging.getLogger("suanli.test").debug("below the level")
    lines = capsys.readouterr().err.splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["Uvicorn running on http://x"]
    assert json.loads(lines[0])["logger"] == "uvicorn.error"
    assert not configure_logging(LogFormat.text, "debug")  # already set up: left alone
