"""The options every demand converter shares, applied to a converted curve:

* ``window_minutes`` — coarser windows, a whole multiple of the source's: the rate is the
  windows' mean and the squared CV their rate-weighted mean (rate changes inside the
  coarser window are not added to its CV);
* ``shift_hours`` — rotate the curve: demand that was at local time *t* is at *t + H*
  (a whole number of windows; the curve keeps its length and repeats);
* ``timezone`` — relabel the users' time zone. Demand follows the users' local clock, so
  a curve moved to users in another zone keeps its shape in local time: window 0 is
  midnight in the new zone. Use ``shift_hours`` to move the shape itself;
* ``peak`` — scale the rates so the highest window has this rate (req/s); CVs and
  lengths are unchanged.

They are applied in that order.
"""

from __future__ import annotations

import math
import zoneinfo
from dataclasses import replace

import numpy as np

from suanli.errors import InputError, Problem
from suanli.workload.demand import RateCurve


def _refuse(source: str, option: str, what: str, hint: str) -> InputError:
    return InputError([Problem(source, option, what, hint)])


def check_timezone(name: str, source: str, option: str = "--timezone") -> str:
    """``name`` if it is an IANA time zone, else an :class:`InputError`."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise _refuse(
            source,
            option,
            f"{name!r} is not an IANA time zone",
            "give a zone such as Asia/Shanghai, Asia/Urumqi or UTC",
        ) from None
    return name


def window_s_of(window_minutes: float | None, source: str, default_s: float = 600.0) -> float:
    """Seconds of ``window_minutes`` (checked positive and finite), else ``default_s``."""
    if window_minutes is None:
        return default_s
    if not math.isfinite(window_minutes) or window_minutes <= 0:
        raise _refuse(
            source, "--window-minutes", f"{window_minutes!r} is not > 0", "give e.g. 10 or 60"
        )
    return float(window_minutes) * 60.0


def _steps(amount_s: float, window_s: float) -> int | None:
    k = amount_s / window_s
    return round(k) if abs(k - round(k)) < 1e-9 else None


def coarsen(curve: RateCurve, window_s: float, source: str) -> RateCurve:
    """``curve`` in windows of ``window_s`` (a whole multiple of its own)."""
    if math.isclose(window_s, curve.window_s):
        return curve
    k = _steps(window_s, curve.window_s)
    n = len(curve.rate_rps)
    if k is None or k < 1:
        raise _refuse(
            source,
            "--window-minutes",
            f"{window_s / 60:g} minutes is not a whole multiple of the source's "
            f"{curve.window_s / 60:g}-minute windows",
            f"give a multiple of {curve.window_s / 60:g}",
        )
    if n % k:
        raise _refuse(
            source,
            "--window-minutes",
            f"the curve's {n} windows do not split into groups of {k}",
            "give a window that divides the curve's span",
        )
    rate = np.asarray(curve.rate_rps).reshape(-1, k)
    scv = np.square(np.asarray(curve.cv)).reshape(-1, k)
    total = rate.sum(axis=1)
    merged = np.divide((rate * scv).sum(axis=1), total, out=np.ones_like(total), where=total > 0)
    return replace(
        curve,
        window_s=window_s,
        rate_rps=tuple(float(r) for r in total / k),
        cv=tuple(float(math.sqrt(v)) for v in merged),
    )


def shift(curve: RateCurve, hours: float, source: str) -> RateCurve:
    """``curve`` rotated ``hours`` later (a whole number of windows; negative: earlier)."""
    if not math.isfinite(hours):
        raise _refuse(source, "--shift-hours", f"{hours!r} is not finite", "give e.g. 2 or -1.5")
    k = _steps(hours * 3600.0, curve.window_s)
    if k is None:
        raise _refuse(
            source,
            "--shift-hours",
            f"{hours:g} hours is not a whole number of {curve.window_s / 60:g}-minute windows",
            "round it to a whole number of windows",
        )
    n = len(curve.rate_rps)
    k %= n
    if k == 0:
        return curve
    return replace(
        curve,
        rate_rps=curve.rate_rps[n - k :] + curve.rate_rps[: n - k],
        cv=curve.cv[n - k :] + curve.cv[: n - k],
    )


def scale_to_peak(curve: RateCurve, peak: float, source: str) -> RateCurve:
    """``curve`` scaled so its highest window's rate is ``peak`` req/s."""
    if not math.isfinite(peak) or peak <= 0:
        raise _refuse(source, "--peak", f"{peak!r} is not a rate > 0", "give requests/s, e.g. 500")
    top = curve.peak_rps
    if top <= 0:
        raise _refuse(source, "--peak", "the curve has no requests to scale", "drop --peak")
    f = peak / top
    return replace(curve, rate_rps=tuple(r * f for r in curve.rate_rps))


def shape_curve(
    curve: RateCurve,
    source: str,
    *,
    peak: float | None = None,
    timezone: str | None = None,
    shift_hours: float | None = None,
    window_minutes: float | None = None,
) -> tuple[RateCurve, tuple[str, ...]]:
    """``curve`` with the options applied (see the module docstring) and notes on them."""
    notes: list[str] = []
    if window_minutes is not None:
        curve = coarsen(curve, window_s_of(window_minutes, source), source)
        notes.append(f"windows of {window_minutes:g} minutes (rate mean, rate-weighted SCV)")
    if shift_hours:
        curve = shift(curve, shift_hours, source)
        notes.append(f"shifted {shift_hours:+g} hours")
    if timezone is not None:
        curve = replace(curve, timezone=check_timezone(timezone, source))
        notes.append(f"users' local time: {timezone} (window 0 is their midnight)")
    if peak is not None:
        old = curve.peak_rps
        curve = scale_to_peak(curve, peak, source)
        notes.append(f"scaled ×{peak / old:.6g} to a peak of {peak:g} req/s")
    return curve, tuple(notes)
