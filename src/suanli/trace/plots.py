"""Plots of a trace (matplotlib, Agg backend): arrivals over time, gang sizes, durations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from suanli.trace.format import Trace
from suanli.trace.stats import TraceStats, reference_durations


def write_plots(trace: Trace, stats: TraceStats, out: Path) -> list[Path]:
    """Write ``arrivals.png``, ``gang_sizes.png`` and ``duration_cdf.png`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    name = trace.meta.get("source") or Path(trace.source).name
    paths: list[Path] = []

    fig, ax = plt.subplots(figsize=(8, 3.2))
    hourly = np.asarray(stats.hourly_arrivals, dtype=float)
    if hourly.size > 24 * 14:
        days = hourly[: hourly.size // 24 * 24].reshape(-1, 24).sum(axis=1)
        ax.plot(np.arange(days.size), days, lw=1)
        ax.set_xlabel("day of the trace")
        ax.set_ylabel("jobs submitted per day")
    else:
        ax.plot(np.arange(hourly.size), hourly, lw=1)
        ax.set_xlabel("hour of the trace")
        ax.set_ylabel("jobs submitted per hour")
    ax.set_title(f"Arrivals — {name}")
    paths.append(_save(fig, out / "arrivals.png"))

    fig, ax = plt.subplots(figsize=(6, 3.2))
    labels = list(stats.gang_counts)
    ax.bar(labels, [stats.gang_counts[k] for k in labels])
    ax.set_yscale("log")
    ax.set_xlabel("devices per job")
    ax.set_ylabel("jobs")
    ax.set_title("Gang sizes")
    paths.append(_save(fig, out / "gang_sizes.png"))

    fig, ax = plt.subplots(figsize=(6, 3.2))
    dur = reference_durations(trace)
    dur = np.sort(dur[~np.isnan(dur)])
    if dur.size:
        ax.step(dur, np.arange(1, dur.size + 1) / dur.size, where="post")
        ax.set_xscale("log")
    ax.set_xlabel(f"duration on the reference (s), {trace.meta.get('reference', '')}")
    ax.set_ylabel("fraction of jobs")
    ax.set_title("Duration CDF")
    ax.grid(alpha=0.3)
    paths.append(_save(fig, out / "duration_cdf.png"))
    return paths


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
