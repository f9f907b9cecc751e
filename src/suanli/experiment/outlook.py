"""How good is the expected start that ``/why`` gives? Measured in the simulator.

A run of one policy with a probe (:attr:`~suanli.sim.engine.Simulator.observe`): after
the round in which a job arrives, if it is still waiting, its expected start ``ŝ_j`` is
taken from :func:`suanli.core.outlook.outlook` — the same function the live control plane
answers with. At the end it is compared with the start the job really got, ``s_j``:

.. math::

    e_j = ŝ_j - s_j, \\qquad \\text{median}\\ |e_j|, \\qquad
    \\text{median}\\ \\frac{|e_j|}{s_j - a_j}\\ \\ (\\text{jobs that waited} \\ge 60\\ s),

with ``a_j`` the arrival; jobs that never started, or had no expected start (no pool up),
are counted apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from suanli.core.outlook import outlook
from suanli.core.state import DEFERRED, WAITING, SchedulingState
from suanli.experiment.run import scenario_workload
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.sim.engine import Simulator


@dataclass(frozen=True, slots=True)
class EtaError:
    """The expected start against the real one, over the jobs that waited at arrival."""

    policy: str
    probed: int
    started: int
    median_abs_error_h: float
    p90_abs_error_h: float
    median_error_h: float
    median_rel_error: float
    median_wait_h: float


def measure(scenario: Scenario, policy: str, seed: int = 0) -> EtaError:
    """Run ``policy`` on ``scenario`` with the probe; the expected start's error."""
    sc, jobs = scenario_workload(scenario, seed)
    guessed: dict[int, float] = {}
    seen: set[int] = set()

    def probe(st: SchedulingState, now: float) -> None:
        new = {
            j
            for j in range(len(st.status))
            if j not in seen and st.jobs.submit[j] <= now and st.status[j] in (WAITING, DEFERRED)
        }
        if not new:
            return
        seen.update(new)
        for j, ol in outlook(st, now, new).items():
            if ol.expected_start_s is not None:
                guessed[j] = ol.expected_start_s

    sim = Simulator(sc, jobs, make_policy(policy), seed=seed, observe=probe)
    res = sim.run()
    arrive = np.asarray(res.jobs.submit)
    idx = [j for j in sorted(guessed) if not math.isnan(res.first_start[j])]
    est = np.array([guessed[j] for j in idx])
    real = np.array([res.first_start[j] for j in idx])
    err = est - real
    wait = real - arrive[idx]
    long = wait >= 60.0
    rel = np.abs(err[long]) / wait[long]
    return EtaError(
        policy=policy,
        probed=len(guessed),
        started=len(idx),
        median_abs_error_h=float(np.median(np.abs(err))) / 3600 if len(idx) else math.nan,
        p90_abs_error_h=float(np.percentile(np.abs(err), 90)) / 3600 if len(idx) else math.nan,
        median_error_h=float(np.median(err)) / 3600 if len(idx) else math.nan,
        median_rel_error=float(np.median(rel)) if len(rel) else math.nan,
        median_wait_h=float(np.median(wait)) / 3600 if len(idx) else math.nan,
    )
