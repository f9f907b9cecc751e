"""Converters on small hand-written files in each source format, malformed rows included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from suanli.errors import InputError, UnknownNameError
from suanli.trace import convert_source, fleet_scenario, read_trace, write_trace
from suanli.trace.sources.pollux import placement_id


def test_philly_maps_fields_and_counts_skips(fixtures: Path) -> None:
    c = convert_source(fixtures / "philly" / "philly.csv", "philly")
    assert c.rows_read == 9 and len(c.trace) == 4
    assert c.skipped == {
        "duration is empty or not a number": 2,
        "duration is not > 0": 1,
        "num_gpus is not a whole number ≥ 1": 1,
        "timestamp is not YYYY-MM-DD HH:MM:SS": 1,
    }
    t = c.trace
    assert t.column("id") == ["philly-00002", "philly-00001", "philly-00003", "philly-00009"]
    assert t.column("submit_s") == [0.0, 600.0, 3600.0, 18000.0]
    assert t.column("tenant") == ["vc-11cb48", "vc-6214e9", "vc-6214e9", "vc-b436b2"]
    assert t.column("gang") == [8, 1, 2, 4]
    assert t.meta["start"] == "2017-10-01T00:00:00+00:00"
    assert t.meta["reference"] == "nvidia_p100_pcie_16g"
    assert t.meta["fleet"] == "nvidia_p100_pcie_16g:8"
    assert "gpu_time ≠ duration × num_gpus (> 1 s) in 1 rows" in t.meta["notes"]


def test_strict_mode_names_source_lines(fixtures: Path) -> None:
    with pytest.raises(InputError) as exc:
        convert_source(fixtures / "philly" / "philly.csv", "philly", strict=True)
    lines = [p.line for p in exc.value.problems]
    assert lines == [5, 6, 7, 8, 9]
    assert "num_gpus is not a whole number" in str(exc.value.problems[1])


def test_openb_fractions_constraints_and_fleet(fixtures: Path) -> None:
    c = convert_source(fixtures / "openb", "openb")
    assert c.skipped == {
        "CPU-only pod (num_gpu 0)": 1,
        "lifetime ≤ 0": 1,
        "multi-GPU pod with gpu_milli < 1000": 1,
        "unknown GPU model 'H100'": 1,
    }
    t = c.trace
    assert t.column("id") == [
        "openb-pod-0000",
        "openb-pod-0001",
        "openb-pod-0003",
        "openb-pod-0004",
    ]
    assert t.column("device_fraction") == [None, 0.46, None, 0.25]
    assert t.column("duration_s") == [5000.0, 1950.0, 3500.0, 300.0]  # pending: del − create
    assert t.column("accepted_types")[1] == "nvidia_t4|alibaba_openb_g2"
    assert t.column("accepted_types")[3] == "nvidia_v100_sxm2_16g|nvidia_v100_sxm2_32g"
    assert t.column("tenant") == ["openb-ls", "openb-ls", "openb-be", "openb-burstable"]
    assert t.column("preemptible") == [False, False, True, False]
    assert t.column("profile")[2] == "dl-training"
    assert t.meta["fleet"] == ("alibaba_openb_g2:16:8 nvidia_t4:6:2 nvidia_v100_sxm2_16g:5:1")
    assert "openb-inference" in json.loads(t.meta["profiles"])
    sc = fleet_scenario(t)
    assert [(p.accelerator, p.count, p.devices_per_node) for p in sc.pools] == [
        ("alibaba_openb_g2", 16, 8),
        ("nvidia_t4", 6, 2),
        ("nvidia_v100_sxm2_16g", 5, 1),
    ]
    assert {tn.id for tn in sc.tenants} == {"openb-ls", "openb-be", "openb-burstable"}
    assert "openb-inference" in sc.profiles


def test_openb_without_times_is_rejected(fixtures: Path) -> None:
    with pytest.raises(InputError, match="no creation/deletion times"):
        convert_source(fixtures / "openb" / "openb_pod_list_multigpu50.csv", "openb")


def test_pollux_measured_throughput(fixtures: Path) -> None:
    c = convert_source(fixtures / "pollux" / "workloads" / "workload-1.csv", "pollux")
    assert c.skipped == {"no validation-999.csv for cifar10": 1, "unknown application": 1}
    t = c.trace
    assert t.column("id") == ["cifar10-0", "ncf-1", "cifar10-2"]
    rows = t.table.to_pylist()
    # cifar10-0: 100 iterations at 0.09 s (placement 1, local batch 128) on one T4.
    work0 = 100 * 128 * 3.3e-6
    assert rows[0]["work_pflop"] == pytest.approx(work0)
    assert rows[0]["measured_pflops"] == f"nvidia_t4={work0 / 9.0!r}"
    # cifar10-2: 6 GPUs → placement "24", not measured: scalability rows (2 nodes, 6
    # replicas), local batch 512/6 between 64 (0.2 s) and 128 (mean 0.4 s); 30 iterations.
    step = 0.2 + (512 / 6 - 64) / 64 * 0.2
    speed = 30 * 512 * 3.3e-6 / (6 * 30 * step)
    assert float(rows[2]["measured_pflops"].split("=")[1]) == pytest.approx(speed)
    profiles = json.loads(t.meta["profiles"])
    # Best 1-GPU throughput of cifar10: 128 × 3.3 GFLOP / 0.09 s; memory efficiency 0.8.
    best = 128 * 3.3e-6 / 0.09
    assert profiles["pollux-cifar10"]["flops_per_byte"] == pytest.approx(
        best / (0.32e-3 * 0.8), rel=1e-4
    )


def test_placement_ids() -> None:
    assert placement_id(1) == "1"
    assert placement_id(4) == "4"
    assert placement_id(6) == "24"
    assert placement_id(16) == "4444"
    assert placement_id(9) == "144"


def test_tiresias_duplicates_and_cluster(fixtures: Path) -> None:
    c = convert_source(fixtures / "tiresias" / "60_job.csv", "tiresias")
    assert c.skipped == {
        "duplicate of an earlier row": 1,
        "duration is not a number > 0": 1,
        "num_gpu is not a whole number ≥ 1": 1,
    }
    assert c.trace.column("id") == ["tiresias-0", "tiresias-1", "tiresias-2"]
    assert c.trace.column("x_model") == ["vgg19", "vgg11", "inception4"]
    assert c.trace.meta["fleet"] == "nvidia_p100_pcie_16g:16:4"


def test_tiresias_rejects_gpu_time_samples(fixtures: Path) -> None:
    with pytest.raises(InputError, match="not a job trace"):
        convert_source(fixtures / "tiresias" / "yarn-gput1000.csv", "tiresias")


def test_wrong_source_format_names_missing_columns(fixtures: Path) -> None:
    with pytest.raises(InputError, match="missing column"):
        convert_source(fixtures / "tiresias" / "60_job.csv", "philly")
    with pytest.raises(UnknownNameError, match="valid trace sources: openb, philly"):
        convert_source(fixtures / "philly" / "philly.csv", "helios")


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("philly", "philly/philly.csv"),
        ("openb", "openb"),
        ("pollux", "pollux/workloads/workload-1.csv"),
        ("tiresias", "tiresias/60_job.csv"),
    ],
)
def test_converted_traces_round_trip(
    fixtures: Path, tmp_path: Path, source: str, path: str
) -> None:
    t = convert_source(fixtures / path, source).trace
    a = write_trace(t, tmp_path / "a.parquet")
    b = write_trace(read_trace(a), tmp_path / "b.csv")
    c = write_trace(read_trace(b), tmp_path / "c.parquet")
    assert a.read_bytes() == c.read_bytes()
    assert read_trace(c).meta == {**t.meta}
