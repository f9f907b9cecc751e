"""The report data document of a *running* control plane (``kind`` ``"live"``).

The same page that shows a simulation (:mod:`suanli.report.data`) shows ``suanli serve``:
the server builds this document from its database on every poll
(``GET /v1/dashboard``) and the page redraws in place. It has every field of a version-1
document, with one "policy" — the running one — and these meanings:

* ``time``: the instants of the site samples in the window (``"YYYY-MM-DD HH:MM:SS"``,
  the scenario's local time), at most :data:`MAX_POINTS`; job times (``submit_s``,
  ``wait_s``, …) count from ``time[0]``;
* ``site_series`` and the policy's ``series``: the sampled tariff, carbon intensity,
  utilisation (running ÷ up devices), allocated share and facility power (an estimate
  from the power model, :mod:`suanli.control.samples`);
* the policy's ``metrics``: job counts by state (all jobs) and the devices the running
  ones run on — both from the job table, so they agree —, the fleet's devices,
  utilisation and power at the last sample, and
  over the window energy, cost, carbon (:mod:`suanli.report.live_series`), JCT and
  queueing delay of the jobs that ended or started in it, per site and per tenant;
  ``ρ`` is JCT ÷ the job's own run time (its run alone is not known for real work);
* ``jobs``: every unfinished job and the newest ended ones (``max_jobs`` in all), with
  ``db_id`` and ``name``; ``placements`` are empty (a job's history is fetched from
  ``GET /v1/jobs/{id}/events`` when it is opened);
* ``live``: ``now``, ``window_h``, ``poll_s``, ``sample_s``, ``policy``, ``viewer``
  (``role``, ``tenant``), ``queues`` (per tenant: jobs queued, starting — dispatching or
  pending —, running, unknown, and devices held; a tenant sees its own row and one for
  all others), ``decisions`` (the newest, with their reasons) and ``site_status``
  (reachable, since, error);
* per policy ``services`` and ``metrics.services`` when services are served (a tenant: its
  own), from the service samples of the window and each service's state now
  (:func:`suanli.report.services.live_service_part`): per service and serving tick
  demand, ready capacity, ready and starting replicas, devices, SLO attainment, tokens/s,
  and its replicas by site now; over the window requests, attainment, tokens and
  device-hours.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from suanli.model.scenario import Scenario
from suanli.report.data import FORMAT, VERSION, site_rows
from suanli.report.data_jobs import codes, seconds, sig5
from suanli.report.files import clean_json
from suanli.report.live_series import SiteTotals, binned, sample_arrays, totals
from suanli.report.metrics import stats
from suanli.report.services import LiveService, live_service_part
from suanli.store.dashboard import QueueRow
from suanli.store.records import (
    DecisionRecord,
    JobRecord,
    SampleRecord,
    ServiceSampleRecord,
    TenantRecord,
)
from suanli.store.schema import JobState

#: Most instants in the series (samples are binned beyond).
MAX_POINTS = 720
#: Job states in the order of the jobs table's ``status`` codes.
STATUSES: tuple[str, ...] = tuple(s.value for s in JobState)
#: Queue columns: name and the states counted in it.
QUEUE_STATES: tuple[tuple[str, tuple[JobState, ...]], ...] = (
    ("queued", (JobState.QUEUED,)),
    ("starting", (JobState.DISPATCHING, JobState.PENDING)),
    ("running", (JobState.RUNNING,)),
    ("unknown", (JobState.UNKNOWN,)),
)
OTHERS = "(other tenants)"
#: Columns of ``placements`` (always empty in a live document).
PLACEMENT_COLUMNS = (
    "job",
    "site",
    "accelerator",
    "devices",
    "start_s",
    "compute_start_s",
    "end_s",
    "end",
)

SUMMARY_ROWS: tuple[tuple[str, str, str], ...] = (
    ("jobs queued", "jobs.queued", ",.0f"),
    ("jobs starting (dispatching, pending)", "jobs.starting", ",.0f"),
    ("jobs running", "jobs.running", ",.0f"),
    ("  devices they run on", "devices.running", ",.0f"),
    ("jobs unknown (site unreachable)", "jobs.unknown", ",.0f"),
    ("jobs done", "jobs.done", ",.0f"),
    ("jobs failed", "jobs.failed", ",.0f"),
    ("jobs cancelled", "jobs.cancelled", ",.0f"),
    ("fleet utilisation (last site sample)", "utilisation_now", ".1%"),
    ("facility power (last site sample, MW)", "power_mw_now", ",.3f"),
    ("avg JCT (h)", "jct_h.mean", ".3f"),
    ("p99 JCT (h)", "jct_h.p99", ".3f"),
    ("avg queueing (h)", "queueing_delay_h.mean", ".3f"),
    ("utilisation over the window", "utilisation", ".1%"),
    ("energy (MWh)", "energy_mwh", ",.3f"),
    ("cost gross", "cost.gross", ",.2f"),
    ("  subsidies", "cost.subsidy", ",.2f"),
    ("cost net", "cost.net", ",.2f"),
    ("carbon (t CO₂)", "carbon_t", ",.3f"),
    ("max tenant mean ρ", "fairness.max_tenant_mean_rho", ".2f"),
)


@dataclass(frozen=True)
class LiveInputs:
    """What the document is built from (read by the API from the database and the loop).

    ``viewer_tenant`` is None for an admin; a tenant's inputs hold only its own jobs and
    decisions. ``site_status`` maps a site to ``(reachable, since, error)``. With services
    served (``serving_policy`` set): their samples in the window, each served one now, and
    the tenant of every service sampled (the document keeps a tenant's own only).
    """

    scenario: Scenario
    policy: str
    now: float
    window_s: float
    sample_s: float
    poll_s: float
    samples: Sequence[SampleRecord]
    jobs: Sequence[JobRecord]
    decisions: Sequence[DecisionRecord]
    queues: Sequence[QueueRow]
    tenants: Sequence[TenantRecord]
    viewer_tenant: str | None
    site_status: Mapping[str, tuple[bool | None, float, str]]
    service_samples: Sequence[ServiceSampleRecord] = ()
    services_now: Sequence[LiveService] = ()
    service_tenants: Mapping[str, str] = field(default_factory=dict)
    serving_policy: str | None = None
    serving_tick_s: float = 300.0


def _stats_h(seconds_: list[float]) -> dict[str, float]:
    """:func:`~suanli.report.metrics.stats` of durations in seconds, in hours."""
    return {k: v / 3600.0 for k, v in stats(np.asarray(seconds_, dtype=float)).items()}


class _Clock:
    """Local time labels and seconds from the first instant of the window."""

    def __init__(self, sc: Scenario, t0: float) -> None:
        self.tz = sc.start.tzinfo
        self.t0 = float(math.floor(t0))

    def label(self, at: float) -> str:
        return datetime.fromtimestamp(at, self.tz).strftime("%Y-%m-%d %H:%M:%S")

    def iso(self, at: float) -> str:
        return datetime.fromtimestamp(at, self.tz).isoformat(timespec="seconds")

    def rel(self, at: float | None) -> float | None:
        return None if at is None else at - self.t0


def _queues(inp: LiveInputs) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, int]] = {}
    for q in inp.queues:
        name = q.tenant_id
        if inp.viewer_tenant is not None and name != inp.viewer_tenant:
            name = OTHERS
        row = rows.setdefault(name, {k: 0 for k, _ in QUEUE_STATES} | {"devices_held": 0})
        state = JobState(q.state)
        for col, states in QUEUE_STATES:
            if state in states:
                row[col] += q.jobs
                row["devices_held"] += q.devices
    return [{"tenant": t, **rows[t]} for t in sorted(rows, key=lambda t: (t == OTHERS, t))]


def _counts(inp: LiveInputs) -> dict[str, int]:
    by_state = {s.value: 0 for s in JobState}
    for q in inp.queues:
        if inp.viewer_tenant is None or q.tenant_id == inp.viewer_tenant:
            by_state[q.state] = by_state.get(q.state, 0) + q.jobs
    starting = by_state[JobState.DISPATCHING.value] + by_state[JobState.PENDING.value]
    return {**by_state, "starting": starting, "finished": by_state[JobState.DONE.value]}


def _running_devices(inp: LiveInputs) -> int:
    """Devices of the running jobs that :func:`_counts` counts: the same rows of the job
    table, so "jobs running" and the devices they run on always agree (the site samples'
    ``busy`` is the whole fleet at the last sample, up to ``sample_s`` old)."""
    return sum(
        q.devices
        for q in inp.queues
        if q.state == JobState.RUNNING.value
        and (inp.viewer_tenant is None or q.tenant_id == inp.viewer_tenant)
    )


def _site_metrics(ids: Sequence[str], tot: Sequence[SiteTotals]) -> dict[str, Any]:
    out = {}
    for sid, x in zip(ids, tot, strict=True):
        now = x.now or {}
        up = now.get("up", 0.0)
        out[sid] = {
            "utilisation": x.utilisation,
            "utilisation_now": now["busy"] / up if up > 0 else None,
            "power_mw_now": now.get("power_mw"),
            "price_now": now.get("price"),
            "carbon_now": now.get("carbon"),
            "energy_mwh": x.energy_mwh,
            "cost": x.cost_gross,
            "subsidy": x.cost_gross - x.cost_net,
            "carbon_t": x.carbon_t,
            "peak_power_mw": x.peak_power_mw,
        }
    return out


@dataclass(frozen=True, slots=True)
class _Times:
    """A listed job's times (seconds): waited, completed (done jobs), ran (done jobs)."""

    wait_s: float | None
    jct_s: float | None
    run_s: float | None

    @classmethod
    def of(cls, r: JobRecord) -> _Times:
        wait = None if r.started_at is None else r.started_at - r.submitted_at
        if r.state != JobState.DONE.value or r.started_at is None or r.ended_at is None:
            return cls(wait, None, None)
        return cls(wait, r.ended_at - r.submitted_at, r.ended_at - r.started_at)


def _tenant_metrics(
    tenants: Sequence[TenantRecord], jobs: Sequence[JobRecord], times: Sequence[_Times]
) -> dict[str, Any]:
    out = {}
    for t in tenants:
        mine = [x for r, x in zip(jobs, times, strict=True) if r.tenant_id == t.id]
        jct = [x.jct_s for x in mine if x.jct_s is not None and x.run_s]
        rho = [x.jct_s / x.run_s for x in mine if x.jct_s is not None and x.run_s]
        out[t.id] = {
            "jobs": len(mine),
            "mean_jct_h": float(np.mean(jct)) / 3600.0 if jct else None,
            "mean_rho": float(np.mean(rho)) if rho else None,
        }
    return out


def _metrics(
    inp: LiveInputs,
    tot: Sequence[SiteTotals],
    jobs: Sequence[JobRecord],
    times: Sequence[_Times],
    tenants: Sequence[TenantRecord],
) -> dict[str, Any]:
    sc = inp.scenario
    since = inp.now - inp.window_s
    jct = [
        x.jct_s
        for r, x in zip(jobs, times, strict=True)
        if x.jct_s is not None and (r.ended_at or 0.0) >= since
    ]
    waits = [
        x.wait_s
        for r, x in zip(jobs, times, strict=True)
        if x.wait_s is not None and (r.started_at or 0.0) >= since
    ]
    per_tenant = _tenant_metrics(tenants, jobs, times)
    rhos = [v["mean_rho"] for v in per_tenant.values() if v["mean_rho"] is not None]
    now = [x.now for x in tot if x.now is not None]
    up_now = sum(n["up"] for n in now)
    busy_now = sum(n["busy"] for n in now)
    up_h = sum(x.up_h for x in tot)
    gross = sum(x.cost_gross for x in tot)
    net = sum(x.cost_net for x in tot)
    return {
        "jobs": _counts(inp),
        "devices": {
            "total": sum(s.devices for s in sc.sites),
            "up": up_now,
            "allocated": sum(n["allocated"] for n in now),
            "busy": busy_now,
            "running": _running_devices(inp),
        },
        "utilisation_now": busy_now / up_now if up_now > 0 else None,
        "power_mw_now": sum(n["power_mw"] for n in now) if now else None,
        "utilisation": sum(x.busy_h for x in tot) / up_h if up_h > 0 else None,
        "energy_mwh": sum(x.energy_mwh for x in tot),
        "cost": {"gross": gross, "subsidy": gross - net, "net": net},
        "carbon_t": sum(x.carbon_t for x in tot),
        "jct_h": _stats_h(jct),
        "queueing_delay_h": _stats_h(waits),
        "fairness": {"max_tenant_mean_rho": max(rhos) if rhos else None},
        "sites": _site_metrics([s.id for s in sc.sites], tot),
        "tenants": per_tenant,
    }


def _share(num: np.ndarray, up: np.ndarray) -> list[list[float | None]]:
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = num / np.where(up > 0, up, np.nan)
    return [sig5(row) for row in ratio]


def live_data(inp: LiveInputs) -> dict[str, Any]:
    """The live report data document (see the module docstring)."""
    sc = inp.scenario
    site_ids = [s.id for s in sc.sites]
    times, values = sample_arrays(inp.samples, site_ids)
    if times.size == 0:  # nothing sampled yet: one instant, no values
        times = np.array([inp.now])
        values = {f: np.full((len(site_ids), 1), np.nan) for f in values}
    series = binned(times, values, MAX_POINTS)
    tot = totals(times, values, inp.sample_s)
    clock = _Clock(sc, float(series.times[0]))
    acc_ids = sorted({p.accelerator for p in sc.pools})
    pool_acc = {p.id: acc_ids.index(p.accelerator) for p in sc.pools}
    site_index = {s: i for i, s in enumerate(site_ids)}
    tenants = [t for t in inp.tenants if inp.viewer_tenant in (None, t.id)]
    tenant_index = {t.id: i for i, t in enumerate(tenants)}
    jobs = [r for r in inp.jobs if r.tenant_id in tenant_index]
    jt = [_Times.of(r) for r in jobs]
    kinds, kind = codes([str(r.spec.get("kind", "")) for r in jobs])
    profiles, profile = codes([str(r.spec.get("profile", "")) for r in jobs])
    waiting = [r.reason if r.job_state is JobState.QUEUED else "" for r in jobs]
    reasons = sorted(set(waiting) - {""})
    reason_code = {v: i for i, v in enumerate(reasons)}
    jct = np.sort([x.jct_s for x in jt if x.jct_s is not None]) / 3600.0
    n = jct.size
    policy = {
        "name": inp.policy,
        "metrics": clean_json(_metrics(inp, tot, jobs, jt, tenants)),
        "series": {
            "utilisation": _share(series.values["busy"], series.values["up"]),
            "allocated_share": _share(series.values["allocated"], series.values["up"]),
            "power_mw": [sig5(row) for row in series.values["power_mw"]],
        },
        "transfers": [],
        "jct_cdf": {"jct_h": sig5(jct), "fraction": sig5(np.arange(1, n + 1) / n)},
        "jobs": {
            "statuses": list(STATUSES),
            "status": [STATUSES.index(r.state) for r in jobs],
            "wait_s": seconds(_col([x.wait_s for x in jt])),
            "jct_s": seconds(_col([x.jct_s for x in jt])),
            "site": [site_index.get(r.site or "", -1) for r in jobs],
            "accelerator": [pool_acc.get(r.pool or "", -1) for r in jobs],
            "devices": [r.devices or 0 for r in jobs],
            "preemptions": [max(0, r.attempt - 1) for r in jobs],
            "reasons": reasons,
            "reason": [reason_code.get(w, -1) for w in waiting],
        },
        "placements": {k: [] for k in PLACEMENT_COLUMNS} | {"ends": []},
    }
    if inp.serving_policy is not None:
        docs, per_service = live_service_part(
            inp.service_samples,
            inp.services_now,
            inp.service_tenants,
            inp.viewer_tenant,
            clock.label,
            serving_policy=inp.serving_policy,
            tick_s=inp.serving_tick_s,
            max_points=MAX_POINTS,
        )
        if docs:
            policy["services"] = docs
            policy["metrics"]["services"] = clean_json(per_service)
    return {
        "format": FORMAT,
        "version": VERSION,
        "kind": "live",
        "title": f"{sc.name} · live",
        "scenario": {
            "name": sc.name,
            "description": sc.description,
            "start": clock.iso(clock.t0),
            "horizon_h": round(inp.window_s / 3600.0, 3),
            "currency": sc.currency,
            "seed": None,
        },
        "time": [clock.label(t) for t in series.times.tolist()],
        "sites": site_rows(sc),
        "accelerators": acc_ids,
        "tenants": [{"id": t.id, "name": t.name, "weight": t.weight} for t in tenants],
        "site_series": {
            "price": [sig5(row) for row in series.values["price"]],
            "carbon_kg_per_kwh": [sig5(row) for row in series.values["carbon"]],
        },
        "summary_rows": [{"label": a, "path": b, "format": c} for a, b, c in SUMMARY_ROWS],
        "jobs": {
            "id": [str(r.id) for r in jobs],
            "db_id": [r.id for r in jobs],
            "name": [r.name for r in jobs],
            "tenant": [tenant_index[r.tenant_id] for r in jobs],
            "kinds": kinds,
            "kind": kind,
            "profiles": profiles,
            "profile": profile,
            "gang": [int(r.spec.get("gang", 0)) for r in jobs],
            "submit_s": seconds(_col([clock.rel(r.submitted_at) for r in jobs])),
            "alone_s": seconds(_col([x.run_s for x in jt])),
        },
        "policies": [policy],
        "live": _live_block(inp, clock),
    }


def _live_block(inp: LiveInputs, clock: _Clock) -> dict[str, Any]:
    return {
        "now": clock.iso(inp.now),
        "now_s": round(inp.now - clock.t0, 1),
        "window_h": round(inp.window_s / 3600.0, 3),
        "poll_s": inp.poll_s,
        "sample_s": inp.sample_s,
        "policy": inp.policy,
        "viewer": {
            "role": "admin" if inp.viewer_tenant is None else "tenant",
            "tenant": inp.viewer_tenant,
        },
        "queues": _queues(inp),
        "decisions": [
            {
                "id": d.id,
                "at": clock.label(d.at),
                "job": d.job_id,
                "action": d.action,
                "site": d.site,
                "pool": d.pool,
                "devices": d.devices,
                "detail": d.detail,
            }
            for d in inp.decisions
        ],
        "site_status": {
            s: {"reachable": r, "since": clock.iso(at), "error": err}
            for s, (r, at, err) in sorted(inp.site_status.items())
        },
    }


def _col(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray([math.nan if v is None else v for v in values], dtype=float)
