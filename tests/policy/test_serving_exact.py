"""The serving policies' quick paths decide as the plain computation did
(suanli.policy.serving): the forecast margin and the sizing tables."""

from __future__ import annotations

import numpy as np

from suanli.policy.serving.tidal import Tidal, quantile_95


def test_quantile_is_numpys_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for i in range(3000):
        n = int(rng.integers(1, 300))
        x = rng.normal(0.0, rng.uniform(0.01, 10.0), n)
        if i % 3 == 0:
            x = np.round(x, 1)  # ties
        if i % 7 == 0:
            x[: n // 2] = x[0]
        assert quantile_95(x) == float(np.quantile(x, 0.95))
    with np.errstate(invalid="ignore"):  # numpy's own, for what is not finite
        assert np.isnan(quantile_95(np.array([0.1, np.nan, 0.3])))
        x = np.array([-np.inf, *range(30)], dtype=float)
        assert quantile_95(x) == np.quantile(x, 0.95)


def _margins_as_before(obs: np.ndarray, asks: list[tuple[int, float]], least: float) -> list[float]:
    """The margin as first written: past forecasts in a dict, errors in a list."""
    past: dict[int, float] = {}
    out = []
    for n, fc in asks:
        errors = [float(obs[i]) / f - 1.0 for i, f in past.items() if i < n and f > 0]
        past[n] = fc
        for i in [i for i in past if i < n - 288]:
            del past[i]
        short = len(errors) < 12
        out.append(max(least, 0.2) if short else max(least, float(np.quantile(errors, 0.95))))
    return out


def test_forecast_margin_is_the_same_as_before() -> None:
    rng = np.random.default_rng(5)
    obs = rng.uniform(50.0, 150.0, 700)
    asks = []
    for n in range(1, 700):
        fc = float(rng.choice([0.0, rng.uniform(40.0, 160.0)], p=[0.05, 0.95]))
        asks.append((n, fc))
        if n % 97 == 0:  # the same interval asked for twice
            asks.append((n, fc * 1.1))
    policy = Tidal(Tidal.Params(min_margin=0.05), rng)
    got = [policy._margin(0, 0, obs[:n], np.float64(fc)) for n, fc in asks]
    want = _margins_as_before(obs, asks, 0.05)
    assert got == want  # bit for bit
    assert got[0] == 0.2 and len(set(got)) > 100  # too little history, then its errors
