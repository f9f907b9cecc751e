"""Experiments on a Ray cluster of two nodes: ``suanli sweep --ray`` (on the national
default) and ``suanli simulate --ray`` give byte-identical results to the runs on this
machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suanli.errors import InputError
from suanli.experiment.parallel import run_all
from tests.conftest import run_cli
from tests.fixtures_infra import RayClusterFactory, RaySpec

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny.yaml"
#: On the national default: two policies, one seed, two loads (four week-long simulations).
SWEEP = ["-p", "fifo", "-p", "backfill", "--seeds", "1", "--loads", "0.4,0.9"]


def _add(shared: int, item: int) -> int:
    return shared + item


def test_run_all_keeps_item_order_here() -> None:
    assert run_all(_add, 10, [3, 1, 2], workers=2) == [13, 11, 12]
    assert run_all(_add, 10, [], workers=1) == []


def test_a_missing_cluster_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="cannot connect to the Ray cluster"):
        run_all(_add, 0, [1], ray="127.0.0.1:1")


def test_sweep_and_simulate_on_ray_are_byte_identical(
    ray_clusters: RayClusterFactory, tmp_path: Path
) -> None:
    (cluster,) = ray_clusters(RaySpec("ray-two", workers=1))
    assert cluster.alive_nodes() == 2
    here, there = tmp_path / "here", tmp_path / "there"
    local = run_cli("sweep", *SWEEP, "--workers", "2", "--out", str(here))
    assert local.returncode == 0, local.stderr
    remote = run_cli("sweep", *SWEEP, "--ray", cluster.gcs_address, "--out", str(there))
    assert remote.returncode == 0, remote.stderr
    for name in ("sweep.json", "sweep.csv"):
        assert (here / name).read_bytes() == (there / name).read_bytes(), name
    rows = json.loads((here / "sweep.json").read_text())
    assert len(rows) == 2 * 2 and {r["jobs"] for r in rows} != {0}

    sim = ["simulate", str(TINY), "-p", "fifo", "-p", "las", "--no-plots"]
    a = run_cli(*sim, "--out", str(tmp_path / "sim-here"))
    b = run_cli(*sim, "--ray", cluster.gcs_address, "--out", str(tmp_path / "sim-there"))
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    for f in sorted((tmp_path / "sim-here").iterdir()):
        if f.name != "timing.json":  # wall times differ
            assert f.read_bytes() == (tmp_path / "sim-there" / f.name).read_bytes(), f.name
