"""Services and user regions in the scenario file (issue 14, item 1): built, and refused
with the field and the reason when they cannot be served."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from suanli.cli import app, scenario  # noqa: F401  (registers the commands)
from suanli.config import load_scenario
from suanli.errors import InputError

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny.yaml"

REGIONS = """
user_regions:
  - {id: shanghai, name: Shanghai, location: {lat: 31.23, lon: 121.47}, timezone: Asia/Shanghai,
     site: east}
  - {id: chengdu, name: Chengdu, location: {lat: 30.66, lon: 104.07}}
"""

SMALL = """
services:
  - id: chat
    tenant: lab
    model: {id: dense-8b, total_params_b: 8, active_params_b: 8, precision: bf16,
            kv_bytes_per_token: 131072, context_tokens: 32768}
    slo: {ttft_p99_ms: 2000, tpot_ms: 50}
    regions:
      - region: shanghai
        max_latency_ms: 15
        demand:
          peak_rps: 20
          hourly: [1, 1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 3, 2, 1, 1]
          cv: 1.5
          input_tokens: {mean: 1800, cv: 1.2}
          output_tokens: {tokens: [100, 300, 900], probability: [0.5, 0.3, 0.2]}
"""


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(TINY.read_text() + REGIONS + extra, encoding="utf-8")
    return path


def refused(tmp_path: Path, extra: str) -> str:
    path = write(tmp_path, extra)
    with pytest.raises(InputError) as info:
        load_scenario(path)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert isinstance(result.exception, InputError)  # the entry point exits 2 on it
    return str(info.value)


def test_a_service_is_built(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path, SMALL))
    (svc,) = sc.services
    assert svc.tenant == "lab" and svc.model.weight_bytes == pytest.approx(16e9)
    assert svc.slo.ttft_p99_s == 2.0 and svc.slo.tpot_s == 0.05
    # no shapes given: the smallest replica of each type in the fleet
    assert [(s.accelerator, s.devices) for s in svc.shapes] == [("nvidia_h100_sxm5", 1)]
    (region,) = svc.regions
    d = region.demand
    assert d.peak_rps == 20 and len(d.hourly) == 24 and d.cv == 1.5
    assert sum(p for _, p in d.input_tokens) == pytest.approx(1.0)
    mean_in = sum(t * p for t, p in d.input_tokens)
    assert mean_in == pytest.approx(1800, rel=0.1)
    assert d.output_tokens == ((100, 0.5), (300, 0.3), (900, 0.2))
    assert [r.id for r in sc.user_regions] == ["shanghai", "chengdu"]


def test_a_model_that_fits_no_replica_is_refused(tmp_path: Path) -> None:
    huge = SMALL.replace(
        "total_params_b: 8, active_params_b: 8", "total_params_b: 40000, active_params_b: 40"
    )
    msg = refused(tmp_path, huge)
    assert "services[0].model" in msg and "no pool of the fleet can hold a replica" in msg
    assert "nvidia_h100_sxm5: needs" in msg


def test_a_replica_too_small_names_the_smallest(tmp_path: Path) -> None:
    big = SMALL.replace(
        "total_params_b: 8, active_params_b: 8", "total_params_b: 70, active_params_b: 70"
    )
    msg = refused(tmp_path, big + "    shapes: [{accelerator: nvidia_h100_sxm5, devices: 1}]\n")
    assert "services[0].shapes[0].devices" in msg and "use at least 4 devices" in msg


def test_a_region_out_of_reach_names_the_nearest_site(tmp_path: Path) -> None:
    far = SMALL.replace(
        "region: shanghai\n        max_latency_ms: 15", "region: chengdu\n        max_latency_ms: 5"
    )
    msg = refused(tmp_path, far)
    assert "services[0].regions[0].max_latency_ms" in msg
    assert "the nearest that can is west" in msg


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("tenant: lab", "tenant: nobody"), "unknown tenant 'nobody'"),
        (("region: shanghai", "region: beijing"), "unknown user region 'beijing'"),
        (("model: {id: dense-8b,", "model: {id: Dense,"), "services[0].model"),
        (("precision: bf16", "precision: fp3"), "services[0].model"),
        (("          peak_rps: 20\n", ""), "an inline shape needs peak_rps"),
        (("hourly: [1, 1, 1, ", "hourly: ["), "hourly needs 24 or 168 values"),
        (("probability: [0.5, 0.3, 0.2]", "probability: [0.5, 0.3, 0.3]"), "sum to 1"),
        (("tpot_ms: 50", "tpot_ms: 0"), "services[0].slo.tpot_ms"),
    ],
)
def test_bad_service_fields_are_named(tmp_path: Path, change: tuple[str, str], words: str) -> None:
    assert change[0] in SMALL
    assert words in refused(tmp_path, SMALL.replace(*change, 1))


def test_an_unknown_model_lists_the_built_in_ones(tmp_path: Path) -> None:
    msg = refused(
        tmp_path,
        SMALL.replace(SMALL[SMALL.index("model:") : SMALL.index("slo:")], "model: gpt-9\n    "),
    )
    assert "unknown model 'gpt-9'" in msg and "deepseek-v3" in msg


def test_a_missing_demand_file_is_named(tmp_path: Path) -> None:
    text = SMALL[: SMALL.index("        demand:")] + "        demand: {file: nowhere.json}\n"
    msg = refused(tmp_path, text)
    assert "services[0].regions[0].demand.file" in msg and "nowhere.json" in msg


def test_a_bad_region_timezone(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        TINY.read_text() + REGIONS.replace("Asia/Shanghai", "Asia/Nowhere") + SMALL, "utf-8"
    )
    with pytest.raises(InputError, match=r"user_regions\[0\]\.timezone"):
        load_scenario(path)


def test_a_demand_file_curve_is_checked(tmp_path: Path) -> None:
    from suanli.workload.demand import Demand, LengthDist, RateCurve
    from suanli.workload.demand_file import write_demand

    lengths = LengthDist((100, 200), (0.5, 0.5))
    curves = tuple(
        RateCurve(svc, "cn", 600.0, (1.0, 2.0), (1.0, 1.0), lengths, lengths) for svc in ("a", "b")
    )
    write_demand(Demand(curves=curves), tmp_path / "d.json")
    head = SMALL[: SMALL.index("        demand:")]
    ok = head + "        demand: {file: d.json, curve: {service: b, region: cn}, peak_rps: 5}\n"
    (svc,) = load_scenario(write(tmp_path, ok)).services
    assert svc.regions[0].demand.curve_service == "b"
    msg = refused(tmp_path, head + "        demand: {file: d.json}\n")
    assert "holds 2 curves; say which" in msg and "a/cn, b/cn" in msg
    msg = refused(
        tmp_path, head + "        demand: {file: d.json, curve: {service: c, region: cn}}\n"
    )
    assert "no curve c/cn in d.json" in msg
    (tmp_path / "d.json").write_text('{"format": "suanli-demand", "version": 9}')
    assert "version" in refused(tmp_path, ok)
