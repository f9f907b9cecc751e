"""Check a parsed scenario file against itself and the catalog, and build the model.

Pydantic has already checked shapes and ranges; this pass checks references and
physics, collecting *every* problem (not just the first) with its field path:

* ids are unique; every reference (accelerator, site, tenant, profile, data set) exists;
* an accelerator placed in a pool has compute, memory and power figures;
* pools come in whole nodes, and a site can power its pools at full load
  (facility power Σ count·TDP·PUE ≤ capacity × ``max_power_oversubscription``);
* time-of-use periods do not overlap (on a kind of day); series files cover the horizon;
* site time zones exist; every price not in the scenario's currency has an exchange
  rate (prices are converted into the scenario's currency here, once);
* every generated job class has at least one pool it can run on;
* services and user regions (:mod:`suanli.config.services`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import ValidationError

from suanli.catalog import SOURCE_GROUPS, AcceleratorEntry, entry_problems
from suanli.config import schema as S
from suanli.config.series import read_hourly_series
from suanli.config.services import build_regions, build_services
from suanli.config.yaml_lines import close_matches, format_path, line_of
from suanli.errors import Problem
from suanli.model.accelerator import Accelerator
from suanli.model.fleet import (
    CarbonIntensity,
    Dataset,
    Failure,
    HourlySeries,
    Link,
    Pool,
    PowerSaving,
    Quota,
    Site,
    Subsidy,
    Tariff,
    Tenant,
)
from suanli.model.job import JobKind, WorkloadProfile
from suanli.model.scenario import (
    Distribution,
    Efficiency,
    GeneratorSpec,
    JobClass,
    Scenario,
    TraceSpec,
)
from suanli.perf.power import idle_site_power_mw, peak_site_power_mw
from suanli.perf.serving import SERVING_PROFILE

PathT = tuple[str | int, ...]

#: Values of ``workload.trace.format`` (kept in step with :mod:`suanli.trace.sources`).
TRACE_FORMATS: tuple[str, ...] = ("suanli", "philly", "openb", "pollux", "tiresias")


#: Most jobs a scenario's generator may make (docs/scenario-format.md, "Limits").
MAX_GENERATED_JOBS = 5_000_000
#: Memory a simulated job takes, about: 1M jobs peak at 1.2 GB (docs/benchmarks.md).
BYTES_PER_JOB = 1_300


class Builder:
    """Turns a :class:`ScenarioConfig` into a :class:`Scenario`, collecting problems."""

    def __init__(
        self,
        cfg: S.ScenarioConfig,
        catalog: Mapping[str, Accelerator],
        defaults: S.PerfDefaults | None,
        source: str,
        base_dir: Path,
        lines: dict[PathT, int],
    ) -> None:
        self.cfg = cfg
        self.base_catalog = catalog
        self.defaults = defaults
        self.source = source
        self.base_dir = base_dir
        self.lines = lines
        self.problems: list[Problem] = []

    # -- helpers -------------------------------------------------------------------------
    def problem(self, path: Sequence[str | int], message: str, hint: str = "") -> None:
        """Record a problem at ``path`` in the file."""
        self.problems.append(
            Problem(self.source, format_path(path), message, hint, line_of(self.lines, path))
        )

    def check_ref(self, path: PathT, name: str, valid: Iterable[str], what: str) -> bool:
        """Record a problem unless ``name`` is one of ``valid``."""
        valid = list(valid)
        if name in valid:
            return True
        self.problem(path, f"unknown {what} {name!r}", close_matches(name, valid))
        return False

    def unique(self, path: PathT, ids: Sequence[str], what: str) -> None:
        """Record duplicates among ``ids`` (elements of the list at ``path``)."""
        seen: set[str] = set()
        for i, x in enumerate(ids):
            if x in seen:
                self.problem((*path, i, "id"), f"duplicate {what} id {x!r}", "ids must be unique")
            seen.add(x)

    # -- build ---------------------------------------------------------------------------
    def build(self) -> Scenario | None:
        """The scenario, or ``None`` when problems were found (see ``self.problems``)."""
        cfg = self.cfg
        catalog = self.build_catalog()
        self.check_exchange_rates()
        sites = [s for i, sc in enumerate(cfg.sites) if (s := self.build_site(i, sc, catalog))]
        self.unique(("sites",), [s.id for s in cfg.sites], "site")
        site_ids = [s.id for s in cfg.sites]
        links = self.build_links(site_ids)
        datasets = self.build_datasets(site_ids)
        tenants = self.build_tenants(catalog, site_ids)
        profiles = self.build_profiles()
        efficiency = self.build_efficiency(catalog)
        failures = self.build_failures(cfg.sites)
        workload = self.build_workload(catalog, sites, tenants, profiles, efficiency, datasets)
        regions = build_regions(self, cfg.user_regions, site_ids)
        link = _link_finder(links)
        services = build_services(self, cfg.services, catalog, sites, tenants, regions, link)
        if services:  # replicas run under the serving profile in the scheduling core
            if SERVING_PROFILE.id in cfg.profiles:
                self.problem(
                    ("profiles", SERVING_PROFILE.id),
                    f"the profile name {SERVING_PROFILE.id!r} is kept for service replicas",
                    "rename the profile",
                )
            profiles[SERVING_PROFILE.id] = SERVING_PROFILE
        carbon_price = self.build_carbon_price()
        if self.problems:
            return None
        return Scenario(
            name=cfg.name,
            description=cfg.description,
            country=cfg.country,
            currency=cfg.currency,
            start=cfg.horizon.start,
            hours=cfg.horizon.hours,
            catalog=catalog,
            sites=tuple(sites),
            links=tuple(links),
            datasets=tuple(datasets),
            tenants=tuple(tenants),
            profiles=profiles,
            efficiency=efficiency,
            workload=workload,
            failures=tuple(failures),
            policy_params={k: dict(v) for k, v in cfg.policies.items()},
            user_regions=tuple(regions),
            services=tuple(services),
            source=self.source,
            carbon_price_per_t=carbon_price,
            carbon_price_source=cfg.carbon_price.source if cfg.carbon_price else "",
        )

    def build_carbon_price(self) -> float:
        """The carbon price per tonne in the scenario's currency (0 without one)."""
        cp = self.cfg.carbon_price
        if cp is None:
            return 0.0
        rate = self.money_rate(("carbon_price", "currency"), cp.currency, "carbon price")
        return cp.per_t * (rate or 0.0)

    def build_catalog(self) -> dict[str, Accelerator]:
        """Built-in catalog with the scenario's overrides and additions."""
        catalog = dict(self.base_catalog)
        for acc_id, fields in self.cfg.catalog.overrides.items():
            path: PathT = ("catalog", "overrides", acc_id)
            if not self.check_ref(path, acc_id, catalog, "accelerator"):
                continue
            base = _entry_dict(catalog[acc_id])
            sources = dict(base["sources"])
            for f in fields:
                for group, members in SOURCE_GROUPS.items():
                    if f in members and "sources" not in fields:
                        sources[group] = f"override in {self.source}"
            merged = {**base, "sources": sources, **fields}
            entry = self._validate_entry(merged, path)
            if entry is not None:
                catalog[acc_id] = entry.to_model()
        for i, added in enumerate(self.cfg.catalog.add):
            path = ("catalog", "add", i)
            for p in entry_problems(added, self.source, format_path(path)):
                self.problems.append(replace(p, line=line_of(self.lines, path)))
            if added.id in catalog:
                self.problem(
                    (*path, "id"),
                    f"accelerator {added.id!r} is already in the catalog",
                    "use catalog.overrides to change it, or pick a new id",
                )
            catalog[added.id] = added.to_model()
        return catalog

    def _validate_entry(self, data: dict[str, Any], path: PathT) -> AcceleratorEntry | None:
        try:
            return AcceleratorEntry.model_validate(data)
        except ValidationError as exc:
            for e in exc.errors():
                self.problem((*path, *e["loc"]), e["msg"], "fix the override value")
            return None

    def build_site(
        self, i: int, sc: S.SiteConfig, catalog: Mapping[str, Accelerator]
    ) -> Site | None:
        """One site with its pools, tariff and carbon series."""
        path: PathT = ("sites", i)
        pools: list[Pool] = []
        seen: set[str] = set()
        for j, pc in enumerate(sc.pools):
            ppath = (*path, "pools", j)
            if not self.check_ref((*ppath, "accelerator"), pc.accelerator, catalog, "accelerator"):
                continue
            acc = catalog[pc.accelerator]
            missing = acc.missing_for_pools()
            if missing:
                self.problem(
                    (*ppath, "accelerator"),
                    f"{acc.id} lacks {', '.join(missing)}, needed to model it in a pool",
                    f"set them under catalog.overrides.{acc.id} (with sources)",
                )
                continue
            if pc.accelerator in seen:
                self.problem(
                    (*ppath, "accelerator"),
                    f"second pool of {pc.accelerator} at site {sc.id}",
                    "merge the two pools into one",
                )
            seen.add(pc.accelerator)
            dpn = pc.devices_per_node or acc.devices_per_node
            if pc.count % dpn:
                self.problem(
                    (*ppath, "count"),
                    f"{pc.count} devices is not a whole number of {dpn}-device nodes",
                    f"use a multiple of {dpn}, e.g. {pc.count - pc.count % dpn or dpn}",
                )
            pools.append(Pool(sc.id, pc.accelerator, pc.count, dpn))
        tariff = self.build_tariff(path, sc.tariff, self.site_zone(path, sc))
        carbon = self.build_carbon(path, sc.carbon)
        subsidy_rate = self.rate_of(sc.tariff.currency)  # a problem is recorded when None
        if tariff is None or carbon is None or subsidy_rate is None:
            return None
        site = Site(
            id=sc.id,
            name=sc.name,
            lat=sc.location.lat,
            lon=sc.location.lon,
            grid_region=sc.grid_region,
            country=sc.country or "",
            pue=sc.pue,
            power_capacity_mw=sc.power_capacity_mw,
            tariff=tariff,
            carbon=carbon,
            pools=tuple(pools),
            subsidies=tuple(
                Subsidy(
                    s.name,
                    s.eligible,
                    s.discount_fraction,
                    s.min_price_per_kwh * subsidy_rate
                    if subsidy_rate != 1.0
                    else s.min_price_per_kwh,
                    s.source,
                )
                for s in sc.subsidies
            ),
            hub=sc.hub,
            province=sc.location.province,
            source=sc.source,
            power_saving=(
                PowerSaving(
                    sc.power_saving.idle_minutes * 60.0,
                    sc.power_saving.resume_minutes * 60.0,
                    sc.power_saving.sleep_fraction,
                )
                if sc.power_saving is not None
                else None
            ),
        )
        idle = idle_site_power_mw(site, catalog)
        if idle > sc.power_capacity_mw + 1e-9:
            self.problem(
                (*path, "power_capacity_mw"),
                f"idle pools at {sc.id} already draw {idle:.4g} MW but the site has "
                f"{sc.power_capacity_mw:.4g} MW",
                "reduce pool counts or raise power_capacity_mw",
            )
        peak = peak_site_power_mw(site, catalog)
        allowed = sc.power_capacity_mw * sc.max_power_oversubscription
        if peak > allowed + 1e-9:
            self.problem(
                (*path, "power_capacity_mw"),
                f"pools at {sc.id} draw up to {peak:.4g} MW at full load (devices × TDP × PUE "
                f"{sc.pue}) but the site allows {allowed:.4g} MW",
                "reduce pool counts, raise power_capacity_mw, or allow power oversubscription "
                "with max_power_oversubscription (the scheduler then caps power)",
            )
        return site

    def money_rate(self, path: PathT, currency: str | None, what: str) -> float | None:
        """Units of the scenario's currency per unit of ``currency`` (``None``: the scenario's).

        Records a problem at ``path`` and returns ``None`` when no rate is given.
        """
        scenario_currency = self.cfg.currency
        rate = self.rate_of(currency)
        if rate is None:
            self.problem(
                path,
                f"{what} in {currency}, but the scenario reports in {scenario_currency} and "
                f"exchange_rates has no rate for {currency}",
                f"add exchange_rates: {{{currency}: <{scenario_currency} per {currency}>}} at "
                f"the top level, or give the {what} in {scenario_currency}",
            )
        return rate

    def rate_of(self, currency: str | None) -> float | None:
        """Units of the scenario's currency per unit of ``currency``, if known."""
        if currency is None or currency == self.cfg.currency:
            return 1.0
        return self.cfg.exchange_rates.get(currency)

    def check_exchange_rates(self) -> None:
        """The reporting currency's own rate, when given, must be 1."""
        own = self.cfg.exchange_rates.get(self.cfg.currency)
        if own is not None and own != 1.0:
            self.problem(
                ("exchange_rates", self.cfg.currency),
                f"the rate of the scenario's own currency {self.cfg.currency} is {own}, not 1",
                "remove it: rates are in units of the scenario's currency",
            )

    def site_zone(self, path: PathT, sc: S.SiteConfig) -> tzinfo | None:
        """The site's time zone (default: the horizon start's UTC offset); ``None`` if unknown."""
        if sc.timezone is None:
            return self.cfg.horizon.start.tzinfo
        try:
            return ZoneInfo(sc.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            near = (
                difflib.get_close_matches(sc.timezone, available_timezones(), n=1)
                if len(sc.timezone) < 64
                else []
            )
            self.problem(
                (*path, "timezone"),
                f"unknown time zone {sc.timezone!r}",
                (f"did you mean {near[0]!r}? " if near else "")
                + "use an IANA name such as 'Asia/Shanghai', 'America/New_York' or 'UTC'",
            )
            return None

    def build_tariff(self, path: PathT, tc: S.TariffConfig, zone: tzinfo | None) -> Tariff | None:
        """Hourly prices over the horizon from a TOU schedule or a series.

        Prices are converted into the scenario's currency; time-of-use periods are
        read in ``zone`` (``None``: the zone was bad, only the periods are checked).
        """
        hz = self.cfg.horizon
        tpath = (*path, "tariff")
        rate = self.money_rate((*tpath, "currency"), tc.currency, "tariff")
        currency = self.cfg.currency
        note = (
            f" (converted from {tc.currency} at {rate} {currency}/{tc.currency})"
            if rate is not None and rate != 1.0
            else ""
        )
        if tc.series is not None:
            values, probs = read_hourly_series(
                tc.series, self.base_dir, hz.start, hz.hours, self.source, format_path(tpath)
            )
            self._add(probs, (*tpath, "series"))
            if values is None or rate is None:
                return None
            if rate != 1.0:
                values = tuple(v * rate for v in values)
            return Tariff(
                currency,
                HourlySeries(values, f"series {tc.series.path}"),
                (),
                tc.source + note,
            )
        assert tc.base_per_kwh is not None
        self.check_tou_overlaps(tpath, tc.time_of_use)
        if zone is None or rate is None:
            return None
        base = tc.base_per_kwh * rate if rate != 1.0 else tc.base_per_kwh
        holidays = set(tc.holidays)
        spans = [(p, _hours(p), _day_classes(p.days)) for p in tc.time_of_use]
        periods: list[str] = []
        prices: list[float] = []
        for h in range(hz.hours):
            local = (hz.start + timedelta(hours=h)).astimezone(zone)
            day = _day_class(local.date(), holidays)
            hit = next(
                (
                    p
                    for p, hours, days in spans
                    if local.hour in hours
                    and (p.months is None or local.month in p.months)
                    and day in days
                ),
                None,
            )
            name, mult = (hit.name, hit.multiplier) if hit else ("flat", 1.0)
            periods.append(name)
            prices.append(base * mult)
        return Tariff(
            currency, HourlySeries(tuple(prices), "time-of-use"), tuple(periods), tc.source + note
        )

    def check_tou_overlaps(self, tpath: PathT, tou: Sequence[S.TouPeriod]) -> None:
        """Two periods may not share an hour of the day in a month on a kind of day."""
        for i, a in enumerate(tou):
            for b in tou[i + 1 :]:
                hours = sorted(_hours(a) & _hours(b))
                months = sorted(set(a.months or range(1, 13)) & set(b.months or range(1, 13)))
                days = _day_classes(a.days) & _day_classes(b.days)
                if not (hours and months and days):
                    continue
                on = "" if a.days is None and b.days is None else f" on {_describe_days(days)}"
                self.problem(
                    (*tpath, "time_of_use"),
                    f"periods {a.name}, {b.name} overlap at {hours[0]:02d}:00 in month "
                    f"{months[0]}{on}",
                    "give each hour of the day to at most one period (per kind of day: "
                    "use days: [weekday], [weekend], [mon] … to split them)",
                )
                return

    def build_carbon(self, path: PathT, cc: S.CarbonConfig) -> CarbonIntensity | None:
        """Hourly carbon intensity over the horizon."""
        hz = self.cfg.horizon
        cpath = (*path, "carbon")
        if cc.series is not None:
            values, probs = read_hourly_series(
                cc.series, self.base_dir, hz.start, hz.hours, self.source, format_path(cpath)
            )
            self._add(probs, (*cpath, "series"))
            if values is None:
                return None
            return CarbonIntensity(HourlySeries(values, f"series {cc.series.path}"), cc.source)
        assert cc.kg_per_kwh is not None
        return CarbonIntensity(HourlySeries((cc.kg_per_kwh,), "constant"), cc.source)

    def _add(self, probs: list[Problem], path: PathT) -> None:
        line = line_of(self.lines, path)
        self.problems += [replace(p, line=line) for p in probs]

    def build_links(self, site_ids: list[str]) -> list[Link]:
        """Explicit links, then defaults for every other pair of sites."""
        links: list[Link] = []
        pairs: set[frozenset[str]] = set()
        for i, lc in enumerate(self.cfg.links.explicit):
            path: PathT = ("links", "explicit", i, "between")
            a, b = lc.between
            ok = self.check_ref(path, a, site_ids, "site") & self.check_ref(
                path, b, site_ids, "site"
            )
            if a == b:
                self.problem(path, f"a link joins {a!r} to itself", "name two different sites")
                continue
            pair = frozenset((a, b))
            if pair in pairs:
                self.problem(path, f"second link between {a} and {b}", "keep one")
            pairs.add(pair)
            rate = self.money_rate(
                ("links", "explicit", i, "currency"), lc.currency, "link cost_per_gb"
            )
            if ok and rate is not None:
                cost = lc.cost_per_gb * rate if rate != 1.0 else lc.cost_per_gb
                links.append(Link(a, b, lc.bandwidth_gbps, lc.latency_ms, cost, lc.source))
        d = self.cfg.links.default
        if d is not None:
            rate = self.money_rate(("links", "default", "currency"), d.currency, "link cost_per_gb")
            cost = d.cost_per_gb * rate if rate is not None and rate != 1.0 else d.cost_per_gb
            for i, a in enumerate(site_ids):
                for b in site_ids[i + 1 :]:
                    if frozenset((a, b)) not in pairs:
                        links.append(Link(a, b, d.bandwidth_gbps, d.latency_ms, cost, d.source))
        return links

    def build_datasets(self, site_ids: list[str]) -> list[Dataset]:
        """Data sets with their residency turned into allowed sites."""
        out: list[Dataset] = []
        self.unique(("datasets",), [d.id for d in self.cfg.datasets], "dataset")
        for i, dc in enumerate(self.cfg.datasets):
            path: PathT = ("datasets", i)
            if not self.check_ref((*path, "home"), dc.home, site_ids, "site"):
                continue
            allowed: tuple[str, ...] | None
            if dc.residency == "anywhere":
                allowed = None
            elif dc.residency == "home":
                allowed = ()
            else:
                for s in dc.residency:
                    self.check_ref((*path, "residency"), s, site_ids, "site")
                allowed = tuple(dc.residency)
            out.append(Dataset(dc.id, dc.size_tb, dc.home, allowed))
        return out

    def build_tenants(
        self, catalog: Mapping[str, Accelerator], site_ids: list[str]
    ) -> list[Tenant]:
        """Tenants with quota selectors resolved to accelerator ids."""
        out: list[Tenant] = []
        self.unique(("tenants",), [t.id for t in self.cfg.tenants], "tenant")
        stacks = {a.stack for a in catalog.values()}
        vendors = {a.vendor for a in catalog.values()}
        for i, tc in enumerate(self.cfg.tenants):
            quotas: list[Quota] = []
            for j, qc in enumerate(tc.quotas):
                path: PathT = ("tenants", i, "quotas", j)
                for a in qc.accelerators:
                    self.check_ref((*path, "accelerators"), a, catalog, "accelerator")
                for s in qc.stacks:
                    self.check_ref((*path, "stacks"), s, stacks, "software stack")
                for v in qc.vendors:
                    self.check_ref((*path, "vendors"), v, vendors, "vendor")
                selected = tuple(
                    a.id
                    for a in catalog.values()
                    if (not qc.accelerators or a.id in qc.accelerators)
                    and (not qc.stacks or a.stack in qc.stacks)
                    and (not qc.vendors or a.vendor in qc.vendors)
                )
                label = "+".join([*qc.accelerators, *qc.stacks, *qc.vendors]) or "all"
                quotas.append(Quota(selected, qc.max_devices, label))
            if tc.home is not None:
                self.check_ref(("tenants", i, "home"), tc.home, site_ids, "site")
            out.append(Tenant(tc.id, tc.name, tc.weight, tc.priority, tuple(quotas), tc.home))
        return out

    def build_profiles(self) -> dict[str, WorkloadProfile]:
        """Package default profiles, replaced key by key by the scenario's."""
        merged: dict[str, S.ProfileConfig] = {}
        if self.defaults is not None:
            merged.update(self.defaults.profiles)
        merged.update(self.cfg.profiles)
        return {
            pid: WorkloadProfile(
                pid,
                p.kind,
                tuple(p.precisions),
                p.flops_per_byte,
                p.memory_gb,
                p.power_factor,
                p.source,
            )
            for pid, p in merged.items()
        }

    def build_efficiency(
        self, catalog: Mapping[str, Accelerator]
    ) -> dict[tuple[str, JobKind], Efficiency]:
        """``(stack, kind) → Efficiency``: specific kinds beat ``*``; the scenario, defaults."""
        table: dict[tuple[str, JobKind], Efficiency] = {}
        layers = [self.defaults.efficiency if self.defaults else [], self.cfg.efficiency]
        stacks = {a.stack for a in catalog.values()}
        for layer_no, layer in enumerate(layers):
            for wildcard_pass in (True, False):
                for i, ec in enumerate(layer):
                    if (ec.kind == "*") != wildcard_pass:
                        continue
                    if layer_no == 1 and wildcard_pass:
                        self.check_ref(("efficiency", i, "stack"), ec.stack, stacks, "stack")
                    kinds = list(JobKind) if ec.kind == "*" else [JobKind(ec.kind)]
                    for k in kinds:
                        table[(ec.stack, k)] = Efficiency(ec.compute, ec.memory, ec.source)
        return table

    def build_failures(self, sites: list[S.SiteConfig]) -> list[Failure]:
        """Scheduled outages, checked against sites and pools."""
        out: list[Failure] = []
        by_id = {s.id: s for s in sites}
        for i, fc in enumerate(self.cfg.failures):
            path: PathT = ("failures", i)
            if not self.check_ref((*path, "site"), fc.site, by_id, "site"):
                continue
            if fc.accelerator is not None:
                pool_accs = [p.accelerator for p in by_id[fc.site].pools]
                if not self.check_ref(
                    (*path, "accelerator"), fc.accelerator, pool_accs, f"pool at {fc.site}"
                ):
                    continue
            out.append(
                Failure(
                    fc.site,
                    fc.at_hour * 3600.0,
                    fc.hours * 3600.0,
                    fc.accelerator,
                    fc.nodes,
                    fc.label,
                )
            )
        return out

    def build_workload(
        self,
        catalog: Mapping[str, Accelerator],
        sites: list[Site],
        tenants: list[Tenant],
        profiles: Mapping[str, WorkloadProfile],
        efficiency: Mapping[tuple[str, JobKind], Efficiency],
        datasets: list[Dataset],
    ) -> GeneratorSpec | TraceSpec | None:
        """The workload source, with every job class checked against the fleet."""
        wc = self.cfg.workload
        if wc is None:
            return None
        if wc.trace is not None:
            tc = wc.trace
            tpath: PathT = ("workload", "trace")
            if tc.format not in TRACE_FORMATS:
                self.problem(
                    (*tpath, "format"),
                    f"unknown trace format {tc.format!r}",
                    close_matches(tc.format, TRACE_FORMATS),
                )
            if tc.reference_accelerator is not None:
                self.check_ref(
                    (*tpath, "reference_accelerator"),
                    tc.reference_accelerator,
                    catalog,
                    "accelerator",
                )
            trace_file = (self.base_dir / tc.path).resolve()
            if not trace_file.exists():
                self.problem(
                    (*tpath, "path"),
                    f"trace file {str(trace_file)!r} not found",
                    "the path is relative to the scenario file",
                )
            return TraceSpec(
                str(trace_file), tc.format, tc.reference_accelerator, tc.time_scale, tc.target_load
            )
        g = wc.generator
        assert g is not None
        gpath: PathT = ("workload", "generator")
        self.check_ref(
            (*gpath, "reference_accelerator"), g.reference_accelerator, catalog, "accelerator"
        )
        pool_types = {p.accelerator for s in sites for p in s.pools}
        classes: list[JobClass] = []
        for i, jc in enumerate(g.classes):
            path: PathT = (*gpath, "classes", i)
            self.check_ref((*path, "tenant"), jc.tenant, [t.id for t in tenants], "tenant")
            if not self.check_ref((*path, "profile"), jc.profile, profiles, "profile"):
                continue
            for a in jc.accepted_types:
                self.check_ref((*path, "accepted_types"), a, catalog, "accelerator")
            stacks = {catalog[a].stack for a in pool_types}
            for s in jc.accepted_stacks:
                self.check_ref((*path, "accepted_stacks"), s, stacks, "stack in the fleet")
            for d in jc.datasets:
                self.check_ref((*path, "datasets"), d, [x.id for x in datasets], "dataset")
            profile = profiles[jc.profile]
            usable = [
                a
                for a in pool_types
                if (not jc.accepted_types or a in jc.accepted_types)
                and (not jc.accepted_stacks or catalog[a].stack in jc.accepted_stacks)
                and (catalog[a].stack, profile.kind) in efficiency
                and any(catalog[a].peak(p) for p in profile.precisions)
            ]
            if not usable:
                self.problem(
                    path,
                    f"no pool in the fleet can run job class {jc.name!r} "
                    f"(accepted types {jc.accepted_types or 'any'}, "
                    f"stacks {jc.accepted_stacks or 'any'})",
                    "widen accepted_types/accepted_stacks or add a pool of an accepted type",
                )
            elif g.reference_accelerator in catalog:
                ref = catalog[g.reference_accelerator]
                if (ref.stack, profile.kind) not in efficiency or not any(
                    ref.peak(p) for p in profile.precisions
                ):
                    self.problem(
                        (*gpath, "reference_accelerator"),
                        f"{ref.id} cannot run profile {profile.id!r} of class {jc.name!r}",
                        "pick a reference accelerator that supports the profile's precisions",
                    )
            classes.append(
                JobClass(
                    name=jc.name,
                    tenant=jc.tenant,
                    kind=profile.kind,
                    profile=jc.profile,
                    jobs_per_day=jc.jobs_per_day,
                    gang=_distribution(jc.gang),
                    hours_on_reference=_distribution(jc.hours_on_reference),
                    accepted_types=tuple(jc.accepted_types),
                    accepted_stacks=tuple(jc.accepted_stacks),
                    datasets=tuple(jc.datasets),
                    deferrable=jc.deferrable,
                    types_ordered=jc.types_ordered,
                    preemptible=jc.preemptible,
                    deadline_hours=jc.deadline_hours,
                    checkpoint_interval_s=jc.checkpoint_interval_min * 60.0,
                    restart_cost_s=jc.restart_cost_min * 60.0,
                    priority=jc.priority,
                    source=jc.source,
                )
            )
        expected = sum(jc.jobs_per_day for jc in g.classes) * self.cfg.horizon.hours / 24.0
        if expected > MAX_GENERATED_JOBS:
            self.problem(
                (*gpath, "classes"),
                f"the classes' jobs_per_day would generate about {expected:,.0f} jobs over "
                f"the horizon, about {expected * BYTES_PER_JOB / 2**30:,.0f} GiB to simulate",
                f"at most {MAX_GENERATED_JOBS:,} jobs: lower jobs_per_day or the horizon",
            )
        diurnal = tuple(g.diurnal) if g.diurnal else (1.0,) * 24
        mean = sum(diurnal) / 24.0
        return GeneratorSpec(
            seed=g.seed,
            reference=g.reference_accelerator,
            classes=tuple(classes),
            diurnal=tuple(x / mean for x in diurnal),
        )


def _link_finder(links: Sequence[Link]) -> Callable[[str, str], Link | None]:
    """``link(a, b)``: the link between two sites, if any."""
    by_pair = {frozenset((ln.a, ln.b)): ln for ln in links}
    return lambda a, b: by_pair.get(frozenset((a, b)))


def _hours(p: S.TouPeriod) -> set[int]:
    return {h for r in p.hours for h in S.parse_hour_range(r)}


#: Kinds of day for time-of-use periods: the seven day names, and ``holiday`` for a
#: holiday that falls on a weekday (one on a Saturday or Sunday keeps its name).
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
_DAY_CLASSES = (*_WEEKDAYS, "sat", "sun", "holiday")


def _day_class(day: date, holidays: set[date]) -> str:
    """The kind of ``day`` (a local date): its name, or ``holiday`` for a weekday holiday."""
    weekday = day.weekday()
    if day in holidays and weekday < 5:
        return "holiday"
    return _DAY_CLASSES[weekday]


def _day_classes(days: Sequence[str] | None) -> set[str]:
    """Kinds of day a period's ``days`` covers (``None``: every day)."""
    if days is None:
        return set(_DAY_CLASSES)
    out: set[str] = set()
    for d in days:
        if d == "weekday":
            out.update(_WEEKDAYS)
        elif d == "weekend":
            out.update(("sat", "sun", "holiday"))
        else:
            out.add(d)
    return out


def _describe_days(days: set[str]) -> str:
    if days >= set(_WEEKDAYS):
        return "weekdays"
    if days >= {"sat", "sun"}:
        return "weekends"
    return next(d for d in _DAY_CLASSES if d in days)


def _distribution(dc: S.DistributionConfig) -> Distribution:
    common: dict[str, Any] = {
        "low": dc.low,
        "high": float("inf") if dc.high is None else dc.high,
        "multiple_of": dc.multiple_of or 0.0,
        "power_of_two": dc.power_of_two,
    }
    if dc.fixed is not None:
        return Distribution("fixed", value=dc.fixed, **common)
    if dc.choice is not None:
        weights = tuple(dc.weights) if dc.weights else (1.0,) * len(dc.choice)
        return Distribution("choice", values=tuple(dc.choice), weights=weights, **common)
    assert dc.lognormal is not None
    return Distribution(
        "lognormal", median=dc.lognormal["median"], mean=dc.lognormal["mean"], **common
    )


def _entry_dict(acc: Accelerator) -> dict[str, Any]:
    return {f: getattr(acc, f) for f in AcceleratorEntry.model_fields}
