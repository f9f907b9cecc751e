"""Fidelity in CI: the simulator against the live control plane on two real Slurm clusters.

Two scenario hours of ``tests/fixtures/fidelity.yaml`` (about 20 jobs on 16 fake GPUs of
two types) replayed through the live control plane 60 times faster than real time, then
simulated with the dispatch latency the live run measured. The tolerances are those of
docs/fidelity.md for this scale: Slurm's own scheduling cycle (up to about a second, i.e.
a minute of scenario time here) is noise that a faster replay magnifies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.config import load_scenario
from suanli.errors import InputError
from suanli.experiment import fidelity
from suanli.experiment.run import scenario_workload
from suanli.sites.config import load_sites
from tests.control.helpers import FIXTURES
from tests.fixtures_infra import ClusterSpec, SlurmClusterFactory

SCALE = 60.0
#: Tolerances at SCALE (docs/fidelity.md).
JCT_RATIO = 0.05
SAME_PLACE = 0.90
FINISH_SHARE = 0.05


def test_the_harness_refuses_what_it_cannot_replay() -> None:
    _, jobs = scenario_workload(load_scenario(str(FIXTURES / "two-clocks.yaml")), 7)
    with pytest.raises(InputError, match="reads a data set"):
        fidelity.prepare(jobs)


def test_simulator_predicts_the_live_run(
    slurm_clusters: SlurmClusterFactory, tmp_path: Path
) -> None:
    east_c, west_c = slurm_clusters(ClusterSpec("fde"), ClusterSpec("fdw", gpu_type="a100"))
    sc, jobs = scenario_workload(load_scenario(str(FIXTURES / "fidelity.yaml")), 11)
    jobs = fidelity.prepare(jobs)
    sites = load_sites(
        {
            "device_types": {"nvidia_h100_sxm5": "h100", "nvidia_a100_sxm4_80g": "a100"},
            "sites": {
                "east": {
                    "backend": "slurm",
                    "slurm_conf": str(east_c.conf_path),
                    "allow_root": True,
                },
                "west": {
                    "backend": "slurm",
                    "slurm_conf": str(west_c.conf_path),
                    "allow_root": True,
                },
            },
        },
        sc,
    )
    live = fidelity.replay_live(sc, jobs, "fifo", sites, scale=SCALE, workdir=tmp_path)
    sim = fidelity.simulate(sc, jobs, "fifo", dispatch_s=live.dispatch_latency_s)
    got = fidelity.compare(jobs, live, sim)
    print("\n".join(f"{k}: {v}" for k, v in got.rows()))
    assert got.jobs == len(jobs) >= 15
    assert abs(got.jct_ratio - 1.0) <= JCT_RATIO
    assert got.same_place >= SAME_PLACE
    assert got.finish_error_median_share <= FINISH_SHARE
    assert set(live.dispatch_latency_s) == {"east", "west"}
