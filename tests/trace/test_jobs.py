"""Trace rows → Jobs: work conversion, measured speeds, time scaling, constraints, fleets."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.config import load_scenario
from suanli.errors import InputError, UnknownNameError
from suanli.model.scenario import Scenario
from suanli.perf.roofline import speed_pflops
from suanli.trace import (
    NAMED_FLEETS,
    convert_source,
    fleet_scenario,
    load_trace_jobs,
    prepare_scenario,
    read_trace,
    replay,
    scenario_jobs,
)
from suanli.trace.jobs import offered_load
from suanli.trace.sources import CONVERTERS


def roofline(sc: Scenario, acc: str, profile: str) -> float:
    a, p = sc.catalog[acc], sc.profiles[profile]
    return speed_pflops(a, p, sc.efficiency[(a.stack, p.kind)])


def test_example_on_national_default(fixtures: Path) -> None:
    tr = read_trace(fixtures / "suanli" / "example.csv")
    sc = prepare_scenario(load_scenario(), tr)
    jobs = load_trace_jobs(tr, sc)
    by_id = {j.id: j for j in jobs}
    h100 = "nvidia_h100_sxm5"
    # duration × gang × roofline speed on the reference
    assert by_id["pretrain-1"].work_pflop == pytest.approx(
        64 * 36000 * roofline(sc, h100, "dense-pretrain")
    )
    assert by_id["pretrain-1"].accepted_types == (h100, "huawei_ascend_910c")
    # fraction scales the work; the job keeps its fraction
    assert by_id["infer-3"].work_pflop == pytest.approx(
        0.25 * 7200 * roofline(sc, h100, "dl-training")
    )
    assert by_id["infer-3"].device_fraction == 0.25
    # work given directly, measured speed kept, elastic range, absolute deadline
    ft = by_id["finetune-2"]
    assert (ft.work_pflop, ft.gang, ft.gang_max, ft.deadline_s) == (5000.0, 8, 16, 86400.0)
    assert ft.measured_pflops == {h100: 0.35}
    # FLOPs and bytes → the job's own intensity on every type of the fleet
    ev = by_id["eval-4"]
    own = sc.profiles["llm-evaluation"].__class__(
        "x", sc.profiles["llm-evaluation"].kind, ("fp8", "int8", "bf16"), 300e3 / 40, 150
    )
    a = sc.catalog[h100]
    assert ev.measured_pflops[h100] == pytest.approx(
        speed_pflops(a, own, sc.efficiency[(a.stack, own.kind)])
    )
    assert [j.submit_s for j in jobs] == sorted(j.submit_s for j in jobs)


def test_measured_speed_on_reference_converts_duration(tmp_path: Path) -> None:
    p = tmp_path / "m.csv"
    p.write_text(
        "# format_version: 1\n# reference: nvidia_h100_sxm5\n"
        "id,tenant,submit_s,gang,duration_s,profile,measured_pflops\n"
        "a,default,0,4,100,dl-training,nvidia_h100_sxm5=0.5\n"
    )
    sc = fleet_scenario("nvidia_h100_sxm5:8")
    (job,) = load_trace_jobs(p, sc)
    assert job.work_pflop == pytest.approx(4 * 100 * 0.5)


def test_reference_override(fixtures: Path) -> None:
    tr = convert_source(fixtures / "tiresias" / "60_job.csv", "tiresias").trace
    sc = prepare_scenario(fleet_scenario("nvidia_v100_sxm2_32g:16"), tr)
    jobs = load_trace_jobs(tr, sc, reference="nvidia_v100_sxm2_32g")
    assert jobs[0].work_pflop == pytest.approx(
        164 * roofline(sc, "nvidia_v100_sxm2_32g", "dl-training")
    )


def test_time_scale_window_and_max_jobs(fixtures: Path) -> None:
    tr = convert_source(fixtures / "philly" / "philly.csv", "philly").trace
    sc = fleet_scenario(tr)
    assert [j.submit_s for j in load_trace_jobs(tr, sc, time_scale=0.5)] == [
        0.0,
        300.0,
        1800.0,
        9000.0,
    ]
    window = load_trace_jobs(tr, sc, window_s=(500.0, 4000.0))
    assert [(j.id, j.submit_s) for j in window] == [
        ("philly-00001", 100.0),
        ("philly-00003", 3100.0),
    ]
    assert len(load_trace_jobs(tr, sc, max_jobs=2)) == 2


def test_target_load(fixtures: Path) -> None:
    tr = convert_source(fixtures / "philly" / "philly.csv", "philly").trace
    sc = fleet_scenario(tr)
    base = load_trace_jobs(tr, sc)
    scaled = load_trace_jobs(tr, sc, target_load=0.9)
    assert offered_load(sc, scaled) == pytest.approx(0.9)
    ratio = scaled[-1].submit_s / base[-1].submit_s
    assert offered_load(sc, base) == pytest.approx(0.9 * ratio)


def test_constraints_keep_and_relax(fixtures: Path) -> None:
    tr = convert_source(fixtures / "openb", "openb").trace
    h100 = fleet_scenario(
        "nvidia_h100_sxm5:64", tenants=["openb-ls", "openb-be", "openb-burstable"]
    )
    h100 = prepare_scenario(h100, tr)
    with pytest.raises(InputError, match="none of alibaba_openb_g2 is in the fleet"):
        load_trace_jobs(tr, h100)
    jobs = load_trace_jobs(tr, h100, constraints="relax")
    assert all(j.accepted_types == () for j in jobs)
    own = replay(tr)
    assert own.jobs[1].accepted_types == ("nvidia_t4", "alibaba_openb_g2")


def test_unknown_names_are_reported(fixtures: Path) -> None:
    tr = read_trace(fixtures / "suanli" / "example.csv")
    with pytest.raises(InputError) as exc:
        load_trace_jobs(tr, load_scenario())
    text = str(exc.value)
    assert "row 1, column tenant: unknown tenant 'lab'" in text
    assert "prepare_scenario" in text


def test_replay_fleet_choices(fixtures: Path) -> None:
    tr = convert_source(fixtures / "philly" / "philly.csv", "philly").trace
    own = replay(tr)
    assert [p.count for p in own.scenario.pools] == [8]
    hetero = replay(tr, "philly-hetero")
    assert sum(p.count for p in hetero.scenario.pools) == 2000
    assert {t.id for t in hetero.scenario.tenants} == {"vc-11cb48", "vc-6214e9", "vc-b436b2"}
    national = replay(tr, "cn-hubs-2026")
    assert len(national.jobs) == 4 and national.scenario.hours >= 24
    spec = replay(tr, "nvidia_a100_sxm4_80g:16")
    assert spec.scenario.pools[0].accelerator == "nvidia_a100_sxm4_80g"
    with pytest.raises(UnknownNameError):
        fleet_scenario("no-such-fleet")
    assert set(NAMED_FLEETS) >= {"philly-hetero", "pollux"}


def test_fleet_spec_errors() -> None:
    with pytest.raises(InputError, match="bad pool 'h100'"):
        fleet_scenario("h100 x:1")
    with pytest.raises(InputError, match="unknown accelerator 'nvidia_h1000'"):
        fleet_scenario("nvidia_h1000:8")
    with pytest.raises(InputError, match="not a whole number of 8-device nodes"):
        fleet_scenario("nvidia_h100_sxm5:12")


def test_scenario_with_trace_workload(fixtures: Path, tmp_path: Path) -> None:
    y = tmp_path / "s.yaml"
    y.write_text(
        "name: traced\nhorizon: {start: 2026-03-02T00:00:00+08:00, hours: 24}\n"
        "sites:\n  - id: a\n    name: A\n    location: {lat: 30, lon: 120}\n"
        "    grid_region: East\n    pue: 1.2\n    power_capacity_mw: 5\n"
        "    tariff: {base_per_kwh: 0.6}\n    carbon: {kg_per_kwh: 0.5}\n"
        "    pools: [{accelerator: nvidia_p100_pcie_16g, count: 16}]\n"
        "tenants: [{id: lab, name: Lab}]\n"
        f"workload:\n  trace: {{path: {fixtures / 'philly' / 'philly.csv'}, format: philly, "
        "time_scale: 0.5}\n"
    )
    sc = load_scenario(y)
    r = scenario_jobs(sc)
    assert [j.submit_s for j in r.jobs] == [0.0, 300.0, 1800.0, 9000.0]
    assert {"lab", "vc-6214e9"} <= {t.id for t in r.scenario.tenants}


def test_scenario_trace_errors(tmp_path: Path) -> None:
    y = tmp_path / "s.yaml"
    y.write_text(
        "name: traced\nhorizon: {start: 2026-03-02T00:00:00+08:00, hours: 24}\n"
        "sites:\n  - id: a\n    name: A\n    location: {lat: 30, lon: 120}\n"
        "    grid_region: East\n    pue: 1.2\n    power_capacity_mw: 5\n"
        "    tariff: {base_per_kwh: 0.6}\n    carbon: {kg_per_kwh: 0.5}\n"
        "tenants: [{id: lab, name: Lab}]\n"
        "workload:\n  trace: {path: nope.csv, format: phily, reference_accelerator: h100}\n"
    )
    with pytest.raises(InputError) as exc:
        load_scenario(y)
    text = str(exc.value)
    assert "unknown trace format 'phily'" in text and "did you mean 'philly'" in text
    assert "trace file" in text and "not found" in text
    assert "unknown accelerator 'h100'" in text


def test_scenario_trace_formats_match_the_converters() -> None:
    from suanli.config.build import TRACE_FORMATS

    assert set(TRACE_FORMATS) == {"suanli", *CONVERTERS}
