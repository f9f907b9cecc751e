"""Number formatting for plan sentences and tables (money, units)."""

from __future__ import annotations


def money(value: float, currency: str) -> str:
    """``1.23 bn CNY``, ``45.6 M CNY``, ``12,345 CNY`` (sign kept)."""
    v = abs(value)
    sign = "-" if value < 0 else ""
    if v >= 1e9:
        return f"{sign}{v / 1e9:,.2f} bn {currency}"
    if v >= 1e6:
        return f"{sign}{v / 1e6:,.1f} M {currency}"
    return f"{sign}{v:,.0f} {currency}"


def number(value: float, digits: int = 1) -> str:
    """A number with thousands separators and ``digits`` decimals (none for large values)."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def years(value: float) -> str:
    """``3 years``, ``1 year``, ``2.5 years``."""
    return f"{value:g} year" + ("" if value == 1 else "s")


def power(mw: float) -> str:
    """``12.5 MW`` or ``350 kW`` (below 1 MW)."""
    return f"{mw:,.2f} MW" if abs(mw) >= 1 else f"{mw * 1e3:,.1f} kW"
