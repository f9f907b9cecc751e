"""The suanli round problem against brute force on small random instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from suanli.policy.suanli.round_lp import RoundProblem, solve


def random_problem(rng: np.random.Generator) -> RoundProblem:
    n_classes = int(rng.integers(1, 4))
    n_pools = int(rng.integers(1, 4))
    n_sites = int(rng.integers(1, n_pools + 1))
    pairs = [(k, p) for k in range(n_classes) for p in range(n_pools) if rng.random() < 0.8]
    if not pairs:
        pairs = [(0, 0)]
    k = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    d = rng.choice([1, 2, 4, 8], size=k.size)
    w = d * rng.uniform(100, 700, size=k.size)
    pool_site = rng.integers(0, n_sites, size=n_pools)
    quota_rows: tuple[tuple[np.ndarray, float], ...] = ()
    if rng.random() < 0.5:
        quota_rows = ((k == 0, float(rng.integers(0, 12))),)
    return RoundProblem(
        n=rng.integers(0, 4, size=n_classes),
        k=k,
        p=p,
        d=d,
        w=w,
        u=rng.uniform(0.05, 3.0, size=k.size),
        free=rng.integers(0, 17, size=n_pools),
        pool_site=pool_site,
        headroom=rng.uniform(500, 8000, size=n_sites),
        quota_rows=quota_rows,
    )


def feasible(pr: RoundProblem, x: np.ndarray) -> bool:
    if np.any(x < 0) or np.any(np.abs(x - np.round(x)) > 1e-9):
        return False
    if np.any(np.bincount(pr.k, weights=x, minlength=pr.n.size) > pr.n + 1e-9):
        return False
    if np.any(np.bincount(pr.p, weights=x * pr.d, minlength=pr.free.size) > pr.free + 1e-9):
        return False
    site_use = np.bincount(pr.pool_site[pr.p], weights=x * pr.w, minlength=pr.headroom.size)
    if np.any(site_use > pr.headroom + 1e-6):
        return False
    return all(float((x * pr.d)[m].sum()) <= left + 1e-9 for m, left in pr.quota_rows)


def brute_force(pr: RoundProblem) -> float:
    ranges = [range(int(pr.n[k]) + 1) for k in pr.k]
    best = 0.0
    for combo in itertools.product(*ranges):
        x = np.array(combo, dtype=float)
        if feasible(pr, x):
            best = max(best, float(pr.u @ x))
    return best


@pytest.mark.parametrize("seed", range(60))
def test_exact_equals_brute_force_and_rounding_is_feasible_and_close(seed: int) -> None:
    pr = random_problem(np.random.default_rng(seed))
    opt = brute_force(pr)
    exact = solve(pr, exact=True)
    assert feasible(pr, exact.x)
    assert exact.value == pytest.approx(opt, abs=1e-6)
    lp = solve(pr, exact=False)
    assert feasible(pr, lp.x)
    assert lp.bound >= opt - 1e-6  # the LP relaxation bounds the optimum
    # rounding loses at most one job per capacity row of the best utility
    rows = pr.free.size + pr.headroom.size + len(pr.quota_rows) + pr.n.size
    assert lp.value >= opt - rows * float(pr.u.max()) - 1e-9
    assert lp.value <= opt + 1e-9


def test_split_is_feasible_and_near_the_full_lp() -> None:
    rng = np.random.default_rng(7)
    n_classes, n_pools = 400, 24
    k = np.repeat(np.arange(n_classes), n_pools)
    p = np.tile(np.arange(n_pools), n_classes)
    pr = RoundProblem(
        n=rng.integers(1, 20, size=n_classes),
        k=k,
        p=p,
        d=rng.choice([1, 2, 4, 8, 16], size=k.size),
        w=rng.uniform(300, 5000, size=k.size),
        u=rng.uniform(0.1, 2.0, size=k.size),
        free=rng.integers(200, 2000, size=n_pools),
        pool_site=np.arange(n_pools) % 8,
        headroom=np.full(8, 3e6),
    )
    full = solve(pr, exact=False)
    pop = solve(pr, exact=False, split=4)
    assert feasible(pr, pop.x)
    assert pop.value >= 0.95 * full.bound
