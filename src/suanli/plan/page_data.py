"""The plan data document: everything the plan page (:mod:`suanli.plan.html`) draws.

One JSON object, for one plan (``suanli plan --out``) or for plans compared
(``suanli plan --compare --out``). Amounts are in ``currency`` over each plan's horizon,
power in MW, energy in MWh (GWh in ``summary``), carbon in t CO₂ (kt in ``summary``);
``null`` stands for "none" (and for a figure that is not a finite number).

* ``format``, ``version``, ``kind`` — ``"suanli-plan-data"``, ``1``, ``"plan"`` or
  ``"comparison"``
* ``title`` — the page's title
* ``currency`` — the first plan's currency
* ``vendors[]`` — every vendor in the plans' pools, sorted; the charts colour vendors in
  this order
* ``headline[]`` — the totals shown for the selected plan: ``label``, ``path`` (dotted, into
  a ``plans[]`` entry), ``format`` (``money``, ``int``, ``pct`` or ``num``, as
  :func:`suanli.plan.summary.cell` writes them)
* ``comparison_rows[]`` — the lines of the side-by-side table, those ``suanli plan
  --compare`` prints: ``label``, ``key`` (into a plan's ``summary``), ``format``
* ``plans[]`` — one entry per plan, in the order given:

  * ``name`` — the plan's name
  * ``plan`` — the plan's record: the content of its ``plan.json``
    (:func:`suanli.plan.output.plan_record`: totals, pools, sites, classes, shadow prices,
    notes, model size, status, inputs)
  * ``summary`` — the plan's flat row, as in ``compare.json``
    (:func:`suanli.plan.summary.plan_rows`)
  * ``domestic_share`` — site → share of the site's devices after the plan that are
    domestic (``null``: the site has none)
  * ``binding[]`` — the binding constraints in words, the sentences the CLI prints
  * ``page`` — in a comparison, the plan's own page relative to this one
    (``<name>/index.html``, the name URL-quoted); ``null`` in a plan's own document
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from suanli.plan.output import clean, plan_record
from suanli.plan.result import Plan
from suanli.plan.summary import binding, comparison_lines, plan_rows

FORMAT = "suanli-plan-data"
VERSION = 1

#: (label, dotted path into a ``plans[]`` entry, format) of the headline totals.
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("total cost", "plan.totals.total_cost", "money"),
    ("capex", "plan.totals.capex", "money"),
    ("opex", "plan.totals.opex", "money"),
    ("new devices", "plan.totals.new_devices", "int"),
    ("retired devices", "plan.totals.retired_devices", "int"),
    ("domestic share of new", "plan.totals.domestic_share_added", "pct"),
    ("demand PFLOP/s", "plan.totals.demand_pflops", "num"),
    ("delivered PFLOP/s", "plan.totals.delivered_pflops", "num"),
    ("grid expansion MW", "plan.totals.expansion_mw", "num"),
    ("peak MW", "summary.peak_mw", "num"),
    ("energy GWh", "summary.energy_gwh", "num"),
    ("carbon kt CO₂", "summary.carbon_kt", "num"),
)


def domestic_share(plan: Plan) -> dict[str, float | None]:
    """Site → domestic share of its devices after the plan (``None``: no devices)."""
    out: dict[str, float | None] = {}
    for s in plan.sites:
        pools = [p for p in plan.pools if p.site == s.site]
        total = sum(p.total for p in pools)
        out[s.site] = sum(p.total for p in pools if p.domestic) / total if total else None
    return out


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _document(
    kind: str,
    title: str,
    plans: Sequence[Plan],
    inputs: Sequence[dict[str, Any] | None],
) -> dict[str, Any]:
    if not plans or len(inputs) != len(plans):
        raise ValueError("a plan document needs at least one plan and one inputs entry per plan")
    rows = plan_rows(plans)
    entries = [
        {
            "name": p.name,
            "plan": plan_record(p, given),
            "summary": row,
            "domestic_share": domestic_share(p),
            "binding": [sp.sentence for sp in binding(p)],
            "page": f"{quote(p.name)}/index.html" if kind == "comparison" else None,
        }
        for p, given, row in zip(plans, inputs, rows, strict=True)
    ]
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "title": title,
        "currency": plans[0].currency,
        "vendors": sorted({pool.vendor for p in plans for pool in p.pools}),
        "headline": [{"label": a, "path": b, "format": c} for a, b, c in HEADLINE],
        "comparison_rows": [
            {"label": a, "key": b, "format": c} for a, b, c in comparison_lines(rows[0])
        ],
        "plans": entries,
    }
    return dict(_finite(clean(doc)))


def plan_document(plan: Plan, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document of one plan; ``inputs`` as in its ``plan.json``."""
    return _document("plan", f"plan {plan.name}", [plan], [inputs])


def comparison_document(
    plans: Sequence[Plan], inputs: Sequence[dict[str, Any] | None] | None = None
) -> dict[str, Any]:
    """The document of plans compared (each plan's ``inputs`` as in its ``plan.json``)."""
    given = list(inputs) if inputs is not None else [None] * len(plans)
    names = " · ".join(p.name for p in plans)
    return _document("comparison", f"plans compared: {names}", plans, given)
