"""Numbers for people: a unit that suits the size of the values, and no small value shown
as 0.

A row or column of a table shares one unit (:func:`pick_unit`), the largest in which its
largest value is at least 1, so a small run reads "312 kWh" and a large one "81.4 GWh";
:func:`significant` keeps three significant digits below 100, so 0.0042 stays 0.0042.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

#: Units of energy, each with its size in MWh (the unit of the metrics).
ENERGY_UNITS: tuple[tuple[str, float], ...] = (("kWh", 1e-3), ("MWh", 1.0), ("GWh", 1e3))
#: Units of mass (carbon), each with its size in tonnes (the unit of the metrics).
MASS_UNITS: tuple[tuple[str, float], ...] = (("kg", 1e-3), ("t", 1.0), ("kt", 1e3), ("Mt", 1e6))

NONZERO_DIGITS = frozenset("123456789")


def pick_unit(
    values: Iterable[float | None], units: tuple[tuple[str, float], ...]
) -> tuple[str, float]:
    """The largest unit in which the largest finite value is at least 1 (else the smallest)."""
    top = max((abs(v) for v in values if v is not None and math.isfinite(v)), default=0.0)
    chosen = units[0]
    for unit in units:
        if top >= unit[1]:
            chosen = unit
    return chosen


def significant(value: float) -> str:
    """``value`` with thousands separators from 100 up, else three significant digits."""
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def in_unit(value: float, unit: tuple[str, float]) -> str:
    """``value`` (in base units) in ``unit``, e.g. ``"1.2"`` for 1,200 t in kt."""
    return significant(value / unit[1])


def quantity(value: float, units: tuple[tuple[str, float], ...]) -> str:
    """``value`` (in base units) in the unit that suits it, with the unit: ``"312 kWh"``."""
    unit = pick_unit([value], units)
    return f"{in_unit(value, unit)} {unit[0]}"


def shown(value: float, spec: str) -> str:
    """``value`` formatted with ``spec``; a value that is not 0 but would show as 0 (``0``,
    ``0.00``, ``0.0%``) gets two significant digits instead."""
    text = format(value, spec)
    if value == 0 or not math.isfinite(value) or NONZERO_DIGITS & set(text):
        return text
    if spec.endswith("%"):
        return f"{value * 100:.2g}%"
    return f"{value:.2g}"
