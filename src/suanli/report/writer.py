"""Write a whole report directory at once: files are built in a temporary
directory beside the target and moved into place when complete, so an
interrupted run never leaves a half-written report."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from suanli.report.files import (
    write_jobs_csv,
    write_metrics,
    write_services_csv,
    write_sites_csv,
)
from suanli.report.html import write_html
from suanli.report.plots import write_plots
from suanli.sim.result import SimResult


def write_report(
    out: Path, results: Sequence[SimResult], plots: bool = True, html: bool = True
) -> dict[str, Any]:
    """Write metrics.json, timing.json, jobs-/sites-<policy>.csv (and services.csv when the
    runs have services), the plots and the HTML report ``index.html`` into ``out``."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        metrics = write_metrics(tmp, results)
        for r in results:
            write_jobs_csv(tmp / f"jobs-{r.policy}.csv", r)
            write_sites_csv(tmp / f"sites-{r.policy}.csv", r)
        if any(r.services for r in results):
            write_services_csv(tmp / "services.csv", results)
        if plots:
            write_plots(tmp, results)
        if html:
            write_html(tmp / "index.html", results, metrics)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            if old.exists():
                shutil.rmtree(old)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return metrics
