"""``SimResult.work_done``: the work each batch job did by the end of a run — all of it when
it finished, else its last checkpoint plus what its running stretch computed since (the
services benchmark's "batch work done in the week")."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator
from tests.sim.helpers import H100, job, scenario, site


def test_finished_running_and_waiting_jobs() -> None:
    sc = scenario([site("a", [(H100, 8)])], hours=2)
    jobs = [
        job("short", 0.0, 8, 1800.0),  # 0.5 h on the 8 devices: finishes
        job("long", 0.0, 8, 36_000.0),  # starts at 0.5 h, runs past the end (2 h)
        job("never", 0.0, 8, 600.0),  # waits behind the long one
    ]
    r = Simulator(sc, jobs, make_policy("fifo"), seed=1).run()
    assert r.done.tolist() == [True, False, False]
    work = np.asarray(r.jobs.work)
    assert r.work_done[0] == work[0]
    assert r.work_done[2] == 0.0
    # the long job computes from its start (after the short one) to the end, at its rate
    (stretch,) = [s for s in r.stretches if s.job == 1]
    rate = work[1] / 36_000.0
    assert r.work_done[1] == pytest.approx(rate * (7200.0 - stretch.compute_start_s))
    assert 0 < r.work_done[1] < work[1]
