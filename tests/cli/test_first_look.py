"""A user's first look at the console (issue 20): progress per policy and per step on
standard error with elapsed time and ETA, tables whole through a pipe or a narrow
``COLUMNS``, units that suit the numbers, and help without noise."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.progress import Progress
from typer.main import get_command
from typer.testing import CliRunner

from suanli.cli import app, catalog, plan, scenario, simulate, sweep, trace  # noqa: F401
from suanli.sim.engine import Simulator
from tests.conftest import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = FIXTURES / "tiny.yaml"
TINY_PLAN = FIXTURES / "tiny-plan.yaml"
TRACE = Path(__file__).resolve().parents[1] / "trace" / "fixtures" / "suanli" / "example.csv"
POLICIES = ("fifo", "backfill", "greedy-cost", "suanli")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_piped(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m suanli ARGS`` with standard output and error piped, as in ``| less``:
    no ``COLUMNS`` unless given in ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "suanli", *args],
        capture_output=True,
        text=True,
        env={**base, "NO_COLOR": "1", **env},
        timeout=600,
    )


def frames(stderr: str) -> list[str]:
    """The lines a terminal was shown on standard error (every redraw, escapes removed)."""
    return [line for line in ANSI.sub("", stderr).replace("\r", "\n").splitlines() if line]


def simulate_args(out: Path, *policies: str) -> list[str]:
    return ["simulate", str(TINY), *(f"-p{p}" for p in policies), "--no-plots", "--out", str(out)]


# --- 1. simulate: a progress line per policy, on standard error, with elapsed and ETA ----------


def test_simulate_progress_is_per_policy_on_stderr_with_eta(tmp_path: Path) -> None:
    r = run_piped(*simulate_args(tmp_path / "r", "fifo", "backfill"))
    assert r.returncode == 0, r.stderr
    assert "100.0%" not in r.stdout and "ETA" not in r.stdout  # the table only, no bars
    lines = r.stderr.splitlines()
    for policy in ("fifo", "backfill"):
        line = next(x for x in lines if x.split()[0] == policy)
        assert "100.0%" in line and "elapsed" in line and "ETA" in line, line


def test_simulate_json_on_a_terminal_keeps_progress_off_stdout(tmp_path: Path) -> None:
    args = simulate_args(tmp_path / "r", "fifo", "backfill")
    r = run_piped(*args, "--output", "json", TTY_COMPATIBLE="1", COLUMNS="120")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["jobs"] == 29  # one document, nothing else
    shown = frames(r.stderr)
    assert any(x.split()[0] == "backfill" and "ETA" in x for x in shown)
    again = run_piped(*args, "--output", "json")
    assert again.stdout == r.stdout  # progress never changes the results


def test_each_policy_clock_starts_when_it_runs_and_reports_come_by_wall_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Progress] = []
    reports: list[tuple[str, float]] = []
    bar, hook = simulate.progress_bar, simulate.policy_progress

    def recording_bar(**kw: Any) -> Progress:
        made.append(bar(**kw))
        return made[-1]

    def recording_hook(progress: Progress, policies: Any, **kw: Any) -> Any:
        report = hook(progress, policies, **kw)

        def record(name: str, done: float) -> None:
            reports.append((name, done))
            report(name, done)

        return record

    monkeypatch.setattr(simulate, "progress_bar", recording_bar)
    monkeypatch.setattr(simulate, "policy_progress", recording_hook)
    monkeypatch.setattr(Simulator, "report_s", 0.0)  # a report after every instant
    result = CliRunner().invoke(app, simulate_args(tmp_path / "r", "fifo", "backfill"))
    assert result.exit_code == 0, result.output
    first, second = made[0].tasks
    assert first.description == "fifo" and second.description == "backfill"
    assert first.start_time is not None and second.start_time is not None
    assert first.finished_time is not None and second.finished_time is not None
    assert second.start_time >= first.start_time + first.finished_time  # its own clock
    for policy in ("fifo", "backfill"):
        done = [f for name, f in reports if name == policy]
        assert len(done) > 20  # tiny has far fewer than 5,000 events: moved by wall time
        assert done == sorted(done) and done[-1] == 1.0


def test_sweep_progress_on_stderr_with_eta(tmp_path: Path) -> None:
    r = run_piped(
        "sweep", str(TINY), "-p", "fifo", "--seeds", "1", "--loads", "0.5",
        "--workers", "1", "--out", str(tmp_path / "s"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "1/1" not in r.stdout and "sweep (mean over seeds)" in r.stdout
    line = next(x for x in r.stderr.splitlines() if x.split()[:1] == ["sweep"])
    assert "1/1" in line and "ETA" in line
    assert re.search(r"carbon (kg|t|kt)", r.stdout)


# --- 2. plan --compare and trace inspect: a step at a time, on standard error -------------


def test_plan_compare_shows_a_step_per_plan(tmp_path: Path) -> None:
    args = ("plan", "--compare", str(TINY_PLAN), str(TINY_PLAN), "--exact", "1")
    r = run_piped(*args, "--output", "json", TTY_COMPATIBLE="1", COLUMNS="160")
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["plans"]) == 2
    shown = frames(r.stderr)
    assert any(f"{TINY_PLAN}: solving the MILP" in x for x in shown)
    assert any("1/2" in x for x in shown) and "2/2" in shown[-1]
    table = run_piped(*args)
    assert table.returncode == 0 and "2/2" not in table.stdout and "2/2" in table.stderr


def test_trace_inspect_shows_its_steps(tmp_path: Path) -> None:
    args = ("trace", "inspect", str(TRACE), "--fleet", "nvidia_h100_sxm5:128")
    r = run_piped(*args, "--out", str(tmp_path / "p"), "--output", "json", TTY_COMPATIBLE="1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stats"]["jobs"] == 4
    shown = "\n".join(frames(r.stderr))
    for step in ("reading example.csv", "statistics", "mapping onto", "plots", "4/4"):
        assert step in shown, step
    table = run_piped(*args)
    assert table.returncode == 0 and "3/3" not in table.stdout and "3/3" in table.stderr
    assert "Gang sizes" in table.stdout


# --- 3. tables whole through a pipe, or narrower than COLUMNS allows ----------------------


def test_catalog_piped_is_whole() -> None:
    rows = json.loads(run_cli("catalog", "--output", "json").stdout)
    for env in ({}, {"COLUMNS": "60"}):
        r = run_piped("catalog", **env)
        assert r.returncode == 0, r.stderr
        assert "…" not in r.stdout, env
        lines = r.stdout.splitlines()
        for row in rows:
            line = next(x for x in lines if f" {row['id']} " in x)
            vendor = row["vendor"].split()[0]  # "Kunlunxin (Baidu)" may wrap at the space
            assert vendor in line and row["eccn_3a090"] in line, (env, line)
        headers = "\n".join(lines[:5])
        for title in ("FP8", "HBM", "TPP", "3A090", "Jan-26"):
            assert title in headers


def test_simulate_piped_table_is_whole(tmp_path: Path) -> None:
    r = run_piped(*simulate_args(tmp_path / "r", *POLICIES))
    assert r.returncode == 0, r.stderr
    assert "…" not in r.stdout
    header = next(x for x in r.stdout.splitlines() if "metric" in x)
    assert [c.strip() for c in header.split("┃")[2:-1]] == list(POLICIES)
    for label in ("jobs finished", "avg queueing (h)", "unallocated (device-h)", "fragmented"):
        assert any(label in x for x in r.stdout.splitlines()), label
    narrow = run_piped(*simulate_args(tmp_path / "n", *POLICIES), COLUMNS="50")
    assert "…" not in narrow.stdout
    header = next(x for x in narrow.stdout.splitlines() if "metric" in x)
    assert [c.strip() for c in header.split("┃")[2:-1]] == list(POLICIES)


# --- 4. wording: units, help ----------------------------------------------------------


def test_small_energy_and_carbon_are_not_zero(tmp_path: Path) -> None:
    r = run_cli(*simulate_args(tmp_path / "r", "fifo"))
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())["policies"]["fifo"]
    assert 0 < metrics["energy_mwh"] < 1 and 0 < metrics["carbon_t"] < 1  # a small run
    energy = re.search(r"│ energy \(kWh\)\s*│\s*([\d,.]+) │", r.stdout)
    carbon = re.search(r"│ carbon \(kg CO₂\)\s*│\s*([\d,.]+) │", r.stdout)
    assert energy and energy[1] == f"{metrics['energy_mwh'] * 1e3:,.0f}"
    assert carbon and carbon[1] == f"{metrics['carbon_t'] * 1e3:,.0f}"


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out += _commands(cmd, (*path, name))
        else:
            out.append((*path, name))
    return out


def test_no_command_labels_a_flag_bool() -> None:
    from suanli.cli import admin, jobs, serve  # noqa: F401

    commands = _commands(get_command(app))
    assert ("trace", "convert") in commands and ("simulate",) in commands
    for command in commands:
        out = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
        assert "<bool>" not in out, command
