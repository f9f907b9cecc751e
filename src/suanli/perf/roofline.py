"""Roofline throughput of a workload profile on an accelerator.

A unit of work is 1 PFLOP (10¹⁵ useful FLOPs) moving ``Q = 10¹⁵ / I`` bytes of
HBM traffic, with ``I`` the profile's arithmetic intensity (FLOP/byte). On an
accelerator with dense peak ``P_p`` (FLOP/s) at precision *p*, HBM bandwidth
``B`` (byte/s), and a software stack reaching fractions ``e_c`` (compute) and
``e_m`` (memory) of peak for this kind of work, one device needs

.. math::

    t = \\max\\left( \\frac{10^{15}}{\\max_{p \\in \\mathcal{P}} P_p \\, e_c},\\;
                      \\frac{10^{15} / I}{B \\, e_m} \\right) \\quad \\text{seconds},

where :math:`\\mathcal{P}` are the profile's precisions that the chip supports.
Its speed is ``1 / t`` PFLOP/s per device. A gang of *n* devices runs *n* times
as fast (data-parallel scaling; communication cost is folded into ``e_c``).
A chip supporting none of the precisions cannot run the profile (speed 0).
"""

from __future__ import annotations

from suanli.model.accelerator import Accelerator
from suanli.model.job import WorkloadProfile
from suanli.model.scenario import Efficiency

PFLOP = 1e15


def best_peak_flops(acc: Accelerator, profile: WorkloadProfile) -> float:
    """Highest dense peak (FLOP/s) over the profile's precisions the chip supports (0 if none)."""
    peaks = [p for prec in profile.precisions if (p := acc.peak(prec)) is not None]
    return max(peaks) * 1e12 if peaks else 0.0


def seconds_per_pflop(acc: Accelerator, profile: WorkloadProfile, eff: Efficiency) -> float:
    """Time ``t`` for one device to do one unit of work (``inf`` if it cannot)."""
    peak = best_peak_flops(acc, profile)
    if peak <= 0.0 or not acc.mem_bw_tbs:
        return float("inf")
    compute_s = PFLOP / (peak * eff.compute)
    memory_s = (PFLOP / profile.flops_per_byte) / (acc.mem_bw_tbs * 1e12 * eff.memory)
    return max(compute_s, memory_s)


def speed_pflops(acc: Accelerator, profile: WorkloadProfile, eff: Efficiency) -> float:
    """Per-device speed in PFLOP/s (0 when the chip cannot run the profile)."""
    t = seconds_per_pflop(acc, profile, eff)
    return 0.0 if t == float("inf") else 1.0 / t


def is_memory_bound(acc: Accelerator, profile: WorkloadProfile, eff: Efficiency) -> bool:
    """Whether the HBM term of the roofline dominates."""
    peak = best_peak_flops(acc, profile)
    if peak <= 0.0 or not acc.mem_bw_tbs:
        return False
    return profile.flops_per_byte * acc.mem_bw_tbs * 1e12 * eff.memory < peak * eff.compute
