"""Write a plan to files: ``plan.json`` (everything), ``plan.csv`` (site × type rows).

Outputs are deterministic: the same inputs give byte-identical files (no times or
dates are written; floats are rounded to fixed decimals).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from suanli.plan.result import Plan

POOL_FIELDS = (
    "site",
    "accelerator",
    "vendor",
    "domestic",
    "existing",
    "added",
    "retired",
    "total",
    "unit_price",
    "capex",
    "energy_mwh",
    "energy_cost",
    "peak_mw",
)


def clean(value: Any) -> Any:
    """Round floats (6 decimals) throughout a JSON-able structure."""
    if isinstance(value, float):
        return round(value, 6) + 0.0
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def plan_record(plan: Plan, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The plan as a JSON-able dict (without the solve time, which varies run to run)."""
    data = asdict(plan)
    data.pop("solve_seconds")
    t = plan.totals
    data["totals"].update(
        capex=t.capex,
        opex=t.opex,
        total_cost=t.total_cost,
        domestic_share_added=plan.domestic_share_added,
    )
    data["pools"] = [{**asdict(p), "total": p.total} for p in plan.pools]
    data["added_by_vendor"] = plan.added_by("vendor")
    data["added_by_accelerator"] = plan.added_by("accelerator")
    if inputs is not None:
        data["inputs"] = inputs
    return dict(clean(data))


def write_json(plan: Plan, path: Path, inputs: dict[str, Any] | None = None) -> None:
    """``plan.json``."""
    text = json.dumps(plan_record(plan, inputs), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def write_csv(plan: Plan, path: Path) -> None:
    """``plan.csv``: one row per site × accelerator type."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(POOL_FIELDS)
        for p in plan.pools:
            row = {**asdict(p), "total": p.total}
            w.writerow(
                [
                    f"{v:.6f}" if isinstance(v, float) else ("" if v is None else v)
                    for v in (row[k] for k in POOL_FIELDS)
                ]
            )
