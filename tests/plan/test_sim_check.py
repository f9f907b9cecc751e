"""A plan checked in the simulator delivers its demand within 5%.

Runs only where the simulator (``suanli.sim``) is installed; it skips otherwise.
The fleet of a small plan is simulated for a week with its generated demand and
the backfill baseline; the work done in the second half of the week (after the
warm-up), progress of running jobs included, is compared with each class's demand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from suanli.config import load_scenario
from suanli.plan.delivery import check_delivery, work_in_window
from suanli.plan.run import run_plan, write_outputs
from suanli.plan.solve import SolveOptions
from suanli.workload.generator import generate_jobs

sim_run = pytest.importorskip("suanli.experiment.run", reason="the simulator is not installed")

Writer = Callable[..., Path]


def test_plan_delivers_its_demand_in_the_simulator(write_plan: Writer, tmp_path: Path) -> None:
    path = write_plan()
    week = (path.parent / "tiny.yaml").read_text("utf-8").replace("hours: 24}", "hours: 168}")
    (path.parent / "tiny.yaml").write_text(week, "utf-8")
    run = run_plan(path, options=SolveOptions(exact_shadow=0))
    write_outputs(run, tmp_path / "out", plots=False)
    sc = load_scenario(tmp_path / "out" / "plan-scenario.yaml")
    assert sc.hours == 168
    jobs = generate_jobs(sc, np.random.default_rng(0))
    [result] = sim_run.run_policies(sc, jobs, ["backfill"], 0)
    profiles = result.tables.profile_ids
    runs = []
    for j in range(len(jobs)):
        began = float(result.first_start[j])
        if math.isnan(began):
            continue
        ended = float(result.finish[j])
        pool = int(result.last_pool[j])
        rate = next(c.rate for c in result.jobs.candidates(j) if c.pool == pool)
        runs.append(
            (
                profiles[result.jobs.profile[j]],
                began,
                math.inf if math.isnan(ended) else ended,
                rate,
            )
        )
    half = sc.horizon_s / 2
    checks = check_delivery(run.plan, work_in_window(runs, half, sc.horizon_s), half)
    assert all(c.ok for c in checks), checks
