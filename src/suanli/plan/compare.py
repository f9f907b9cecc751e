"""Plans side by side: cost, vendor mix, power and carbon of several rule sets.

The default comparison (``suanli plan --compare``) is the built-in national demand
under four rule sets: today's rules; no H200 at all; the H200 export cap doubled;
domestic supply of the Ascend 910C halved.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from suanli.plan.output import clean
from suanli.plan.plots import plot_comparison
from suanli.plan.run import PlanRun, write_outputs


def comparison_rows(runs: Sequence[PlanRun]) -> list[dict[str, Any]]:
    """One flat record per plan."""
    vendors = sorted({v for r in runs for v in r.plan.added_by("vendor")})
    rows = []
    for r in runs:
        p, t = r.plan, r.plan.totals
        by_vendor = p.added_by("vendor")
        row: dict[str, Any] = {
            "plan": p.name,
            "status": p.status,
            "total_cost": t.total_cost,
            "capex": t.capex,
            "opex": t.opex,
            "new_devices": t.new_devices,
            "domestic_share_new": p.domestic_share_added,
            "expansion_mw": t.expansion_mw,
            "peak_mw": sum(s.peak_mw for s in p.sites),
            "energy_gwh": t.energy_mwh / 1e3,
            "carbon_kt": t.carbon_t / 1e3,
            "delivered_pflops": t.delivered_pflops,
        }
        for v in vendors:
            row[f"new_{v}"] = by_vendor.get(v, 0)
        rows.append(row)
    return rows


def write_comparison(runs: Sequence[PlanRun], out: Path, plots: bool = True) -> list[Path]:
    """Each plan into ``out/<name>/``, plus ``compare.csv``, ``compare.json``, ``compare.png``."""
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for r in runs:
        paths += write_outputs(r, out / r.plan.name, plots=plots)
    rows = comparison_rows(runs)
    csv_path, json_path = out / "compare.csv", out / "compare.json"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in row.items()})
    json_path.write_text(json.dumps(clean(rows), indent=2) + "\n", encoding="utf-8")
    paths += [csv_path, json_path]
    if plots:
        png = out / "compare.png"
        plot_comparison([r.plan for r in runs], png)
        paths.append(png)
    return paths
