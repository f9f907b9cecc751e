"""``suanli sweep``: policies × seeds × loads in parallel, a table and plots."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from suanli.config import load_scenario
from suanli.config.summary import scaled, summarize
from tests.conftest import run_cli

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny.yaml"


def test_scaled_offers_the_load_asked_for() -> None:
    sc = load_scenario(TINY)
    for load in (0.3, 0.9):
        assert summarize(scaled(sc, load)).offered_load == pytest.approx(load)


def test_sweep_cli(tmp_path: Path) -> None:
    res = run_cli(
        "sweep",
        str(TINY),
        "-p",
        "fifo",
        "-p",
        "suanli",
        "--seeds",
        "1,2",
        "--loads",
        "0.3,0.8",
        "--workers",
        "2",
        "--placement",
        "fgd",
        "--out",
        str(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert len(rows) == 2 * 2 * 2
    assert {r["placement"] for r in rows} == {"fgd"}
    assert all(float(r["fragmented_mean"]) >= 0 for r in rows)
    assert {r["policy"] for r in rows} == {"fifo", "suanli"}
    assert {float(r["load"]) for r in rows} == {0.3, 0.8}
    by_policy = {(r["policy"], r["load"], r["seed"]): r["jobs"] for r in rows}
    for (_, load, seed), n in by_policy.items():  # same workload for every policy
        assert by_policy[("fifo", load, seed)] == by_policy[("suanli", load, seed)] == n
    for name in ("sweep-jct.png", "sweep-cost.png", "sweep-carbon.png", "sweep.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_sweep_bad_placement(tmp_path: Path) -> None:
    res = run_cli("sweep", str(TINY), "--placement", "tight", "--out", str(tmp_path))
    assert res.returncode == 2 and "best-fit" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "sweep.csv").exists()


def test_sweep_bad_loads(tmp_path: Path) -> None:
    res = run_cli("sweep", str(TINY), "--loads", "high", "--out", str(tmp_path))
    assert res.returncode == 2 and "--loads" in res.stderr and "Traceback" not in res.stderr
