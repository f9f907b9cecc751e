"""A service's demand in one region over a run: the scenario's :class:`DemandSpec` turned
into a :class:`~suanli.workload.demand.RateCurve`, and rates read off it on the run's clock.

A curve is in its users' local time: window 0 starts at local midnight of the run's first
day in the region's time zone (of Monday for an inline 168-hour week). A run starting at
``start`` therefore reads the curve at local second

.. math:: \\ell(t) = t + o,\\qquad
          o = (\\text{start, local}) - \\text{its midnight}\\;(+\\,86\\,400 \\cdot \\text{weekday}),

the weekday term for a week-long curve only,

and the mean rate over an interval ``[t₀, t₁)`` is the curve's rate averaged over the
windows it overlaps, weighted by the overlap (the curve repeats after its period).
``peak_rps`` scales a curve so its busiest window has that rate. An inline daily shape
becomes 10-minute windows interpolated linearly between the hours' midpoints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from suanli.model.service import DemandSpec
from suanli.workload.demand import LengthDist, RateCurve
from suanli.workload.demand_file import read_demand


def curve_of_spec(spec: DemandSpec, service: str, region: str) -> RateCurve:
    """The curve a demand spec describes (a demand file's curve is read from the file;
    the scenario's validation has already checked it is there)."""
    if spec.file is not None:
        demand = read_demand(spec.file)
        curve = demand.curve(spec.curve_service or "", spec.curve_region or "")
        if curve is None:
            raise ValueError(f"no curve {spec.curve_service}/{spec.curve_region} in {spec.file}")
        rates, cvs = curve.rate_rps, curve.cv
        shift = round(spec.shift_hours * 3600.0 / curve.window_s)
        if shift:
            n = len(rates)
            rates = tuple(rates[(i - shift) % n] for i in range(n))
            cvs = tuple(cvs[(i - shift) % n] for i in range(n))
        lengths_in, lengths_out = curve.input_tokens, curve.output_tokens
        window, source = curve.window_s, curve.source or spec.file
    else:
        rates = _smooth(spec.hourly)
        cvs = (spec.cv,) * len(rates)
        lengths_in = _dist(spec.input_tokens)
        lengths_out = _dist(spec.output_tokens)
        window, source = 3600.0 / SUBSTEPS, "inline"
    if spec.peak_rps is not None:
        top = max(rates)
        rates = tuple(r * spec.peak_rps / top for r in rates) if top > 0 else rates
    return RateCurve(
        service=service,
        region=region,
        window_s=window,
        rate_rps=tuple(rates),
        cv=tuple(cvs),
        input_tokens=lengths_in,
        output_tokens=lengths_out,
        source=source,
    )


#: Windows per hour of an inline daily shape.
SUBSTEPS = 6


def _smooth(hourly: tuple[float, ...]) -> tuple[float, ...]:
    """An hourly shape in 10-minute windows, interpolated linearly between the hours'
    midpoints (cyclically): demand changes gradually, not in hourly steps."""
    n = len(hourly)
    out = []
    for h in range(n):
        for i in range(SUBSTEPS):
            x = (i + 0.5) / SUBSTEPS - 0.5  # offset from the hour's midpoint, in hours
            other = hourly[(h + (1 if x >= 0 else -1)) % n]
            out.append(hourly[h] + abs(x) * (other - hourly[h]))
    return tuple(out)


def _dist(pairs: tuple[tuple[int, float], ...]) -> LengthDist:
    return LengthDist(tuple(t for t, _ in pairs), tuple(p for _, p in pairs))


def local_offset_s(start: datetime, zone: tzinfo | None, weekly: bool) -> float:
    """Seconds from local midnight of the run's first day (Monday of its week when
    ``weekly``) to the run's start, in ``zone`` (None: the start's own offset)."""
    local = start.astimezone(zone) if zone is not None else start
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = (local - midnight) / timedelta(seconds=1)
    if weekly:
        offset += local.weekday() * 86400.0
    return offset


@dataclass(frozen=True, eq=False)
class RegionDemand:
    """One service's demand in one region, on the run's clock (see the module docstring)."""

    curve: RateCurve
    offset_s: float

    @staticmethod
    def of(
        spec: DemandSpec, service: str, region: str, start: datetime, tz: str | None
    ) -> RegionDemand:
        """Resolve ``spec`` for a run starting at ``start`` for users in zone ``tz``."""
        curve = curve_of_spec(spec, service, region)
        weekly = spec.file is None and len(spec.hourly) == 168
        zone = ZoneInfo(tz) if tz else None
        return RegionDemand(curve, local_offset_s(start, zone, weekly))

    def constant(self, rate: float) -> RegionDemand:
        """The same users at a constant ``rate`` (requests/s): one window, the curve's
        lengths and mean CV."""
        c = self.curve
        cv = sum(c.cv) / len(c.cv) if c.cv else 1.0
        flat = replace(c, window_s=c.window_s, rate_rps=(float(rate),), cv=(cv,))
        return RegionDemand(flat, 0.0)

    def mean_rate(self, t0: float, t1: float) -> float:
        """Mean arrival rate (requests/s) over ``[t0, t1)`` of run time."""
        c = self.curve
        if t1 <= t0:
            return c.rate_rps[c.window(t0 + self.offset_s)]
        w = c.window_s
        a, b = t0 + self.offset_s, t1 + self.offset_s
        total = 0.0
        k = math.floor(a / w)
        while k * w < b:
            lo, hi = max(a, k * w), min(b, (k + 1) * w)
            total += c.rate_rps[k % len(c.rate_rps)] * (hi - lo)
            k += 1
        return total / (b - a)

    def cv(self, t: float) -> float:
        """Inter-arrival CV of the window holding run time ``t``."""
        return self.curve.cv[self.curve.window(t + self.offset_s)]

    def peak_rate(self, t0: float, t1: float) -> float:
        """Highest window rate over ``[t0, t1)`` of run time."""
        c = self.curve
        w = c.window_s
        a, b = t0 + self.offset_s, t1 + self.offset_s
        k = math.floor(a / w)
        top = 0.0
        while k * w < b:
            top = max(top, c.rate_rps[k % len(c.rate_rps)])
            k += 1
        return top
