"""Run a scenario's workload through one or more policies (the ``simulate`` job)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from suanli.core.sharing import DEFAULT_PLACEMENT
from suanli.core.tables import build_tables
from suanli.errors import SuanliError
from suanli.model.job import Job
from suanli.model.scenario import GeneratorSpec, Scenario, TraceSpec
from suanli.policy.registry import make_policy, policy_names
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


def run_policies(
    scenario: Scenario,
    jobs: Sequence[Job],
    policies: Sequence[str],
    seed: int,
    *,
    drain: bool = False,
    placement: str = DEFAULT_PLACEMENT,
    progress: Callable[[str, float], None] | None = None,
) -> list[SimResult]:
    """Simulate ``jobs`` under each policy (same jobs, same tables, same seed), with the
    device placement rule ``placement`` (:mod:`suanli.core.sharing`)."""
    unknown = [p for p in policies if p not in policy_names()]
    if unknown:
        make_policy(unknown[0])  # raises the error listing valid names
    tables = build_tables(scenario)
    results = []
    for name in policies:
        rng = np.random.default_rng(seed)
        policy = make_policy(name, scenario.policy_params.get(name), rng)
        cb = (lambda f, n=name: progress(n, f)) if progress is not None else None
        sim = Simulator(
            scenario,
            jobs,
            policy,
            seed=seed,
            drain=drain,
            tables=tables,
            progress=cb,
            placement=placement,
        )
        results.append(sim.run())
    return results
