"""Trace + fleet choice → the ``(Scenario, list[Job])`` a simulation runs.

:func:`replay` is the one call a simulator front end needs::

    r = replay("philly.parquet", fleet="philly-hetero", target_load=0.8)
    simulate(r.scenario, r.jobs, seed=0)

``fleet`` is ``"own"`` (the trace's cluster, from its metadata), a named fleet or
a fleet spec (:mod:`suanli.trace.fleets`), a :class:`Scenario`, or a scenario
name/file (e.g. ``cn-hubs-2026``: the national default). For any fleet but the
trace's own, :func:`prepare_scenario` adds the trace's tenants (weight 1) and
profiles that the scenario lacks, and lengthens the horizon to cover the last
submission plus a day (hourly prices and carbon repeat past the end).
:func:`scenario_jobs` does the same for a scenario whose ``workload`` is a trace.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from suanli.config import load_scenario
from suanli.model.fleet import Tenant
from suanli.model.job import Job, JobKind, WorkloadProfile
from suanli.model.scenario import Scenario, TraceSpec
from suanli.trace.fleets import NAMED_FLEETS, check_profiles, fleet_scenario
from suanli.trace.format import Trace
from suanli.trace.io import read_trace
from suanli.trace.jobs import Constraints, LoadOptions, jobs_from_trace
from suanli.trace.scaling import ScalingModel, job_scaling, with_speedups
from suanli.trace.sources import convert_source


@dataclass(frozen=True, eq=False)
class Replay:
    """A scenario and the jobs to run on it, with a label for the fleet; ``scaling`` maps
    the id of each elastic job with a measured speed-up to its scaling model
    (:mod:`suanli.trace.scaling`)."""

    scenario: Scenario
    jobs: list[Job]
    fleet: str
    scaling: Mapping[str, ScalingModel] = field(default_factory=dict)


def trace_tenants(trace: Trace) -> list[str]:
    """The trace's tenant ids, sorted."""
    return sorted(str(t) for t in pc.unique(trace.table.column("tenant")).to_pylist())


def trace_profiles(trace: Trace) -> dict[str, Any]:
    """Profiles the trace defines in its metadata (scenario-file form)."""
    raw = trace.meta.get("profiles")
    return check_profiles(raw, trace.source) if raw else {}


def prepare_scenario(sc: Scenario, trace: Trace, *, hours: int | None = None) -> Scenario:
    """``sc`` plus the trace's missing tenants and profiles, and at least ``hours`` hours."""
    have = {t.id for t in sc.tenants}
    tenants = sc.tenants + tuple(Tenant(t, t) for t in trace_tenants(trace) if t not in have)
    profiles = dict(sc.profiles)
    for pid, p in trace_profiles(trace).items():
        if pid not in profiles:
            profiles[pid] = WorkloadProfile(
                pid,
                JobKind(p["kind"]),
                tuple(p["precisions"]),
                p["flops_per_byte"],
                p["memory_gb"],
                p["power_factor"],
                p["source"],
            )
    return replace(sc, tenants=tenants, profiles=profiles, hours=max(sc.hours, hours or 0))


def replay(
    trace: Trace | str | Path,
    fleet: str | Scenario = "own",
    *,
    reference: str | None = None,
    time_scale: float = 1.0,
    target_load: float | None = None,
    constraints: Constraints | None = None,
    window_s: tuple[float, float] | None = None,
    max_jobs: int | None = None,
) -> Replay:
    """Jobs of ``trace`` on ``fleet``; see the module docstring.

    ``constraints`` defaults to ``keep`` on the trace's own fleet and ``relax``
    elsewhere (accelerator types the fleet lacks are dropped from preferences).
    Other options as :func:`suanli.trace.jobs.load_trace_jobs`.
    """
    tr = trace if isinstance(trace, Trace) else read_trace(trace)
    own = isinstance(fleet, str) and fleet == "own"
    if isinstance(fleet, Scenario):
        sc, label = fleet, fleet.name
    elif own:
        sc, label = fleet_scenario(tr), f"own ({tr.meta.get('fleet_name', 'trace')})"
    elif fleet in NAMED_FLEETS or ":" in fleet:
        sc = fleet_scenario(
            fleet,
            tenants=trace_tenants(tr),
            profiles=trace_profiles(tr),
            start=tr.meta.get("start") or None,
        )
        label = fleet
    else:
        # a scenario lends its fleet: its online inference services stay out of a replay
        sc, label = replace(load_scenario(fleet), services=(), user_regions=()), fleet
    opts = LoadOptions(
        reference,
        time_scale,
        target_load,
        constraints or ("keep" if own else "relax"),
        window_s,
        max_jobs,
    )
    sc = prepare_scenario(sc, tr)
    jobs = jobs_from_trace(tr, sc, opts)
    last = jobs[-1].submit_s if jobs else 0.0
    sc = replace(sc, hours=max(sc.hours, math.ceil(last / 3600.0) + 24))
    models = job_scaling(tr)
    scaling = {j.id: models[j.id] for j in jobs if j.id in models}
    return Replay(sc, with_speedups(jobs, scaling), label, scaling)


def scenario_jobs(sc: Scenario) -> Replay:
    """The jobs of a scenario whose ``workload`` is a trace (converted on the fly if needed)."""
    spec = sc.workload
    if not isinstance(spec, TraceSpec):
        raise ValueError(f"scenario {sc.name} has no trace workload")
    tr = (
        read_trace(spec.path)
        if spec.format == "suanli"
        else convert_source(Path(spec.path), spec.format).trace
    )
    return replay(
        tr,
        sc,
        reference=spec.reference,
        time_scale=spec.time_scale,
        target_load=spec.target_load,
        constraints="keep",
    )
