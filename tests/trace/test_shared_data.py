"""The real traces in ../shared/data (skipped when absent): row counts and key statistics
against SOURCE.txt and DESIGN §7."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.policy.registry import make_policy
from suanli.report.metrics import compute_metrics
from suanli.sim.engine import Simulator
from suanli.trace import convert_source, read_trace, replay, summarize_trace, write_trace

pytestmark = pytest.mark.shared_data


def traces(shared_data: Path) -> Path:
    return shared_data / "traces"


def test_philly(shared_data: Path, tmp_path: Path) -> None:
    src = traces(shared_data) / "philly-pollux" / "simulator" / "traces" / "philly.csv"
    c = convert_source(src, "philly")
    write_trace(c.trace, tmp_path / "philly.parquet")
    r = replay(read_trace(tmp_path / "philly.parquet"), "philly-hetero")
    assert c.rows_read == 82_247 and len(c.trace) == 82_247 and c.skipped == {}
    assert len(r.jobs) == 82_247
    s = summarize_trace(c.trace)
    assert s.tenants == 15
    assert s.start == "2017-09-04T10:30:41+00:00"
    assert s.span_s == pytest.approx(108.9 * 86400, rel=1e-3)
    assert s.gang_counts["1"] == 76_627 and s.gang_counts[">64"] == 3
    assert s.gang is not None and s.gang.max == 128
    assert s.duration_s is not None and s.duration_s.p50 == 1144.0


def test_openb(shared_data: Path) -> None:
    folder = traces(shared_data) / "alibaba-gpu-v2023" / "data" / "csv"
    all_nodes = (folder / "openb_node_list_all_node.csv").read_text().splitlines()
    assert len(all_nodes) - 1 == 1_523
    c = convert_source(folder / "openb_pod_list_gpuspec33.csv", "openb")
    assert c.rows_read == 8_152
    assert c.skipped == {"CPU-only pod (num_gpu 0)": 1_088, "lifetime ≤ 0": 1}
    assert len(c.trace) == 8_152 - 1_089
    r = replay(c.trace)
    assert sum(p.count for p in r.scenario.pools) == 6_212
    assert len(r.scenario.pools) == 7
    s = summarize_trace(c.trace)
    # 3,078 one-GPU pods ask for less than a GPU; one of them, never scheduled, was deleted
    # at creation (lifetime 0) and is the one row skipped.
    assert s.fractional_jobs == 3_077
    assert s.constrained_jobs == 2_388  # every pod with a gpu_spec asks for a GPU


def test_openb_pods_share_gpus(shared_data: Path) -> None:
    """openb replayed on its own fleet: the 3,077 share pods share GPUs (they hold fewer
    device-hours than they run), and spreading them holds more than packing them."""
    folder = traces(shared_data) / "alibaba-gpu-v2023" / "data" / "csv"
    r = replay(convert_source(folder / "openb_pod_list_default.csv", "openb").trace)
    runs = {
        rule: Simulator(r.scenario, r.jobs, make_policy("fifo"), drain=True, placement=rule).run()
        for rule in ("best-fit", "worst-fit")
    }
    shares = [j for j, job in enumerate(r.jobs) if job.device_fraction < 1.0]
    packed = runs["best-fit"]
    assert all(packed.done[j] for j in shares)
    share_hours = sum(packed.finish[j] - packed.first_start[j] for j in shares) / 3600.0
    held = {rule: compute_metrics(res)["sharing"] for rule, res in runs.items()}
    assert held["best-fit"]["share_jobs"] == 3_077
    assert held["best-fit"]["shared_device_hours"] < 0.8 * share_hours
    assert held["worst-fit"]["shared_device_hours"] > held["best-fit"]["shared_device_hours"]
    assert (
        held["worst-fit"]["fragmented_device_hours"] > held["best-fit"]["fragmented_device_hours"]
    )


def test_pollux_workloads(shared_data: Path) -> None:
    sim = traces(shared_data) / "philly-pollux" / "simulator"
    for folder in ("workloads", "workloads-realistic", "workloads-2.0"):
        c = convert_source(sim / folder / "workload-1.csv", "pollux")
        assert c.skipped == {}
        assert len(c.trace) == c.rows_read
        assert c.trace.meta["fleet"] == "nvidia_t4:64:4"
    c = convert_source(sim / "workloads" / "workload-1.csv", "pollux")
    assert len(c.trace) == 160
    s = summarize_trace(c.trace)
    assert s.measured_jobs == 160 and s.span_s <= 8 * 3600


def test_tiresias(shared_data: Path) -> None:
    sim = traces(shared_data) / "tiresias" / "simulator"
    c = convert_source(sim / "60_job.csv", "tiresias")
    assert len(c.trace) == 60 and c.skipped == {}
    assert c.trace.meta["fleet"] == "nvidia_p100_pcie_16g:64:4"
