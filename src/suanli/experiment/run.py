"""Run a scenario's workload through one or more policies (the ``simulate`` job)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from suanli.core.sharing import DEFAULT_PLACEMENT, placement_rule
from suanli.core.tables import FleetTables, build_tables
from suanli.errors import SuanliError
from suanli.experiment.parallel import run_all
from suanli.model.job import Job
from suanli.model.scenario import GeneratorSpec, Scenario, TraceSpec
from suanli.policy.registry import (
    DEFAULT_SERVING_POLICY,
    make_policy,
    make_serving_policy,
    policy_names,
    serving_policy_names,
)
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from suanli.workload.generator import generate_jobs

#: The baseline policies every result is compared with.
BASELINES: tuple[str, ...] = ("fifo", "backfill", "greedy-cost")
#: What ``suanli simulate`` and ``suanli sweep`` run when no policy is named: the
#: baselines and suanli's own scheduler.
DEFAULT_POLICIES: tuple[str, ...] = (*BASELINES, "suanli")


def scenario_workload(scenario: Scenario, seed: int) -> tuple[Scenario, list[Job]]:
    """The scenario's jobs — from its generator with ``seed``, or from its trace — and the
    scenario to run them on (a trace may add tenants and profiles and lengthen the horizon)."""
    if isinstance(scenario.workload, GeneratorSpec):
        return scenario, generate_jobs(scenario, np.random.default_rng(seed))
    if isinstance(scenario.workload, TraceSpec):
        from suanli.trace.replay import scenario_jobs

        r = scenario_jobs(scenario)
        return r.scenario, r.jobs
    raise SuanliError(
        f"scenario {scenario.name} has no workload; add workload.generator or workload.trace"
    )


def default_seed(scenario: Scenario) -> int:
    """The generator's seed in the scenario (0 without a generator)."""
    return scenario.workload.seed if isinstance(scenario.workload, GeneratorSpec) else 0


@dataclass(frozen=True, slots=True)
class Run:
    """What every policy of a run simulates: the same scenario, jobs, seed and rules."""

    scenario: Scenario
    tables: FleetTables
    jobs: Sequence[Job]
    seed: int
    drain: bool
    placement: str
    #: The serving policy that scales the scenario's services (None: no services).
    serving: str | None = None


def run_policy(run: Run, name: str, progress: Callable[[float], None] | None = None) -> SimResult:
    """Simulate ``run``'s jobs under policy ``name`` (its own generator, seeded alike)."""
    sc = run.scenario
    policy = make_policy(name, sc.policy_params.get(name), np.random.default_rng(run.seed))
    serving = None
    if run.serving is not None and sc.services:
        params = sc.policy_params.get(f"serving/{run.serving}")
        serving = make_serving_policy(run.serving, params, np.random.default_rng(run.seed))
    return Simulator(
        sc,
        run.jobs,
        policy,
        seed=run.seed,
        drain=run.drain,
        tables=run.tables,
        progress=progress,
        placement=run.placement,
        serving=serving,
    ).run()


def run_policies(
    scenario: Scenario,
    jobs: Sequence[Job],
    policies: Sequence[str],
    seed: int,
    *,
    drain: bool = False,
    placement: str = DEFAULT_PLACEMENT,
    progress: Callable[[str, float], None] | None = None,
    ray: str | None = None,
    serving: str | None = DEFAULT_SERVING_POLICY,
) -> list[SimResult]:
    """Simulate ``jobs`` under each policy (same jobs, same seed), with the device placement
    rule ``placement`` (:mod:`suanli.core.sharing`): one after the other here, or each as a
    task on the Ray cluster ``ray`` (:mod:`suanli.experiment.parallel`; a long replay split
    by policy). The results are the same either way. The scenario's services, if any, are
    scaled by the serving policy ``serving`` in every run (None: left out)."""
    unknown = [p for p in policies if p not in policy_names()]
    if unknown:
        make_policy(unknown[0])  # raises the error listing valid names
    placement_rule(placement)
    if serving is not None and serving not in serving_policy_names():
        make_serving_policy(serving)  # raises the error listing valid names
    run = Run(scenario, build_tables(scenario), jobs, seed, drain, placement, serving)
    if ray is not None:
        done = (lambda i, _n: progress(policies[i - 1], 1.0)) if progress is not None else None
        return run_all(run_policy, run, list(policies), ray=ray, progress=done)
    results = []
    for name in policies:
        cb = (lambda f, n=name: progress(n, f)) if progress is not None else None
        results.append(run_policy(run, name, cb))
    return results
