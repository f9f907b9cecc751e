"""The accelerator: one catalog entry.

Numbers are per device. Peak rates are *dense* (no structured sparsity), in
TFLOPS (floating point) or TOPS (integer). ``None`` means "not published"; an
accelerator with missing compute, memory or power figures can be listed in the
catalog but not placed in a pool until a scenario overrides the missing values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Precision = Literal["fp4", "fp8", "int8", "fp16", "bf16"]

#: Bit length of each precision, as used by the TPP rule (TOPS × bit length).
BIT_LENGTH: Mapping[str, int] = {"fp4": 4, "fp8": 8, "int8": 8, "fp16": 16, "bf16": 16}

#: Fields needed to model an accelerator in a pool (memory, power); plus a 16-bit rate.
REQUIRED_FOR_POOLS: tuple[str, ...] = ("mem_gb", "mem_bw_tbs", "tdp_w")


@dataclass(frozen=True, slots=True)
class Accelerator:
    """One accelerator type of the catalog.

    ``stack`` is the software stack key (``cuda``, ``cann``, ``rocm``, ``xpu``,
    ``neuware``, ``dtk``, ``musa``, ``supa``); ``origin`` the ISO country code of
    the designer, compared with the scenario's country to decide what is
    *domestic* (subsidies, supply rules).
    """

    id: str
    name: str
    vendor: str
    origin: str
    stack: str
    bf16_tflops: float | None = None
    fp16_tflops: float | None = None
    fp8_tflops: float | None = None
    int8_tops: float | None = None
    fp4_tflops: float | None = None
    mem_gb: float | None = None
    mem_bw_tbs: float | None = None
    tdp_w: float | None = None
    idle_w: float | None = None
    die_area_mm2: float | None = None
    interconnect_gbs: float | None = None
    devices_per_node: int = 8
    node_gang_sizes: tuple[int, ...] = (1, 2, 4, 8)
    price_usd: float | None = None
    status: str = ""
    sources: Mapping[str, str] = field(default_factory=dict)
    notes: str = ""

    def peak(self, precision: str) -> float | None:
        """Dense peak rate in TFLOPS/TOPS at ``precision`` (``None`` if unsupported)."""
        value: float | None = getattr(self, _PEAK_FIELD[precision])
        return value

    def missing_for_pools(self) -> tuple[str, ...]:
        """Fields that must be known before this accelerator can be placed in a pool."""
        missing = [f for f in REQUIRED_FOR_POOLS if getattr(self, f) is None]
        if self.bf16_tflops is None and self.fp16_tflops is None:
            missing.insert(0, "bf16_tflops or fp16_tflops")
        return tuple(missing)

    @property
    def idle_power_w(self) -> float:
        """Idle power per device: the catalog figure, else 20 % of TDP (assumption)."""
        if self.idle_w is not None:
            return self.idle_w
        return 0.2 * (self.tdp_w or 0.0)


_PEAK_FIELD: Mapping[str, str] = {
    "fp4": "fp4_tflops",
    "fp8": "fp8_tflops",
    "int8": "int8_tops",
    "fp16": "fp16_tflops",
    "bf16": "bf16_tflops",
}
