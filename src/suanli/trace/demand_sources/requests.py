"""Conversion of a request-level trace (Azure LLM, Mooncake) into a demand holding the
requests and their rate curve (:func:`~suanli.workload.demand.curve_of`).

An hour-long trace has no daily shape: its curve covers the trace's span and repeats
(hourly, for these traces), and where in the day its window 0 falls is not meaningful.
``--peak`` and ``--shift-hours`` change the curve only; the requests stay as observed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from suanli.trace.demand_sources.common import DemandConversion
from suanli.trace.demand_sources.options import check_timezone, shape_curve, window_s_of
from suanli.workload.demand import Demand, RequestTrace, ServiceTrace, curve_of


def convert_requests(
    path: Path | str,
    read: Callable[[Path], RequestTrace],
    *,
    service: str,
    region: str,
    timezone: str,
    peak: float | None = None,
    shift_hours: float | None = None,
    window_minutes: float | None = None,
) -> DemandConversion:
    """The demand of the request trace at ``path`` read with ``read``."""
    src = str(path)
    trace = read(Path(path))
    window_s = window_s_of(window_minutes, src)
    curve = curve_of(trace, service, region, window_s, check_timezone(timezone, src))
    curve, notes = shape_curve(curve, src, peak=peak, shift_hours=shift_hours)
    notes = (
        f"{len(trace)} requests over {trace.span_s / 60:.1f} minutes; the curve repeats "
        f"every {curve.period_s / 60:g} minutes",
        *notes,
    )
    if peak is not None or shift_hours:
        notes = (*notes, "the requests are kept as observed (not scaled or shifted)")
    return DemandConversion(
        Demand(curves=(curve,), requests=(ServiceTrace(service, region, trace),)), notes
    )
