"""The live document's arithmetic on hand-built samples: site samples from the scheduling
state, binning, and the window's integrals."""

from __future__ import annotations

import numpy as np
import pytest

from suanli.control.samples import sample_sites
from suanli.core.policy import PolicyOutput, Start
from suanli.model.job import Job, JobKind
from suanli.report.live_series import binned, sample_arrays, totals
from suanli.store.records import SampleRecord
from tests.control.helpers import two_sites
from tests.core.test_state import _state


def _sample(at: float, site: str = "a", **kw: float) -> SampleRecord:
    base = dict(
        devices=8, up=8, allocated=0, busy=0, power_mw=2.0, price=0.5, cost_per_h=900.0,
        carbon=0.6,
    )  # fmt: skip
    return SampleRecord(at=at, site=site, **{**base, **kw})  # type: ignore[arg-type]


def test_sample_sites_uses_the_power_model() -> None:
    sc = two_sites()
    ex = _state(0)
    job = Job("7", "lab", JobKind.PRETRAIN, "dl-training", 0.0, 4, 1.0)
    j = ex.add(job)
    ex.arrive(j)
    cand = ex.jobs.candidates(j)[0]
    ex.apply(PolicyOutput(starts=[Start(j, cand)]), 0.0)
    t = ex.tables
    site = t.pool_site[cand.pool]
    idle = [0.0] * len(t.site_ids)
    for p in range(t.n_pools):
        idle[t.pool_site[p]] += t.pool_count[p] * float(t.pool_idle_w[p])
    epoch0 = sc.start.timestamp()
    placed = sample_sites(ex, [], {"east": True, "west": False}, epoch0 + 3600.0, epoch0)
    running = sample_sites(ex, [j], {"east": True, "west": True}, epoch0 + 3600.0, epoch0)
    s_placed, s_run = placed[site], running[site]
    assert (s_placed.allocated, s_placed.busy) == (cand.devices, 0)
    assert (s_run.allocated, s_run.busy) == (cand.devices, cand.devices)
    pue = t.site_pue[site]
    assert s_placed.power_mw == pytest.approx(pue * idle[site] / 1e6)
    assert s_run.power_mw == pytest.approx(pue * (idle[site] + cand.busy_w) / 1e6)
    assert placed[1].up == 0 and running[1].up == 8  # west unreachable in the first
    price = float(t.price[site, 1])
    assert s_run.price == price
    assert s_run.cost_per_h == pytest.approx(s_run.power_mw * 1000 * price)  # no subsidy here
    assert s_run.carbon == float(t.carbon[site, 1])


def test_totals_integrate_between_samples_and_skip_gaps() -> None:
    hour = 3600.0
    samples = [_sample(0.0), _sample(hour, busy=4), _sample(2 * hour), _sample(10 * hour)]
    times, values = sample_arrays(samples, ["a"])
    (tot,) = totals(times, values, sample_s=hour)
    # two one-hour segments at 2 MW count; the 8-hour gap (> 3 samples) does not
    assert tot.energy_mwh == pytest.approx(4.0)
    assert tot.cost_gross == pytest.approx(4.0 * 1000 * 0.5)
    assert tot.cost_net == pytest.approx(2 * 900.0)
    assert tot.carbon_t == pytest.approx(4.0 * 0.6)
    assert tot.utilisation == pytest.approx((0 + 4) / (8 + 8))
    assert tot.peak_power_mw == 2.0 and tot.now is not None and tot.now["busy"] == 0


def test_binning_keeps_at_most_the_points_asked_and_averages() -> None:
    samples = [_sample(float(t), power_mw=float(t % 2)) for t in range(1000)]
    times, values = sample_arrays(samples, ["a", "b"])
    assert np.isnan(values["power_mw"][1]).all()  # no samples of site b
    s = binned(times, values, max_points=100)
    assert s.times.size == 100
    assert np.allclose(s.values["power_mw"][0], 0.5)  # 0,1,0,1… averaged per bin of ten
    assert np.isnan(s.values["power_mw"][1]).all()
    same = binned(times[:50], {k: v[:, :50] for k, v in values.items()}, max_points=100)
    assert same.times.size == 50
