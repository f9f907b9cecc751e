"""Sweeps: policies × seeds × loads, in parallel on all cores.

A *load* is the offered load of the generated workload (:mod:`suanli.config.summary`):
every job class's arrival rate is scaled by ``load / offered_load(scenario)``. For a
trace, the trace is replayed with that target load (:func:`suanli.trace.replay.replay`).
The scenario (or the trace) is loaded once; every case runs in a worker process of this
machine or as a task on a Ray cluster (:mod:`suanli.experiment.parallel`), and the rows
come back in a deterministic order, the same wherever they ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from suanli.config import load_scenario
from suanli.config.summary import scaled
from suanli.core.sharing import DEFAULT_PLACEMENT, placement_rule
from suanli.experiment.parallel import run_all
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from suanli.trace.format import Trace
from suanli.workload.generator import generate_jobs


@dataclass(frozen=True, slots=True)
class SweepCase:
    """One run of a sweep."""

    policy: str
    seed: int
    load: float


@dataclass(frozen=True, slots=True)
class SweepInput:
    """What every case of a sweep reads: a scenario with a workload generator, or a trace
    and the fleet to replay it on; loaded once, before the cases run."""

    scenario: Scenario | None = None
    trace: Trace | None = None
    fleet: str = "own"
    placement: str = DEFAULT_PLACEMENT


def run_case(inp: SweepInput, case: SweepCase) -> dict[str, Any]:
    """Simulate one case with the input's device placement rule; return its key metrics
    (JSON-ready)."""
    if inp.trace is not None:
        from suanli.trace.replay import replay

        r = replay(inp.trace, inp.fleet, target_load=case.load)
        sc, jobs, drain = r.scenario, r.jobs, True
    else:
        assert inp.scenario is not None
        sc = scaled(inp.scenario, case.load)
        jobs, drain = generate_jobs(sc, np.random.default_rng(case.seed)), False
    policy = make_policy(
        case.policy, sc.policy_params.get(case.policy), np.random.default_rng(case.seed)
    )
    placement = inp.placement
    res = Simulator(sc, jobs, policy, seed=case.seed, drain=drain, placement=placement).run()
    m = compute_metrics(res)
    return {
        "policy": case.policy,
        "seed": case.seed,
        "load": case.load,
        "jobs": m["jobs"]["submitted"],
        "finished": m["jobs"]["finished"],
        "jct_mean_h": m["jct_h"]["mean"],
        "jct_p99_h": m["jct_h"]["p99"],
        "queueing_mean_h": m["queueing_delay_h"]["mean"],
        "utilisation": m["utilisation"],
        "energy_mwh": m["energy_mwh"],
        "cost_net": m["cost"]["net"],
        "carbon_t": m["carbon_t"],
        "max_tenant_rho": m["fairness"]["max_tenant_mean_rho"],
        "placement": placement,
        "fragmented_mean": m["sharing"]["fragmented_devices_mean"],
    }


def run_sweep(
    scenario: str | None,
    policies: Sequence[str],
    seeds: Sequence[int],
    loads: Sequence[float],
    *,
    trace: str | None = None,
    fleet: str = "own",
    workers: int | None = None,
    ray: str | None = None,
    placement: str = DEFAULT_PLACEMENT,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every case — on this machine's cores, or as tasks on the Ray cluster ``ray``
    (:mod:`suanli.experiment.parallel`); rows sorted by (load, policy, seed)."""
    for name in policies:  # fail fast on a bad name, before any case runs
        make_policy(name)
    placement_rule(placement)
    if trace is not None:
        from suanli.trace import read_trace

        inp = SweepInput(trace=read_trace(trace), fleet=fleet, placement=placement)
    else:
        inp = SweepInput(scenario=load_scenario(scenario), placement=placement)
    cases = [SweepCase(p, s, ld) for ld in loads for p in policies for s in seeds]
    rows = run_all(run_case, inp, cases, workers=workers, ray=ray, progress=progress)
    rows.sort(key=lambda r: (r["load"], r["policy"], r["seed"]))
    return rows
