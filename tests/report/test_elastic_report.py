"""Metrics and report of sizes and elastic jobs (issue 15, item 5): device-hours by devices
held, below / at / above the gang, goodput against throughput, and the plot of the most
resized job's size over time — hand-computed on the resize scenarios of
tests/core/test_resize.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from suanli.config import load_scenario
from suanli.core.jobtable import JobTable
from suanli.core.tables import build_tables
from suanli.model.job import Job, JobKind
from suanli.model.scenario import Scenario
from suanli.perf.goodput import EfficiencyModel, GoodputModel, StepTimeModel
from suanli.policy.registry import make_policy
from suanli.report.data import report_data
from suanli.report.elastic import most_resized, size_history, size_steps
from suanli.report.glossary import term_of
from suanli.report.html import render_page
from suanli.report.metrics import compute_metrics
from suanli.report.plots import write_plots
from suanli.sim.engine import Simulator
from suanli.sim.result import SimResult
from suanli.trace import convert_source, replay, write_trace
from suanli.trace.scaling import ScalingModel, with_speedups
from tests.core.test_resize import FLEET, _elastic, _state, _v100_only, elastic_pair

H = 3600.0


@pytest.fixture(scope="module")
def fleet() -> Scenario:
    return load_scenario(str(FLEET))


def _grower_run(fleet: Scenario) -> tuple[list[Job], SimResult]:
    """Four V100s busy until 900 s with a fixed job (0); an elastic job (1) asking for
    eight, from two, starts at 60 s on the four left and grows to eight at 900 s (restart
    30 s, state saved on every stop): tests/core/test_resize.py."""
    rate4 = _state(fleet, [_elastic(0, 1.0)]).jobs.candidates(0)[0].rate
    busy = _v100_only(Job("0", "lab", JobKind.PRETRAIN, "dl-training", 0.0, 4, 900.0 * rate4))
    grower = dataclasses.replace(
        _v100_only(
            _elastic(
                1, 2 * H * rate4, 8, 8, gang_min=2, checkpoint_interval_s=0.0, restart_cost_s=30.0
            )
        ),
        submit_s=60.0,
    )
    jobs = [busy, grower]
    return jobs, Simulator(fleet, jobs, make_policy("suanli"), drain=True).run()


def test_device_hours_by_size_and_around_the_gang(fleet: Scenario) -> None:
    jobs, r = _grower_run(fleet)
    f = float(r.finish[1])
    assert r.resizes[1] == 1 and f > 930.0
    m = compute_metrics(r)
    # 4 devices: job 0 for 900 s, job 1 from 60 s to 900 s; 8 devices: job 1 from 900 s on
    assert m["device_hours_by_size"] == [
        {"devices": 4.0, "device_hours": pytest.approx(4 * (900 + 840) / H), "jobs": 2},
        {"devices": 8.0, "device_hours": pytest.approx(8 * (f - 900) / H), "jobs": 1},
    ]
    total = sum(s["device_hours"] for s in m["device_hours_by_size"])
    assert total == pytest.approx(float(r.allocated_s.sum()) / H)
    e = m["elastic"]
    assert (e["jobs"], e["resized_jobs"]) == (1, 1)
    assert e["device_hours"] == {
        "below_gang": pytest.approx(4 * 840 / H),  # four of its eight
        "at_gang": pytest.approx(8 * (f - 900) / H),
        "above_gang": 0.0,
    }
    # it saves its state on every stop, so its progress is its whole work; on four of its
    # gang of eight it loses no statistical efficiency (default model: linear below the gang)
    assert e["goodput_pflop"] == pytest.approx(jobs[1].work_pflop)
    assert e["throughput_pflop"] == pytest.approx(jobs[1].work_pflop)
    assert e["efficiency_vs_gang"] == pytest.approx(1.0)


def test_goodput_against_throughput_with_a_known_speedup(fleet: Scenario) -> None:
    """The elastic 4–8 job of ``elastic_pair`` with a measured speed-up S and throughput T:
    on eight devices it progresses S(8) = 1.6 times as fast as on four and processes T(8) = 2
    times the examples."""
    speedup, throughput = (1.0, 1.15, 1.3, 1.45, 1.6), (1.0, 1.25, 1.5, 1.75, 2.0)
    grower, newcomer = elastic_pair(fleet)
    grower = dataclasses.replace(grower, speedup=speedup, throughput=throughput)
    r = Simulator(fleet, [grower, newcomer], make_policy("suanli"), drain=True).run()
    assert r.done.all() and r.resizes[0] >= 1
    rate4 = r.jobs.base_candidate(0, 0)
    assert rate4 is not None and rate4.devices == 4
    mine = [s for s in size_history(r, 0)]
    assert {s["devices"] for s in mine} == {4.0, 8.0}
    ran = [(s["end_s"] - s["compute_s"], int(s["devices"]) - 4) for s in mine]
    e = compute_metrics(r)["elastic"]
    assert e["goodput_pflop"] == pytest.approx(grower.work_pflop)
    assert e["goodput_pflop"] == pytest.approx(sum(t * rate4.rate * speedup[k] for t, k in ran))
    assert e["throughput_pflop"] == pytest.approx(
        sum(t * rate4.rate * throughput[k] for t, k in ran)
    )
    assert 1.6 / 2.0 < e["efficiency_vs_gang"] < 1.0
    assert e["device_hours"]["above_gang"] > 0 and e["device_hours"]["below_gang"] == 0


def _model() -> ScalingModel:
    step = StepTimeModel(0.01, 0.0005, 0.001, 0.02, 0.002, 0.05, 1.0)
    return ScalingModel("nvidia_t4", GoodputModel(step, EfficiencyModel(128, 1000.0), 128, None, 4))


def test_a_scaling_model_gives_throughput_beside_the_speedup() -> None:
    m = _model()
    job = Job("a", "t", JobKind.PRETRAIN, "p", 0.0, 4, 1.0, gang_min=2, gang_max=12)
    (out,) = with_speedups([job], {"a": m})
    g = m.goodput
    for n in range(2, 13):
        x = g.throughput(n) / g.throughput(4)
        eff = g.efficiency.efficiency(g.batch(n)) / g.efficiency.efficiency(g.batch(4))
        assert out.throughput[n - 2] == pytest.approx(x)
        assert out.speedup[n - 2] == pytest.approx(x * eff)
    assert out.speedup[10] < out.throughput[10]  # batch 1,536 > 512: efficiency lost
    with pytest.raises(ValueError, match="throughput has 2 values"):
        dataclasses.replace(out, throughput=(1.0, 1.1))
    with pytest.raises(ValueError, match="throughputs must be finite"):
        dataclasses.replace(out, throughput=(0.0, *out.throughput[1:]))


def test_job_table_throughput_falls_back_to_the_speedup_then_linear(fleet: Scenario) -> None:
    measured = _elastic(0, 1.0, speedup=(1.0, 1.3, 1.6, 1.8, 1.9))
    both = dataclasses.replace(measured, throughput=(1.0, 1.25, 1.5, 1.75, 2.0))
    jobs = JobTable([measured, both, _elastic(2, 1.0)], build_tables(fleet))
    assert jobs.throughput(0, 8) == 1.9 and jobs.throughput(1, 8) == 2.0
    assert jobs.throughput(2, 8) == 2.0 and jobs.speedup(2, 8) == pytest.approx(4 / 3)
    assert jobs.throughput(1, 4) == 1.0 and jobs.throughput(1, 99) == 2.0  # clamped


def test_the_most_resized_job_and_its_plot(fleet: Scenario, tmp_path: Path) -> None:
    _, r = _grower_run(fleet)
    assert most_resized(r) == 1
    tie = dataclasses.replace(r, resizes=np.array([3, 3]))
    assert most_resized(tie) == 0  # ties: the first in the job table
    hist = size_history(r, 1)
    assert [(s["devices"], s["start_s"], s["compute_s"]) for s in hist] == [
        (4.0, 60.0, 60.0),
        (8.0, 900.0, 930.0),  # the restart: held, not yet computing
    ]
    x, y = size_steps(hist)
    f = float(r.finish[1])
    assert (x, y) == ([60.0, 900.0, 900.0, f, f], [4.0, 4.0, 8.0, 8.0, 0.0])
    gap = [dict(hist[0], end_s=500.0), hist[1]]  # stopped at 500 s, waiting until 900 s
    assert size_steps(gap) == ([60.0, 500.0, 500.0, 900.0, 900.0, f, f], [4, 4, 0, 0, 8, 8, 0])
    doc = report_data([r])
    js = doc["policies"][0]["job_size"]
    assert (js["job"], js["gang"], js["gang_min"], js["gang_max"], js["resizes"]) == (
        "1",
        8,
        2,
        8,
        1,
    )
    assert [s["devices"] for s in js["stretches"]] == [4.0, 8.0]
    assert js["stretches"][1]["compute_s"] == 930.0
    paths = write_plots(tmp_path, [r])
    assert tmp_path / "job-size-suanli.png" in paths
    assert (tmp_path / "job-size-suanli.png").stat().st_size > 1000
    page = render_page(doc)
    assert 'id="elastic-section"' in page and "R.drawJobSize" in page


def test_no_plot_without_resizes(fleet: Scenario, tmp_path: Path) -> None:
    jobs, _ = _grower_run(fleet)
    fixed = [dataclasses.replace(j, gang_min=None, gang_max=None) for j in jobs]
    r = Simulator(fleet, fixed, make_policy("suanli"), drain=True).run()
    assert r.resizes.sum() == 0 and most_resized(r) is None
    m = compute_metrics(r)
    assert m["elastic"]["jobs"] == 0 and m["elastic"]["goodput_pflop"] == 0.0
    assert [s["devices"] for s in m["device_hours_by_size"]] == [4.0, 8.0]
    assert "job_size" not in report_data([r])["policies"][0]
    assert not any("job-size" in p.name for p in write_plots(tmp_path, [r]))


def test_the_new_metrics_have_glossary_terms() -> None:
    for path in (
        "device_hours_by_size",
        "elastic.jobs",
        "elastic.device_hours",
        "elastic.goodput_pflop",
        "elastic.efficiency_vs_gang",
    ):
        assert term_of(path) is not None, path


def test_goodput_is_the_work_of_pollux_jobs(tmp_path: Path) -> None:
    """Pollux's measured jobs (tests/trace/fixtures/pollux-elastic) save their state on every
    stop: the goodput of a drained run is their whole work, whatever sizes they ran on;
    their throughput, from the measured model, is not."""
    src = Path(__file__).parents[1] / "trace/fixtures/pollux-elastic/workloads/workload-1.csv"
    path = tmp_path / "w.parquet"
    write_trace(convert_source(src, "pollux").trace, path)
    rp = replay(path, "own")
    assert all(j.elastic and j.throughput for j in rp.jobs)
    for policy in ("pollux", "suanli"):
        r = Simulator(rp.scenario, rp.jobs, make_policy(policy), drain=True).run()
        e = compute_metrics(r)["elastic"]
        assert e["goodput_pflop"] == pytest.approx(sum(j.work_pflop for j in rp.jobs))
        assert e["efficiency_vs_gang"] != pytest.approx(1.0)
