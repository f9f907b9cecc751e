"""The serving performance model (DESIGN §3a): memory fit, monotonicity, precision."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from suanli.catalog import load_catalog
from suanli.catalog.models import load_model_specs, load_models
from suanli.model.service import ServedModel
from suanli.perf.serving import (
    ReplicaPerf,
    min_replica_devices,
    replica_perf,
    serving_precision,
)
from suanli.perf.serving_defaults import serving_efficiencies, serving_efficiency

CUDA = serving_efficiency("cuda")


def _h100():  # type: ignore[no-untyped-def]
    return load_catalog()["nvidia_h100_sxm5"]


def _perf(model: ServedModel, devices: int, tpot: float = 0.05, ctx: float = 4000) -> ReplicaPerf:
    return replica_perf(model, _h100(), devices, CUDA, tpot, ctx)


def test_deepseek_fp8_fits_sixteen_h100_not_one() -> None:
    ds = load_models()["deepseek-v3"]
    assert not _perf(ds, 1).fits
    assert not _perf(ds, 8).fits  # 671 GB > 0.9 × 640 GB
    assert _perf(ds, 16).fits
    assert min_replica_devices(ds, _h100()) == 16


def test_small_dense_model_fits_one_device() -> None:
    q = load_models()["qwen2.5-7b"]
    assert _perf(q, 1).fits
    assert min_replica_devices(q, _h100()) == 1
    assert _perf(q, 1).decode_tokens_s > 0


def test_more_devices_more_prefill() -> None:
    ds = load_models()["deepseek-v3"]
    rates = [_perf(ds, r).prefill_tokens_s for r in (16, 32, 64)]
    assert rates[0] < rates[1] < rates[2]


def test_looser_tpot_larger_batch() -> None:
    ds = load_models()["deepseek-v3"]
    batches = [_perf(ds, 32, tpot).max_batch for tpot in (0.01, 0.015, 0.02)]
    assert 0 < batches[0] < batches[1] < batches[2]
    tputs = [_perf(ds, 32, tpot).decode_tokens_s for tpot in (0.01, 0.015, 0.02)]
    assert tputs[0] < tputs[1] < tputs[2]
    p = _perf(ds, 32, 0.05)
    assert p.tpot_s <= 0.05


def test_step_time_increases_with_batch_and_context() -> None:
    spec = load_model_specs()["deepseek-v3"]
    p = replica_perf(
        spec.model,
        _h100(),
        32,
        CUDA,
        0.05,
        4000,
        attn_prefill_flops=spec.attn_prefill_flops,
        attn_decode_flops=spec.attn_decode_flops,
    )
    steps = [p.step_s(0, n, n * 4000) for n in (1, 16, 256, 2048)]
    assert all(a < b for a, b in itertools.pairwise(steps))
    assert p.step_s(0, 64, 64 * 8000) > p.step_s(0, 64, 64 * 1000)
    assert p.step_s(4096, 64, 64 * 4000) > p.step_s(0, 64, 64 * 4000)
    assert p.step_s(0, 0, 0) == 0.0


def test_attention_lowers_prefill_rate() -> None:
    spec = load_model_specs()["deepseek-v3"]
    assert spec.model.attn_prefill_flops > 0  # the model carries its attention cost
    with_attn = replica_perf(spec.model, _h100(), 32, CUDA, 0.05, 8000)
    plain = replica_perf(
        spec.model, _h100(), 32, CUDA, 0.05, 8000, attn_prefill_flops=0.0, attn_decode_flops=0.0
    )
    assert with_attn.prefill_tokens_s < plain.prefill_tokens_s
    assert with_attn.decode_tokens_s < plain.decode_tokens_s


def test_requests_s_from_both_phases() -> None:
    p = _perf(load_models()["deepseek-v3"], 32)
    mu = p.requests_s(2000, 500)
    assert mu == pytest.approx(1 / (2000 / p.prefill_tokens_s + 500 / p.decode_tokens_s))


def test_fp8_falls_back_to_int8_on_910c() -> None:
    acc = load_catalog()["huawei_ascend_910c"]
    assert serving_precision(acc, "fp8") == "int8"
    ds = load_models()["deepseek-v3"]
    p = replica_perf(ds, acc, 8, serving_efficiency("cann"), 0.05, 4000)
    assert p.precision == "int8"
    assert p.weight_bytes == pytest.approx(671e9)
    assert p.fits


def test_model_that_fits_nowhere() -> None:
    huge = ServedModel("huge", 5e6, 5e5, "bf16", 1e6, 1_000_000)
    assert min_replica_devices(huge, _h100()) is None
    assert not _perf(huge, 8).fits
    assert _perf(huge, 8).decode_tokens_s == 0.0


def test_tpot_too_tight_gives_no_decode() -> None:
    p = _perf(load_models()["deepseek-v3"], 16, tpot=0.001)
    assert p.max_batch == 0 and p.decode_tokens_s == 0.0
    assert p.requests_s(1000, 100) == 0.0


def test_every_stack_has_sourced_efficiencies() -> None:
    effs = serving_efficiencies()
    for stack in ("cuda", "cann", "rocm", "xpu", "neuware", "dtk", "musa", "supa"):
        e = effs[stack]
        assert 0 < e.prefill <= 1 and 0 < e.decode_compute <= 1 and 0 < e.decode_memory <= 1
        assert e.source
    unknown = serving_efficiency("somethingnew")
    assert unknown.stack == "somethingnew" and "fallback" in unknown.source
    assert unknown.prefill <= min(e.prefill for e in effs.values())


def test_models_catalog_sources_and_kv_sizes() -> None:
    specs = load_model_specs()
    assert {"deepseek-v3", "glm-5"} <= set(specs)
    ds = specs["deepseek-v3"].model
    assert ds.kv_bytes_per_token == 61 * (512 + 64) * 2
    assert ds.total_params_b == 671 and ds.active_params_b == 37 and ds.precision == "fp8"
    q = specs["qwen2.5-7b"].model
    assert q.kv_bytes_per_token == 28 * 2 * 4 * 128 * 2
    for spec in specs.values():
        assert set(spec.sources) >= {"params", "kv_cache", "context", "attention"}
        assert replace(spec.model).weight_bytes > 0
