"""The workload generator: determinism, rates, shapes."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.config import load_scenario
from suanli.model.scenario import Distribution, GeneratorSpec
from suanli.perf.memory import min_devices
from suanli.workload.generator import arrival_times, generate_jobs, sample


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    return load_scenario()


def test_same_seed_same_jobs(scenario) -> None:  # type: ignore[no-untyped-def]
    a = generate_jobs(scenario, np.random.default_rng(7))
    b = generate_jobs(scenario, np.random.default_rng(7))
    c = generate_jobs(scenario, np.random.default_rng(8))
    assert a == b
    assert a != c


def test_jobs_sorted_with_unique_ids_and_memory_fit(scenario) -> None:  # type: ignore[no-untyped-def]
    jobs = generate_jobs(scenario, np.random.default_rng(1))
    assert len({j.id for j in jobs}) == len(jobs)
    submits = [j.submit_s for j in jobs]
    assert submits == sorted(submits)
    assert all(0 <= t < scenario.horizon_s for t in submits)
    spec = scenario.workload
    assert isinstance(spec, GeneratorSpec)
    ref = scenario.catalog[spec.reference]
    for j in jobs:
        assert j.gang >= min_devices(ref, scenario.profiles[j.profile])
        assert j.work_pflop > 0


def test_class_rates_match_the_scenario(scenario) -> None:  # type: ignore[no-untyped-def]
    jobs = generate_jobs(scenario, np.random.default_rng(3))
    spec = scenario.workload
    assert isinstance(spec, GeneratorSpec)
    days = scenario.hours / 24
    expected = sum(c.jobs_per_day for c in spec.classes) * days
    assert abs(len(jobs) - expected) < 4 * expected**0.5


def test_lognormal_median_and_mean() -> None:
    d = Distribution("lognormal", median=2.0, mean=6.0)
    x = sample(d, np.random.default_rng(0), 400_000)
    assert np.median(x) == pytest.approx(2.0, rel=0.02)
    assert x.mean() == pytest.approx(6.0, rel=0.05)


def test_rounding_and_clipping() -> None:
    rng = np.random.default_rng(0)
    p2 = sample(
        Distribution("lognormal", median=3, mean=9, low=1, high=64, power_of_two=True), rng, 5000
    )
    assert set(np.unique(p2)) <= {1, 2, 4, 8, 16, 32, 64}
    m8 = sample(Distribution("choice", values=(3, 9), weights=(1, 1), multiple_of=8), rng, 100)
    assert set(np.unique(m8)) == {8, 16}


def test_arrivals_follow_the_diurnal_rate() -> None:
    rng = np.random.default_rng(0)
    diurnal = np.array([0.0, 2.0] * 12 * 30)
    t = arrival_times(240.0, diurnal, diurnal.size, rng)
    hours = (t // 3600).astype(int)
    assert np.all(diurnal[hours] > 0)  # nothing arrives in zero-rate hours
    assert t.size == pytest.approx(240 * 30, rel=0.05)
