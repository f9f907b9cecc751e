"""Why no plan exists: an elastic filter over the constraint families.

When the MILP is infeasible we solve it again with a slack on every row of the
families that express *rules and limits* — supply rules, each site's expansion
limit (the power it may reach), budget, carbon, green share — and minimise the sum
of slacks, each as a fraction of its limit (:func:`suanli.plan.milp.build` with
``elastic=``). The slacks that stay positive name the constraints that conflict
with the demand and by how much each would have to give; when several families
give, each is also tried alone. A last elastic solve keeps the rules and relaxes
the demand instead: it says how much of each class the rules allow at most.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.errors import SuanliError
from suanli.plan import fmt
from suanli.plan.instance import PlanInstance
from suanli.plan.lp import DEFAULT_MIP_GAP, solve_milp
from suanli.plan.milp import MONEY, build

RULE_FAMILIES = ("supply", "expansion", "budget", "carbon", "green")
TOL = 1e-4  # slacks below this share of their limit are solver noise, not relaxations


@dataclass(frozen=True, slots=True)
class Relaxation:
    """One constraint that would have to give, by ``amount`` of ``unit``."""

    family: str
    key: str
    amount: float
    unit: str
    sentence: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why no plan exists.

    ``rules``: the smallest combined relaxation of the limits that allows a plan;
    ``alone``: relaxations of a single family of limits that would be enough by
    themselves; ``demand``: how much of each class the limits allow at most.
    """

    rules: tuple[Relaxation, ...]
    demand: tuple[Relaxation, ...]
    alone: tuple[Relaxation, ...] = ()

    def text(self) -> str:
        """The explanation as a paragraph of sentences."""
        lines = ["no plan meets every constraint."]
        if self.rules:
            lines.append(
                "The demand conflicts with these limits; the smallest change that allows a plan:"
            )
            lines += [f"  - {r.sentence}" for r in self.rules]
        if self.alone:
            lines.append("Any one of these changes alone would also allow a plan:")
            lines += [f"  - {r.sentence}" for r in self.alone]
        if self.demand:
            lines.append("Keeping every limit, at most this much demand can be met:")
            lines += [f"  - {r.sentence}" for r in self.demand]
        if not self.rules and not self.demand:
            lines.append("The solver found no relaxation either; check the inputs for conflicts.")
        return "\n".join(lines)


class PlanInfeasibleError(SuanliError):
    """No plan satisfies the inputs; ``explanation`` says which constraints conflict."""

    def __init__(self, name: str, explanation: Explanation) -> None:
        self.explanation = explanation
        super().__init__(f"plan {name!r}: {explanation.text()}")


def explain(inst: PlanInstance, objective: str, time_limit_s: float = 60.0) -> Explanation:
    """Which limits must give (and by how much) for ``inst`` to have a plan."""
    rules = _relaxations(inst, objective, RULE_FAMILIES, time_limit_s)
    if rules is None:
        rules = (
            Relaxation(
                "none",
                "",
                0.0,
                "",
                "no relaxation of supply, power, budget, carbon or green limits is enough: "
                "some demand can only run on accelerators that are neither in place nor for sale "
                "at the sites it may use (check accepted stacks and types, latency bounds, "
                "candidates and prices)",
            ),
        )
    alone: list[Relaxation] = []
    families = list(dict.fromkeys(r.family for r in rules if r.family in RULE_FAMILIES))
    if len(families) > 1:
        for family in families:
            alone += _relaxations(inst, objective, (family,), time_limit_s) or ()
    demand: tuple[Relaxation, ...] = ()
    if objective == "min-cost":
        demand = _relaxations(inst, objective, ("demand",), time_limit_s) or ()
    return Explanation(rules, demand, tuple(alone))


def _relaxations(
    inst: PlanInstance, objective: str, families: tuple[str, ...], time_limit_s: float
) -> tuple[Relaxation, ...] | None:
    """Positive slacks of the elastic model (``None`` when even that has no solution)."""
    f = build(inst, objective, elastic=families)
    sol = solve_milp(f.model, time_limit_s=time_limit_s, mip_rel_gap=DEFAULT_MIP_GAP)
    if not sol.ok or sol.x is None:
        return None
    energy = sum(f.value(expr, sol.x) for expr in f.site_energy.values())
    out = []
    for i, j in sorted(f.slack.items()):
        amount = float(sol.x[j])
        row = f.model.rows[i]
        if amount <= TOL * max(1.0, row.scale):
            continue
        text = _sentence(inst, row.family, row.key, amount, energy)
        out.append(Relaxation(row.family, row.key, amount, row.unit, text))
    return tuple(out)


def _sentence(inst: PlanInstance, family: str, key: str, amount: float, energy: float) -> str:
    cur = inst.currency
    if family == "supply":
        cap = next(c for c in inst.caps if c.label == key)
        if cap.kind == "ban":
            return f"the {key} would have to allow {amount:,.0f} units"
        return f"the {key} ({cap.units:,} units) would have to rise by {amount:,.0f} units"
    if family == "expansion":
        site = next(s for s in inst.sites if s.id == key)
        return (
            f"site {key} would need {fmt.power(amount)} more power than its "
            f"{fmt.power(site.capacity_mw)} plus the {fmt.power(site.max_expansion_mw)} of "
            "expansion allowed"
        )
    if family == "budget":
        return (
            f"the {inst.budget_covers} budget of {fmt.money(inst.budget or 0.0, cur)} would have "
            f"to grow by {fmt.money(amount * MONEY, cur)}"
        )
    if family == "carbon":
        return (
            f"the carbon budget of {inst.carbon_budget_t or 0:,.0f} t CO₂ would have to grow "
            f"by {amount:,.1f} t"
        )
    if family == "green":
        target = inst.min_green_share or 0.0
        reached = target - amount / energy if energy > 0 else 0.0
        return (
            f"the green-power share would have to fall from {target:.0%} to {reached:.1%} "
            f"(green power available at the sites is too little)"
        )
    if family == "demand":
        cl = next(c for c in inst.classes if c.name == key)
        met = max(0.0, cl.demand_pflops - amount)
        return (
            f"class {key}: {fmt.number(met)} of {fmt.number(cl.demand_pflops)} PFLOP/s "
            f"({met / cl.demand_pflops:.0%})"
        )
    return f"{family} {key}: {amount:,.3g}"
