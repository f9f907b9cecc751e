"""Sweep outputs: ``sweep.csv``, ``sweep.json`` and plots of JCT, cost and carbon against load."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from suanli.report.files import write_json

PLOTS = (
    ("jct_mean_h", "average JCT (h)", "sweep-jct.png"),
    ("cost_net", "net energy cost", "sweep-cost.png"),
    ("carbon_t", "carbon (t CO₂)", "sweep-carbon.png"),
)


def write_sweep(out: Path, rows: Sequence[dict[str, Any]]) -> list[Path]:
    """Write the sweep's table and plots into ``out``; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sweep.json", list(rows))
    path = out / "sweep.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()})
    files = [out / "sweep.json", path]
    for key, label, name in PLOTS:
        by: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in rows:
            by[r["policy"]][r["load"]].append(float(r[key]))
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for policy in sorted(by):
            loads = sorted(by[policy])
            mean = np.array([np.mean(by[policy][ld]) for ld in loads])
            std = np.array([np.std(by[policy][ld]) for ld in loads])
            ax.errorbar(loads, mean, yerr=std, marker="o", capsize=3, label=policy)
        ax.set_xlabel("offered load")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.suptitle(f"{label} against load (mean ± s.d. over seeds)")
        fig.tight_layout()
        fig.savefig(out / name, dpi=110, metadata={"Software": None})
        plt.close(fig)
        files.append(out / name)
    return files
