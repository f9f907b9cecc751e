"""Physical models against hand-computed values."""

from __future__ import annotations

import math

import pytest

from suanli.model.accelerator import Accelerator
from suanli.model.fleet import Link, Subsidy
from suanli.model.job import JobKind, WorkloadProfile
from suanli.model.scenario import Efficiency
from suanli.perf.carbon import carbon_kg
from suanli.perf.energy import energy_cost, subsidised_price, subsidy_per_kwh
from suanli.perf.memory import fits, min_devices
from suanli.perf.power import busy_increment_w, device_power_w, facility_power_w
from suanli.perf.roofline import is_memory_bound, seconds_per_pflop, speed_pflops
from suanli.perf.transfer import egress_cost, transfer_seconds

CHIP = Accelerator(
    id="x",
    name="X",
    vendor="V",
    origin="US",
    stack="cuda",
    bf16_tflops=1000.0,
    fp8_tflops=2000.0,
    mem_gb=80.0,
    mem_bw_tbs=4.0,
    tdp_w=700.0,
    idle_w=100.0,
)
NO_FP8 = Accelerator(
    id="y",
    name="Y",
    vendor="V",
    origin="CN",
    stack="cann",
    bf16_tflops=400.0,
    mem_gb=64.0,
    mem_bw_tbs=1.6,
    tdp_w=400.0,
)
EFF = Efficiency(compute=0.5, memory=0.8)


def profile(
    fpb: float, precisions: tuple[str, ...] = ("fp8", "bf16"), mem: float = 100.0
) -> WorkloadProfile:
    return WorkloadProfile("p", JobKind.PRETRAIN, precisions, fpb, mem)


def test_compute_bound_roofline_uses_best_precision() -> None:
    # 1e15 / (2000e12 * 0.5) = 1.0 s; memory: (1e15/1000) / (4e12*0.8) = 0.3125 s
    p = profile(1000.0)
    assert seconds_per_pflop(CHIP, p, EFF) == pytest.approx(1.0)
    assert speed_pflops(CHIP, p, EFF) == pytest.approx(1.0)
    assert not is_memory_bound(CHIP, p, EFF)


def test_memory_bound_roofline() -> None:
    # compute 1.0 s; memory (1e15/10) / (4e12*0.8) = 31.25 s
    p = profile(10.0)
    assert seconds_per_pflop(CHIP, p, EFF) == pytest.approx(31.25)
    assert is_memory_bound(CHIP, p, EFF)


def test_falls_back_to_supported_precision_and_rejects_unsupported() -> None:
    # NO_FP8: bf16 400 TF * 0.5 = 200 TF → 5 s per PFLOP
    assert seconds_per_pflop(NO_FP8, profile(1000.0), EFF) == pytest.approx(5.0)
    assert speed_pflops(NO_FP8, profile(1000.0, precisions=("fp8",)), EFF) == 0.0


def test_memory_fit() -> None:
    # 100 GB over 0.9*80 = 72 GB → 2 devices; 144 GB → exactly 2
    assert min_devices(CHIP, profile(1.0, mem=100.0)) == 2
    assert min_devices(CHIP, profile(1.0, mem=144.0)) == 2
    assert min_devices(CHIP, profile(1.0, mem=144.1)) == 3
    assert min_devices(CHIP, profile(1.0, mem=1.0)) == 1
    assert fits(CHIP, profile(1.0, mem=100.0), 2) and not fits(CHIP, profile(1.0, mem=100.0), 1)


def test_power() -> None:
    assert device_power_w(CHIP, True, 0.9) == pytest.approx(630.0)
    assert device_power_w(CHIP, False) == 100.0
    assert device_power_w(NO_FP8, False) == pytest.approx(80.0)  # 20 % of TDP when not given
    assert busy_increment_w(CHIP, 0.9) == pytest.approx(530.0)
    assert facility_power_w(1000.0, 1.25) == pytest.approx(1250.0)


def test_energy_cost_and_subsidy() -> None:
    s = Subsidy("dom", "domestic_accelerators", 0.5, 0.30)
    assert subsidised_price(0.8, s) == pytest.approx(0.40)  # 50 % off
    assert subsidised_price(0.5, s) == pytest.approx(0.30)  # floor
    assert subsidised_price(0.2, s) == pytest.approx(0.20)  # never raises a price
    assert subsidy_per_kwh(0.8, [s], domestic=True) == pytest.approx(0.40)
    assert subsidy_per_kwh(0.8, [s], domestic=False) == 0.0
    everyone = Subsidy("all", "all_accelerators", 0.1)
    assert subsidy_per_kwh(0.8, [s, everyone], domestic=False) == pytest.approx(0.08)
    assert subsidy_per_kwh(0.8, [s, everyone], domestic=True) == pytest.approx(0.40)
    assert energy_cost(1000.0, 0.65) == pytest.approx(650.0)


def test_carbon() -> None:
    assert carbon_kg(1000.0, 0.7252) == pytest.approx(725.2)


def test_transfer() -> None:
    link = Link("a", "b", bandwidth_gbps=100.0, latency_ms=20.0, cost_per_gb=0.05)
    # 1 TB = 8e12 bit / 1e11 bit/s = 80 s + 0.02 s
    assert transfer_seconds(1.0, link) == pytest.approx(80.02)
    assert egress_cost(1.0, link) == pytest.approx(50.0)
    assert math.isclose(transfer_seconds(0.0, link), 0.02)
