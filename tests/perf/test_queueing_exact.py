"""The fluid model's quick paths give the same bits as the plain computation
(suanli.perf.queueing): a simulation's results must not move when they change.

The golden values below were computed by the model before it was made quicker (one
``ReplicaPerf.step_s`` call per element, one call per pool, nothing cached)."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.catalog import load_catalog
from suanli.model.service import ServedModel, Slo
from suanli.perf.queueing import ServiceLoad, _step, replica_capacity, slo_attainment
from suanli.perf.serving import ReplicaPerf, ServingEfficiency, replica_perf

EFF = ServingEfficiency("test", 0.3, 0.3, 0.7, 0.005)
DENSE = ServedModel("dense-8b", 8.0, 8.0, "bf16", 131072.0, 32768)
MOE = ServedModel("moe-30b", 30.0, 3.0, "bf16", 65536.0, 32768)
SLO = Slo(ttft_p99_s=2.0, tpot_s=0.2, attainment=0.99)

#: Per pool: rate (× μ), replicas, inter-arrival CV, backlog (× μ), latencies (s), and
#: the attainment per latency, backlog at the end and utilisation the model gave.
POOLS = [
    (3.1, 4, 1.5, 0.0, (0.004, 0.012), ("0x1.fffffe50b2b5cp-1", "0x1.fffffe31f873cp-1"),
     "0x0.0p+0", "0x1.8cccccccccccdp-1"),
    (0.7, 1, 2.2, 0.0, (0.001,), ("0x1.e90be1441acf8p-1",), "0x0.0p+0", "0x1.6666666666666p-1"),
    (4.6, 5, 1.2, 3.0, (0.002, 0.02, 0.009),
     ("0x1.fffc38d3810b8p-1", "0x1.fffbd730bff84p-1", "0x1.fffc13f7e444cp-1"),
     "0x0.0p+0", "0x1.d70a3d70a3d6fp-1"),
]  # fmt: skip
#: 1…6 replicas at 85% load, 3 ms away, stationary, with the TTFT p99.
ARRAY_ATTAINMENT = (
    "0x1.e3fdcc76698e1p-1 0x1.fe59fd40304c7p-1 0x1.ffe662fccf9dcp-1 "
    "0x1.fffe6831ae26ap-1 0x1.ffffe61230ecep-1 0x1.fffffe50f5634p-1"
)
ARRAY_P99 = (
    "0x1.954e7ab0b873cp+1 0x1.9c1de1bcbd100p+0 0x1.1834482660c6ep+0 "
    "0x1.ada0265d9edd6p-1 0x1.6005cdb0780d6p-1 0x1.2d05d12c9d7d6p-1"
)


def _hex(values: str | tuple[str, ...]) -> np.ndarray:
    parts = values.split() if isinstance(values, str) else values
    return np.array([float.fromhex(v) for v in parts])


@pytest.fixture(scope="module")
def perf() -> ReplicaPerf:
    return replica_perf(DENSE, load_catalog()["nvidia_h100_sxm5"], 1, EFF, 0.05, 1200.0)


@pytest.fixture(scope="module")
def moe() -> ReplicaPerf:
    return replica_perf(MOE, load_catalog()["nvidia_h100_sxm5"], 2, EFF, 0.05, 1200.0)


def load(rate: float | np.ndarray, cv: float | np.ndarray = 1.0) -> ServiceLoad:
    return ServiceLoad(rate, 1000.0, 200.0, cv, 1.0, 1.0)


@pytest.mark.parametrize("which", ["perf", "moe"])
def test_vectorised_step_is_the_scalar_step(which: str, request: pytest.FixtureRequest) -> None:
    rp: ReplicaPerf = request.getfixturevalue(which)
    rng = np.random.default_rng(3)
    p = np.concatenate([np.zeros(100), rng.uniform(0, 2048, 400), np.ones(20)])
    n = rng.permutation(np.concatenate([rng.uniform(0, 300, 300), np.zeros(120), np.ones(100)]))
    kv = n * rng.uniform(100, 3000, len(n)) + p
    want = np.array([rp.step_s(a, b, c) for a, b, c in zip(p, n, kv, strict=True)])  # type: ignore[arg-type]
    assert np.array_equal(_step(rp, p, n, kv), want)  # bit for bit
    assert float(_step(rp, 0.0, 0.0, 0.0)) == 0.0


def test_golden_values_one_pool_at_a_time(perf: ReplicaPerf) -> None:
    mu = float(replica_capacity(perf, 1000.0, 200.0))
    assert mu == float.fromhex("0x1.d0cb9c1970cc0p+3")
    for rate, c, cv, b0, lat, att, end, util in POOLS:
        res = slo_attainment(perf, SLO, load(rate * mu, cv), c, np.array(lat), 300.0, b0 * mu)
        assert np.array_equal(res.attainment, _hex(att))
        assert float(res.backlog_end[0]) == float.fromhex(end)
        assert float(res.utilisation[0]) == float.fromhex(util)


def test_pools_at_once_equal_one_by_one(perf: ReplicaPerf) -> None:
    """What the simulator's accounting does: the pools of one replica type in one call,
    loads on axis 0 and every region's latency on axis 1."""
    mu = float(replica_capacity(perf, 1000.0, 200.0))
    lat = np.full((len(POOLS), 3), 0.03)
    for i, pool in enumerate(POOLS):
        lat[i, : len(pool[4])] = pool[4]
    col = lambda j: np.array([[pool[j]] for pool in POOLS], dtype=float)  # noqa: E731
    res = slo_attainment(perf, SLO, load(col(0) * mu, col(2)), col(1), lat, 300.0, col(3) * mu)
    assert res.attainment.shape == (len(POOLS), 3)
    for i, (*_, lat_i, att, end, util) in enumerate(POOLS):
        assert np.array_equal(res.attainment[i, : len(lat_i)], _hex(att))
        assert float(res.backlog_end[i, 0]) == float.fromhex(end)
        assert float(res.utilisation[i, 0]) == float.fromhex(util)


def test_golden_values_many_replica_counts(perf: ReplicaPerf) -> None:
    """What the serving policies' sizing does: replica counts 1…6 at once (the engine's
    fixed point solved in arrays, not one by one), with the TTFT p99's search."""
    mu = float(replica_capacity(perf, 1000.0, 200.0))
    c = np.arange(1, 7, dtype=float)
    res = slo_attainment(perf, SLO, load(c * mu * 0.85, 1.5), c, 0.003)
    assert np.array_equal(res.attainment, _hex(ARRAY_ATTAINMENT))
    assert np.array_equal(res.ttft_p99_s, _hex(ARRAY_P99))
    many = np.tile(c, 5)  # more loads than are solved one by one
    big = slo_attainment(perf, SLO, load(many * mu * 0.85, 1.5), many, 0.003, p99=False)
    assert np.array_equal(big.attainment, np.tile(_hex(ARRAY_ATTAINMENT), 5))


def test_lengths_as_arrays_give_the_same(moe: ReplicaPerf) -> None:
    """Scalar lengths take the cached load-independent part; arrays compute it."""
    mu = float(replica_capacity(moe, 1000.0, 200.0))
    rate = np.array([0.2, 0.9, 1.4]) * mu * 3
    a = slo_attainment(moe, SLO, load(rate, 1.7), 3, 0.01, 300.0, 0.0)
    b = slo_attainment(moe, SLO, load(rate, 1.7), 3, 0.01, 300.0, 0.0)
    arr = ServiceLoad(rate, np.full(3, 1000.0), np.full(3, 200.0), 1.7, 1.0, np.ones(3))
    c = slo_attainment(moe, SLO, arr, 3, 0.01, 300.0, 0.0)
    for f in ("attainment", "ttft_p99_s", "tpot_mean_s", "backlog_end", "capacity_rps"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
        assert np.array_equal(getattr(a, f), getattr(c, f))
