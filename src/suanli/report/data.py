"""The *report data* document: everything the HTML report shows, as one JSON-ready dict.

The page (``report/static``) is rendered in the browser from this document alone, so the
same views can show a finished simulation (embedded in ``index.html``) or a live system (a
server that serves the page and the document, refreshed by polling). The contract —
``format`` ``"suanli-report-data"``, ``version`` :data:`VERSION` — is written out field by
field in ``docs/report.md``; in short:

* ``scenario``: name, description, start, horizon hours, currency, seed;
* ``time``: the local start of each hour of the series (``"YYYY-MM-DD HH:MM"``);
* ``sites``: id, name, lat/lon, devices, capacity (MW), PUE, grid region, accelerators;
* ``site_series``: price and carbon intensity per site and hour (the same for every policy);
* ``summary_rows``: label, metric path and format of each row of the summary table, the
  glossary term defining it, which way is better and the best policies;
* ``headline``: the best policy on each key metric and its gain over the others, the
  policy the page opens on, the default baseline, notes on reading the numbers
  (:mod:`suanli.report.headline`); ``glossary``: every metric's definition
  (:mod:`suanli.report.glossary`);
* ``policies``: per policy its ``metrics`` (as in ``metrics.json``), hourly ``series`` per
  site (utilisation, allocated share, facility power), ``transfers`` between sites, a
  ``jct_cdf`` and its ``jobs`` and ``placements`` (see :mod:`suanli.report.data_jobs`);
* ``jobs``: the columns shared by every policy (id, tenant, kind, profile, gang, submit, …);
* for a run with online inference services, per policy ``services``: per service its
  series per serving tick (:func:`suanli.report.services.service_documents`) — their
  metrics are in the policy's ``metrics.services``.
* for a run that resized an elastic job, per policy ``job_size``: the job resized most
  often and its stretches (:func:`suanli.report.elastic.job_size_document`) — device-hours
  by size and the elastic jobs' figures are in the policy's ``metrics``.

Numbers are rounded to a fixed number of significant digits (times to 0.1 s) and NaN
becomes ``null``, so the same results give the same document, byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from suanli.model.scenario import Scenario
from suanli.report.data_jobs import jobs_columns, listed, policy_jobs
from suanli.report.elastic import job_size_document
from suanli.report.files import clean_json, site_series
from suanli.report.glossary import glossary_data, term_of
from suanli.report.headline import headline, offered_load, row_marks, site_power
from suanli.report.metrics import compute_metrics
from suanli.report.services import service_documents
from suanli.sim.result import SimResult

#: Format name and version of the report data document.
FORMAT = "suanli-report-data"
VERSION = 1

#: Rows of the summary table: (label, metric path in ``metrics``, Python format spec).
#: The same rows, in the same order, as the console table of ``suanli simulate``.
SUMMARY_ROWS: tuple[tuple[str, str, str], ...] = (
    ("jobs finished", "jobs.finished", ",.0f"),
    ("jobs unfinished", "jobs.unfinished", ",.0f"),
    ("avg JCT (h)", "jct_h.mean", ".2f"),
    ("p50 JCT (h)", "jct_h.p50", ".2f"),
    ("p99 JCT (h)", "jct_h.p99", ".1f"),
    ("avg queueing (h)", "queueing_delay_h.mean", ".2f"),
    ("makespan (h)", "makespan_h", ".1f"),
    ("utilisation", "utilisation", ".1%"),
    ("unallocated (device-h)", "unallocated_device_hours", ",.0f"),
    ("energy (MWh)", "energy_mwh", ",.0f"),
    ("cost gross", "cost.gross", ",.0f"),
    ("  subsidies", "cost.subsidy", ",.0f"),
    ("cost net", "cost.net", ",.0f"),
    ("carbon (t CO₂)", "carbon_t", ",.0f"),
    ("max tenant mean ρ", "fairness.max_tenant_mean_rho", ".2f"),
    ("preemptions", "preemptions", ",.0f"),
    ("data moved (TB)", "data.moved_tb", ",.1f"),
    ("egress cost", "data.egress_cost", ",.0f"),
    ("fragmented devices (mean)", "sharing.fragmented_devices_mean", ",.1f"),
)
#: Rows added when some job of the run takes a share of a device.
SHARING_ROWS: tuple[tuple[str, str, str], ...] = (
    ("jobs sharing a device", "sharing.share_jobs", ",.0f"),
    ("shared devices (mean)", "sharing.shared_devices_mean", ",.1f"),
)


def summary_rows(per_policy: Mapping[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """The rows of the summary table for these policies' metrics."""
    sharing = any(m["sharing"]["share_jobs"] for m in per_policy.values())
    return SUMMARY_ROWS + (SHARING_ROWS if sharing else ())


def summary_row_data(per_policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's ``summary_rows``: label, path and format of each row, the glossary
    ``term`` that defines it, which way is ``better`` and the ``best`` policies."""
    out = []
    for label, path, spec in summary_rows(per_policy):
        term = term_of(path)
        row = {"label": label, "path": path, "format": spec, "term": term.id if term else None}
        out.append(row | row_marks(path, spec, per_policy))
    return out


#: Points per policy in the JCT CDF (quantiles; enough for a smooth curve, small to embed).
CDF_POINTS = 400


def sig(values: np.ndarray, digits: int = 6) -> list[float | None]:
    """``values`` as a list rounded to ``digits`` significant digits; NaN/inf → ``None``."""
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in values.tolist()]


def series_hours(results: Sequence[SimResult]) -> int:
    """Hours covered by the series: up to the latest end of a run (drained runs run longer)."""
    hours = max(int(r.energy_j.shape[1]) for r in results)
    end = max(r.end_s for r in results)
    return max(1, min(hours, math.ceil(end / 3600.0)))


def site_rows(sc: Scenario) -> list[dict[str, Any]]:
    """The document's ``sites``: one entry per site of the scenario."""
    out = []
    for s in sc.sites:
        accs: dict[str, int] = {}
        for p in s.pools:
            accs[p.accelerator] = accs.get(p.accelerator, 0) + p.count
        out.append(
            {
                "id": s.id,
                "name": s.name,
                "lat": s.lat,
                "lon": s.lon,
                "devices": s.devices,
                "capacity_mw": s.power_capacity_mw,
                "pue": s.pue,
                "grid_region": s.grid_region,
                "hub": s.hub,
                "province": s.province,
                "accelerators": accs,
            }
        )
    return out


def jct_cdf(r: SimResult, points: int = CDF_POINTS) -> dict[str, list[float | None]]:
    """Empirical CDF of JCT (h) of finished jobs, sampled at ≤ ``points`` quantiles.

    Returns ``jct_h`` (increasing) and ``fraction`` (share of finished jobs with a JCT at
    most that); the last point is the maximum at fraction 1.
    """
    jct = np.sort((r.finish - r.jobs.submit_array())[r.done]) / 3600.0
    n = jct.size
    if n == 0:
        return {"jct_h": [], "fraction": []}
    k = min(n, points)
    idx = np.unique(np.ceil(np.arange(1, k + 1) * n / k).astype(np.int64) - 1)
    return {"jct_h": sig(jct[idx]), "fraction": sig((idx + 1) / n)}


def _hourly(row: np.ndarray, hours: int) -> list[float | None]:
    """The first ``hours`` values of ``row``, padded with ``None`` (a run that ended sooner)."""
    values = sig(row[:hours])
    return values + [None] * (hours - len(values))


def _transfers(r: SimResult) -> list[dict[str, Any]]:
    ids = r.tables.site_ids
    return [
        {"from": ids[a], "to": ids[b], "tb": float(f"{tb:.6g}")}
        for (a, b), tb in sorted(r.transfers.by_pair.items())
    ]


def _policy(r: SimResult, hours: int, rows: np.ndarray, metrics: dict[str, Any]) -> dict[str, Any]:
    s = site_series(r)
    series = {
        k: [_hourly(row, hours) for row in s[k]]
        for k in ("utilisation", "allocated_share", "power_mw")
    }
    jobs, placements = policy_jobs(r, rows)
    extra: dict[str, Any] = {"services": service_documents(r)} if r.services else {}
    size = job_size_document(r)
    if size is not None:
        extra["job_size"] = size
    return extra | {
        "name": r.policy,
        "metrics": clean_json(metrics),
        "series": series,
        "transfers": _transfers(r),
        "jct_cdf": jct_cdf(r),
        "jobs": jobs,
        "placements": placements,
    }


def report_data(
    results: Sequence[SimResult], metrics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The report data document of ``results`` (runs of one scenario and workload).

    ``metrics`` is ``metrics.json`` as :func:`suanli.report.files.write_metrics` returns
    it; computed when not given.
    """
    if not results:
        raise ValueError("report_data needs at least one simulation result")
    first = results[0]
    sc = first.scenario
    per_policy = (
        metrics["policies"]
        if metrics is not None
        else {r.policy: compute_metrics(r) for r in results}
    )
    ordered = {r.policy: per_policy[r.policy] for r in results}
    hours = series_hours(results)
    t = first.tables
    h_idx = np.arange(hours) % t.hours
    local = sc.start.replace(tzinfo=None)
    rows = listed(first, max(r.end_s for r in results))
    return {
        "format": FORMAT,
        "version": VERSION,
        "kind": "simulation",
        "title": f"{sc.name} · seed {first.seed}",
        "scenario": {
            "name": sc.name,
            "description": sc.description,
            "start": sc.start.isoformat(),
            "horizon_h": sc.hours,
            "currency": sc.currency,
            "seed": first.seed,
        },
        "time": [(local + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M") for h in range(hours)],
        "sites": site_rows(sc),
        "accelerators": list(t.acc_ids),
        "tenants": [{"id": x.id, "name": x.name, "weight": x.weight} for x in sc.tenants],
        "site_series": {
            "price": [sig(row) for row in t.price[:, h_idx]],
            "carbon_kg_per_kwh": [sig(row) for row in t.carbon[:, h_idx]],
        },
        "summary_rows": summary_row_data(ordered),
        "headline": clean_json(
            headline(
                ordered,
                currency=sc.currency,
                sites=site_power(sc),
                offered_load=offered_load(sc, first.jobs.jobs),
            )
        ),
        "glossary": glossary_data(),
        "jobs": jobs_columns(first, rows),
        "policies": [_policy(r, hours, rows, per_policy[r.policy]) for r in results],
    }
