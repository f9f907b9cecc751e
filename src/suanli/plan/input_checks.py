"""Check planning inputs against the scenario and the catalog, collecting every problem.

:func:`check_file` looks at one file's own entries (so problems point at its lines):
every accelerator, profile, site, tenant and stack named exists; candidates have the
figures needed to model them. :func:`check_merged` looks at the merged inputs: there
is demand, every candidate has a price, currencies convert, and every demand class
can run somewhere — on an accelerator that offers an accepted stack or type, has an
efficiency for the work and the precision, at a site within its latency bound. A class
naming an online inference service (``service``) must name a service of the scenario,
once, and every user region of it with demand must be servable: some type the service
and the class accept, in a pool or among the candidates at a site within the region's
latency bound, meets the SLO at the region's peak.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from suanli.config.yaml_lines import close_matches, format_path, line_of
from suanli.errors import Problem
from suanli.model.scenario import Scenario
from suanli.model.service import ReplicaShape
from suanli.plan.instance import (
    allowed_sites,
    class_speed,
    profile_speed,
    service_accepted,
    service_headroom,
    type_able,
    type_ids,
)
from suanli.plan.schema import DemandClass, PlanningFile
from suanli.plan.service_demand import service_of, shapes_for, size_service

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
        if cls.service is not None:
            out.ref((*path, "service"), cls.service, [s.id for s in scenario.services], "service")
        if cls.profile is not None:
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
        if cls.demand is not None and cls.demand.reference is not None:
            out.ref((*path, "demand", "reference"), cls.demand.reference, catalog, "accelerator")
        if cls.jobs is not None:
            out.ref((*path, "jobs", "tenant"), cls.jobs.tenant, tenants, "tenant")
    return out.problems


def check_merged(
    pf: PlanningFile,
    source: str,
    lines: Lines,
    scenario: Scenario,
    service_shapes: Mapping[str, tuple[ReplicaShape, ...]] | None = None,
) -> list[Problem]:
    """Problems with the merged inputs as a whole (``service_shapes``: the services'
    shapes as the scenario's YAML gives them)."""
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
    named: dict[str, str] = {}
    for i, cls in enumerate(pf.classes):
        path: Path = ("classes", i)
        if cls.service is not None:
            if cls.service in named:
                out.add(
                    (*path, "service"),
                    f"service {cls.service!r} is already planned by class {named[cls.service]}",
                    "plan each service in one class",
                )
                continue
            named[cls.service] = cls.name
            _check_service(out, path, cls, scenario, pf, service_shapes)
            continue
        assert cls.profile is not None and cls.demand is not None
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


def _check_service(
    out: _Collector,
    path: Path,
    cls: DemandClass,
    scenario: Scenario,
    pf: PlanningFile,
    service_shapes: Mapping[str, tuple[ReplicaShape, ...]] | None,
) -> None:
    """Every region of the service with demand can be served by some type in reach."""
    assert cls.service is not None
    svc = service_of(scenario, cls.service)
    if svc is None:
        return
    ids = type_ids(scenario, pf)
    accs = [scenario.catalog[i] for i in ids]
    accepted = service_accepted(cls, accs)
    if not any(accepted):
        out.add(
            path,
            f"class {cls.name}: no accelerator in the fleet or among the candidates has stacks "
            f"{cls.accepted_stacks or 'any'} and types {cls.accepted_types or 'any'}",
            "widen accepted_stacks/accepted_types or add a candidate",
        )
        return
    shapes = shapes_for(service_shapes, svc)
    sizing = size_service(
        scenario,
        svc,
        accs,
        type_able(scenario, pf, ids),
        shapes,
        accepted,
        service_headroom(cls),
    )
    for rs in sizing:
        if rs.peak_rps <= 0 or any(rs.devices):
            continue
        types = [a.id for a, n in zip(accs, rs.per_replica, strict=True) if n > 0]
        bound = next(sr.max_latency_ms for sr in svc.regions if sr.region == rs.region)
        if not types:
            why = (
                "none of the types it accepts ("
                + (", ".join(sh.accelerator for sh in shapes) or "any")
                + ") is in a pool or among the candidates and can hold its model"
            )
            hint = "add a candidate accelerator the service accepts"
        else:
            why = (
                f"no site within {bound:g} ms of the region has or may buy "
                f"{', '.join(types)}, or none of them meets the SLO there"
            )
            hint = "add a candidate the service accepts, or raise the region's max_latency_ms"
        out.add(
            (*path, "service"),
            f"class {cls.name}: service {svc.id} cannot serve region {rs.region} "
            f"(peak {rs.peak_rps:,.1f} requests/s): {why}",
            hint,
        )


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
