r"""The capacity-planning MILP, written over a :class:`~suanli.plan.instance.PlanInstance`.

Sets: sites :math:`s`, accelerator types :math:`a`, demand classes :math:`c`;
:math:`K` the triples :math:`(s,a,c)` where type *a* can run class *c*
(:math:`\sigma_{ac} > 0`) at a site the class may use, and site *s* has or may buy *a*.

Data: :math:`N^0_{sa}` devices in place; :math:`d_a` devices per node; list price
with tariff :math:`p_a` and node cost :math:`q`; TDP :math:`W_a` and idle power
:math:`w_a` (W); power factor :math:`f_c` and utilisation :math:`u_c`; speed
:math:`\sigma_{ac}` (PFLOP/s per device); demand :math:`D_c` (PFLOP/s); smallest pool
:math:`m_{ac}`; site PUE :math:`\eta_s`, capacity :math:`C_s` (MW), oversubscription
:math:`o_s`, expansion limit :math:`\bar E_s` and cost :math:`\kappa_s` per MW; energy
price :math:`\pi_{sa}` per kWh (after subsidies for type *a*), carbon intensity
:math:`\iota_s` (t/MWh), green share available :math:`\gamma_s` at premium
:math:`\rho_s` per kWh; opex hours :math:`H`; supply rules :math:`r` with types
:math:`A_r` and limit :math:`U_r`; budget :math:`B`; carbon budget :math:`\bar Z`;
minimum green share :math:`\bar\gamma`.

Variables: :math:`n_{sa} \in \mathbb{Z}_+` nodes bought, :math:`\nu_{sa} \in
\mathbb{Z}_+` nodes retired (when allowed, :math:`\nu_{sa} \le N^0_{sa}/d_a`),
:math:`x_{sac} \ge 0` devices serving *c* (a fluid share of the pool),
:math:`z_{sam} \in \{0,1\}` (the pool of *a* at *s* holds at least *m* devices,
for each smallest pool :math:`m = m_{ac} > d_a` some class needs; classes with the
same threshold share it), :math:`e_s \ge 0` MW of expansion, :math:`g_s \ge 0` MWh of
green power bought, :math:`y_c \ge 0` compute delivered (max-compute only).

Devices and energy (MWh over the horizon):

.. math::

    N_{sa} = N^0_{sa} + d_a n_{sa} - d_a \nu_{sa}, \qquad
    E_{sa} = \frac{H \eta_s}{10^6}\Big( w_a N_{sa}
             + \sum_c u_c (W_a f_c - w_a)\, x_{sac} \Big), \qquad E_s = \sum_a E_{sa}.

Constraints:

.. math::

    \sum_c x_{sac} &\le N_{sa} && \text{(allocation)}\\
    \sum_{(s,a): (s,a,c) \in K} u_c \sigma_{ac} x_{sac} &\ge D_c && \text{(demand)}\\
    \tfrac{\eta_s}{10^6} \sum_a W_a N_{sa} &\le o_s (C_s + e_s) && \text{(peak power)}\\
    E_s / H &\le C_s + e_s && \text{(average power)}\\
    e_s &\le \bar E_s && \text{(expansion)}\\
    \sum_{s}\sum_{a \in A_r} d_a n_{sa} &\le U_r && \text{(supply rule r: ban, cap)}\\
    x_{sac} \le \bar x_{sac} z_{s,a,m_{ac}}, \quad m\, z_{sam} &\le N_{sa},
    \quad z_{sam'} \le z_{sam}\ (m' > m) && \text{(memory fit)}\\
    \mathrm{CAPEX}\ [+\ \mathrm{OPEX}] &\le B && \text{(budget)}\\
    \textstyle\sum_s \iota_s (E_s - g_s) &\le \bar Z && \text{(carbon)}\\
    g_s \le \gamma_s E_s, \quad \textstyle\sum_s g_s &\ge \bar\gamma \sum_s E_s && \text{(green)}

with :math:`\bar x_{sac} = \min(\bar N_{sa}, D_c / (u_c \sigma_{ac}))`, where
:math:`\bar N_{sa}` is the most devices of *a* the site could power (also the upper
bound of :math:`x_{sac}`: never more devices than serve the whole class alone). Costs:

.. math::

    \mathrm{CAPEX} = \sum_{sa} n_{sa}(d_a p_a + q) + \sum_s \kappa_s e_s, \qquad
    \mathrm{OPEX} = \sum_{sa} \pi_{sa} E_{sa} \cdot 10^3
                  + \sum_s \rho_s g_s \cdot 10^3 + \varpi \sum_s \iota_s (E_s - g_s),

with :math:`\varpi` the carbon price per tonne. Objectives: **min-cost** minimises
CAPEX + OPEX with demand as above. **max-compute** replaces the demand rows by
:math:`\sum u_c \sigma_{ac} x_{sac} \ge y_c`, :math:`y_c \le D_c` and maximises
:math:`\sum_c \omega_c y_c` within the budget; a second solve then minimises cost
among plans delivering that compute (lexicographic). Money is scaled to millions in the model.

The *elastic* variant (``elastic=`` a set of families) adds a slack column to every
row of those families, so that any instance is feasible, and minimises the sum of
slacks, each divided by its row's scale (so violations are compared as fractions);
:mod:`suanli.plan.explain` turns the slacks into sentences.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from suanli.plan.instance import PlanInstance
from suanli.plan.lp import INF, ColInfo, Model, ModelBuilder, RowInfo

MONEY = 1e6  #: model money unit (millions of the scenario currency)

#: Row families that the elastic filter may relax.
ELASTIC_FAMILIES: frozenset[str] = frozenset(
    {"demand", "power", "avg_power", "expansion", "supply", "budget", "carbon", "green"}
)


Linear = tuple[dict[int, float], float]  # coefficients, constant


@dataclass(frozen=True, eq=False)
class Formulation:
    """A built model and the maps from decisions to its columns.

    ``n``/``retire`` by ``(s, a)``, ``x`` by ``(s, a, c)``, ``z`` by ``(s, a, smallest
    pool)``, ``e``/``g`` by site,
    ``y`` by class; ``slack`` by row (elastic only). ``cost`` (millions) and
    ``site_energy`` (MWh over the horizon) are linear expressions over the columns.
    """

    model: Model
    inst: PlanInstance
    objective: str
    n: dict[tuple[int, int], int]
    retire: dict[tuple[int, int], int]
    x: dict[tuple[int, int, int], int]
    z: dict[tuple[int, int, int], int]
    e: dict[int, int]
    g: dict[int, int]
    y: dict[int, int]
    slack: dict[int, int]
    cost: Linear
    site_energy: dict[int, Linear]

    def value(self, expr: Linear, x: np.ndarray) -> float:
        """Value of a linear expression at solution ``x``."""
        coefs, const = expr
        return const + sum(v * float(x[j]) for j, v in coefs.items())


def _add(target: dict[int, float], coefs: dict[int, float], k: float = 1.0) -> None:
    for j, v in coefs.items():
        target[j] = target.get(j, 0.0) + k * v


def _device_bounds(inst: PlanInstance, loose: bool) -> dict[tuple[int, int], int]:
    """Most devices per (site, type): what the site can power, or (``loose``, for the
    elastic filter) enough to serve every class alone."""
    out = {}
    for s in range(len(inst.sites)):
        for a, t in enumerate(inst.types):
            bound = inst.max_devices(s, a)
            if loose:
                need = sum(
                    cl.demand_pflops / (cl.utilisation * cl.speed[a])
                    for cl in inst.classes
                    if cl.speed[a] > 0
                )
                need = max(need, max((cl.min_pool[a] for cl in inst.classes), default=0))
                nodes = math.ceil(need / t.devices_per_node) + 1
                bound = max(bound, inst.existing[s][a] + nodes * t.devices_per_node)
            out[s, a] = bound
    return out


def build(
    inst: PlanInstance,
    objective: str = "min-cost",
    *,
    elastic: Iterable[str] = (),
    compute_floor: float | None = None,
) -> Formulation:
    """The model of ``inst`` for ``objective`` (``min-cost`` or ``max-compute``).

    ``compute_floor`` turns max-compute into its second stage: minimise cost subject to
    delivering at least that weighted compute. ``elastic`` names row families to relax.
    """
    relax = frozenset(elastic)
    b = ModelBuilder()
    S, A, C = range(len(inst.sites)), range(len(inst.types)), range(len(inst.classes))
    bound = _device_bounds(inst, loose=bool(relax & {"power", "avg_power", "expansion"}))
    n: dict[tuple[int, int], int] = {}
    retire: dict[tuple[int, int], int] = {}
    for s in S:
        for a in A:
            t, n0 = inst.types[a], inst.existing[s][a]
            if t.candidate and t.unit_price is not None:
                ub = (bound[s, a] - n0) // t.devices_per_node
                if ub > 0:
                    n[s, a] = b.col(ColInfo("new", (s, a)), 0, ub, integer=True)
            if inst.allow_retirement and n0 > 0:
                retire[s, a] = b.col(
                    ColInfo("retire", (s, a)), 0, n0 // t.devices_per_node, integer=True
                )

    def devices(s: int, a: int) -> Linear:
        d = inst.types[a].devices_per_node
        coefs: dict[int, float] = {}
        if (s, a) in n:
            coefs[n[s, a]] = d
        if (s, a) in retire:
            coefs[retire[s, a]] = -d
        return coefs, float(inst.existing[s][a])

    present = {(s, a) for s in S for a in A if inst.existing[s][a] > 0 or (s, a) in n}
    x: dict[tuple[int, int, int], int] = {}
    x_ub: dict[tuple[int, int, int], float] = {}
    z: dict[tuple[int, int, int], int] = {}  # (s, a, smallest pool) -> binary
    gated: dict[tuple[int, int, int], int] = {}  # (s, a, c) -> smallest pool it needs
    for c in C:
        cl = inst.classes[c]
        for s in S:
            if not cl.allowed_sites[s]:
                continue
            for a in A:
                if cl.speed[a] <= 0 or (s, a) not in present:
                    continue
                # never more devices than it takes to serve the whole class alone
                alone = cl.demand_pflops / (cl.utilisation * cl.speed[a])
                x_ub[s, a, c] = min(float(bound[s, a]), alone)
                x[s, a, c] = b.col(ColInfo("alloc", (s, a, c)), ub=x_ub[s, a, c])
                need = cl.min_pool[a]
                if need > inst.types[a].devices_per_node and (
                    inst.existing[s][a] < need or (s, a) in retire
                ):
                    if (s, a, need) not in z:  # classes with the same threshold share it
                        z[s, a, need] = b.col(ColInfo("fits", (s, a, need)), 0, 1, integer=True)
                    gated[s, a, c] = need
    e = {s: b.col(ColInfo("expand", (s,))) for s in S}
    # green power is a purchase the plan weighs wherever a site offers it, constraint or
    # not: with a carbon price it can be cheaper than the grid's
    g = {s: b.col(ColInfo("green", (s,))) for s in S if inst.sites[s].green_max_share > 0}
    y = {c: b.col(ColInfo("delivered", (c,))) for c in C} if objective == "max-compute" else {}

    # energy per (s, a) in MWh over the horizon
    energy: dict[tuple[int, int], Linear] = {}
    for s, a in sorted(present):
        site, t = inst.sites[s], inst.types[a]
        k = inst.opex_hours * site.pue / 1e6
        dev, dev0 = devices(s, a)
        coefs = {j: k * t.idle_w * v for j, v in dev.items()}
        for c in C:
            if (s, a, c) in x:
                cl = inst.classes[c]
                busy = cl.utilisation * (t.tdp_w * cl.power_factor - t.idle_w)
                coefs[x[s, a, c]] = coefs.get(x[s, a, c], 0.0) + k * busy
        energy[s, a] = coefs, k * t.idle_w * dev0
    site_energy: dict[int, Linear] = {}
    for s in S:
        coefs, const = {}, 0.0
        for (s2, _), (ec, e0) in energy.items():
            if s2 == s:
                _add(coefs, ec)
                const += e0
        site_energy[s] = coefs, const

    # costs (millions)
    capex: dict[int, float] = {}
    for (_, a), j in n.items():
        t = inst.types[a]
        assert t.unit_price is not None
        capex[j] = (t.devices_per_node * t.unit_price + t.node_cost) / MONEY
    for s, j in e.items():
        capex[j] = inst.sites[s].expansion_cost_per_mw / MONEY
    opex: dict[int, float] = {}
    opex0 = 0.0
    for (s, a), (ec, e0) in energy.items():
        price = inst.energy_price[s][a] * 1e3 / MONEY
        _add(opex, ec, price)
        opex0 += e0 * price
    for s, j in g.items():
        opex[j] = opex.get(j, 0.0) + inst.sites[s].green_premium_per_kwh * 1e3 / MONEY
    if inst.carbon_price_per_t > 0:  # t CO2 = (kg/kWh) x MWh
        for s in S:
            price = inst.sites[s].carbon_kg_per_kwh * inst.carbon_price_per_t / MONEY
            ec, e0 = site_energy[s]
            _add(opex, ec, price)
            opex0 += e0 * price
            if s in g:
                opex[g[s]] = opex.get(g[s], 0.0) - price
    cost: dict[int, float] = dict(capex)
    _add(cost, opex)

    def row(info: RowInfo, coefs: dict[int, float], lb: float = -INF, ub: float = INF) -> None:
        i = b.row(info, coefs, lb, ub)
        if info.family in relax:
            sign = -1.0 if ub < INF else 1.0
            j = b.col(ColInfo("slack", (i,)), cost=1.0 / max(info.scale, 1e-9))
            b.coef(i, j, sign)
            slack[i] = j

    slack: dict[int, int] = {}
    for s in S:
        for a in A:
            if (s, a) not in present:
                continue
            dev, dev0 = devices(s, a)
            coefs = {x[s, a, c]: 1.0 for c in C if (s, a, c) in x}
            _add(coefs, dev, -1.0)
            if coefs:
                row(
                    RowInfo("allocation", f"{inst.sites[s].id}/{inst.types[a].id}", "devices"),
                    coefs,
                    ub=dev0,
                )
            for c in C:
                if (s, a, c) in gated:
                    zj = z[s, a, gated[s, a, c]]
                    key = f"{inst.sites[s].id}/{inst.types[a].id}/{inst.classes[c].name}"
                    row(
                        RowInfo("fit", key, "devices"),
                        {x[s, a, c]: 1.0, zj: -x_ub[s, a, c]},
                        ub=0.0,
                    )
            needs = sorted(m for (s2, a2, m) in z if (s2, a2) == (s, a))
            for k, need in enumerate(needs):
                key = f"{inst.sites[s].id}/{inst.types[a].id}/{need}"
                fit = {z[s, a, need]: float(need)}
                _add(fit, dev, -1.0)
                row(RowInfo("fit", key, "devices"), fit, ub=dev0)
                if k:  # a pool that holds the larger gangs holds the smaller ones
                    row(
                        RowInfo("fit", key, "devices"),
                        {z[s, a, need]: 1.0, z[s, a, needs[k - 1]]: -1.0},
                        ub=0.0,
                    )
    for c in C:
        cl = inst.classes[c]
        coefs = {j: cl.utilisation * cl.speed[a] for (s, a, c2), j in x.items() if c2 == c}
        if objective == "max-compute":
            coefs[y[c]] = -1.0
            row(RowInfo("delivery", cl.name, "PFLOP/s"), coefs, lb=0.0)
            row(
                RowInfo("ceiling", cl.name, "PFLOP/s", cl.demand_pflops),
                {y[c]: 1.0},
                ub=cl.demand_pflops,
            )
        else:
            row(RowInfo("demand", cl.name, "PFLOP/s", cl.demand_pflops), coefs, lb=cl.demand_pflops)
    for s in S:
        site = inst.sites[s]
        coefs, const = {}, 0.0
        for a in A:
            if (s, a) in present:
                dev, dev0 = devices(s, a)
                w = site.pue * inst.types[a].tdp_w / 1e6
                _add(coefs, dev, w)
                const += w * dev0
        coefs[e[s]] = -site.oversubscription
        limit = site.oversubscription * site.capacity_mw
        row(
            RowInfo("power", site.id, "MW", limit + site.oversubscription * site.max_expansion_mw),
            coefs,
            ub=limit - const,
        )
        ec, e0 = site_energy[s]
        avg = {j: v / inst.opex_hours for j, v in ec.items()}
        avg[e[s]] = -1.0
        row(
            RowInfo("avg_power", site.id, "MW", site.capacity_mw + site.max_expansion_mw),
            avg,
            ub=site.capacity_mw - e0 / inst.opex_hours,
        )
        row(
            RowInfo("expansion", site.id, "MW", max(site.max_expansion_mw, 1.0)),
            {e[s]: 1.0},
            ub=site.max_expansion_mw,
        )
    for cap in inst.caps:
        coefs = {
            j: float(inst.types[a].devices_per_node) for (s, a), j in n.items() if a in cap.types
        }
        row(
            RowInfo("supply", cap.label, "units", max(cap.units, 1000.0)),
            coefs,
            ub=float(cap.units),
        )
    if inst.budget is not None:
        spend = dict(capex) if inst.budget_covers == "capex" else dict(cost)
        const = 0.0 if inst.budget_covers == "capex" else opex0
        row(
            RowInfo("budget", inst.budget_covers, "M", inst.budget / MONEY),
            spend,
            ub=inst.budget / MONEY - const,
        )
    if g or inst.min_green_share is not None:
        for s, j in g.items():
            ec, e0 = site_energy[s]
            share = inst.sites[s].green_max_share
            coefs = {k: -share * v for k, v in ec.items()}
            coefs[j] = 1.0
            row(RowInfo("green_supply", inst.sites[s].id, "MWh"), coefs, ub=share * e0)
    if inst.min_green_share is not None:
        gamma = inst.min_green_share
        coefs, const = {j: 1.0 for j in g.values()}, 0.0
        for s in S:
            ec, e0 = site_energy[s]
            _add(coefs, ec, -gamma)
            const += gamma * e0
        row(RowInfo("green", "share", "MWh", max(const, 1.0)), coefs, lb=const)
    if inst.carbon_budget_t is not None:
        coefs, const = {}, 0.0
        for s in S:
            ec, e0 = site_energy[s]
            iota = inst.sites[s].carbon_kg_per_kwh
            _add(coefs, ec, iota)
            const += iota * e0
            if s in g:
                coefs[g[s]] = coefs.get(g[s], 0.0) - iota
        row(
            RowInfo("carbon", "budget", "t", max(inst.carbon_budget_t, 1.0)),
            coefs,
            ub=inst.carbon_budget_t - const,
        )
    if compute_floor is not None:
        row(
            RowInfo("compute_floor", "stage-2", "PFLOP/s"),
            {y[c]: inst.classes[c].weight for c in C},
            lb=compute_floor,
        )

    if not relax:
        if objective == "max-compute" and compute_floor is None:
            for c, j in y.items():
                b.add_cost(j, -inst.classes[c].weight)
        else:
            for j, v in cost.items():
                b.add_cost(j, v)
            b.offset = opex0
    return Formulation(
        b.build(), inst, objective, n, retire, x, z, e, g, y, slack, (cost, opex0), site_energy
    )
