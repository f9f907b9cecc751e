"""Check a scenario's user regions and services against the fleet, and build them.

Beyond the shapes pydantic checks (:mod:`suanli.config.service_schema`), a service must:

* name a known tenant, a known model (built in or inline) and known user regions, each
  once;
* ask for accelerator types that exist, with replicas that hold the model's weights and
  one full context (:func:`~suanli.perf.serving.min_replica_devices`);
* be able to place a replica somewhere: some pool has that many devices of a shape's
  type. Otherwise it is refused, with the smallest replica per type and the largest pool;
* reach each of its regions: some site within the region's latency bound
  (:func:`~suanli.perf.latency.region_latency_ms`) has such a pool. Otherwise the problem
  names the nearest site that could serve and its latency;
* read its demand from a demand file that exists (the curve is checked when the file is
  read), or give an inline daily shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from suanli.catalog.models import load_models
from suanli.config import service_schema as V
from suanli.config.yaml_lines import close_matches, format_path
from suanli.errors import InputError, Problem
from suanli.model.accelerator import Accelerator
from suanli.model.fleet import Link, Site, Tenant
from suanli.model.scenario import Scenario
from suanli.model.service import (
    DemandSpec,
    ReplicaShape,
    ServedModel,
    Service,
    ServiceRegion,
    Slo,
    UserRegion,
)
from suanli.perf.latency import region_latency_ms
from suanli.perf.serving import min_replica_devices
from suanli.workload.demand_file import read_demand

PathT = tuple[str | int, ...]

#: Bins of an inline log-normal length distribution (equally likely).
LENGTH_BINS = 32


class _Builder(Protocol):
    base_dir: Path

    def problem(self, path: Sequence[str | int], message: str, hint: str = "") -> None: ...

    def check_ref(self, path: PathT, name: str, valid: Sequence[str], what: str) -> bool: ...

    def unique(self, path: PathT, ids: Sequence[str], what: str) -> None: ...


def build_regions(
    b: _Builder, cfgs: Sequence[V.UserRegionConfig], site_ids: Sequence[str]
) -> list[UserRegion]:
    """User regions, with their time zones and sites checked."""
    b.unique(("user_regions",), [r.id for r in cfgs], "user region")
    out = []
    for i, rc in enumerate(cfgs):
        if rc.timezone is not None:
            try:
                ZoneInfo(rc.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                b.problem(
                    ("user_regions", i, "timezone"),
                    f"unknown time zone {rc.timezone!r}",
                    "use an IANA name such as Asia/Shanghai",
                )
        if rc.site is not None:
            b.check_ref(("user_regions", i, "site"), rc.site, site_ids, "site")
        loc = rc.location
        out.append(
            UserRegion(rc.id, rc.name or rc.id, loc.lat, loc.lon, rc.timezone, rc.site, rc.source)
        )
    return out


def build_services(
    b: _Builder,
    cfgs: Sequence[V.ServiceConfig],
    catalog: Mapping[str, Accelerator],
    sites: Sequence[Site],
    tenants: Sequence[Tenant],
    regions: Sequence[UserRegion],
    link: Callable[[str, str], Link | None],
) -> list[Service]:
    """Services with models, shapes and demand resolved; see the module docstring."""
    b.unique(("services",), [s.id for s in cfgs], "service")
    models = load_models()
    by_region = {r.id: r for r in regions}
    out = []
    for i, sc in enumerate(cfgs):
        path: PathT = ("services", i)
        b.check_ref((*path, "tenant"), sc.tenant, [t.id for t in tenants], "tenant")
        model = _model(b, (*path, "model"), sc.model, models)
        srs = _regions(b, path, sc, by_region)
        if model is None:
            continue
        shapes = _shapes(b, path, sc, model, catalog, sites)
        if shapes:
            _reach(b, path, sc, shapes, sites, by_region, link)
        out.append(
            Service(
                id=sc.id,
                name=sc.name or sc.id,
                tenant=sc.tenant,
                model=model,
                slo=Slo(sc.slo.ttft_p99_ms / 1000, sc.slo.tpot_ms / 1000, sc.slo.attainment),
                regions=tuple(srs),
                shapes=tuple(shapes),
                min_replicas=sc.replicas.min,
                max_replicas=sc.replicas.max,
                load_gbps=sc.load_gbps,
                startup_s=sc.startup_s,
                priority=sc.priority,
                source=sc.source,
                command=sc.command,
            )
        )
    return out


class _RequestBuilder:
    """Collects the problems of one service given at run time (over the API)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.base_dir = Path(".")
        self.problems: list[Problem] = []

    def problem(self, path: Sequence[str | int], message: str, hint: str = "") -> None:
        self.problems.append(Problem(self.source, format_path(path), message, hint))

    def check_ref(self, path: PathT, name: str, valid: Sequence[str], what: str) -> bool:
        if name in valid:
            return True
        self.problem(path, f"unknown {what} {name!r}", close_matches(name, valid))
        return False

    def unique(self, path: PathT, ids: Sequence[str], what: str) -> None:
        return None


def service_from_config(
    cfg: V.ServiceConfig,
    scenario: Scenario,
    tenants: Sequence[Tenant],
    source: str = "request",
) -> Service:
    """A service given at run time (the live control plane's API) for ``scenario``'s fleet
    and user regions, checked as a scenario file's are (module docstring). Its demand is
    an inline daily shape: a server reads no demand files named in a request.
    :class:`~suanli.errors.InputError` names each problem's field."""
    b = _RequestBuilder(source)
    for k, rc in enumerate(cfg.regions):
        if rc.demand.file is not None:
            b.problem(
                ("regions", k, "demand", "file"),
                "a service given over the API cannot read a demand file",
                "give an inline daily shape (hourly, peak_rps, input_tokens, "
                "output_tokens), or set the rates per region with PATCH",
            )
    if not b.problems:
        built = build_services(
            b,
            [cfg],
            scenario.catalog,
            scenario.sites,
            tenants,
            scenario.user_regions,
            scenario.link,
        )
    # paths are the service's own fields, not services[0].…
    problems = [
        Problem(p.source, p.field.removeprefix("services[0]").lstrip("."), p.message, p.hint)
        for p in b.problems
    ]
    if problems:
        raise InputError(problems)
    return built[0]


def _model(
    b: _Builder, path: PathT, m: str | V.ModelConfig, models: Mapping[str, ServedModel]
) -> ServedModel | None:
    if isinstance(m, str):
        if not b.check_ref(path, m, list(models), "model"):
            return None
        return models[m]
    return ServedModel(
        m.id,
        m.total_params_b,
        m.active_params_b,
        m.precision,
        m.kv_bytes_per_token,
        m.context_tokens,
        m.source,
        m.attn_prefill_flops,
        m.attn_decode_flops,
    )


def _regions(
    b: _Builder, path: PathT, sc: V.ServiceConfig, by_region: Mapping[str, UserRegion]
) -> list[ServiceRegion]:
    seen: set[str] = set()
    out = []
    for k, rc in enumerate(sc.regions):
        rpath: PathT = (*path, "regions", k)
        b.check_ref((*rpath, "region"), rc.region, list(by_region), "user region")
        if rc.region in seen:
            b.problem((*rpath, "region"), f"region {rc.region!r} listed twice", "keep one")
        seen.add(rc.region)
        out.append(ServiceRegion(rc.region, rc.max_latency_ms, _demand(b, rpath, rc.demand)))
    return out


def _demand(b: _Builder, path: PathT, d: V.DemandConfig) -> DemandSpec:
    if d.file is not None:
        file = (b.base_dir / d.file).resolve()
        cs, cr = (d.curve.service, d.curve.region) if d.curve else (None, None)
        if not file.is_file():
            b.problem(
                (*path, "demand", "file"),
                f"demand file {str(file)!r} not found",
                "the path is relative to the scenario file; `suanli trace convert` writes one",
            )
        else:
            try:
                curves = read_demand(file).curves
            except InputError as exc:
                for p in exc.problems:
                    b.problem(
                        (*path, "demand", "file"), f"{p.source}: {p.field}: {p.message}", p.hint
                    )
                curves = ()
            else:
                names = [f"{c.service}/{c.region}" for c in curves]
                if cs is None and len(curves) != 1:
                    b.problem(
                        (*path, "demand", "curve"),
                        f"the demand file holds {len(curves)} curves; say which",
                        "curve: {service: …, region: …}; the file holds " + ", ".join(names),
                    )
                elif cs is not None and f"{cs}/{cr}" not in names:
                    b.problem(
                        (*path, "demand", "curve"),
                        f"no curve {cs}/{cr} in {file.name}",
                        "the file holds " + (", ".join(names) or "no curves"),
                    )
                elif cs is None:
                    cs, cr = curves[0].service, curves[0].region
        return DemandSpec(
            peak_rps=d.peak_rps,
            file=str(file),
            curve_service=cs,
            curve_region=cr,
            shift_hours=d.shift_hours,
        )
    assert d.hourly is not None and d.input_tokens is not None and d.output_tokens is not None
    return DemandSpec(
        peak_rps=d.peak_rps,
        hourly=tuple(d.hourly),
        cv=d.cv,
        input_tokens=length_histogram(d.input_tokens),
        output_tokens=length_histogram(d.output_tokens),
    )


def length_histogram(lc: V.LengthConfig) -> tuple[tuple[int, float], ...]:
    """``(tokens, probability)`` pairs, ascending: the histogram given, or a log-normal of
    the given mean and CV in :data:`LENGTH_BINS` equally likely bins (the median of each)::

        σ² = ln(1 + cv²),  μ = ln(mean) − σ²/2,  tokens_k = exp(μ + σ·Φ⁻¹((k + ½)/K)).
    """
    if lc.tokens is not None and lc.probability is not None:
        pairs: dict[int, float] = {}
        for t, p in zip(lc.tokens, lc.probability, strict=True):
            pairs[t] = pairs.get(t, 0.0) + p
        return tuple(sorted(pairs.items()))
    assert lc.mean is not None
    sigma = math.sqrt(math.log1p(lc.cv**2))
    mu = math.log(lc.mean) - sigma**2 / 2
    nd = NormalDist()
    counts: dict[int, int] = {}
    for k in range(LENGTH_BINS):
        t = max(1, round(math.exp(mu + sigma * nd.inv_cdf((k + 0.5) / LENGTH_BINS))))
        counts[t] = counts.get(t, 0) + 1
    return tuple((t, c / LENGTH_BINS) for t, c in sorted(counts.items()))


def _shapes(
    b: _Builder,
    path: PathT,
    sc: V.ServiceConfig,
    model: ServedModel,
    catalog: Mapping[str, Accelerator],
    sites: Sequence[Site],
) -> list[ReplicaShape]:
    """Replica shapes some pool can hold (the given ones, else one per type in the fleet)."""
    largest: dict[str, int] = {}
    for s in sites:
        for p in s.pools:
            largest[p.accelerator] = max(largest.get(p.accelerator, 0), p.count)
    wanted: list[tuple[PathT, str, int | None]]
    if sc.shapes:
        wanted = [
            ((*path, "shapes", k), sh.accelerator, sh.devices) for k, sh in enumerate(sc.shapes)
        ]
    else:
        wanted = [((*path, "shapes"), a, None) for a in sorted(largest)]
    out: list[ReplicaShape] = []
    tried: list[str] = []
    reported = False
    for spath, acc_id, devices in wanted:
        if not b.check_ref((*spath, "accelerator"), acc_id, list(catalog), "accelerator"):
            reported = True
            continue
        acc = catalog[acc_id]
        need = min_replica_devices(model, acc)
        gb = model.weight_bytes / 1e9
        if need is None:
            tried.append(f"{acc_id}: cannot hold it")
            if sc.shapes:
                reported = True
                b.problem(
                    (*spath, "accelerator"),
                    f"{acc_id} cannot serve model {model.id} ({gb:,.0f} GB of weights)",
                    "pick an accelerator with enough memory and a usable precision",
                )
            continue
        if devices is not None and devices < need:
            reported = True
            b.problem(
                (*spath, "devices"),
                f"{devices} × {acc_id} cannot hold model {model.id} ({gb:,.0f} GB of weights "
                f"at {model.precision} plus one {model.context_tokens:,}-token context)",
                f"use at least {need} devices, or leave devices out for the smallest replica",
            )
            continue
        n = devices or need
        if largest.get(acc_id, 0) < n:
            tried.append(f"{acc_id}: needs {n}, largest pool {largest.get(acc_id, 0)}")
            continue
        out.append(ReplicaShape(acc_id, n))
    if not out and not reported:
        b.problem(
            (*path, "shapes") if sc.shapes else (*path, "model"),
            f"no pool of the fleet can hold a replica of model {model.id} "
            f"({model.weight_bytes / 1e9:,.0f} GB of weights); "
            + ("; ".join(tried) if tried else "no shape given is in the fleet"),
            "add a pool with enough devices of a type that holds it, or give shapes",
        )
    return out


def _reach(
    b: _Builder,
    path: PathT,
    sc: V.ServiceConfig,
    shapes: Sequence[ReplicaShape],
    sites: Sequence[Site],
    by_region: Mapping[str, UserRegion],
    link: Callable[[str, str], Link | None],
) -> None:
    """Every region has a site within its bound that can hold a replica."""
    need = {sh.accelerator: sh.devices for sh in shapes}
    able = [s for s in sites if any(p.count >= need.get(p.accelerator, math.inf) for p in s.pools)]
    for k, rc in enumerate(sc.regions):
        region = by_region.get(rc.region)
        if region is None:
            continue
        lat = sorted((region_latency_ms(region, s, link), s.id) for s in able)
        if lat and lat[0][0] <= rc.max_latency_ms:
            continue
        near = f"; the nearest that can is {lat[0][1]} at {lat[0][0]:.1f} ms" if lat else ""
        b.problem(
            (*path, "regions", k, "max_latency_ms"),
            f"no site within {rc.max_latency_ms:g} ms of region {rc.region} can hold a "
            f"replica of {sc.id}{near}",
            "raise max_latency_ms, or add a pool near the region",
        )
