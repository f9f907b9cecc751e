"""``suanli simulate --trace``: a trace replayed on its own fleet, a named fleet, or the
national default, through the same report as generated workloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def philly_trace(tmp_path_factory: pytest.TempPathFactory, fixtures: Path) -> Path:
    out = tmp_path_factory.mktemp("tr") / "philly.csv"
    res = run_cli(
        "trace",
        "convert",
        str(fixtures / "philly" / "philly.csv"),
        "--from",
        "philly",
        "--out",
        str(out),
    )
    assert res.returncode == 0, res.stderr
    return out


@pytest.mark.parametrize("fleet", ["own", "philly-hetero", "cn-hubs-2026"])
def test_replay_on_fleets(philly_trace: Path, tmp_path: Path, fleet: str) -> None:
    out = tmp_path / "r"
    res = run_cli(
        "simulate",
        "--trace",
        str(philly_trace),
        "--fleet",
        fleet,
        "-p",
        "fifo",
        "-p",
        "backfill",
        "--out",
        str(out),
        "--no-plots",
    )
    assert res.returncode == 0, res.stderr
    m = json.loads((out / "metrics.json").read_text())
    for pol in ("fifo", "backfill"):
        jobs = m["policies"][pol]["jobs"]
        assert jobs["submitted"] > 0
        assert jobs["finished"] + jobs["unfinished"] == jobs["submitted"]
        assert jobs["unfinished"] == jobs["never_startable"]  # replays drain to the end
    assert (
        m["policies"]["backfill"]["jct_h"]["mean"] <= m["policies"]["fifo"]["jct_h"]["mean"] + 1e-9
    )


def test_fleet_without_trace_is_an_error() -> None:
    res = run_cli("simulate", "--fleet", "own")
    assert res.returncode == 2
    assert "only with --trace" in res.stderr and "Traceback" not in res.stderr


def test_missing_trace_file(tmp_path: Path) -> None:
    res = run_cli("simulate", "--trace", str(tmp_path / "none.csv"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
