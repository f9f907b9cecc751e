r"""Metrics of sizes and elastic jobs: device-hours by the devices jobs held, and what elastic
jobs did on their sizes (docs/metrics.md, *Sizes and elastic jobs*).

A run's stretches (:class:`~suanli.core.state.Stretch`) give, for stretch *k* of job *j*,
the devices :math:`d_k` it held on pool :math:`p_k` from :math:`a_k` to :math:`e_k` (the
end of the run if it still runs), computing from :math:`c_k`. Then

* device-hours by size: :math:`H(d) = \sum_{k:\,d_k = d} d\,(e_k - a_k)`, with the jobs
  that held *d* devices at some time; for elastic jobs, device-hours held below, at and above
  what their gang holds on :math:`p_k` (its candidate there, node shape included);
* on :math:`n_k` devices an elastic job progresses at :math:`r_k = r^0_k\,S(n_k)/S(u^0_k)`
  PFLOP/s, :math:`r^0_k` and :math:`u^0_k` the rate and devices of its gang's candidate on
  :math:`p_k` and *S* its speed-up (goodput ratio); it processes examples worth
  :math:`x_k = r^0_k\,T(n_k)/T(u^0_k)` PFLOP/s, *T* its throughput ratio
  (:meth:`~suanli.core.jobtable.JobTable.throughput`). Over its computing time
  :math:`\tau_k = \max(0, e_k - c_k)`: goodput :math:`\sum_k \tau_k r_k`, throughput
  :math:`\sum_k \tau_k x_k`, and their ratio, the efficiency against the gang: the mean
  statistical efficiency of the batches the jobs ran at relative to their gangs' (a job's
  work is what it needs at its gang: there goodput and throughput are equal).

The devices a stretch computed on, :math:`n_k`, are the stretch's ``used`` (its shape is
:meth:`~suanli.core.jobtable.JobTable.resized` on :math:`p_k` with :math:`n_k` devices).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from suanli.core.jobtable import Candidate
from suanli.core.state import Stretch
from suanli.sim.result import SimResult


def stretch_shape(r: SimResult, sp: Stretch) -> tuple[Candidate, Candidate] | None:
    """The job's candidate at its gang on the stretch's pool and the shape it ran on
    there (module docstring); None where it has none (it cannot run there any more)."""
    jobs, j = r.jobs, sp.job
    base = jobs.base_candidate(j, sp.pool)
    if base is None:
        return None
    if base.share or not jobs.elastic(j):
        return base, base
    return base, jobs.resized(j, base, sp.used) or base


def _end(r: SimResult, sp: Stretch) -> float:
    return r.end_s if math.isnan(sp.end_s) else sp.end_s


def device_hours_by_size(r: SimResult) -> list[dict[str, float]]:
    """Per number of devices held (a share as its fraction), in increasing order: the
    device-hours held with that many and the jobs that held that many at some time."""
    hours: dict[float, float] = {}
    jobs: dict[float, set[int]] = {}
    for sp in r.stretches:
        d = sp.devices
        hours[d] = hours.get(d, 0.0) + d * max(0.0, _end(r, sp) - sp.start_s) / 3600.0
        jobs.setdefault(d, set()).add(sp.job)
    return [{"devices": d, "device_hours": hours[d], "jobs": len(jobs[d])} for d in sorted(hours)]


def elastic_metrics(r: SimResult) -> dict[str, Any]:
    """Elastic jobs of the run: how many, how many were resized, device-hours below, at and
    above their gang, goodput and throughput (PFLOP) and their ratio, the efficiency against
    the gang (module docstring)."""
    jobs = r.jobs
    elastic = np.asarray([jobs.elastic(j) for j in range(len(jobs))], dtype=bool)
    side = {"below_gang": 0.0, "at_gang": 0.0, "above_gang": 0.0}
    goodput = throughput = 0.0
    shapes: dict[tuple[int, int, float], tuple[Candidate, Candidate] | None] = {}
    for sp in r.stretches:
        j = sp.job
        if not elastic[j]:
            continue
        key = (j, sp.pool, sp.devices)
        if key not in shapes:
            shapes[key] = stretch_shape(r, sp)
        shape = shapes[key]
        if shape is None:
            continue
        base, ran = shape
        end = _end(r, sp)
        where = (sp.devices > base.amount) - (sp.devices < base.amount)
        side[("below_gang", "at_gang", "above_gang")[where + 1]] += (
            sp.devices * max(0.0, end - sp.start_s) / 3600.0
        )
        tau = max(0.0, end - sp.compute_start_s)
        goodput += tau * base.rate * jobs.speedup(j, ran.used) / jobs.speedup(j, base.used)
        throughput += tau * base.rate * jobs.throughput(j, ran.used) / jobs.throughput(j, base.used)
    return {
        "jobs": int((elastic & (jobs.submit_array() < r.end_s)).sum()),
        "resized_jobs": int((r.resizes > 0).sum()),
        "device_hours": side,
        "goodput_pflop": goodput,
        "throughput_pflop": throughput,
        "efficiency_vs_gang": goodput / throughput if throughput > 0 else math.nan,
    }


def most_resized(r: SimResult) -> int | None:
    """The job resized most often in the run (ties: the first in the job table); None
    when no job was resized."""
    if not r.resizes.size or r.resizes.max() == 0:
        return None
    return int(np.argmax(r.resizes))


def size_history(r: SimResult, j: int) -> list[dict[str, Any]]:
    """Job *j*'s stretches in order: devices held, from ``start_s`` (devices taken) and
    ``compute_s`` (computing: after its restart and any data or checkpoint copy) to
    ``end_s`` (the end of the run if it still runs), and why it ``end``-ed."""
    return [
        {
            "devices": sp.devices,
            "start_s": sp.start_s,
            "compute_s": min(sp.compute_start_s, _end(r, sp)),
            "end_s": _end(r, sp),
            "end": sp.end,
        }
        for sp in r.stretches
        if sp.job == j
    ]


def size_steps(history: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Times (s) and devices of a step line through a :func:`size_history`: each stretch's
    devices from its start to its end, joined to the next where it starts at once (a
    resize), down to 0 where the job held none (waiting, and after its last stretch)."""
    xs: list[float] = []
    ys: list[float] = []
    for s in history:
        if xs and s["start_s"] > xs[-1]:
            xs += [xs[-1], s["start_s"]]
            ys += [0.0, 0.0]
        xs += [s["start_s"], s["end_s"]]
        ys += [s["devices"], s["devices"]]
    if xs:
        xs.append(xs[-1])
        ys.append(0.0)
    return xs, ys


def job_size_document(r: SimResult) -> dict[str, Any] | None:
    """The report data document's ``job_size`` of a policy: the job resized most often
    (:func:`most_resized`; None when none was), its sizes and resizes, and its stretches
    (:func:`size_history`, times rounded to 0.1 s)."""
    j = most_resized(r)
    if j is None:
        return None
    jobs = r.jobs
    return {
        "job": jobs.ids[j],
        "gang": jobs.gang[j],
        "gang_min": jobs.gang_min[j],
        "gang_max": jobs.gang_max[j],
        "resizes": int(r.resizes[j]),
        "resize_lost_h": float(f"{r.resize_lost_s[j] / 3600.0:.6g}"),
        "stretches": [
            {k: round(v, 1) if k.endswith("_s") else v for k, v in s.items()}
            for s in size_history(r, j)
        ],
    }
