"""Plans side by side: cost, vendor mix, power and carbon of several rule sets, written as
``compare.csv``/``compare.json``/``compare.png`` and a comparison page ``index.html``.

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

from suanli.plan.html import write_plan_page
from suanli.plan.output import clean
from suanli.plan.page_data import comparison_document
from suanli.plan.plots import plot_comparison
from suanli.plan.run import PlanRun, inputs_record, write_outputs
from suanli.plan.summary import plan_rows


def comparison_rows(runs: Sequence[PlanRun]) -> list[dict[str, Any]]:
    """One flat record per plan (:func:`suanli.plan.summary.plan_rows`)."""
    return plan_rows([r.plan for r in runs])


def write_comparison(
    runs: Sequence[PlanRun], out: Path, plots: bool = True, html: bool = True
) -> list[Path]:
    """Each plan into ``out/<name>/``, plus ``compare.csv``, ``compare.json``,
    ``compare.png`` and the comparison page ``index.html``."""
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for r in runs:
        paths += write_outputs(r, out / r.plan.name, plots=plots, html=html)
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
    if html:
        page = out / "index.html"
        doc = comparison_document([r.plan for r in runs], [inputs_record(r) for r in runs])
        write_plan_page(page, doc)
        paths.append(page)
    return paths
