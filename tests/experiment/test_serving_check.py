"""The fluid serving model against the request-level simulation on a real hour."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from suanli.catalog import load_catalog
from suanli.catalog.models import load_models
from suanli.experiment.serving_check import (
    burstiness_cv,
    check_trace,
    markdown,
    rule_slo,
    spread_ties,
    zero_load_ttft,
)
from suanli.model.service import ServedModel
from suanli.perf.serving import ServingEfficiency, replica_perf
from suanli.perf.serving_defaults import serving_efficiency
from suanli.trace.demand_sources import azure_llm
from suanli.workload.demand import RequestTrace


def _trace(arrival: list[float]) -> RequestTrace:
    n = len(arrival)
    return RequestTrace(
        np.array(arrival), np.full(n, 100, dtype=np.int64), np.full(n, 10, dtype=np.int64)
    )


def test_spread_ties_spreads_each_group_over_its_gap() -> None:
    tr = spread_ties(_trace([0.0, 0.0, 3.0, 3.0, 3.0, 6.0]))
    assert np.allclose(tr.arrival_s, [0.75, 2.25, 3.5, 4.5, 5.5, 7.5])
    same = _trace([0.0, 1.0, 2.5])
    assert spread_ties(same) is same


def test_burstiness_is_one_for_even_and_high_for_clumps() -> None:
    even = np.arange(0.0, 100.0, 0.5)
    assert burstiness_cv(even, 100.0, 1.0) == pytest.approx(math.sqrt(1e-6))
    clumps = np.repeat(np.arange(0.0, 100.0, 10.0), 10)  # clumps of 10: IDC ≈ 10
    assert burstiness_cv(clumps, 100.0, 1.0) ** 2 == pytest.approx(9.0, rel=0.05)
    assert burstiness_cv(np.array([1.0]), 100.0, 1.0) == 1.0


def test_rule_slo_scales_with_the_replica() -> None:
    acc = load_catalog()["nvidia_h100_sxm5"]
    model = ServedModel("dense-8b", 8.0, 8.0, "bf16", 131072.0, 32768)
    perf = replica_perf(model, acc, 1, ServingEfficiency("test", 0.3, 0.3, 0.7, 0.005), 0.05, 1200)
    tr = _trace([0.0, 1.0, 2.0])
    slo = rule_slo(tr, perf)
    assert slo.tpot_s == pytest.approx(1.5 * perf.tpot_s)
    assert slo.ttft_p99_s == pytest.approx(5.0 * perf.step_s(100, 0, 100.0))
    long = zero_load_ttft(perf, 5000)
    assert long == pytest.approx(
        perf.step_s(2048, 0, 2048.0) + perf.step_s(2048, 0, 4096.0) + perf.step_s(904, 0, 5000.0)
    )


@pytest.mark.shared_data
def test_azure_conversation_agrees_within_5_points(shared_data: Path) -> None:
    path = shared_data / "inference" / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    trace = azure_llm.read_requests(path)
    acc = load_catalog()["nvidia_h100_sxm5"]
    ctx = float(np.mean(trace.input_tokens) + np.mean(trace.output_tokens) / 2)
    perf = replica_perf(load_models()["qwen2.5-7b"], acc, 1, serving_efficiency("cuda"), 0.05, ctx)
    slo = rule_slo(trace, perf)
    rows = check_trace("azure-conv", trace, perf, slo, (0.5, 0.7), capacity=False)
    table = markdown(rows)
    assert all(r.agrees for r in rows), table
    assert rows[0].sim_attainment > rows[1].sim_attainment
