"""Metrics and series of a run's online inference services, for ``metrics.json``,
``services.csv``, the PNG plots and the report page; definitions in ``docs/metrics.md``.

A service's outcome (:class:`~suanli.core.serving.ServiceOutcome`) holds its totals per
region, its replicas' device-seconds per pool, and one energy, cost and carbon figure for
the whole service. Per accelerator type (and site) the report **apportions** them:

* tokens to pool *p* in proportion to ``w_p = Σ_t D(t) · c_p(t) μ_p / Σ_q c_q(t) μ_q`` —
  each tick's demand ``D(t)`` shared by the ready capacity of the pools (``c_p(t)`` ready
  replicas, ``μ_p`` requests/s a replica sustains there), as routing shares it when no
  region is confined to fewer pools than the others;
* energy in proportion to ``device_s_p · TDP_p · PUE_site``;
* cost and carbon in proportion to that energy weight times the pool's mean net price
  (carbon intensity) over the ticks, weighted by its ready replicas.

The shares add up to the service's totals, so the figures by accelerator type sum to the
service's; a service on one pool (or type) has exactly its own figures there.

The live dashboard's services (:func:`live_service_part`) come from the samples the
control loop writes at every serving tick instead, in the same shape where a quantity
exists live; over the window, each sample stands for the span to the next one (the last
for one tick, a gap over three ticks for nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np

from suanli.core.serving import ServiceOutcome
from suanli.core.serving_tables import build_serving_tables
from suanli.report.live_series import binned
from suanli.sim.result import SimResult
from suanli.store.records import ServiceSampleRecord

NAN = float("nan")


def _mtok(value: float, tokens: float) -> float:
    return value / tokens * 1e6 if tokens > 0 else NAN


def _share(total: float, weights: np.ndarray) -> np.ndarray:
    """``total`` split in proportion to ``weights`` (evenly when they are all 0)."""
    s = float(weights.sum())
    if s > 0:
        out: np.ndarray = total * weights / s
        return out
    return np.full(weights.shape, total / max(1, weights.size))


def _ready(o: ServiceOutcome, n_pools: int) -> np.ndarray:
    """Ready replicas per pool and tick, ``(pools, ticks)``."""
    ready = np.zeros((n_pools, o.series.shape[0]))
    for p, v in o.ready_by_pool.items():
        ready[p, : len(v)] = v
    return ready


def pool_shares(r: SimResult, o: ServiceOutcome, mu: np.ndarray) -> dict[str, np.ndarray]:
    """Per pool: the service's device-hours and its apportioned tokens, energy (kWh),
    cost and carbon (kg) (module docstring); ``mu`` requests/s per replica per pool."""
    t = r.tables
    n = t.n_pools
    ready = _ready(o, n)
    ticks = o.series[:, 0]
    demand = o.series[:, 1]
    cap = ready * mu[:, None]
    total_cap = cap.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tok_w = (np.where(total_cap > 0, cap / total_cap, 0.0) * demand).sum(axis=1)
    pools = np.arange(n)
    pue = np.asarray([t.site_pue[s] for s in t.pool_site])
    energy_w = o.device_s * np.asarray(t.pool_tdp_w) * pue
    dt = np.diff(np.append(ticks, r.end_s)) if ticks.size else ticks
    dt = np.maximum(dt, 0.0)
    price = np.zeros(n)
    carbon = np.zeros(n)
    for p in pools[ready.sum(axis=1) > 0]:
        live = (ready[p] > 0) & (dt > 0)
        t0, t1 = ticks[live], ticks[live] + dt[live]
        w = ready[p][live]
        pp = np.full(t0.shape, p)
        site = np.full(t0.shape, t.pool_site[p])
        price[p] = float((t.net_price_integrals(pp, t0, t1) / dt[live] * w).sum() / w.sum())
        carbon[p] = float((t.carbon_integrals(site, t0, t1) / dt[live] * w).sum() / w.sum())
    # a pool that held devices but never had a replica ready: the run's mean price there
    for p in pools[(o.device_s > 0) & (ready.sum(axis=1) == 0)]:
        span = max(r.end_s, 1.0)
        price[p] = t.net_price_integral(int(p), 0.0, span) / span
        carbon[p] = t.carbon_integral(t.pool_site[p], 0.0, span) / span
    return {
        "device_hours": o.device_s / 3600.0,
        "tokens": _share(float(o.tokens.sum()), tok_w),
        "energy_kwh": _share(o.energy_kwh, energy_w),
        "cost": _share(o.cost, energy_w * price),
        "carbon_kg": _share(o.carbon_kg, energy_w * carbon),
    }


def _figures(values: dict[str, float]) -> dict[str, Any]:
    """Energy, cost, carbon and device-hours, with each per million tokens."""
    tok = values["tokens"]
    return values | {
        "per_mtok": {k: _mtok(values[k], tok) for k in ("energy_kwh", "cost", "carbon_kg")}
    }


def _group(shares: dict[str, np.ndarray], key: np.ndarray, ids: tuple[str, ...]) -> dict[str, Any]:
    """The pools' shares summed by ``key`` (site or accelerator index of each pool); only
    groups whose replicas held devices."""
    out: dict[str, Any] = {}
    for i, gid in enumerate(ids):
        m = key == i
        if not (shares["device_hours"][m] > 0).any():
            continue
        out[gid] = _figures({k: float(v[m].sum()) for k, v in shares.items()})
    return out


def service_metrics(r: SimResult) -> dict[str, Any]:
    """Per service of the run (by id): SLO attainment overall and per region, requests,
    dropped, tokens, cold starts, unplaced replicas, device-hours, energy, cost, carbon,
    each per million tokens, and the same by site and by accelerator type. Empty without
    services."""
    if not r.services:
        return {}
    t = r.tables
    tables = {s.service.id: s for s in build_serving_tables(t).services}
    out: dict[str, Any] = {}
    for o in r.services:
        mu = tables[o.service].mu if o.service in tables else np.zeros(t.n_pools)
        shares = pool_shares(r, o, mu)
        regions = {}
        for i, rid in enumerate(o.regions):
            req = float(o.requests[i])
            regions[rid] = {
                "requests": req,
                "on_time": float(o.on_time[i]),
                "dropped": float(o.dropped[i]),
                "tokens": float(o.tokens[i]),
                "attainment": float(o.on_time[i]) / req if req > 0 else 1.0,
            }
        req = float(o.requests.sum())
        tok = float(o.tokens.sum())
        dev_h = float(o.device_s.sum()) / 3600.0
        out[o.service] = {
            "serving_policy": r.serving_policy,
            "attainment": o.attainment,
            "requests": req,
            "on_time": float(o.on_time.sum()),
            "dropped": float(o.dropped.sum()),
            "dropped_share": float(o.dropped.sum()) / req if req > 0 else NAN,
            "tokens": tok,
            "cold_starts": int(o.cold_starts),
            "unplaced": int(o.unplaced),
            "device_hours": dev_h,
            "energy_kwh": o.energy_kwh,
            "cost": o.cost,
            "carbon_kg": o.carbon_kg,
            "per_mtok": {
                "energy_kwh": o.per_mtok(o.energy_kwh),
                "cost": o.per_mtok(o.cost),
                "carbon_kg": o.per_mtok(o.carbon_kg),
                "device_hours": o.per_mtok(dev_h),
            },
            "regions": regions,
            "sites": _group(shares, np.asarray(t.pool_site), t.site_ids),
            "accelerators": _group(shares, np.asarray(t.pool_acc), t.acc_ids),
        }
    return out


SERVICE_COLUMNS = (
    "policy",
    "serving_policy",
    "service",
    "region",
    "requests",
    "on_time",
    "dropped",
    "tokens",
    "attainment",
)


def service_rows(r: SimResult) -> list[list[Any]]:
    """Rows of ``services.csv`` for one run: one per service and region (raw numbers)."""
    rows = []
    for o in r.services:
        for i, rid in enumerate(o.regions):
            req = float(o.requests[i])
            rows.append(
                [
                    r.policy,
                    r.serving_policy,
                    o.service,
                    rid,
                    req,
                    float(o.on_time[i]),
                    float(o.dropped[i]),
                    float(o.tokens[i]),
                    float(o.on_time[i]) / req if req > 0 else 1.0,
                ]
            )
    return rows


def ready_by_site(r: SimResult, o: ServiceOutcome) -> dict[str, np.ndarray]:
    """Ready replicas of service ``o`` per tick, summed by site (sites that had some)."""
    t = r.tables
    ready = _ready(o, t.n_pools)
    out: dict[str, np.ndarray] = {}
    site = np.asarray(t.pool_site)
    for s, sid in enumerate(t.site_ids):
        v = ready[site == s].sum(axis=0)
        if v.any():
            out[sid] = v
    return out


def tick_times(r: SimResult, o: ServiceOutcome) -> list[str]:
    """The local start of each tick of ``o.series``, ``"YYYY-MM-DD HH:MM"``."""
    local = r.scenario.start.replace(tzinfo=None)
    return [
        (local + timedelta(seconds=float(s))).strftime("%Y-%m-%d %H:%M") for s in o.series[:, 0]
    ]


def _sig(values: np.ndarray) -> list[float | None]:
    return [float(f"{v:.6g}") if np.isfinite(v) else None for v in values.tolist()]


def service_documents(r: SimResult) -> list[dict[str, Any]]:
    """The report data document's ``services`` of one policy: per service its id, the
    local start of each tick (``time``) and per tick the demand and ready capacity
    (requests/s), ready replicas, devices held, SLO attainment and ready replicas by site."""
    return [
        {
            "id": o.service,
            "time": tick_times(r, o),
            "demand": _sig(o.series[:, 1]),
            "capacity": _sig(o.series[:, 2]),
            "ready": [int(v) for v in o.series[:, 3]],
            "devices": _sig(o.series[:, 4]),
            "attainment": _sig(o.series[:, 5]),
            "ready_by_site": {sid: [int(x) for x in v] for sid, v in ready_by_site(r, o).items()},
        }
        for o in r.services
    ]


# -- the live dashboard ------------------------------------------------------------------------
# ``suanli serve`` has no SimResult: its services come from the samples the control loop
# writes at every serving tick (:class:`~suanli.store.records.ServiceSampleRecord`) and from
# the loop's view of each service now. The document's parts have the simulation's shape where
# the quantity exists live (``time``, ``demand``, ``capacity``, ``ready``, ``devices``,
# ``attainment``), so the page draws them with the same code.


@dataclass(frozen=True, slots=True)
class LiveService:
    """A service as the running control plane sees it now (from
    :class:`~suanli.control.serving.ServiceView`): its replicas as ``(site, state)``
    (``ready``, ``starting`` or ``draining``), offered and ready capacity (requests/s),
    SLO attainment since the server started and over the last tick, tokens/s, and the
    replicas its policy wanted at the last tick without room."""

    id: str
    tenant: str
    replicas: tuple[tuple[str, str], ...]
    demand_rps: float
    capacity_rps: float
    attainment: float | None
    attainment_last: float | None
    tokens_per_s: float
    short: int


#: Sampled quantities of a service, in the order of :func:`_live_arrays`'s rows.
_LIVE_FIELDS = ("demand", "capacity", "ready", "starting", "devices", "attainment", "tokens")
REPLICA_STATES = ("ready", "starting", "draining")


def _live_arrays(
    samples: Sequence[ServiceSampleRecord],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One service's samples by time: their instants and each quantity as a ``(1, T)`` row."""
    xs = sorted(samples, key=lambda x: x.at)
    times = np.asarray([x.at for x in xs], dtype=float)
    cols = {
        "demand": [x.demand_rps for x in xs],
        "capacity": [x.capacity_rps for x in xs],
        "ready": [x.ready for x in xs],
        "starting": [x.starting for x in xs],
        "devices": [x.devices for x in xs],
        "attainment": [x.attainment for x in xs],
        "tokens": [x.tokens_per_s for x in xs],
    }
    return times, {k: np.asarray([v], dtype=float) for k, v in cols.items()}


def _spans(times: np.ndarray, tick_s: float) -> np.ndarray:
    """Seconds each sample stands for: to the next sample, the last one a tick; a gap
    longer than three ticks (the server was down) counts for nothing."""
    if times.size == 0:
        return times
    dt = np.append(np.diff(times), tick_s)
    return np.where(dt <= 3.0 * tick_s, dt, 0.0)


def _live_totals(values: dict[str, np.ndarray], dt: np.ndarray) -> dict[str, float | None]:
    """A service's window integrals: requests offered and within the SLO, their ratio,
    tokens, devices' and ready replicas' hours."""
    demand = values["demand"][0]
    requests = float((demand * dt).sum())
    on_time = float((demand * values["attainment"][0] * dt).sum())
    return {
        "requests": requests,
        "on_time": on_time,
        "attainment": on_time / requests if requests > 0 else None,
        "tokens": float((values["tokens"][0] * dt).sum()),
        "device_hours": float((values["devices"][0] * dt).sum()) / 3600.0,
        "replica_hours": float((values["ready"][0] * dt).sum()) / 3600.0,
    }


def _live_series(
    times: np.ndarray, values: dict[str, np.ndarray], max_points: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """At most ``max_points`` instants (:func:`~suanli.report.live_series.binned`); a
    bin's attainment is its demand-weighted mean."""
    if times.size <= max_points:
        return times, {k: v[0] for k, v in values.items()}
    weighted = values | {"on_time": values["attainment"] * values["demand"]}
    s = binned(times, weighted, max_points)
    v = {k: s.values[k][0] for k in weighted}
    with np.errstate(invalid="ignore", divide="ignore"):
        att = np.where(v["demand"] > 0, v["on_time"] / v["demand"], v["attainment"])
    return s.times, {k: v[k] for k in _LIVE_FIELDS} | {"attainment": att}


def live_service_part(
    samples: Sequence[ServiceSampleRecord],
    now: Sequence[LiveService],
    tenants: Mapping[str, str],
    viewer_tenant: str | None,
    label: Callable[[float], str],
    *,
    serving_policy: str | None,
    tick_s: float,
    max_points: int,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The live document's ``services`` and ``metrics.services`` of the one policy: every
    service with samples in the window or served now (a tenant: only its own), by id.
    ``tenants`` maps a service to its tenant (deleted ones included); ``label`` writes an
    instant (POSIX s) as the document's times."""
    by_id: dict[str, list[ServiceSampleRecord]] = {}
    for x in samples:
        by_id.setdefault(x.service, []).append(x)
    views = {v.id: v for v in now}
    owner = dict(tenants) | {v.id: v.tenant for v in now}
    ids = sorted(
        sid
        for sid in set(by_id) | set(views)
        if viewer_tenant is None or owner.get(sid) == viewer_tenant
    )
    docs: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    for sid in ids:
        times, values = _live_arrays(by_id.get(sid, []))
        tot = _live_totals(values, _spans(times, tick_s))
        bt, bv = _live_series(times, values, max_points)
        view = views.get(sid)
        by_site: dict[str, dict[str, int]] = {}
        for site, state in view.replicas if view is not None else ():
            row = by_site.setdefault(site, dict.fromkeys(REPLICA_STATES, 0))
            row[state] = row.get(state, 0) + 1
        count = {s: sum(r[s] for r in by_site.values()) for s in REPLICA_STATES}
        docs.append(
            {
                "id": sid,
                "tenant": owner.get(sid),
                "time": [label(t) for t in bt.tolist()],
                "demand": _sig(bv["demand"]),
                "capacity": _sig(bv["capacity"]),
                "ready": _sig(bv["ready"]),
                "starting": _sig(bv["starting"]),
                "devices": _sig(bv["devices"]),
                "attainment": _sig(bv["attainment"]),
                "tokens_per_s": _sig(bv["tokens"]),
                "replicas_by_site": {s: by_site[s] for s in sorted(by_site)},
            }
        )
        last = len(times) - 1
        metrics[sid] = {
            "serving_policy": serving_policy,
            "tenant": owner.get(sid),
            "served": view is not None,
            **tot,
            "attainment_since_start": None if view is None else view.attainment,
            "attainment_last": (
                view.attainment_last
                if view is not None
                else float(values["attainment"][0][last])
                if last >= 0
                else None
            ),
            "demand_rps": None if view is None else view.demand_rps,
            "capacity_rps": None if view is None else view.capacity_rps,
            "tokens_per_s": None if view is None else view.tokens_per_s,
            "devices": int(values["devices"][0][last]) if last >= 0 else None,
            "replicas": count,
            "short": None if view is None else view.short,
            "last_sample": label(float(times[last])) if last >= 0 else None,
        }
    return docs, metrics
