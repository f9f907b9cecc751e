"""Converters of public serving traces into demand: ServeGen, Azure LLM and Mooncake."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from suanli.errors import InputError, UnknownNameError
from suanli.trace.demand_sources import DEMAND_CONVERTERS, azure_llm, convert_demand, mooncake
from suanli.trace.demand_sources.servegen import convert_servegen, read_curve
from suanli.workload.demand_file import format_demand, parse_demand

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DEMAND = FIXTURES / "demand"
MINI = FIXTURES / "servegen-mini"


def test_azure_read_requests() -> None:
    trace = azure_llm.read_requests(DEMAND / "azure-mini.csv")
    assert len(trace) == 5
    assert trace.arrival_s[0] == 0.0
    assert trace.arrival_s[1] == pytest.approx(0.052)
    assert trace.arrival_s[-1] == pytest.approx(22 * 60 + 55.2704)
    assert np.all(np.diff(trace.arrival_s) >= 0)
    assert trace.input_tokens.tolist() == [4808, 3180, 120, 900, 77]
    assert trace.output_tokens.tolist() == [10, 8, 300, 12, 1]
    assert trace.input_tokens.dtype == np.int64


def test_mooncake_read_requests() -> None:
    trace = mooncake.read_requests(DEMAND / "mooncake-mini.jsonl")
    assert len(trace) == 5
    assert trace.arrival_s.tolist() == [0.0, 0.0, 2.5, 610.0, 1199.0]
    assert trace.input_tokens.tolist() == [6758, 7322, 2290, 40160, 13]
    assert trace.output_tokens.tolist() == [500, 490, 316, 6, 1]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("TIME,A,B\n", "header"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\nnot a time,1,1\n", "TIMESTAMP"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03,0,1\n", "ContextTokens"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03,5,x\n", "GeneratedTokens"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\n", ""),
    ],
)
def test_azure_bad_rows(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        azure_llm.read_requests(path)
    problem = err.value.problems[0]
    assert problem.source == str(path)
    assert problem.field == field


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"timestamp": -1, "input_length": 1, "output_length": 1}\n', "timestamp"),
        ('{"timestamp": 1, "output_length": 1}\n', "input_length"),
        ('{"timestamp": 1, "input_length": 1.5, "output_length": 1}\n', "input_length"),
        ('{"timestamp": 1, "input_length": 1, "output_length": true}\n', "output_length"),
        ("[1, 2]\n", ""),
        ("{not json\n", ""),
    ],
)
def test_mooncake_bad_lines(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        mooncake.read_requests(path)
    problem = err.value.problems[0]
    assert (problem.source, problem.field, problem.line) == (str(path), field, 1)


# --- ServeGen ----------------------------------------------------------------------


def test_servegen_sums_clients() -> None:
    curve = read_curve(MINI)
    assert curve.service == "servegen-mini"
    assert curve.region == "cn"
    assert curve.timezone == "Asia/Shanghai"
    assert curve.window_s == 600.0
    assert curve.rate_rps == pytest.approx((4.0, 2.0, 0.0, 2.0, 1.0, 0.0))
    # rate-weighted mean of the clients' squared CVs; an empty window gets cv 1
    assert curve.cv == pytest.approx((1.0, 2.0, 1.0, math.sqrt(5), math.sqrt(5), 1.0))


def test_servegen_mixes_lengths_by_requests() -> None:
    curve = read_curve(MINI)
    assert curve.input_tokens.tokens == (10, 20, 30)
    assert curve.input_tokens.probability == pytest.approx((1 / 6, 2 / 3, 1 / 6))
    assert curve.input_tokens.mean == pytest.approx(20.0)
    assert curve.output_tokens.tokens == (1, 5, 10)  # the 0-token entry counts as 1
    assert curve.output_tokens.probability == pytest.approx((1 / 24, 11 / 24, 1 / 2))


def test_servegen_options() -> None:
    conv = convert_servegen(MINI, window_minutes=30, service="chat", region="cn-east")
    (c,) = conv.demand.curves
    assert (c.service, c.region, c.window_s) == ("chat", "cn-east", 1800.0)
    assert c.rate_rps == pytest.approx((2.0, 1.0))
    assert c.cv == pytest.approx((math.sqrt(2), math.sqrt(5)))
    shifted = convert_servegen(MINI, shift_hours=0.5).demand.curves[0]
    assert shifted.rate_rps == pytest.approx((2.0, 1.0, 0.0, 4.0, 2.0, 0.0))
    assert convert_servegen(MINI, shift_hours=-0.5).demand.curves[0].rate_rps == pytest.approx(
        shifted.rate_rps
    )
    peaked = convert_servegen(MINI, peak=8.0).demand.curves[0]
    assert peaked.rate_rps == pytest.approx((8.0, 4.0, 0.0, 4.0, 2.0, 0.0))
    assert peaked.cv == read_curve(MINI).cv
    moved = convert_servegen(MINI, timezone="Asia/Urumqi").demand.curves[0]
    # demand follows the users' clock: only the zone label changes
    assert moved.timezone == "Asia/Urumqi"
    assert moved.rate_rps == read_curve(MINI).rate_rps


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"window_minutes": 15}, "--window-minutes"),
        ({"window_minutes": 40}, "--window-minutes"),
        ({"window_minutes": -1}, "--window-minutes"),
        ({"shift_hours": 0.25}, "--shift-hours"),
        ({"peak": 0}, "--peak"),
        ({"peak": float("nan")}, "--peak"),
        ({"timezone": "Mars/Olympus"}, "--timezone"),
    ],
)
def test_servegen_bad_options(options: dict[str, float | str], field: str) -> None:
    with pytest.raises(InputError) as err:
        convert_servegen(MINI, **options)  # type: ignore[arg-type]
    assert err.value.problems[0].field == field


def _mini_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "m-test"
    shutil.copytree(MINI, folder)
    return folder


def test_servegen_refuses_code_in_dict_literal(tmp_path: Path) -> None:
    folder = _mini_copy(tmp_path)
    marker = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {marker}')"
    (folder / "chunk-2-dataset.json").write_text(
        '{"0": {"input_tokens": "' + payload + '", "output_tokens": "{10: 1.0}"}}'
    )
    with pytest.raises(InputError) as err:
        read_curve(folder)
    problem = err.value.problems[0]
    assert problem.source == str(folder / "chunk-2-dataset.json")
    assert problem.field == "0.input_tokens"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("chunk-1-trace.csv", "0,1.0,1.0,Gamma,1\n", "row 1"),
        ("chunk-1-trace.csv", "0,-1,1.0,Gamma,1,1\n", "rate_req_per_s"),
        ("chunk-1-trace.csv", "0,1,nan,Gamma,1,1\n", "cv"),
        ("chunk-1-trace.csv", "600,1,1,Gamma,1,1\n0,1,1,Gamma,1,1\n", "window_start_s"),
        (
            "chunk-1-dataset.json",
            '{"0": {"input_tokens": "{1: -0.5}", "output_tokens": "{}"}}',
            "0.input_tokens",
        ),
        ("chunk-1-dataset.json", '{"0": {"text_tokens": "{1: 1.0}"}}', "0.input_tokens"),
        (
            "chunk-1-dataset.json",
            '{"0": {"input_tokens": "[1, 2]", "output_tokens": "{}"}}',
            "0.input_tokens",
        ),
    ],
)
def test_servegen_bad_files(tmp_path: Path, name: str, text: str, field: str) -> None:
    folder = _mini_copy(tmp_path)
    (folder / name).write_text(text)
    with pytest.raises(InputError) as err:
        read_curve(folder)
    problem = err.value.problems[0]
    assert (problem.source, problem.field) == (str(folder / name), field)


def test_servegen_not_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no chunk-<client>-trace\.csv"):
        read_curve(tmp_path)
    with pytest.raises(InputError, match="not a folder"):
        read_curve(tmp_path / "missing")


# --- request traces into demand -----------------------------------------------------


def test_request_sources_give_requests_and_curve() -> None:
    conv = convert_demand(DEMAND / "mooncake-mini.jsonl", "mooncake")
    (curve,) = conv.demand.curves
    (requests,) = conv.demand.requests
    assert (curve.service, curve.region, curve.timezone) == (
        "kimi-mooncake-mini",
        "cn",
        "Asia/Shanghai",
    )
    assert (requests.service, requests.region) == (curve.service, curve.region)
    assert len(requests.trace) == 5
    # 3 arrivals in window 0; the last window is covered from 600 s to 1199 s
    assert curve.rate_rps == pytest.approx((3 / 600, 2 / 599))
    conv = convert_demand(DEMAND / "azure-mini.csv", "azure-llm", region="us-west")
    assert conv.demand.curves[0].service == "azure-azure-mini"
    assert conv.demand.curves[0].region == "us-west"
    # the round trip through the file keeps everything
    text = format_demand(conv.demand)
    assert format_demand(parse_demand(text)) == text


def test_request_source_peak_scales_curve_only() -> None:
    conv = convert_demand(DEMAND / "mooncake-mini.jsonl", "mooncake", peak=100.0)
    assert conv.demand.curves[0].peak_rps == pytest.approx(100.0)
    assert len(conv.demand.requests[0].trace) == 5
    assert any("kept as observed" in n for n in conv.notes)


def test_unknown_demand_source() -> None:
    with pytest.raises(UnknownNameError) as err:
        convert_demand(MINI, "servegen2")
    assert set(DEMAND_CONVERTERS) <= set(err.value.valid)


# --- the real data (../shared/data/inference) ---------------------------------------


def _inference(shared_data: Path) -> Path:
    path = shared_data / "inference"
    if not path.is_dir():
        pytest.skip(f"no inference data at {path}")
    return path


@pytest.mark.shared_data
def test_real_servegen_language(shared_data: Path) -> None:
    base = _inference(shared_data) / "servegen" / "language"
    large = read_curve(base / "m-large")
    assert len(large.rate_rps) == 2016
    assert large.peak_rps > 0
    assert large.timezone == "Asia/Shanghai"
    assert 1 < large.input_tokens.mean < 100_000
    assert all(c >= 0 and math.isfinite(c) for c in large.cv)
    # m-large's sum is dominated by a few bursty API clients (day 1 vs day 2 correlates
    # weakly); m-small's is a clear daily cycle
    small = np.asarray(read_curve(base / "m-small").rate_rps).reshape(14, 144)
    assert np.corrcoef(small[0], small[1])[0, 1] > 0.8
    hourly = small.mean(axis=0).reshape(24, 6).mean(axis=1)
    assert hourly[2:6].mean() < 0.8 * hourly[19:22].mean()  # night below evening (Beijing)


@pytest.mark.shared_data
def test_real_servegen_deepseek_r1(shared_data: Path) -> None:
    curve = read_curve(_inference(shared_data) / "servegen" / "reason" / "deepseek-r1")
    assert len(curve.rate_rps) == 144
    assert curve.peak_rps > 0
    assert curve.output_tokens.mean > curve.input_tokens.mean  # reasoning: long answers


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "n"), [("code", 8819), ("conv", 19366)])
def test_real_azure(shared_data: Path, name: str, n: int) -> None:
    path = _inference(shared_data) / "azure-llm-2023" / f"AzureLLMInferenceTrace_{name}.csv"
    conv = convert_demand(path, "azure-llm")
    assert len(conv.demand.requests[0].trace) == n
    assert conv.demand.curves[0].service == f"azure-{name}"
    assert len(conv.demand.curves[0].rate_rps) == 6  # one hour in 10-minute windows
    assert conv.demand.requests[0].trace.span_s < 3600


@pytest.mark.shared_data
def test_real_mooncake(shared_data: Path) -> None:
    path = _inference(shared_data) / "mooncake" / "conversation_trace.jsonl"
    trace = mooncake.read_requests(path)
    assert len(trace) == 12031
    assert trace.input_tokens.mean() == pytest.approx(12035, abs=1)
    assert trace.output_tokens.mean() == pytest.approx(343, abs=1)
    conv = convert_demand(path, "mooncake")
    assert conv.demand.curves[0].service == "kimi-conversation"
