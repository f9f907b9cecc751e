"""Metrics of a simulation run; every definition is written out in ``docs/metrics.md``.

With ``s_j`` the submit time, ``b_j`` the first start (allocation), ``f_j`` the
finish of job *j*, over the jobs finished within the run:

* JCT ``f_j − s_j``; queueing delay ``b_j − s_j`` (over jobs that started);
* waiting by gang size (``wait_by_gang``): the jobs that started, bucketed by the devices
  their gang asked for — ``1``, ``2-8``, ``9-32``, ``33-128``, ``129-512``, ``513+`` — and
  per non-empty bucket, in that order, the number of jobs and the mean and 95th percentile
  (linear interpolation) of ``b_j − s_j`` in hours;
* time in system by gang size (``time_in_system_by_gang``): every job that arrived and some
  pool can run, by the same buckets, ``min(f_j, end) − s_j`` — its JCT if it finished, a
  lower bound of it if not — with the number that finished, mean and p95 in hours: whether
  big gangs finish later, not only whether they start later (a wait for devices three times
  faster shows in the waits, and pays here);
* makespan ``max f_j − min s_j``;
* finish-time fairness ``ρ_j = (f_j − s_j) / T_j^alone`` with ``T^alone`` the job's
  completion time with the whole fleet to itself (its run time on its fastest
  candidate, its data already there), so ``ρ ≥ 1``; a tenant's ρ is the mean
  over its finished jobs;
* utilisation: busy device-seconds / up device-seconds; *unallocated capacity*:
  up device-hours not allocated to any job (a share counts as its fraction);
* GPU sharing: the mean number of shared devices, and the mean *fragmented*
  devices ``F`` — the expected capacity the next request of the pool's workload
  could not use (FGD's measure, :mod:`suanli.core.sharing`) — also as a share of up
  devices;
* energy: facility energy ``Σ PUE · E_IT``; gross cost ``Σ_h E_h π_h``, subsidy
  ``Σ_h E^{elig}_h (π_h − π̃_h)``, net = gross − subsidy; carbon ``Σ_h E_h c_h``;
* data moved (TB) and egress cost; preemptions, migrations (moves of running jobs, with
  the checkpoints copied between sites), resizes (elastic jobs given another device
  count, with the hours they cost: work redone and the restart) and work lost to them;
* device-hours by the number of devices held, and for elastic jobs below, at and above
  their gang; elastic jobs' goodput (progress) and throughput (examples processed) in PFLOP
  and their ratio, the mean statistical efficiency (:mod:`suanli.report.elastic`);
* online inference services (only for a run that has them): per service its SLO
  attainment, requests, tokens, replicas' device-hours, energy, cost and carbon, also per
  million tokens and by site and accelerator type (:mod:`suanli.report.services`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from suanli.core.feasibility import raised_gang
from suanli.report.elastic import device_hours_by_size, elastic_metrics
from suanli.report.services import service_metrics
from suanli.sim.result import SimResult

NAN = float("nan")


def stats(x: np.ndarray) -> dict[str, float]:
    """Mean, median and 99th percentile of ``x`` (NaN for none)."""
    if x.size == 0:
        return {"mean": NAN, "p50": NAN, "p99": NAN}
    return {
        "mean": float(x.mean()),
        "p50": float(np.percentile(x, 50)),
        "p99": float(np.percentile(x, 99)),
    }


#: Gang-size buckets of ``wait_by_gang``: (label, fewest devices, most devices).
GANG_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("1", 1, 1),
    ("2-8", 2, 8),
    ("9-32", 9, 32),
    ("33-128", 33, 128),
    ("129-512", 129, 512),
    ("513+", 513, float("inf")),
)


def wait_by_gang(gang: np.ndarray, wait_s: np.ndarray) -> list[dict[str, Any]]:
    """Per non-empty gang-size bucket (:data:`GANG_BUCKETS`, in order): ``gangs`` (its
    label), ``jobs``, and the ``mean_wait_h`` and ``p95_wait_h`` of ``wait_s`` (seconds),
    given per started job with its gang (devices asked) in ``gang``."""
    out = []
    for label, lo, hi in GANG_BUCKETS:
        w = wait_s[(gang >= lo) & (gang <= hi)] / 3600.0
        if w.size:
            out.append(
                {
                    "gangs": label,
                    "jobs": int(w.size),
                    "mean_wait_h": float(w.mean()),
                    "p95_wait_h": float(np.percentile(w, 95)),
                }
            )
    return out


def time_in_system_by_gang(
    gang: np.ndarray, in_system_s: np.ndarray, finished: np.ndarray
) -> list[dict[str, Any]]:
    """Per non-empty gang-size bucket (:data:`GANG_BUCKETS`, in order): ``gangs``, ``jobs``,
    ``finished`` and the ``mean_h`` and ``p95_h`` of ``in_system_s`` (seconds), given per
    job with its gang in ``gang`` and whether it finished in ``finished``."""
    out = []
    for label, lo, hi in GANG_BUCKETS:
        sel = (gang >= lo) & (gang <= hi)
        x = in_system_s[sel] / 3600.0
        if x.size:
            out.append(
                {
                    "gangs": label,
                    "jobs": int(x.size),
                    "finished": int(finished[sel].sum()),
                    "mean_h": float(x.mean()),
                    "p95_h": float(np.percentile(x, 95)),
                }
            )
    return out


def hour_cover(r: SimResult) -> np.ndarray:
    """Per hour of the pool-hour arrays, the share of it the run covers: 1 for every hour
    up to the end of the run, the part before it for the hour the run ends in (a drained
    run ends when its last job does), 0 after."""
    starts = np.arange(r.energy_j.shape[1]) * 3600.0
    cover: np.ndarray = np.clip((r.end_s - starts) / 3600.0, 0.0, 1.0)
    return cover


def mean_power_mw(mwh: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Mean power (MW) of each hour from its energy (MWh, last axis the hours): over the
    part of the hour the run covers, NaN for hours it does not."""
    power: np.ndarray = np.where(cover > 0, mwh / np.where(cover > 0, cover, 1.0), np.nan)
    return power


def energy_tables(r: SimResult) -> dict[str, np.ndarray]:
    """Per pool and hour: facility kWh, gross cost, subsidy and carbon (kg)."""
    t = r.tables
    hours = r.energy_j.shape[1]
    hour_idx = np.arange(hours) % t.hours
    pue = np.asarray([t.site_pue[s] for s in t.pool_site])
    kwh = r.energy_j * pue[:, None] / 3.6e6
    site = np.asarray(t.pool_site)
    price = t.price[site][:, hour_idx]
    carbon = t.carbon[site][:, hour_idx]
    subsidy = t.pool_subsidy[:, hour_idx]
    return {
        "kwh": kwh,
        "cost": kwh * price,
        "subsidy": kwh * subsidy,
        "carbon_kg": kwh * carbon,
    }


def raised_gangs(r: SimResult) -> list[tuple[int, int]]:
    """``(job, devices)`` of every job that ran on more devices than its gang asked for,
    because its model's memory needed them on the type it ran on
    (:func:`~suanli.core.feasibility.raised_gang`)."""
    out = []
    for j in np.flatnonzero(r.last_pool >= 0).tolist():
        used = raised_gang(r.jobs, j, int(r.last_pool[j]))
        if used:
            out.append((j, used))
    return out


def compute_metrics(r: SimResult) -> dict[str, Any]:
    """All metrics of a run as a JSON-ready dict (deterministic: no wall-clock figures)."""
    t, jobs = r.tables, r.jobs
    submit = jobs.submit_array()
    arrived = submit < r.end_s
    done = r.done
    started = ~np.isnan(r.first_start)
    can_run = np.asarray([bool(jobs.candidates(j)) for j in range(len(jobs))], dtype=bool)
    startable = arrived & can_run
    jct = (r.finish - submit)[done]
    wait = (r.first_start - submit)[started]
    alone = np.asarray([jobs.alone_s(j) if done[j] else NAN for j in range(len(jobs))])
    rho = ((r.finish - submit) / alone)[done]
    tenant = np.asarray(jobs.tenant)
    e = energy_tables(r)
    site_of_pool = np.asarray(t.pool_site)
    cover = hour_cover(r)
    per_site: dict[str, Any] = {}
    for s, sid in enumerate(t.site_ids):
        m = site_of_pool == s
        up = float(r.up_s[m].sum())
        power = mean_power_mw(e["kwh"][m].sum(axis=0) / 1e3, cover)
        per_site[sid] = {
            "utilisation": float(r.busy_s[m].sum()) / up if up else NAN,
            "energy_mwh": float(e["kwh"][m].sum()) / 1e3,
            "cost": float(e["cost"][m].sum()),
            "subsidy": float(e["subsidy"][m].sum()),
            "carbon_t": float(e["carbon_kg"][m].sum()) / 1e3,
            "peak_power_mw": float(np.nanmax(power)) if np.isfinite(power).any() else NAN,
        }
    per_type: dict[str, Any] = {}
    pool_acc = np.asarray(t.pool_acc)
    for a, aid in enumerate(t.acc_ids):
        m = pool_acc == a
        up = float(r.up_s[m].sum())
        per_type[aid] = {"utilisation": float(r.busy_s[m].sum()) / up if up else NAN}
    per_tenant: dict[str, Any] = {}
    for k, tid in enumerate(t.tenant_ids):
        mine = tenant == k
        fin = mine & done
        r_k = ((r.finish - submit) / alone)[fin]
        per_tenant[tid] = {
            "jobs": int((mine & arrived).sum()),
            "finished": int(fin.sum()),
            "mean_rho": float(r_k.mean()) if r_k.size else NAN,
            "mean_jct_h": float((r.finish - submit)[fin].mean() / 3600.0) if fin.any() else NAN,
        }
    gross = float(e["cost"].sum())
    subsidy = float(e["subsidy"].sum())
    up_total = float(r.up_s.sum())
    services = {"services": service_metrics(r)} if r.services else {}
    return services | {
        "policy": r.policy,
        "seed": r.seed,
        "placement": r.placement,
        "jobs": {
            "submitted": int(arrived.sum()),
            "finished": int(done.sum()),
            "unfinished": int((arrived & ~done).sum()),
            "never_startable": int((arrived & ~can_run).sum()),
            "gangs_raised": len(raised_gangs(r)),
        },
        "jct_h": {k: v / 3600.0 for k, v in stats(jct).items()},
        "queueing_delay_h": {k: v / 3600.0 for k, v in stats(wait).items()},
        "wait_by_gang": wait_by_gang(np.asarray(jobs.gang)[started], wait),
        "time_in_system_by_gang": time_in_system_by_gang(
            np.asarray(jobs.gang)[startable],
            (np.where(done, r.finish, r.end_s) - submit)[startable],
            done[startable],
        ),
        "makespan_h": float((r.finish[done].max() - submit[done].min()) / 3600.0)
        if done.any()
        else NAN,
        "utilisation": float(r.busy_s.sum()) / up_total if up_total else NAN,
        "allocated_share": float(r.allocated_s.sum()) / up_total if up_total else NAN,
        "unallocated_device_hours": float((r.up_s - r.allocated_s).sum()) / 3600.0,
        "asleep_share": float(r.asleep_s.sum()) / up_total if up_total else NAN,
        "sharing": {
            "share_jobs": sum(
                1 for j in range(len(jobs)) if arrived[j] and jobs.jobs[j].device_fraction < 1.0
            ),
            "shared_device_hours": float(r.shared_s.sum()) / 3600.0,
            "fragmented_device_hours": float(r.fragmented_s.sum()) / 3600.0,
            "shared_devices_mean": float(r.shared_s.sum()) / r.end_s if r.end_s else NAN,
            "fragmented_devices_mean": float(r.fragmented_s.sum()) / r.end_s if r.end_s else NAN,
            "fragmented_share": float(r.fragmented_s.sum()) / up_total if up_total else NAN,
        },
        "energy_mwh": float(e["kwh"].sum()) / 1e3,
        "cost": {"gross": gross, "subsidy": subsidy, "net": gross - subsidy},
        "carbon_t": float(e["carbon_kg"].sum()) / 1e3,
        "fairness": {
            "mean_rho": float(rho.mean()) if rho.size else NAN,
            "max_tenant_mean_rho": max(
                (v["mean_rho"] for v in per_tenant.values() if v["finished"]), default=NAN
            ),
        },
        "preemptions": int(r.preemptions.sum()),
        "migrations": int(r.migrations.sum()),
        "resizes": int(r.resizes.sum()),
        "resize_lost_h": float(r.resize_lost_s.sum()) / 3600.0,
        "device_hours_by_size": device_hours_by_size(r),
        "elastic": elastic_metrics(r),
        "lost_pflop": float(r.lost_pflop.sum()),
        "data": {
            "moved_tb": r.transfers.tb,
            "egress_cost": r.transfers.cost,
            "transfers": r.transfers.count,
            "checkpoint_tb": r.transfers.checkpoint_tb,
            "checkpoints_moved": r.transfers.checkpoint_count,
        },
        "sites": per_site,
        "accelerators": per_type,
        "tenants": per_tenant,
    }


def timing(r: SimResult) -> dict[str, float]:
    """Wall-clock figures of a run (not deterministic; kept apart from the metrics)."""
    rt = np.asarray(r.round_times) * 1e3
    return {
        "wall_s": r.wall_s,
        "events": r.events,
        "events_per_s": r.events / r.wall_s if r.wall_s else NAN,
        "rounds": len(rt),
        "round_ms_p50": float(np.percentile(rt, 50)) if rt.size else NAN,
        "round_ms_p95": float(np.percentile(rt, 95)) if rt.size else NAN,
        "round_ms_max": float(rt.max()) if rt.size else NAN,
    }
