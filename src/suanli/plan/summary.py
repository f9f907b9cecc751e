"""Plan-wide figures: one flat row per plan, the lines shown of it, and their formats.

The rows are those of ``compare.csv`` and ``compare.json``. :func:`comparison_lines` says
which of their fields ``suanli plan --compare`` prints, and the plan page shows, in which
format; :func:`cell` writes one value in one of the four formats — ``money``
(:func:`suanli.plan.fmt.money`), ``int`` (thousands separators), ``pct`` (whole percent),
``num`` (one decimal). The plan page's script formats them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from suanli.plan import fmt
from suanli.plan.result import Plan, ShadowPrice

#: The formats of :func:`cell`.
FORMATS = ("money", "int", "pct", "num")

#: (label, key into a row, format) of the fixed lines of the comparison table.
COMPARISON_LINES: tuple[tuple[str, str, str], ...] = (
    ("total cost", "total_cost", "money"),
    ("capex", "capex", "money"),
    ("opex", "opex", "money"),
    ("new devices", "new_devices", "int"),
    ("domestic share of new", "domestic_share_new", "pct"),
    ("expansion MW", "expansion_mw", "num"),
    ("peak MW", "peak_mw", "num"),
    ("carbon kt CO₂", "carbon_kt", "num"),
)


def plan_rows(plans: Sequence[Plan]) -> list[dict[str, Any]]:
    """One flat record per plan; ``new_<vendor>`` for every vendor any of them buys."""
    vendors = sorted({v for p in plans for v in p.added_by("vendor")})
    rows = []
    for p in plans:
        t = p.totals
        by_vendor = p.added_by("vendor")
        row: dict[str, Any] = {
            "plan": p.name,
            "status": p.status,
            "total_cost": t.total_cost,
            "capex": t.capex,
            "opex": t.opex,
            "new_devices": t.new_devices,
            "domestic_share_new": p.domestic_share_added,
            "expansion_mw": t.expansion_mw,
            "peak_mw": sum(s.peak_mw for s in p.sites),
            "energy_gwh": t.energy_mwh / 1e3,
            "carbon_kt": t.carbon_t / 1e3,
            "delivered_pflops": t.delivered_pflops,
        }
        for v in vendors:
            row[f"new_{v}"] = by_vendor.get(v, 0)
        rows.append(row)
    return rows


def comparison_lines(row: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The lines of the comparison table: the fixed ones, then ``new <vendor>`` per vendor."""
    vendors = [k for k in row if k.startswith("new_") and k != "new_devices"]
    return [*COMPARISON_LINES, *((f"new {k[4:]}", k, "int") for k in vendors)]


def cell(value: float, kind: str, currency: str) -> str:
    """``value`` written in format ``kind`` (one of :data:`FORMATS`)."""
    if kind == "money":
        return fmt.money(value, currency)
    if kind == "pct":
        return f"{value:.0%}"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "num":
        return f"{value:,.1f}"
    raise ValueError(f"unknown format {kind!r}; valid: {', '.join(FORMATS)}")


def binding(plan: Plan) -> list[ShadowPrice]:
    """The binding constraints worth reporting: every shadow price but the demand classes'."""
    return [sp for sp in plan.shadow_prices if sp.family != "demand"]
