"""Elastic jobs in traces (issue #15, item 4): Pollux's measured scaling (format version 2)
and the ``elastic_share`` option of the Philly and openb converters."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from suanli.errors import InputError
from suanli.perf.goodput import StepTimeModel
from suanli.trace import (
    convert_source,
    job_scaling,
    read_trace,
    replay,
    trace_scaling,
    write_trace,
)
from suanli.trace.format import FORMAT_VERSION, READ_VERSIONS
from suanli.trace.scaling import parse_scaling
from suanli.trace.sources.common import ELASTIC_FACTOR
from tests.conftest import run_cli

#: The step-time model the hand-made fixture ``pollux-elastic`` was computed from, and its
#: gradient noise scale (validation runs with E(M) = 1128 / (1000 + M)).
TRUE_STEP = StepTimeModel(0.01, 0.0005, 0.001, 0.02, 0.002, 0.05, 1.0)
TRUE_PHI = 1000.0


def problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as exc:
        read_trace(path)
    return [str(p) for p in exc.value.problems]


# ---- Pollux: elastic with measured scaling ------------------------------------------------


def test_pollux_fixture_is_elastic_with_its_measured_scaling(fixtures: Path) -> None:
    c = convert_source(fixtures / "pollux-elastic" / "workloads" / "workload-1.csv", "pollux")
    t = c.trace
    assert t.version == 2
    assert t.column("gang") == [1, 4, 24]
    # the most GPUs measured packed is 24 (scalability.csv, 6 nodes); 1024 / 32 = 32 is
    # more, so gang_max = 24; the 24-GPU job cannot grow and stays fixed
    assert t.column("gang_max") == [24, 24, None]
    assert t.column("gang_min") == [None, 1, 1]  # the 24-GPU job may shrink
    assert t.column("scaling") == ["pollux-cifar10"] * 3
    models = trace_scaling(t)
    assert set(models) == {"pollux-cifar10"}
    m = models["pollux-cifar10"]
    assert m.accelerator == "nvidia_t4"
    g = m.goodput
    assert (g.local_batch, g.max_batch, g.devices_per_node) == (128, 1024, 4)
    assert g.efficiency.base_batch == 128
    assert g.efficiency.noise_scale == pytest.approx(TRUE_PHI, rel=1e-3)
    # the fit recovers the model the measurements were computed from
    for n, nodes, local in ((1, 1, 32), (3, 1, 128), (8, 2, 64), (16, 4, 128), (24, 6, 40)):
        assert g.step.step_time(local, n, nodes) == pytest.approx(
            TRUE_STEP.step_time(local, n, nodes), rel=1e-3
        )
    # measured throughput per packed placement at m(n) = min(128, 1024 / n): the step time
    # is linear in the local batch, so interpolating the measurements is exact
    assert sorted(m.measured) == [1, 2, 3, 4, 8, 12, 16, 24]
    for n, rate in m.measured.items():
        local = min(128, 1024 / n)
        expect = n * local / TRUE_STEP.step_time(local, n, math.ceil(n / 4))
        assert rate == pytest.approx(expect, rel=1e-4)
    assert m.speedup(4, 4) == 1.0
    assert 1.0 < m.speedup(1, 4) < 4.0  # sublinear: the all-reduce, the larger batch
    # on 8 GPUs the all-reduce crosses nodes and the batch of 1024 loses efficiency:
    # more examples per second than on 4, but less progress
    assert g.throughput(8) > g.throughput(4)
    assert m.speedup(4, 8) == pytest.approx(g.goodput(8) / g.goodput(4))
    assert m.speedup(4, 8) < 1.0
    assert "goodput model fitted" in t.meta["notes"]


def test_pollux_scaling_round_trips_and_reaches_the_replay(fixtures: Path, tmp_path: Path) -> None:
    t = convert_source(fixtures / "pollux-elastic" / "workloads" / "workload-1.csv", "pollux").trace
    csv = write_trace(t, tmp_path / "t.csv")
    text = csv.read_text()
    assert text.startswith(f"# format_version: {FORMAT_VERSION}\n")
    assert "id,tenant,submit_s,gang,gang_max,gang_min,scaling," in text
    pq = write_trace(read_trace(csv), tmp_path / "t.parquet")
    again = write_trace(read_trace(pq), tmp_path / "again.csv")
    assert again.read_bytes() == csv.read_bytes()
    back = read_trace(csv)
    assert back.meta["scaling"] == t.meta["scaling"]
    assert trace_scaling(back) == trace_scaling(t)
    assert set(job_scaling(back)) == {"cifar10-0", "cifar10-1", "cifar10-2"}
    r = replay(back)
    assert set(r.scaling) == {j.id for j in r.jobs}
    by_id = {j.id: j for j in r.jobs}
    assert (by_id["cifar10-0"].gang, by_id["cifar10-0"].gang_max) == (1, 24)
    # Pollux's simulator: any count from 1, a 30 s pause per re-allocation, nothing lost
    one = by_id["cifar10-1"]
    assert (one.gang_min, one.gang, one.gang_max) == (1, 4, 24)
    assert (one.restart_cost_s, one.checkpoint_interval_s) == (30.0, 0.0)
    assert len(one.speedup) == 24 and one.speedup[3] == 1.0


def test_pollux_without_enough_measurements_keeps_a_fixed_gang(fixtures: Path) -> None:
    """The older fixture has 3-4 placements per model, too few to fit seven parameters."""
    c = convert_source(fixtures / "pollux" / "workloads" / "workload-1.csv", "pollux")
    assert c.trace.version == 1
    assert c.trace.column("gang_max") == [None] * 3
    assert c.trace.column("scaling") == [None] * 3
    assert "scaling" not in c.trace.meta
    assert any("cifar10: fixed gang, no scaling model" in n for n in c.notes)


@pytest.mark.shared_data
def test_pollux_real_workloads_carry_the_measured_scaling(
    shared_data: Path, tmp_path: Path
) -> None:
    sim = shared_data / "traces" / "philly-pollux" / "simulator"
    src = sim / "workloads" / "workload-1.csv"
    c = convert_source(src, "pollux")
    t = c.trace
    assert len(t) == 160 and t.version == 2
    apps = t.column("x_application")
    assert t.column("scaling") == [f"pollux-{a}" for a in apps]
    # every model's batch allows 64 GPUs at its smallest local batch; 64 GPUs were measured;
    # NCF stays on its one GPU, as in Pollux's simulator
    for app, gang, top in zip(apps, t.column("gang"), t.column("gang_max"), strict=True):
        assert top == (64 if gang < 64 and app != "ncf" else None)
    assert "ncf" in apps
    models = trace_scaling(t)
    assert set(models) == {f"pollux-{a}" for a in apps}
    for name, m in models.items():
        assert m.accelerator == "nvidia_t4" and m.goodput.devices_per_node == 4
        assert set(m.measured) <= set(range(1, 17)) | {24, 32, 48, 64}
        assert {1, 2, 4, 8, 16} <= set(m.measured), name
        assert m.speedup(1, 1) == 1.0
    # cifar10 on one T4 at local batch 128: the measured step time, interpolated
    rows = (sim / "traces" / "cifar10" / "placements.csv").read_text().splitlines()[1:]
    one = sorted(
        (float(r.split(",")[1]), float(r.split(",")[2])) for r in rows if r.split(",")[0] == "1"
    )
    step = float(np.interp(128, [x for x, _ in one], [y for _, y in one]))
    assert models["pollux-cifar10"].measured[1] == pytest.approx(128 / step, rel=1e-5)
    # the goodput of the fitted model grows with devices, as Pollux measured
    g = models["pollux-imagenet"].goodput
    assert g.goodput(64) > g.goodput(16) > g.goodput(4) > g.goodput(1)
    path = write_trace(t, tmp_path / "pollux.parquet")
    assert len(replay(read_trace(path)).scaling) == 160


# ---- the format: version 2 and the scaling metadata ----------------------------------------

HEAD = "# format_version: {v}\n# reference: nvidia_t4\n"
ROW = "id,tenant,submit_s,gang,gang_max,scaling,duration_s,profile\na,lab,0,2,4,{s},60,p\n"


def _model_json(fixtures: Path) -> str:
    t = convert_source(fixtures / "pollux-elastic" / "workloads" / "workload-1.csv", "pollux").trace
    return t.meta["scaling"]


def test_versions_read_and_the_scaling_column_needs_version_2(
    fixtures: Path, tmp_path: Path
) -> None:
    assert READ_VERSIONS == (1, 2) and FORMAT_VERSION == 2
    p = tmp_path / "t.csv"
    p.write_text(HEAD.format(v=1) + ROW.format(s="pollux-cifar10"))
    assert problems(p) == [
        f"{p}:4: row 1, column scaling: needs format_version 2 (the file says 1) — "
        "write '# format_version: 2', or leave the column empty"
    ]
    # an empty scaling column is fine in version 1, and the trace is written as version 1
    p.write_text(HEAD.format(v=1) + ROW.format(s=""))
    t = read_trace(p)
    assert t.version == 1
    out = write_trace(t, tmp_path / "o.csv").read_text()
    assert out.startswith("# format_version: 1\n") and "scaling" not in out.splitlines()[2]
    p.write_text(HEAD.format(v=3) + ROW.format(s=""))
    assert any("format_version '3' is not supported" in m for m in problems(p))


def test_scaling_names_a_model_the_trace_defines(fixtures: Path, tmp_path: Path) -> None:
    models = _model_json(fixtures)
    p = tmp_path / "t.csv"
    p.write_text(HEAD.format(v=2) + f"# scaling: {models}\n" + ROW.format(s="pollux-cifar"))
    (msg,) = problems(p)
    assert "row 1, column scaling: unknown scaling model 'pollux-cifar'" in msg
    assert "it defines pollux-cifar10" in msg
    p.write_text(HEAD.format(v=2) + ROW.format(s="pollux-cifar10"))
    (msg,) = problems(p)
    assert "unknown scaling model 'pollux-cifar10'" in msg
    p.write_text(HEAD.format(v=2) + f"# scaling: {models}\n" + ROW.format(s="pollux-cifar10"))
    t = read_trace(p)
    assert t.version == 2 and set(job_scaling(t)) == {"a"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: "{", "not JSON"),
        (lambda m: [], "not a JSON object"),
        (lambda m: {**m, "speed": 1}, "unknown key 'speed'"),
        (lambda m: {k: v for k, v in m.items() if k != "step"}, "missing key 'step'"),
        (lambda m: {**m, "local_batch": 0}, "local_batch must be > 0"),
        (lambda m: {**m, "noise_scale": -1}, "noise_scale must be ≥ 0"),
        (lambda m: {**m, "devices_per_node": 2.5}, "devices_per_node must be a whole number"),
        (lambda m: {**m, "step": {**m["step"], "overlap": 0.5}}, "step.overlap must be ≥ 1"),
        (lambda m: {**m, "step": {**m["step"], "compute_s": "x"}}, "must be a number"),
        (lambda m: {**m, "measured": {"0": 1.0}}, "measured key '0' is not a device count"),
        (lambda m: {**m, "measured": {"2": float("inf")}}, "measured.2 must be > 0"),
        (lambda m: {**m, "accelerator": ""}, "accelerator must be an accelerator id"),
    ],
)
def test_bad_scaling_metadata_is_reported(
    fixtures: Path, tmp_path: Path, change: object, message: str
) -> None:
    good = json.loads(_model_json(fixtures))["pollux-cifar10"]
    new = change(good)  # type: ignore[operator]
    raw = new if isinstance(new, str) else json.dumps(new if isinstance(new, list) else {"m": new})
    p = tmp_path / "t.csv"
    p.write_text(HEAD.format(v=2) + f"# scaling: {raw}\n" + ROW.format(s="m"))
    (msg,) = problems(p)
    assert "metadata scaling: bad scaling metadata" in msg and message in msg, msg
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_scaling(raw)


# ---- Philly and openb: a share of elastic jobs ---------------------------------------------


def _philly(tmp_path: Path, n: int = 1000) -> Path:
    rng = np.random.default_rng(7)
    lines = ["timestamp,duration,num_gpus,gpu_time,cluster"]
    for i in range(n):
        gpus = int(rng.choice([1, 2, 4, 8]))
        lines.append(
            f"2017-10-01 {i // 60 % 24:02d}:{i % 60:02d}:00,600.0,{gpus},{600.0 * gpus},6214e9"
        )
    p = tmp_path / "philly.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize("share", [0.0, 0.1, 0.3, 0.5, 0.77, 1.0])
def test_philly_elastic_share_is_the_share_asked(tmp_path: Path, share: float) -> None:
    c = convert_source(_philly(tmp_path), "philly", elastic_share=share, seed=3)
    gang = c.trace.column("gang")
    top = c.trace.column("gang_max")
    elastic = [i for i, x in enumerate(top) if x is not None]
    assert len(elastic) == round(share * 1000)
    assert all(top[i] == ELASTIC_FACTOR * gang[i] for i in elastic)
    assert c.trace.version == 1 and set(c.trace.column("scaling")) == {None}
    if share:
        assert f"--elastic-share {share:g} --seed 3" in c.trace.meta["converter"]


def test_same_seed_same_bytes_other_seed_other_jobs(tmp_path: Path) -> None:
    src = _philly(tmp_path)

    def written(seed: int, name: str) -> bytes:
        conv = convert_source(src, "philly", elastic_share=0.5, seed=seed)
        return write_trace(conv.trace, tmp_path / name).read_bytes()

    assert written(11, "a.csv") == written(11, "b.csv")
    assert written(11, "a.parquet") == written(11, "b.parquet")
    assert written(11, "a.csv") != written(12, "c.csv")
    # no share: the same file as before the option existed
    plain = write_trace(convert_source(src, "philly").trace, tmp_path / "p.csv").read_bytes()
    zero = convert_source(src, "philly", elastic_share=0.0, seed=5).trace
    assert write_trace(zero, tmp_path / "z.csv").read_bytes() == plain
    assert b",gang_max," in plain and b"elastic" not in plain


def test_openb_elastic_share_skips_fractional_pods(fixtures: Path) -> None:
    c = convert_source(fixtures / "openb", "openb", elastic_share=1.0, seed=0)
    rows = c.trace.table.to_pylist()
    for r in rows:
        if r["device_fraction"] is None:
            assert r["gang_max"] == 2 * r["gang"]
        else:
            assert r["gang_max"] is None
    assert any(r["device_fraction"] is not None for r in rows)
    half = convert_source(fixtures / "openb", "openb", elastic_share=0.5, seed=0).trace
    whole = sum(1 for r in rows if r["device_fraction"] is None)
    assert sum(x is not None for x in half.column("gang_max")) == round(0.5 * whole)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"elastic_share": 1.5}, "elastic_share"),
        ({"elastic_share": -0.1}, "elastic_share"),
        ({"elastic_share": float("nan")}, "elastic_share"),
        ({"elastic_share": 0.5, "seed": -1}, "seed"),
    ],
)
def test_bad_elastic_options_are_input_errors(
    fixtures: Path, options: dict[str, float], field: str
) -> None:
    for source, path in (("philly", "philly/philly.csv"), ("openb", "openb")):
        with pytest.raises(InputError) as exc:
            convert_source(fixtures / path, source, **options)
        assert exc.value.problems[0].field == field


@pytest.mark.shared_data
def test_philly_real_elastic_share(shared_data: Path) -> None:
    src = shared_data / "traces" / "philly-pollux" / "simulator" / "traces" / "philly.csv"
    c = convert_source(src, "philly", elastic_share=0.25, seed=1)
    n = sum(x is not None for x in c.trace.column("gang_max"))
    assert abs(n / 82_247 - 0.25) < 1e-4


# ---- the command line -----------------------------------------------------------------------


def test_cli_elastic_share(fixtures: Path, tmp_path: Path) -> None:
    src = str(fixtures / "philly" / "philly.csv")
    outs = []
    for name in ("a.csv", "b.csv"):
        out = tmp_path / name
        r = run_cli(
            "trace", "convert", src, "--from", "philly", "--out", str(out),
            "--elastic-share", "0.5", "--seed", "4",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "elastic: a share 0.5 of the jobs (seed 4)" in r.stdout
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert sum(x is not None for x in read_trace(tmp_path / "a.csv").column("gang_max")) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--elastic-share", "1.5"], "--elastic-share must be a number from 0 to 1, not 1.5"),
        (["--elastic-share", "-1"], "--elastic-share must be a number from 0 to 1"),
        (["--elastic-share", "nan"], "--elastic-share must be a number from 0 to 1, not nan"),
        (["--elastic-share", "lots"], "--elastic-share"),
        (["--elastic-share", "0.5", "--seed", "-3"], "--seed must be a whole number ≥ 0"),
        (["--seed", "3"], "--seed only applies with --elastic-share"),
    ],
)
def test_cli_bad_elastic_values_exit_2(
    fixtures: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    src = str(fixtures / "philly" / "philly.csv")
    r = run_cli(
        "trace", "convert", src, "--from", "philly", "--out", str(tmp_path / "x.csv"), *args
    )
    assert r.returncode == 2
    assert message in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "x.csv").exists()


def test_cli_elastic_share_does_not_apply_to_pollux(fixtures: Path, tmp_path: Path) -> None:
    src = str(fixtures / "pollux-elastic" / "workloads" / "workload-1.csv")
    r = run_cli(
        "trace", "convert", src, "--from", "pollux", "--out", str(tmp_path / "x.csv"),
        "--elastic-share", "0.5",
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--elastic-share do not apply to --from pollux" in " ".join(r.stderr.split())


def test_gang_min_reads_into_the_job_and_needs_version_2(tmp_path: Path) -> None:
    """``gang_min`` (version 2): the fewest devices an elastic job may run on, ≤ gang."""
    head = "# format_version: {v}\n# reference: nvidia_h100_sxm5\n# fleet: nvidia_h100_sxm5:16:8\n"
    cols = "id,tenant,submit_s,gang,gang_max,gang_min,duration_s,profile\n"
    p = tmp_path / "t.csv"
    p.write_text(
        head.format(v=2) + cols + "a,lab,0,8,16,2,60,dl-training\nb,lab,0,4,,,60,dl-training\n"
    )
    t = read_trace(p)
    assert t.version == 2 and t.column("gang_min") == [2, None]
    jobs = replay(t).jobs
    assert (jobs[0].smallest, jobs[0].gang, jobs[0].largest, jobs[0].elastic) == (2, 8, 16, True)
    assert (jobs[1].smallest, jobs[1].elastic) == (4, False)
    again = write_trace(t, tmp_path / "o.csv").read_text()
    assert again.startswith("# format_version: 2\n") and ",gang_min," in again
    p.write_text(head.format(v=2) + cols + "a,lab,0,8,16,9,60,dl-training\n")
    assert any("row 1, column gang_min: must be ≤ gang" in m for m in problems(p))
    p.write_text(head.format(v=1) + cols + "a,lab,0,8,16,2,60,dl-training\n")
    assert any("column gang_min: needs format_version 2" in m for m in problems(p))
