"""The fluid serving model (suanli.perf.queueing)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from suanli.catalog import load_catalog
from suanli.model.service import ServedModel, Slo
from suanli.perf.queueing import (
    ServiceLoad,
    _clump_quantiles,
    _erlang_c,
    _tpot_room,
    _wait_cdf,
    replica_capacity,
    replicas_needed,
    slo_attainment,
)
from suanli.perf.serving import ReplicaPerf, ServingEfficiency, replica_perf

EFF = ServingEfficiency("test", 0.3, 0.3, 0.7, 0.005)
MODEL = ServedModel("dense-8b", 8.0, 8.0, "bf16", 131072.0, 32768)
SLO = Slo(ttft_p99_s=2.0, tpot_s=0.2, attainment=0.99)


@pytest.fixture(scope="module")
def perf() -> ReplicaPerf:
    acc = load_catalog()["nvidia_h100_sxm5"]
    return replica_perf(MODEL, acc, 1, EFF, 0.05, 1200.0)


def load(rate: float, cv: float = 1.0) -> ServiceLoad:
    return ServiceLoad(rate, 1000.0, 200.0, cv, 1.0, 1.0)


def test_no_demand_meets_everything(perf: ReplicaPerf) -> None:
    res = slo_attainment(perf, SLO, load(0.0), 1)
    assert float(res.attainment) == 1.0
    assert float(res.utilisation) == 0.0


def test_more_replicas_never_hurt(perf: ReplicaPerf) -> None:
    mu = float(replica_capacity(perf, 1000.0, 200.0))
    res = slo_attainment(perf, SLO, load(3.0 * mu, cv=2.0), np.arange(1, 9))
    att = res.attainment
    assert np.all(np.diff(att) >= -1e-12)
    assert att[0] < 0.5 < att[-1]


def test_overload_is_capacity_bound(perf: ReplicaPerf) -> None:
    mu = float(replica_capacity(perf, 1000.0, 200.0))
    for rho in (1.05, 1.5, 3.0):
        res = slo_attainment(perf, SLO, load(rho * mu), 1, interval_s=300.0)
        assert float(res.attainment) < 1.0
        assert float(res.attainment) <= 1.0 / rho + 1e-9
        assert float(res.backlog_end) == pytest.approx((rho - 1.0) * mu * 300.0)
    stationary = slo_attainment(perf, SLO, load(1.2 * mu), 1)
    assert float(stationary.attainment) == 0.0
    assert math.isinf(float(stationary.ttft_p99_s))


def test_backlog_drains(perf: ReplicaPerf) -> None:
    mu = float(replica_capacity(perf, 1000.0, 200.0))
    fresh = slo_attainment(perf, SLO, load(0.5 * mu), 1, interval_s=300.0)
    late = slo_attainment(perf, SLO, load(0.5 * mu), 1, interval_s=300.0, backlog=200.0 * mu)
    assert float(late.attainment) < float(fresh.attainment)
    assert float(late.backlog_end) == pytest.approx(200.0 * mu - 0.5 * mu * 300.0)


def test_replicas_needed_is_minimal(perf: ReplicaPerf) -> None:
    mu = float(replica_capacity(perf, 1000.0, 200.0))
    rates = np.array([0.5, 2.0, 7.5]) * mu
    ld = ServiceLoad(rates, 1000.0, 200.0, 1.5, 1.0, 1.0)
    need = replicas_needed(perf, SLO, ld, target=0.95)
    for i, c in enumerate(need):
        one = ServiceLoad(rates[i], 1000.0, 200.0, 1.5, 1.0, 1.0)
        assert float(slo_attainment(perf, SLO, one, int(c)).attainment) >= 0.95
        assert float(slo_attainment(perf, SLO, one, int(c) - 1).attainment) < 0.95
    assert int(replicas_needed(perf, SLO, ServiceLoad(0.0, 1000.0, 200.0))) == 0


def test_latency_adds_to_ttft(perf: ReplicaPerf) -> None:
    near = slo_attainment(perf, SLO, load(1.0), 1, latency_s=0.0)
    far = slo_attainment(perf, SLO, load(1.0), 1, latency_s=0.05)
    assert float(far.ttft_p99_s) == pytest.approx(float(near.ttft_p99_s) + 0.05)


def test_erlang_c_matches_the_formula() -> None:
    """C(c, a) = (a^c/c!)·(c/(c−a)) / (Σ_{k<c} a^k/k! + (a^c/c!)·(c/(c−a)))."""
    for c, a in ((1, 0.5), (2, 1.5), (5, 4.0), (20, 15.0)):
        top = a**c / math.factorial(c) * c / (c - a)
        expect = top / (sum(a**k / math.factorial(k) for k in range(c)) + top)
        got = float(_erlang_c(np.array([c]), np.array([a]))[0])
        assert got == pytest.approx(expect, rel=1e-9)


def test_poisson_exponential_is_mm1(perf: ReplicaPerf) -> None:
    """Poisson arrivals, exponential work (c_s² = 1), one replica: P(wait) = ρ (M/M/1),
    and the wait beyond the own prefill is exponential with mean ρ/(μ − λ)·… (Erlang C)."""
    mu = float(replica_capacity(perf, 1000.0, 200.0, 1.0, 1.0))
    # c_s² of I + O − 1 with both exponential (scv 1): (Ī² + Ō²)/(Ī + Ō − 1)² < 1, so take
    # an SLO with a huge TPOT and compare the TTFT tail with the M/G/1 exponential tail.
    lam = 0.6 * mu
    slo = Slo(ttft_p99_s=3.0, tpot_s=10.0)
    res = slo_attainment(perf, slo, ServiceLoad(lam, 1000.0, 200.0, 1.0, 1.0, 1.0), 1)
    rho = lam / mu
    assert float(res.utilisation) == pytest.approx(rho)
    cs2 = (1000.0**2 + 200.0**2) / (1199.0**2)
    e_w = rho / (mu - lam) * (1.0 + cs2) / 2.0
    # With no own prefill time the attainment would be 1 − ρ·exp(−3·ρ/E[W]); the real one
    # is lower (the prefill takes time) but not by much.
    bound = 1.0 - rho * math.exp(-3.0 * rho / e_w)
    assert float(res.ttft_attainment) <= bound + 1e-12
    assert float(res.ttft_attainment) > bound - 0.1


def test_wait_cdf_atom_and_tail() -> None:
    x = np.array([-1.0, 0.0, 2.0, np.inf])
    got = _wait_cdf(x, np.full(4, 0.4), np.full(4, 2.0))
    assert got[0] == 0.0
    assert got[1] == pytest.approx(0.6)
    assert got[2] == pytest.approx(1.0 - 0.4 * math.exp(-1.0))
    assert got[3] == 1.0
    assert float(_wait_cdf(np.array([5.0]), np.array([0.0]), np.array([0.0]))[0]) == 1.0


def test_clump_quantiles_are_geometric() -> None:
    """P(J ≥ j) = (1 − 1/β)^j: no clump-mates for Poisson, mean β − 1 otherwise."""
    assert np.all(_clump_quantiles(np.array([1.0])) == 0.0)
    j = _clump_quantiles(np.array([5.0]))[0]
    assert np.all(np.diff(j) >= 0) and j[0] == 0.0
    assert float(j.mean()) == pytest.approx(4.0, rel=0.25)


def test_clumps_hurt_tpot_and_attainment_is_joint(perf: ReplicaPerf) -> None:
    mu = float(replica_capacity(perf, 1000.0, 200.0))
    slo = Slo(ttft_p99_s=5.0, tpot_s=1.5 * perf.tpot_s)
    res = slo_attainment(perf, slo, load(0.4 * mu, cv=np.array([1.0, 3.0, 6.0])), 1)
    assert np.all(np.diff(res.tpot_attainment) < 0)
    assert np.all(np.diff(res.ttft_attainment) < 0)
    assert np.all(res.attainment <= np.minimum(res.ttft_attainment, res.tpot_attainment) + 1e-12)
    # Correlated misses: the joint is at least the product of the marginals.
    assert np.all(res.attainment >= res.ttft_attainment * res.tpot_attainment - 1e-9)


def test_tpot_needs_room_for_the_prefill_behind(perf: ReplicaPerf) -> None:
    """Y(O) grows with the decode steps and is +inf when every step may carry prefill."""
    oq = np.array([[1.0, 11.0, 101.0]])
    args = (np.array([0.03]), np.array([0.1]), np.array([2.0]), np.array([1000.0]))
    y = _tpot_room(0.05, oq, *args, np.array([10.0]), np.array([1.0]), 2048.0)
    assert y[0, 0] == np.inf and 0 < y[0, 1] < y[0, 2]
    assert np.all(_tpot_room(0.2, oq, *args, np.array([10.0]), np.array([1.0]), 2048.0) == np.inf)
