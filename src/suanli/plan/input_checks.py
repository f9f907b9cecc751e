"""Check planning inputs against the scenario and the catalog, collecting every problem.

:func:`check_file` looks at one file's own entries (so problems point at its lines):
every accelerator, profile, site, tenant and stack named exists; candidates have the
figures needed to model them. :func:`check_merged` looks at the merged inputs: there
is demand, every candidate has a price, currencies convert, and every demand class
can run somewhere — on an accelerator that offers an accepted stack or type, has an
efficiency for the work and the precision, at a site within its latency bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from suanli.config.yaml_lines import close_matches, format_path, line_of
from suanli.errors import Problem
from suanli.model.scenario import Scenario
from suanli.plan.instance import allowed_sites, class_speed, profile_speed, type_ids
from suanli.plan.schema import PlanningFile

Lines = dict[tuple[str | int, ...], int]
Path = tuple[str | int, ...]


class _Collector:
    """Problems found in one file, each with its line."""

    def __init__(self, source: str, lines: Lines) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str, hint: str = "") -> None:
        self.problems.append(
            Problem(self.source, format_path(path), message, hint, line_of(self.lines, path))
        )

    def ref(self, path: Path, name: str, valid: Iterable[str], what: str) -> bool:
        valid = list(valid)
        if name in valid:
            return True
        self.add(path, f"unknown {what} {name!r}", close_matches(name, valid))
        return False


def check_file(pf: PlanningFile, source: str, lines: Lines, scenario: Scenario) -> list[Problem]:
    """Problems with the names one planning file uses."""
    out = _Collector(source, lines)
    catalog = scenario.catalog
    sites = [s.id for s in scenario.sites]
    stacks = sorted({a.stack for a in catalog.values()})
    for i, acc_id in enumerate(pf.candidates):
        if out.ref(("candidates", i), acc_id, catalog, "accelerator"):
            missing = catalog[acc_id].missing_for_pools()
            if missing:
                out.add(
                    ("candidates", i),
                    f"{acc_id} lacks {', '.join(missing)}, needed to plan with it",
                    f"set them under catalog.overrides.{acc_id} in the scenario (with sources), "
                    "or drop the candidate",
                )
    for acc_id in pf.prices:
        out.ref(("prices", acc_id), acc_id, catalog, "accelerator")
    for i, t in enumerate(pf.import_tariffs):
        for a in t.accelerators:
            out.ref(("import_tariffs", i, "accelerators"), a, catalog, "accelerator")
    for i, rule in enumerate(pf.supply):
        for a in rule.accelerators:
            out.ref(("supply", i, "accelerators"), a, catalog, "accelerator")
    for site_id in pf.sites:
        out.ref(("sites", site_id), site_id, sites, "site")
    if "reference_accelerator" in pf.model_fields_set:
        out.ref(("reference_accelerator",), pf.reference_accelerator, catalog, "accelerator")
    tenants = [t.id for t in scenario.tenants]
    for i, cls in enumerate(pf.classes):
        path: Path = ("classes", i)
        if cls.remove:
            continue
        out.ref((*path, "profile"), cls.profile, scenario.profiles, "profile")
        for a in cls.accepted_types:
            out.ref((*path, "accepted_types"), a, catalog, "accelerator")
        for s in cls.accepted_stacks:
            if s not in stacks:
                out.add(
                    (*path, "accepted_stacks"),
                    f"no accelerator in the catalog offers software stack {s!r}",
                    close_matches(s, stacks),
                )
        if cls.users_near is not None:
            out.ref((*path, "users_near"), cls.users_near, sites, "site")
        if cls.demand.reference is not None:
            out.ref((*path, "demand", "reference"), cls.demand.reference, catalog, "accelerator")
        if cls.jobs is not None:
            out.ref((*path, "jobs", "tenant"), cls.jobs.tenant, tenants, "tenant")
    return out.problems


def check_merged(pf: PlanningFile, source: str, lines: Lines, scenario: Scenario) -> list[Problem]:
    """Problems with the merged inputs as a whole."""
    out = _Collector(source, lines)
    catalog = scenario.catalog
    if not pf.classes:
        out.add(("classes",), "no demand classes", "add at least one entry under classes:")
    for c in _currencies(pf):
        if c != scenario.currency and c not in pf.currency_rates:
            out.add(
                ("currency_rates",),
                f"no rate to turn {c} into {scenario.currency}",
                f"add currency_rates: {{{c}: {{rate: …, source: …}}}}",
            )
    for i, acc_id in enumerate(pf.candidates):
        acc = catalog.get(acc_id)
        if acc is not None and acc_id not in pf.prices and acc.price_usd is None:
            out.add(
                ("candidates", i),
                f"candidate {acc_id} has no price (the catalog has none)",
                f"add prices: {{{acc_id}: {{amount: …, currency: USD, source: …}}}}",
            )
    ids = type_ids(scenario, pf)
    accs = [catalog[i] for i in ids]
    for i, cls in enumerate(pf.classes):
        path: Path = ("classes", i)
        profile = scenario.profiles[cls.profile]
        offered = {a.stack for a in accs}
        missing = [s for s in cls.accepted_stacks if s not in offered]
        if missing and not any(s in offered for s in cls.accepted_stacks):
            out.add(
                (*path, "accepted_stacks"),
                f"class {cls.name}: no pool in the fleet and no candidate offers stack "
                f"{', '.join(missing)}",
                "add a candidate accelerator of that stack, or widen accepted_stacks",
            )
            continue
        ref = catalog[cls.demand.reference or pf.reference_accelerator]
        if profile_speed(scenario, ref, profile) <= 0:
            out.add(
                (*path, "demand"),
                f"reference accelerator {ref.id} cannot run profile {cls.profile!r}",
                "give demand in pflops, or pick a reference that supports the profile",
            )
        usable = [a.id for a in accs if class_speed(scenario, cls, a, profile) > 0]
        if not usable:
            out.add(
                path,
                f"class {cls.name}: no accelerator in the fleet or among the candidates can run "
                f"profile {cls.profile!r} with stacks {cls.accepted_stacks or 'any'} and types "
                f"{cls.accepted_types or 'any'} (precision {', '.join(profile.precisions)})",
                "widen accepted_stacks/accepted_types or add a candidate that can",
            )
            continue
        reachable = _reachable(scenario, pf, usable, allowed_sites(scenario, cls))
        if not reachable:
            out.add(
                path,
                f"class {cls.name}: its accelerators ({', '.join(usable)}) are neither in a pool "
                "nor candidates at the sites within its latency bound",
                "add a candidate it can use, or raise max_latency_ms",
            )
    return out.problems


def _reachable(
    scenario: Scenario, pf: PlanningFile, usable: Sequence[str], sites: Sequence[bool]
) -> bool:
    for s, ok in zip(scenario.sites, sites, strict=True):
        if not ok:
            continue
        if any(p.accelerator in usable for p in s.pools) or any(c in usable for c in pf.candidates):
            return True
    return False


def _currencies(pf: PlanningFile) -> set[str]:
    out = {m.currency for m in pf.prices.values()}
    if any(c not in pf.prices for c in pf.candidates):
        out.add("USD")  # catalog list prices are in USD
    if pf.node_cost is not None:
        out.add(pf.node_cost.currency)
    if pf.budget is not None:
        out.add(pf.budget.currency)
    for sp in [pf.site_defaults, *pf.sites.values()]:
        if sp.expansion_cost_per_mw is not None:
            out.add(sp.expansion_cost_per_mw.currency)
    return out
