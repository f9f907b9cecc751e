"""Price and carbon integrals of the fleet tables: a fleet whose tariffs and carbon are one
value over the horizon integrates them as ``v · (t1 − t0)``, the same as the hourly
running sums give (to rounding), on both the scalar and the vectorised path."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.config import load_scenario
from suanli.core.tables import _integral, _integrals, build_tables
from suanli.trace.fleets import fleet_scenario

SPANS = [(0.0, 10.0), (1800.0, 5400.0), (3600.0 * 20, 3600.0 * 200.5), (-5.0, 7.0 * 86400 + 3.0)]


def test_a_flat_fleet_integrates_by_its_one_value() -> None:
    t = build_tables(fleet_scenario("philly-hetero"))
    assert t.pool_net_price_flat is not None and t.site_carbon_flat is not None
    for pool in range(t.n_pools):
        for t0, t1 in SPANS:
            hourly = _integral(t.pool_net_price_cum[pool], t.hours, t0, t1)
            assert t.net_price_integral(pool, t0, t1) == pytest.approx(hourly, rel=1e-12)
    begin = np.array([s[0] for s in SPANS[:3]])
    end = np.array([s[1] for s in SPANS[:3]])
    for pool in range(t.n_pools):
        rows = np.full(begin.size, pool)
        hourly_v = _integrals(t.pool_net_price_cum_np, rows, t.hours, end) - _integrals(
            t.pool_net_price_cum_np, rows, t.hours, begin
        )
        got = t.net_price_integrals(rows, begin, end)
        assert got == pytest.approx(hourly_v, rel=1e-12)
        assert got.tolist() == [
            t.net_price_integral(pool, a, b) for a, b in zip(begin, end, strict=True)
        ]
    sites = np.zeros(begin.size, dtype=int)
    assert t.carbon_integrals(sites, begin, end).tolist() == [
        t.carbon_integral(0, a, b) for a, b in zip(begin, end, strict=True)
    ]


def test_hourly_tariffs_keep_the_running_sums() -> None:
    """The national default's tariffs vary by hour (its carbon is one annual mean per
    site: flat, as the built-ins need no data files)."""
    t = build_tables(load_scenario("cn-hubs-2026"))
    assert t.pool_net_price_flat is None and t.site_carbon_flat is not None
    for t0, t1 in SPANS:
        assert t.net_price_integral(0, t0, t1) == _integral(
            t.pool_net_price_cum[0], t.hours, t0, t1
        )
