"""Unit tests of the 3A090 rules, on hand-computed edge cases.

TPP = max over precisions of dense TOPS x bit length; PD = TPP / die area (mm²).
3A090.a.1: TPP >= 4800.  a.2: TPP >= 1600 and PD >= 5.92.
b.1: 2400 <= TPP < 4800 and 1.6 <= PD < 5.92.  b.2: TPP >= 1600 and 3.2 <= PD < 5.92.
Jan-2026 test: TPP < 21,000 and DRAM bandwidth < 6,500 GB/s.
"""

from __future__ import annotations

from typing import Any

import pytest

from suanli.catalog.export_control import (
    CLASS_A1,
    CLASS_A2,
    CLASS_B1,
    CLASS_B2,
    INDETERMINATE,
    NOT_CONTROLLED,
    UNKNOWN,
    eccn_3a090_class,
    jan2026_case_by_case,
    performance_density,
    tpp,
)
from suanli.model.accelerator import Accelerator


def chip(**fields: Any) -> Accelerator:
    """A test accelerator with only the given figures."""
    return Accelerator(id="t", name="test", vendor="test", origin="US", stack="cuda", **fields)


def test_tpp_is_the_max_over_precisions_of_tops_times_bits() -> None:
    # Ascend 950PR card figures: BF16 425 x 16 = 6800 > FP8 804 x 8 = 6432 > FP4 1561 x 4 = 6244.
    acc = chip(bf16_tflops=425, fp8_tflops=804, fp4_tflops=1561)
    assert tpp(acc) == pytest.approx(6800.0)
    # H100: INT8 1978.9 x 8 = 15831.2 beats BF16 989.4 x 16 = 15830.4.
    assert tpp(chip(bf16_tflops=989.4, int8_tops=1978.9)) == pytest.approx(15831.2)
    # FP4 can win: 1000 x 4 = 4000 > FP16 200 x 16 = 3200.
    assert tpp(chip(fp16_tflops=200, fp4_tflops=1000)) == pytest.approx(4000.0)


def test_no_compute_means_no_tpp_no_pd_unknown_class_and_no_jan2026_answer() -> None:
    acc = chip(mem_gb=64, mem_bw_tbs=1.2, die_area_mm2=600)
    assert tpp(acc) is None
    assert performance_density(acc) is None
    assert eccn_3a090_class(acc) == UNKNOWN
    assert jan2026_case_by_case(acc) is None


def test_pd_needs_a_die_area() -> None:
    assert performance_density(chip(int8_tops=296)) is None
    # H20: 2368 / 814 = 2.9091
    assert performance_density(chip(int8_tops=296, die_area_mm2=814)) == pytest.approx(
        2.909, abs=1e-3
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # a.1 by TPP alone: A100 INT8 624 x 8 = 4992 >= 4800, no die area needed.
        pytest.param({"int8_tops": 624}, CLASS_A1, id="a1-by-tpp-without-die"),
        # TPP exactly 4800 (600 x 8) is a.1, whatever the PD (here 1.2).
        pytest.param({"int8_tops": 600, "die_area_mm2": 4000}, CLASS_A1, id="tpp-exactly-4800"),
        # Just under 4800 (599 x 8 = 4792) with PD 4792 / 800 = 5.99 >= 5.92: a.2.
        pytest.param({"int8_tops": 599, "die_area_mm2": 800}, CLASS_A2, id="tpp-4792-a2"),
        # a.2 by PD: Ascend 910B4 540 x 8 = 4320, 4320 / 665.61 = 6.49.
        pytest.param({"int8_tops": 540, "die_area_mm2": 665.61}, CLASS_A2, id="a2-by-pd"),
        # PD exactly 5.92 (2960 / 500) is a.2.
        pytest.param({"fp16_tflops": 185, "die_area_mm2": 500}, CLASS_A2, id="pd-exactly-5.92"),
        # b.1: TPP 200 x 16 = 3200 in [2400, 4800), PD 3200 / 1600 = 2.0 in [1.6, 5.92).
        pytest.param({"fp16_tflops": 200, "die_area_mm2": 1600}, CLASS_B1, id="b1"),
        # b.1 at its lower corners: TPP exactly 2400 (300 x 8), PD exactly 1.6 (2400 / 1500).
        pytest.param({"int8_tops": 300, "die_area_mm2": 1500}, CLASS_B1, id="b1-corner"),
        # b.2: TPP 125 x 16 = 2000 < 2400 (so not b.1), PD 2000 / 500 = 4.0 in [3.2, 5.92).
        pytest.param({"fp16_tflops": 125, "die_area_mm2": 500}, CLASS_B2, id="b2"),
        # b.2 at PD exactly 3.2 (2000 / 625).
        pytest.param({"fp16_tflops": 125, "die_area_mm2": 625}, CLASS_B2, id="b2-pd-exactly-3.2"),
        # TPP exactly 1600 (200 x 8) with PD 1600 / 400 = 4.0: b.2.
        pytest.param({"int8_tops": 200, "die_area_mm2": 400}, CLASS_B2, id="tpp-exactly-1600-b2"),
        # TPP exactly 1600 with PD 1600 / 200 = 8.0: a.2.
        pytest.param({"int8_tops": 200, "die_area_mm2": 200}, CLASS_A2, id="tpp-exactly-1600-a2"),
        # TPP exactly 1600 and no die area (Moore Threads S4000): indeterminate.
        pytest.param({"int8_tops": 200}, INDETERMINATE, id="tpp-exactly-1600-no-die"),
        # Just under 1600 (199.9 x 8 = 1599.2): not 3A090, die area irrelevant.
        pytest.param({"int8_tops": 199.9}, NOT_CONTROLLED, id="tpp-just-under-1600"),
        pytest.param({"int8_tops": 199.9, "die_area_mm2": 10}, NOT_CONTROLLED, id="under-1600-pd"),
        # H20: TPP 2368 < 2400 (not b.1), PD 2.91 < 3.2 (not b.2): not 3A090.
        pytest.param({"int8_tops": 296, "die_area_mm2": 814}, NOT_CONTROLLED, id="h20-not"),
        # A10: TPP 2000, PD 2000 / 628 = 3.18, just under 3.2: not 3A090.
        pytest.param({"int8_tops": 250, "die_area_mm2": 628}, NOT_CONTROLLED, id="a10-not"),
        # 3200 with PD 1.5 (< 1.6): neither b.1 nor b.2.
        pytest.param({"fp16_tflops": 200, "die_area_mm2": 3200 / 1.5}, NOT_CONTROLLED, id="pd-1.5"),
        # Between 1600 and 4800 without a die area: indeterminate.
        pytest.param({"fp16_tflops": 180}, INDETERMINATE, id="indeterminate-without-die"),
        # No compute at all: unknown, even with a die area.
        pytest.param({"die_area_mm2": 500}, UNKNOWN, id="unknown-without-compute"),
    ],
)
def test_eccn_3a090_class(fields: dict[str, float], expected: str) -> None:
    assert eccn_3a090_class(chip(**fields)) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # H200: TPP 15831.2 < 21000 and 4800 GB/s < 6500: under review case by case.
        pytest.param({"int8_tops": 1978.9, "mem_bw_tbs": 4.8}, True, id="h200-true"),
        # MI325X: TPP 20919.2 just under 21000, 6000 GB/s under 6500.
        pytest.param({"int8_tops": 2614.9, "mem_bw_tbs": 6.0}, True, id="mi325x-true"),
        # B200: TPP 36000 and 7700 GB/s: above both limits.
        pytest.param({"int8_tops": 4500, "mem_bw_tbs": 7.7}, False, id="b200-false"),
        # TPP exactly 21000 (2625 x 8) is not below the limit.
        pytest.param({"fp8_tflops": 2625, "mem_bw_tbs": 1.0}, False, id="tpp-exactly-21000"),
        # Bandwidth exactly 6500 GB/s is not below the limit.
        pytest.param({"int8_tops": 1000, "mem_bw_tbs": 6.5}, False, id="bw-exactly-6500"),
        # Ascend 960 roadmap: TPP 16000 but 9600 GB/s: false on bandwidth alone.
        pytest.param({"fp8_tflops": 2000, "mem_bw_tbs": 9.6}, False, id="bw-only-false"),
        # Either figure unknown: no answer.
        pytest.param({"int8_tops": 1000}, None, id="no-bandwidth-none"),
        pytest.param({"mem_bw_tbs": 1.0}, None, id="no-compute-none"),
    ],
)
def test_jan2026_case_by_case(fields: dict[str, float], expected: bool | None) -> None:
    assert jan2026_case_by_case(chip(**fields)) is expected
