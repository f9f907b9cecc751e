"""The request-level simulation of one replica (suanli.experiment.replica_sim)."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.catalog import load_catalog
from suanli.experiment.replica_sim import simulate_replica
from suanli.model.service import ServedModel
from suanli.perf.serving import ReplicaPerf, ServingEfficiency, replica_perf
from suanli.workload.demand import RequestTrace

EFF = ServingEfficiency("test", 0.3, 0.3, 0.7, 0.005)
MODEL = ServedModel("dense-8b", 8.0, 8.0, "bf16", 131072.0, 32768)


@pytest.fixture(scope="module")
def perf() -> ReplicaPerf:
    acc = load_catalog()["nvidia_h100_sxm5"]
    return replica_perf(MODEL, acc, 1, EFF, 0.05, 1200.0)


def poisson(rate: float, n: int, seed: int = 1) -> RequestTrace:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / rate, n))
    return RequestTrace(
        t - t[0],
        rng.integers(100, 2000, n).astype(np.int64),
        rng.integers(2, 400, n).astype(np.int64),
    )


def test_deterministic(perf: ReplicaPerf) -> None:
    tr = poisson(5.0, 500)
    a, b = simulate_replica(tr, perf), simulate_replica(tr, perf)
    assert np.array_equal(a.ttft_s, b.ttft_s) and np.array_equal(a.done_s, b.done_s)


def test_low_load_ttft_is_prefill_and_tpot_a_step(perf: ReplicaPerf) -> None:
    # Requests far apart: each runs alone.
    n = 20
    tr = RequestTrace(
        np.arange(n) * 100.0, np.full(n, 1000, dtype=np.int64), np.full(n, 50, dtype=np.int64)
    )
    res = simulate_replica(tr, perf)
    prefill = perf.step_s(1000, 0, 1000)
    assert np.allclose(res.ttft_s, prefill)
    lo, hi = perf.step_s(0, 1, 1000), perf.step_s(0, 1, 1049)
    assert np.all(res.tpot_s >= lo - 1e-12) and np.all(res.tpot_s <= hi + 1e-12)


def test_chunked_prefill_spans_steps(perf: ReplicaPerf) -> None:
    tr = RequestTrace(np.zeros(1), np.array([5000], dtype=np.int64), np.array([2], dtype=np.int64))
    res = simulate_replica(tr, perf, token_budget=2048)
    expect = sum(perf.step_s(c, 0, k) for c, k in ((2048, 2048), (2048, 4096), (904, 5000)))
    assert res.ttft_s[0] == pytest.approx(expect)
    whole = simulate_replica(tr, perf, token_budget=None)
    assert whole.ttft_s[0] == pytest.approx(perf.step_s(5000, 0, 5000))


def test_batch_and_kv_limits(perf: ReplicaPerf) -> None:
    n = 3 * perf.max_batch
    burst = RequestTrace(
        np.zeros(n), np.full(n, 100, dtype=np.int64), np.full(n, 100, dtype=np.int64)
    )
    res = simulate_replica(burst, perf)
    assert res.peak_batch == perf.max_batch
    big = RequestTrace(
        np.zeros(50),
        np.full(50, int(perf.kv_capacity_tokens // 10), dtype=np.int64),
        np.full(50, 10, dtype=np.int64),
    )
    res2 = simulate_replica(big, perf)
    assert res2.peak_kv_tokens <= perf.kv_capacity_tokens
    assert res2.peak_batch < 10


def test_every_request_completes_once(perf: ReplicaPerf) -> None:
    tr = poisson(8.0, 2000)
    res = simulate_replica(tr, perf)
    assert np.all(np.isfinite(res.done_s))
    assert np.all(res.first_token_s >= res.arrival_s)
    assert np.all(res.done_s >= res.first_token_s)
    one = tr.output_tokens == 1
    assert np.all(res.tpot_s[one] == 0.0)
    # Output tokens: each request's last token comes (O − 1) gaps after the first.
    gaps = (res.done_s - res.first_token_s) / np.maximum(tr.output_tokens - 1, 1)
    assert np.allclose(gaps[~one], res.tpot_s[~one])
