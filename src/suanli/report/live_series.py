"""Site samples of the live control plane as the report's series and window integrals.

Samples (:class:`~suanli.store.records.SampleRecord`, one per site every ``sample_s``)
are put on a common time axis of at most ``max_points`` instants — consecutive sample
times binned into equal spans of the window, every quantity averaged over a bin — and
integrated over the window between consecutive samples *i*, *i+1* of a site:

.. math::

    E_s = \\sum_i P_{s,i}\\,\\Delta_i, \\quad
    C^{gross}_s = \\sum_i 1000\\,P_{s,i}\\,\\pi_{s,i}\\,\\Delta_i, \\quad
    C^{net}_s = \\sum_i c_{s,i}\\,\\Delta_i, \\quad
    G_s = \\sum_i P_{s,i}\\,g_{s,i}\\,\\Delta_i, \\quad
    u_s = \\frac{\\sum_i B_{s,i}\\Delta_i}{\\sum_i U_{s,i}\\Delta_i},

with ``Δ_i = t_{i+1} − t_i`` in hours, ``P`` facility power (MW, so ``E`` in MWh), ``π``
the tariff (currency/kWh), ``c`` the net cost rate (currency/h), ``g`` the carbon
intensity (kg/kWh, so ``G`` in t) and ``B``/``U`` busy and up devices. A gap longer than
``3 · sample_s`` (the service was down) counts for nothing: what happened then is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from suanli.store.records import SampleRecord

#: Sampled quantities, in the order of the arrays' first axis.
FIELDS: tuple[str, ...] = (
    "up",
    "allocated",
    "busy",
    "power_mw",
    "price",
    "cost_per_h",
    "carbon",
)


@dataclass(frozen=True)
class SiteSeries:
    """Samples on a common time axis: ``times`` (POSIX s, *T*) and ``values[f]`` of shape
    ``(sites, T)`` per field of :data:`FIELDS` (NaN where a site has no sample)."""

    times: np.ndarray
    values: dict[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class SiteTotals:
    """A site's integrals over the window (see the module docstring) and its latest state."""

    energy_mwh: float
    cost_gross: float
    cost_net: float
    carbon_t: float
    busy_h: float
    up_h: float
    peak_power_mw: float | None
    now: dict[str, float] | None

    @property
    def utilisation(self) -> float | None:
        """Busy ÷ up device-time over the window (None without up time)."""
        return self.busy_h / self.up_h if self.up_h > 0 else None


def sample_arrays(
    samples: Sequence[SampleRecord], site_ids: Sequence[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Distinct sample times (sorted) and per field an array ``(sites, times)``."""
    index = {s: i for i, s in enumerate(site_ids)}
    times = np.unique(np.fromiter((x.at for x in samples), dtype=float, count=len(samples)))
    col = {t: k for k, t in enumerate(times.tolist())}
    values = {f: np.full((len(site_ids), times.size), np.nan) for f in FIELDS}
    for x in samples:
        i = index.get(x.site)
        if i is None:
            continue
        k = col[x.at]
        for f in FIELDS:
            values[f][i, k] = float(getattr(x, f))
    return times, values


def binned(times: np.ndarray, values: dict[str, np.ndarray], max_points: int) -> SiteSeries:
    """At most ``max_points`` instants: samples binned into equal spans, means per bin."""
    if times.size <= max_points:
        return SiteSeries(times, values)
    edges = np.linspace(times[0], times[-1], max_points + 1)
    b = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, max_points - 1)
    used = np.unique(b)
    out_t = np.array([times[b == k].mean() for k in used])
    out = {}
    for f, v in values.items():
        cols = []
        for k in used:
            block = v[:, b == k]
            with np.errstate(invalid="ignore"):
                n = np.sum(~np.isnan(block), axis=1)
                s = np.nansum(block, axis=1)
            cols.append(np.where(n > 0, s / np.maximum(n, 1), np.nan))
        out[f] = np.stack(cols, axis=1)
    return SiteSeries(out_t, out)


def totals(times: np.ndarray, values: dict[str, np.ndarray], sample_s: float) -> list[SiteTotals]:
    """Per site, the window's integrals and its latest sample (see the module docstring)."""
    n_sites = values["power_mw"].shape[0]
    result = []
    dt_h = np.diff(times) / 3600.0
    ok = np.diff(times) <= 3.0 * sample_s
    for s in range(n_sites):
        v = {f: values[f][s] for f in FIELDS}
        have = ~np.isnan(v["power_mw"])
        seg = ok & have[:-1] & have[1:] if times.size > 1 else np.zeros(0, dtype=bool)
        w = np.where(seg, dt_h, 0.0)

        def integral(x: np.ndarray, w: np.ndarray = w) -> float:
            return float(np.sum(np.nan_to_num(x[:-1]) * w)) if times.size > 1 else 0.0

        p = v["power_mw"]
        last = int(np.flatnonzero(have)[-1]) if have.any() else None
        result.append(
            SiteTotals(
                energy_mwh=integral(p),
                cost_gross=integral(1000.0 * p * v["price"]),
                cost_net=integral(v["cost_per_h"]),
                carbon_t=integral(p * v["carbon"]),
                busy_h=integral(v["busy"]),
                up_h=integral(v["up"]),
                peak_power_mw=float(np.nanmax(p)) if have.any() else None,
                now=None if last is None else {f: float(v[f][last]) for f in FIELDS},
            )
        )
    return result
