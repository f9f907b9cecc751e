"""GPU sharing end to end from the command line: an openb trace with pods that ask for half
a GPU, converted and replayed on its own two-GPU node, under each placement rule."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from suanli.core.sharing import PLACEMENTS
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def sharing_trace(tmp_path_factory: pytest.TempPathFactory, fixtures: Path) -> Path:
    out = tmp_path_factory.mktemp("tr") / "openb-sharing.csv"
    res = run_cli(
        "trace", "convert", str(fixtures / "openb-sharing"), "--from", "openb", "--out", str(out)
    )
    assert res.returncode == 0, res.stderr
    return out


def simulate(trace: Path, out: Path, policy: str, *placement: str) -> dict[str, object]:
    """``suanli simulate --trace`` with one policy; its metrics; asserts a clean exit."""
    extra = ["--placement", *placement] if placement else []
    res = run_cli(
        "simulate", "--trace", str(trace), "-p", policy, *extra, "--out", str(out), "--no-plots"
    )
    assert res.returncode == 0, res.stderr
    assert "jobs sharing a device" in res.stdout
    assert f"placement {placement[0] if placement else 'best-fit'}" in res.stdout
    metrics: dict[str, object] = json.loads((out / "metrics.json").read_text())["policies"][policy]
    return metrics


@pytest.mark.parametrize("placement", ["best-fit", "fgd"])
@pytest.mark.parametrize("policy", ["fifo", "backfill"])
def test_half_gpu_pods_share_devices(
    sharing_trace: Path, tmp_path: Path, policy: str, placement: str
) -> None:
    """Two GPUs: four half-GPU pods run at once (two per GPU); the fifth starts when the
    first ends; the two-GPU pod needs both GPUs wholly free, so it waits for the fifth."""
    out = tmp_path / "r"
    m: Any = simulate(sharing_trace, out, policy, placement)
    with (out / f"jobs-{policy}.csv").open() as fh:
        rows = {r["job"]: r for r in csv.DictReader(fh)}
    start = {k: float(r["start_h"]) * 3600 for k, r in rows.items()}
    for i in range(4):
        assert start[f"half-{i}"] == pytest.approx(i, abs=0.01)
        assert float(rows[f"half-{i}"]["jct_h"]) * 3600 == pytest.approx(1000, abs=0.01)
        assert rows[f"half-{i}"]["devices"] == "0.5"
    assert start["half-4"] == pytest.approx(1000, abs=0.01)
    assert start["pair-5"] == pytest.approx(2000, abs=0.01)
    assert rows["pair-5"]["devices"] == "2"
    assert m["placement"] == placement
    assert m["sharing"]["share_jobs"] == 5
    # two shared devices for ~1,000 s, then one until 2,000 s
    assert m["sharing"]["shared_device_hours"] * 3600 == pytest.approx(3000, rel=0.01)


def test_worst_fit_spreads_the_pods(sharing_trace: Path, tmp_path: Path) -> None:
    """Spreading puts the first two pods on separate GPUs; the schedule is the same here,
    but the shared devices are opened sooner."""
    spread: Any = simulate(sharing_trace, tmp_path / "w", "fifo", "worst-fit")
    packed: Any = simulate(sharing_trace, tmp_path / "b", "fifo")  # best-fit by default
    assert spread["placement"] == "worst-fit" and packed["placement"] == "best-fit"
    assert spread["sharing"]["shared_devices_mean"] > packed["sharing"]["shared_devices_mean"]


def test_unknown_placement_exits_2(sharing_trace: Path) -> None:
    res = run_cli("simulate", "--trace", str(sharing_trace), "--placement", "tightest")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    for name in PLACEMENTS:
        assert name in res.stderr
