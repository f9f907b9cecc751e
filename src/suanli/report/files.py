"""The report directory: ``metrics.json``, per-job and per-site CSVs, and ``services.csv``
for a run with online inference services.

Files are written deterministically (sorted keys, fixed float formatting), so the
same scenario and seed give byte-identical files. Wall-clock figures go to
``timing.json`` only.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from suanli.core.reasons import start_reason
from suanli.report.metrics import (
    compute_metrics,
    energy_tables,
    hour_cover,
    mean_power_mw,
    timing,
)
from suanli.report.services import SERVICE_COLUMNS, service_rows
from suanli.sim.result import SimResult


def _num(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return ""
    return f"{x:.6g}"


def clean_json(obj: Any) -> Any:
    """NaN → None and floats rounded to 9 significant digits, for stable JSON."""
    if isinstance(obj, dict):
        return {k: clean_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean_json(v) for v in obj]
    if isinstance(obj, float):
        return None if math.isnan(obj) else float(f"{obj:.9g}")
    return obj


def write_json(path: Path, data: Any) -> None:
    """Write JSON with sorted keys and stable floats, atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(
        json.dumps(clean_json(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
    tmp.replace(path)


def write_metrics(out: Path, results: Sequence[SimResult]) -> dict[str, Any]:
    """``metrics.json`` (all policies) and ``timing.json``; returns the metrics."""
    first = results[0]
    sc = first.scenario
    metrics = {
        "scenario": sc.name,
        "seed": first.seed,
        "horizon_h": sc.hours,
        "currency": sc.currency,
        "policies": {r.policy: compute_metrics(r) for r in results},
    }
    write_json(out / "metrics.json", metrics)
    write_json(out / "timing.json", {r.policy: timing(r) for r in results})
    return metrics


JOB_COLUMNS = (
    "job",
    "tenant",
    "kind",
    "profile",
    "gang",
    "submit_h",
    "start_h",
    "finish_h",
    "jct_h",
    "wait_h",
    "site",
    "accelerator",
    "devices",
    "preemptions",
    "migrations",
    "resizes",
    "status",
    "rho",
    "reason",
)


def write_jobs_csv(path: Path, r: SimResult) -> None:
    """One row per job: what it was, when and where it ran and why there, or why it did
    not (``reason``: why a job waits, or why it last started where it did)."""
    t, jobs = r.tables, r.jobs
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(JOB_COLUMNS)
        for j in range(len(jobs)):
            s = jobs.submit[j]
            if s >= r.end_s:
                continue
            pool = int(r.last_pool[j])
            fin = r.finish[j]
            done = bool(r.done[j])
            status = (
                "finished"
                if done
                else (
                    "running"
                    if pool >= 0 and math.isnan(fin) and not math.isnan(r.first_start[j])
                    else "waiting"
                )
            )
            if not jobs.candidates(j):
                status = "never startable"
            alone = jobs.alone_s(j) if done else math.nan
            w.writerow(
                [
                    jobs.ids[j],
                    t.tenant_ids[jobs.tenant[j]],
                    str(jobs.kind[j]),
                    t.profile_ids[jobs.profile[j]],
                    jobs.gang[j],
                    _num(s / 3600.0),
                    _num(r.first_start[j] / 3600.0),
                    _num(fin / 3600.0),
                    _num((fin - s) / 3600.0),
                    _num((r.first_start[j] - s) / 3600.0),
                    t.site_ids[t.pool_site[pool]] if pool >= 0 else "",
                    t.acc_ids[t.pool_acc[pool]] if pool >= 0 else "",
                    _num(float(r.last_devices[j])) if pool >= 0 else "",
                    int(r.preemptions[j]),
                    int(r.migrations[j]),
                    int(r.resizes[j]),
                    status,
                    _num((fin - s) / alone) if done else "",
                    _reason(r, j, status, pool),
                ]
            )


def _reason(r: SimResult, j: int, status: str, pool: int) -> str:
    """Why job *j* waits, or why it last started where it did (the same words as the
    live control plane's decisions)."""
    if status in ("waiting", "never startable"):
        return r.reasons.get(j, "")
    if pool < 0:
        return ""
    return start_reason(r.tables, pool, float(r.last_devices[j]), r.start_why[j])


SITE_COLUMNS = (
    "site",
    "hour",
    "time",
    "utilisation",
    "allocated_share",
    "power_mw",
    "capacity_mw",
    "price",
    "carbon_kg_per_kwh",
    "energy_mwh",
    "cost",
    "subsidy",
    "carbon_t",
)


def site_series(r: SimResult) -> dict[str, np.ndarray]:
    """Per site and hour: utilisation, allocated share, power (MW), energy, cost, carbon.

    Power is the hour's mean facility power over the part of the hour the run covers (the
    last hour of a drained run is usually a part), NaN for hours after the run."""
    t = r.tables
    e = energy_tables(r)
    n_sites = len(t.site_ids)
    hours = r.energy_j.shape[1]
    pool_site = np.asarray(t.pool_site)

    def by_site(a: np.ndarray) -> np.ndarray:
        out = np.zeros((n_sites, hours))
        np.add.at(out, pool_site, a)
        return out

    up = by_site(r.up_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        util = np.where(up > 0, by_site(r.busy_s) / up, np.nan)
        alloc = np.where(up > 0, by_site(r.allocated_s) / up, np.nan)
    kwh = by_site(e["kwh"])
    h_idx = np.arange(hours) % t.hours
    return {
        "utilisation": util,
        "allocated_share": alloc,
        "power_mw": mean_power_mw(kwh / 1e3, hour_cover(r)),
        "energy_mwh": kwh / 1e3,
        "cost": by_site(e["cost"]),
        "subsidy": by_site(e["subsidy"]),
        "carbon_t": by_site(e["carbon_kg"]) / 1e3,
        "price": t.price[:, h_idx],
        "carbon_kg_per_kwh": t.carbon[:, h_idx],
    }


def write_sites_csv(path: Path, r: SimResult) -> None:
    """One row per site and hour of the run."""
    t = r.tables
    series = site_series(r)
    hours = r.energy_j.shape[1]
    start = r.scenario.start
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(SITE_COLUMNS)
        for s, sid in enumerate(t.site_ids):
            cap = t.site_cap_w[s] / 1e6
            for h in range(hours):
                if h * 3600.0 >= r.end_s:
                    break
                w.writerow(
                    [
                        sid,
                        h,
                        (start + timedelta(hours=h)).isoformat(),
                        *(
                            _num(float(series[k][s, h]))
                            for k in ("utilisation", "allocated_share", "power_mw")
                        ),
                        _num(float(cap)),
                        *(
                            _num(float(series[k][s, h]))
                            for k in (
                                "price",
                                "carbon_kg_per_kwh",
                                "energy_mwh",
                                "cost",
                                "subsidy",
                                "carbon_t",
                            )
                        ),
                    ]
                )


def write_services_csv(path: Path, results: Sequence[SimResult]) -> None:
    """One row per policy, service and region: requests, those on time (within the SLO),
    dropped, tokens served and the SLO attainment."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(SERVICE_COLUMNS)
        for r in results:
            for row in service_rows(r):
                w.writerow([_num(v) if isinstance(v, float) else v for v in row])
