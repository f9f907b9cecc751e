"""US export-control classification of accelerators (ECCN 3A090), computed from specs.

Definitions (15 CFR 772 / ECCN 3A090 as amended October 2023; DESIGN §1):

* Total Processing Performance, over every precision *p* the chip supports,

  .. math:: \\mathrm{TPP} = \\max_p \\; \\mathrm{TOPS}_p^{\\text{dense}} \\times \\mathrm{bits}(p)

* Performance density :math:`\\mathrm{PD} = \\mathrm{TPP} / A_\\text{die}` (mm²).
* 3A090.a.1: TPP ≥ 4800.  3A090.a.2: TPP ≥ 1600 and PD ≥ 5.92.
* 3A090.b.1: 2400 ≤ TPP < 4800 and 1.6 ≤ PD < 5.92.
  3A090.b.2: TPP ≥ 1600 and 3.2 ≤ PD < 5.92.
* Otherwise not 3A090.  Without a die area a chip with 1600 ≤ TPP < 4800 is
  *indeterminate*; without compute figures it is *unknown*.

The January 2026 rule (91 FR 1684) reviews exports to China case by case for
chips with TPP < 21,000 **and** DRAM bandwidth < 6,500 GB/s (H200, MI325X).
"""

from __future__ import annotations

from suanli.model.accelerator import BIT_LENGTH, Accelerator

CLASS_A1 = "3A090.a.1"
CLASS_A2 = "3A090.a.2"
CLASS_B1 = "3A090.b.1"
CLASS_B2 = "3A090.b.2"
NOT_CONTROLLED = "not 3A090"
INDETERMINATE = "indeterminate"
UNKNOWN = "unknown"

JAN2026_TPP_LIMIT = 21_000.0
JAN2026_DRAM_BW_LIMIT_GBS = 6_500.0


def tpp(acc: Accelerator) -> float | None:
    """Total Processing Performance: max over precisions of dense TOPS × bit length."""
    values = [peak * bits for p, bits in BIT_LENGTH.items() if (peak := acc.peak(p)) is not None]
    return max(values) if values else None


def performance_density(acc: Accelerator) -> float | None:
    """TPP per mm² of die area (``None`` when either is unknown)."""
    t = tpp(acc)
    if t is None or not acc.die_area_mm2:
        return None
    return t / acc.die_area_mm2


def eccn_3a090_class(acc: Accelerator) -> str:
    """The 3A090 class of an accelerator, by the rules in the module docstring."""
    t = tpp(acc)
    if t is None:
        return UNKNOWN
    if t >= 4800:
        return CLASS_A1
    pd = performance_density(acc)
    if t < 1600:
        return NOT_CONTROLLED
    if pd is None:
        return INDETERMINATE
    if pd >= 5.92:
        return CLASS_A2
    if 2400 <= t < 4800 and 1.6 <= pd < 5.92:
        return CLASS_B1
    if 3.2 <= pd < 5.92:
        return CLASS_B2
    return NOT_CONTROLLED


def jan2026_case_by_case(acc: Accelerator) -> bool | None:
    """Whether the chip is below the limits of the January 2026 case-by-case review for China.

    True when TPP < 21,000 and DRAM bandwidth < 6,500 GB/s; ``None`` when either is unknown.
    This is the threshold test only: the review applies to chips that need a licence in the
    first place (3A090 items, or chips named in an "is-informed" letter such as the H20); a
    chip that is ``not 3A090`` and not otherwise restricted needs no licence at all.
    """
    t = tpp(acc)
    if t is None or acc.mem_bw_tbs is None:
        return None
    return t < JAN2026_TPP_LIMIT and acc.mem_bw_tbs * 1000.0 < JAN2026_DRAM_BW_LIMIT_GBS
