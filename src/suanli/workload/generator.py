"""Synthetic workload: a seeded stream of jobs from the scenario's job classes.

For class *c* with ``jobs_per_day`` λ_c and the daily rhythm ``r_h`` (mean 1),
the number of arrivals in horizon hour *h* is Poisson(λ_c / 24 · r_{hour(h)}),
spread uniformly within the hour. Each job draws a gang size *n* and a duration
*d* on the reference accelerator *ref*; its work is

.. math:: W = n \\cdot d \\cdot s(\\mathit{ref}, p) \\quad \\text{PFLOP},

with ``s`` the roofline speed of the class's profile *p* (:mod:`suanli.perf.roofline`).
The gang is raised to the memory-fit minimum on *ref* when it is smaller.
Lognormal draws use ``μ = ln(median)``, ``σ = √(2 ln(mean / median))``.

All randomness comes from the ``numpy.random.Generator`` passed in; the same
scenario and seed give the same jobs, in the same order, with the same ids.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from suanli.model.job import MAX_GANG, Job
from suanli.model.scenario import Distribution, GeneratorSpec, JobClass, Scenario
from suanli.perf.memory import min_devices
from suanli.perf.roofline import speed_pflops


def sample(dist: Distribution, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws of ``dist`` (clipped and rounded as it says)."""
    if dist.kind == "fixed":
        x = np.full(size, dist.value, dtype=float)
    elif dist.kind == "choice":
        w = np.asarray(dist.weights, dtype=float)
        x = rng.choice(np.asarray(dist.values, dtype=float), size=size, p=w / w.sum())
    elif dist.kind == "lognormal":
        mu = math.log(dist.median)
        sigma = math.sqrt(2.0 * math.log(dist.mean / dist.median))
        x = np.exp(mu + sigma * rng.standard_normal(size))
    else:
        raise ValueError(f"unknown distribution kind {dist.kind!r}")
    x = np.clip(x, dist.low, dist.high)
    if dist.power_of_two:
        x = np.exp2(np.round(np.log2(np.maximum(x, 1.0))))
    if dist.multiple_of > 0:
        x = np.maximum(np.ceil(x / dist.multiple_of), 1.0) * dist.multiple_of
    return np.asarray(x, dtype=float)


def arrival_times(
    jobs_per_day: float, diurnal: np.ndarray, hours: int, rng: np.random.Generator
) -> np.ndarray:
    """Sorted arrival times (s) of a Poisson process whose hourly rate follows ``diurnal``."""
    rates = jobs_per_day / 24.0 * diurnal
    counts = rng.poisson(rates)
    hour_of = np.repeat(np.arange(hours, dtype=float), counts)
    return np.sort((hour_of + rng.random(hour_of.size)) * 3600.0)


def generate_jobs(scenario: Scenario, rng: np.random.Generator) -> list[Job]:
    """All jobs the scenario's generator submits during the horizon, by submit time."""
    spec = scenario.workload
    if not isinstance(spec, GeneratorSpec):
        raise ValueError(f"scenario {scenario.name} has no workload generator")
    local_hour0 = scenario.start.hour
    hour_of_day = (local_hour0 + np.arange(scenario.hours)) % 24
    diurnal = np.asarray(spec.diurnal, dtype=float)[hour_of_day]
    rows: list[tuple[float, int, int, dict[str, Any]]] = []
    for c_idx, jc in enumerate(spec.classes):
        for k, fields in enumerate(_class_jobs(scenario, spec, jc, diurnal, rng)):
            rows.append((fields["submit_s"], c_idx, k, fields))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    width = max(6, len(str(len(rows))))
    return [Job(id=f"j{i:0{width}d}", **fields) for i, (*_, fields) in enumerate(rows)]


def _class_jobs(
    scenario: Scenario,
    spec: GeneratorSpec,
    jc: JobClass,
    diurnal: np.ndarray,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    times = arrival_times(jc.jobs_per_day, diurnal, scenario.hours, rng)
    n = times.size
    if n == 0:
        return []
    profile = scenario.profiles[jc.profile]
    ref = scenario.catalog[spec.reference]
    eff = scenario.efficiency[(ref.stack, profile.kind)]
    ref_speed = speed_pflops(ref, profile, eff)
    gang_min = min_devices(ref, profile)
    # a lognormal's far tail can pass the largest gang; such a draw is held at it
    gangs = np.clip(sample(jc.gang, rng, n), gang_min, max(gang_min, MAX_GANG)).astype(np.int64)
    hours = sample(jc.hours_on_reference, rng, n)
    ds_idx = rng.integers(0, len(jc.datasets), n) if jc.datasets else None
    jobs: list[dict[str, Any]] = []
    for i in range(n):
        gang = int(gangs[i])
        submit = float(times[i])
        jobs.append(
            dict(
                tenant=jc.tenant,
                kind=jc.kind,
                profile=jc.profile,
                submit_s=submit,
                gang=gang,
                work_pflop=float(hours[i]) * 3600.0 * gang * ref_speed,
                accepted_types=jc.accepted_types,
                types_ordered=jc.types_ordered,
                accepted_stacks=jc.accepted_stacks,
                dataset=jc.datasets[int(ds_idx[i])] if ds_idx is not None else None,
                deadline_s=(
                    submit + jc.deadline_hours * 3600.0 if jc.deadline_hours is not None else None
                ),
                deferrable=jc.deferrable,
                preemptible=jc.preemptible,
                checkpoint_interval_s=jc.checkpoint_interval_s,
                restart_cost_s=jc.restart_cost_s,
                priority=jc.priority,
            )
        )
    return jobs
