"""Summary statistics of a trace (what ``suanli trace inspect`` prints), vectorised.

Durations are on each row's reference accelerator; rows given as ``work_pflop``
count when they carry a measured speed on the file's reference, and apart
otherwise. "Busy devices if no job queued" is the
number of devices the trace would hold if every job started when submitted and
ran its reference duration: a lower bound on the fleet a FIFO replay needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from suanli.trace.format import Trace, parse_map


@dataclass(frozen=True, slots=True)
class Quantiles:
    """Mean, median, 90th and 99th percentile, and maximum of a sample."""

    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, x: np.ndarray) -> Quantiles | None:
        """Quantiles of ``x`` (``None`` when empty)."""
        if x.size == 0:
            return None
        p50, p90, p99 = np.percentile(x, [50, 90, 99])
        return cls(float(x.mean()), float(p50), float(p90), float(p99), float(x.max()))


@dataclass(frozen=True, slots=True)
class TraceStats:
    """Key figures of a trace."""

    jobs: int
    tenants: int
    span_s: float
    start: str | None
    jobs_per_hour: float
    peak_jobs_per_hour: int
    gang: Quantiles | None
    gang_counts: Mapping[str, int]
    duration_s: Quantiles | None
    duration_jobs: int
    work_jobs: int
    device_hours: float
    fractional_jobs: int
    constrained_jobs: int
    elastic_jobs: int
    measured_jobs: int
    busy_mean: float
    busy_p95: float
    busy_max: float
    hourly_arrivals: tuple[int, ...]


GANG_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("<1 (shared)", 0, 0.999),
    ("1", 0.999, 1),
    ("2", 1, 2),
    ("3-4", 2, 4),
    ("5-8", 4, 8),
    ("9-16", 8, 16),
    ("17-64", 16, 64),
    (">64", 64, float("inf")),
)


def _f(trace: Trace, name: str) -> np.ndarray:
    arr = trace.table.column(name).cast("float64").combine_chunks()
    return np.asarray(arr.to_numpy(zero_copy_only=False))


def reference_durations(trace: Trace) -> np.ndarray:
    """Duration of each job on its reference (s): ``duration_s``, or for a row given as
    ``work_pflop`` with a measured speed on the file's reference, work / (gang · speed);
    NaN where unknown."""
    dur = _f(trace, "duration_s")
    ref = trace.meta.get("reference")
    measured = trace.table.column("measured_pflops").to_pylist()
    if not ref or all(m is None for m in measured):
        return dur
    work = _f(trace, "work_pflop")
    size = _f(trace, "gang") * np.nan_to_num(_f(trace, "device_fraction"), nan=1.0)
    for i, cell in enumerate(measured):
        if cell is not None and np.isnan(dur[i]):
            speed = parse_map(cell).get(ref)
            if speed:
                dur[i] = work[i] / (size[i] * speed)
    return dur


def summarize_trace(trace: Trace) -> TraceStats:
    """Compute :class:`TraceStats` for ``trace``."""
    submit = _f(trace, "submit_s")
    gang = _f(trace, "gang")
    frac = np.nan_to_num(_f(trace, "device_fraction"), nan=1.0)
    size = gang * frac
    dur = reference_durations(trace)
    has_dur = ~np.isnan(dur)
    n = len(trace)
    span = float(submit.max() - submit.min()) if n else 0.0
    hours = np.floor((submit - (submit.min() if n else 0.0)) / 3600.0).astype(np.int64)
    hourly = np.bincount(hours) if n else np.zeros(0, dtype=np.int64)
    counts: dict[str, int] = {}
    for label, lo, hi in GANG_BUCKETS:
        c = int(np.sum((size > lo) & (size <= hi)))
        if c:
            counts[label] = c
    busy = _busy_profile(submit[has_dur], dur[has_dur], size[has_dur])
    t = trace.table
    return TraceStats(
        jobs=n,
        tenants=len(pc.unique(t.column("tenant"))),
        span_s=span,
        start=trace.meta.get("start") or None,
        jobs_per_hour=n / max(span / 3600.0, 1.0),
        peak_jobs_per_hour=int(hourly.max()) if n else 0,
        gang=Quantiles.of(gang),
        gang_counts=counts,
        duration_s=Quantiles.of(dur[has_dur]),
        duration_jobs=int(has_dur.sum()),
        work_jobs=int((~has_dur).sum()),
        device_hours=float(np.sum(size[has_dur] * dur[has_dur]) / 3600.0),
        fractional_jobs=int(np.sum(frac < 1)),
        constrained_jobs=n - t.column("accepted_types").null_count,
        elastic_jobs=int(
            (
                t.column("gang_max").is_valid().to_numpy(zero_copy_only=False)
                | t.column("gang_min").is_valid().to_numpy(zero_copy_only=False)
            ).sum()
        ),
        measured_jobs=n - t.column("measured_pflops").null_count,
        busy_mean=busy[0],
        busy_p95=busy[1],
        busy_max=busy[2],
        hourly_arrivals=tuple(int(x) for x in hourly),
    )


def _busy_steps(
    submit: np.ndarray, duration: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Times and the busy level from each time to the next (no queueing)."""
    times = np.concatenate([submit, submit + duration])
    deltas = np.concatenate([size, -size])
    order = np.lexsort((deltas, times))
    times, level = times[order], np.cumsum(deltas[order])
    return times, level


def _busy_profile(
    submit: np.ndarray, duration: np.ndarray, size: np.ndarray
) -> tuple[float, float, float]:
    if submit.size == 0:
        return 0.0, 0.0, 0.0
    times, level = _busy_steps(submit, duration, size)
    width = np.diff(times)
    level = level[:-1]
    total = width.sum()
    if total <= 0:
        return 0.0, 0.0, float(level.max(initial=0.0))
    mean = float(np.sum(width * level) / total)
    return mean, _weighted_quantile(level, width, 0.95), float(level.max())


def busy_quantile(submit: np.ndarray, duration: np.ndarray, size: np.ndarray, q: float) -> float:
    """Time-weighted quantile ``q`` of the devices busy if no job queued."""
    if submit.size == 0:
        return 0.0
    times, level = _busy_steps(submit, duration, size)
    return _weighted_quantile(level[:-1], np.diff(times), q)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    if cum.size == 0 or cum[-1] <= 0:
        return 0.0
    i = int(np.searchsorted(cum, q * cum[-1]))
    return float(values[order][min(i, cum.size - 1)])
