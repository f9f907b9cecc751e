"""Properties every policy must keep, on random small scenarios (hypothesis).

* no pool over-allocated, no shared device over-committed, no site over its power
  cap, no quota exceeded — at every instant (the executor's invariant check runs
  after each one), with jobs that share devices and under every placement rule;
* every job finishes exactly once, or is reported unfinished with a reason;
* energy equals ∫ power dt, rebuilt from the jobs' stretches on pools;
* cost and carbon equal energy × the hourly tariff and intensity;
* the same inputs give the same results.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suanli.core.sharing import PLACEMENTS
from suanli.model.scenario import Scenario
from suanli.policy.registry import make_policy, policy_names
from suanli.report.files import clean_json
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from tests.sim.helpers import ASCEND, H100, job, scenario

H20 = "nvidia_h20"
TYPES = [H100, ASCEND, H20]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Scenario, list[Any], str]:
    n_sites = draw(st.integers(1, 3))
    sites = []
    for s in range(n_sites):
        types = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=3, unique=True))
        pools = [(a, 8 * draw(st.integers(1, 4))) for a in types]
        peak_kw = sum(n * (0.7 if a == H100 else 0.4) for a, n in pools) * 1.2
        tight = draw(st.floats(0.55, 1.2))
        sites.append(
            {
                "id": f"s{s}",
                "name": f"s{s}",
                "location": {"lat": 30.0 + 3 * s, "lon": 110.0 + s},
                "grid_region": "test",
                "pue": 1.2,
                "power_capacity_mw": peak_kw * tight / 1e3,
                "max_power_oversubscription": 2.0,
                "tariff": {
                    "base_per_kwh": draw(st.floats(0.2, 1.0)),
                    "time_of_use": [
                        {"name": "valley", "multiplier": 0.4, "hours": ["00-08"]},
                        {"name": "peak", "multiplier": 1.5, "hours": ["09-12", "18-21"]},
                    ],
                },
                "carbon": {"kg_per_kwh": draw(st.floats(0.1, 0.9))},
                "pools": [{"accelerator": a, "count": n} for a, n in pools],
            }
        )
    tenants = [
        {"id": "a", "name": "A"},
        {"id": "b", "name": "B", "quotas": [{"max_devices": draw(st.integers(8, 40))}]},
    ]
    datasets = [
        {
            "id": "d",
            "size_tb": draw(st.floats(0.1, 5.0)),
            "home": "s0",
            "residency": draw(st.sampled_from(["anywhere", "home"])),
        }
    ]
    failures = []
    if draw(st.booleans()):
        failures.append(
            {
                "site": "s0",
                "at_hour": draw(st.floats(0, 20)),
                "hours": draw(st.floats(0.5, 6)),
                "nodes": draw(st.integers(1, 2)),
            }
        )
    sc = scenario(sites, hours=24, tenants=tenants, datasets=datasets, failures=failures)
    n_jobs = draw(st.integers(1, 25))
    jobs = []
    for i in range(n_jobs):
        fraction = draw(st.sampled_from([1.0, 1.0, 1.0, 0.1, 0.25, 0.46, 0.5, 0.75]))
        jobs.append(
            job(
                f"j{i}",
                draw(st.floats(0, 20 * 3600)),
                draw(st.sampled_from([1, 2, 4, 8, 16])) if fraction == 1.0 else 1,
                draw(st.floats(300, 8 * 3600)),
                device_fraction=fraction,
                tenant=draw(st.sampled_from(["a", "b"])),
                dataset=draw(st.sampled_from([None, "d"])),
                accepted_types=tuple(
                    draw(st.lists(st.sampled_from(TYPES), max_size=2, unique=True))
                ),
                checkpoint_interval_s=draw(st.sampled_from([600.0, 3600.0])),
            )
        )
    jobs.sort(key=lambda j: j.submit_s)
    return sc, jobs, draw(st.sampled_from(sorted(PLACEMENTS)))


def rebuilt_energy_and_cost(r: SimResult) -> tuple[float, float, float]:
    """Facility kWh, gross cost and carbon rebuilt from stretches (not from the accounting)."""
    t = r.tables
    kwh = cost = carbon = 0.0
    for p in range(t.n_pools):
        s = t.pool_site[p]
        idle_kw = t.pool_count[p] * float(t.pool_idle_w[p]) * t.site_pue[s] / 1e3
        kwh += idle_kw * r.end_s / 3600
        cost += idle_kw * t.net_price_integral(p, 0.0, r.end_s) / 3600
        carbon += idle_kw * t.carbon_integral(s, 0.0, r.end_s) / 3600
    for f in r.scenario.failures:  # failed nodes draw nothing
        t0, t1 = f.start_s, min(f.start_s + f.duration_s, r.end_s)
        if t0 >= t1:
            continue
        s = t.site_ids.index(f.site)
        for p in range(t.n_pools):
            if t.pool_site[p] != s:
                continue
            nodes = min(f.nodes or 10**9, t.pool_count[p] // t.pool_per_node[p])
            kw = nodes * t.pool_per_node[p] * float(t.pool_idle_w[p]) * t.site_pue[s] / 1e3
            kwh -= kw * (t1 - t0) / 3600
            cost -= kw * t.net_price_integral(p, t0, t1) / 3600
            carbon -= kw * t.carbon_integral(s, t0, t1) / 3600
    for pl in r.stretches:
        end = pl.end_s if not math.isnan(pl.end_s) else r.end_s
        if pl.compute_start_s >= end:
            continue
        s = t.pool_site[pl.pool]
        cand = next(c for c in r.jobs.candidates(pl.job) if c.pool == pl.pool)
        kw = cand.busy_w * t.site_pue[s] / 1e3
        kwh += kw * (end - pl.compute_start_s) / 3600
        cost += kw * t.net_price_integral(pl.pool, pl.compute_start_s, end) / 3600
        carbon += kw * t.carbon_integral(s, pl.compute_start_s, end) / 3600
    return kwh, cost, carbon


@pytest.mark.parametrize("policy", policy_names())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds())
def test_invariants(policy: str, world: tuple[Scenario, list[Any], str]) -> None:
    sc, jobs, placement = world
    r = Simulator(sc, jobs, make_policy(policy), verify=True, placement=placement).run()
    # every job finished exactly once, or is unfinished with a reason
    finished = [pl.job for pl in r.stretches if pl.end == "finished"]
    assert len(finished) == len(set(finished)) == int(r.done.sum())
    for j in range(len(jobs)):
        if not r.done[j]:
            assert r.reasons.get(j), f"{jobs[j].id} unfinished without a reason"
            assert math.isnan(r.finish[j])
        else:
            assert r.finish[j] >= jobs[j].submit_s
            assert r.first_start[j] >= jobs[j].submit_s
            # finish-time fairness: nobody beats having the fleet to itself
            assert r.finish[j] - jobs[j].submit_s >= r.jobs.alone_s(j) * (1 - 1e-9)
    # energy, cost, carbon = ∫ power × price/intensity
    m = compute_metrics(r)
    kwh, cost, carbon = rebuilt_energy_and_cost(r)
    assert m["energy_mwh"] * 1e3 == pytest.approx(kwh, rel=1e-9, abs=1e-6)
    assert m["cost"]["gross"] == pytest.approx(cost, rel=1e-9, abs=1e-6)
    assert m["carbon_t"] * 1e3 == pytest.approx(carbon, rel=1e-9, abs=1e-6)
    # determinism
    again = Simulator(sc, jobs, make_policy(policy), verify=False, placement=placement).run()
    assert json.dumps(clean_json(compute_metrics(again))) == json.dumps(clean_json(m))
    assert np.array_equal(again.finish, r.finish, equal_nan=True)
