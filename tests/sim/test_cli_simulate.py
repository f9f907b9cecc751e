"""``suanli simulate`` end to end: report files, determinism, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.conftest import run_cli

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny.yaml"


def test_report_files_and_determinism(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, "5"), (b, "5"), (c, "6")):
        res = run_cli("simulate", str(TINY), "--seed", seed, "--out", str(out))
        assert res.returncode == 0, res.stderr
    names = {p.name for p in a.iterdir()}
    for policy in ("fifo", "backfill", "greedy-cost", "suanli"):
        assert {
            f"jobs-{policy}.csv",
            f"sites-{policy}.csv",
            f"utilisation-power-{policy}.png",
        } <= names
    assert {"metrics.json", "timing.json", "cost-carbon.png", "jct-cdf.png", "map.png"} <= names
    for name in sorted(names - {"timing.json"}):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "metrics.json").read_bytes() != (c / "metrics.json").read_bytes()
    m = json.loads((a / "metrics.json").read_text())
    assert set(m["policies"]) == {"fifo", "backfill", "greedy-cost", "suanli"}
    fifo = m["policies"]["fifo"]
    assert fifo["jobs"]["submitted"] == fifo["jobs"]["finished"] + fifo["jobs"]["unfinished"]
    assert "avg JCT" in res.stdout and "report written" in res.stdout


def test_one_policy_and_seed(tmp_path: Path) -> None:
    res = run_cli(
        "simulate", str(TINY), "-p", "backfill", "--out", str(tmp_path / "r"), "--no-plots"
    )
    assert res.returncode == 0, res.stderr
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert list(m["policies"]) == ["backfill"]
    assert m["seed"] == yaml.safe_load(TINY.read_text())["workload"]["generator"]["seed"]
    assert not list((tmp_path / "r").glob("*.png"))


def test_unknown_policy_lists_valid_names(tmp_path: Path) -> None:
    res = run_cli("simulate", str(TINY), "-p", "fastest", "--out", str(tmp_path / "x"))
    assert res.returncode == 2
    assert "unknown policy 'fastest'" in res.stderr
    assert "backfill" in res.stderr and "fifo" in res.stderr and "greedy-cost" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "x").exists()


def test_bad_policy_parameter(tmp_path: Path) -> None:
    data = yaml.safe_load(TINY.read_text())
    data["policies"] = {"backfill": {"max_jobs_per_rund": 10}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    res = run_cli("simulate", str(path), "-p", "backfill", "--out", str(tmp_path / "x"))
    assert res.returncode == 2
    assert "max_jobs_per_rund" in res.stderr and "max_jobs_per_round" in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_seed_option() -> None:
    res = run_cli("simulate", str(TINY), "--seed", "abc")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
