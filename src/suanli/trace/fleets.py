"""Fleet scenarios for trace replay: a trace's own cluster, or a named fleet.

A *fleet spec* is a space-separated list of pools ``accelerator:count[:devices_per_node]``
(``nvidia_t4:842:2 alibaba_openb_g2:4392:8``). Converters store the source
cluster's spec in the trace metadata (``fleet``), so ``fleet_scenario(trace)``
rebuilds the trace's own cluster from the trace file alone. Named fleets:

* ``philly-hetero`` — 2,000 GPUs of three generations for heterogeneity-aware
  scheduling on Philly: 800 V100 32 GB, 800 A100 80 GB, 400 H100 (the newest
  generation the scarcest), in 8-GPU nodes. The idea of Gavel's K80/P100/V100
  cluster, moved to the generations a fleet holds in 2026.
* ``pollux`` — Pollux's testbed: 16 AWS g4dn.12xlarge nodes of 4 T4 (64 GPUs),
  where the step times in ``traces/<model>/placements.csv`` were measured.

A fleet scenario has one site, ``cluster``, whose energy figures are labelled
assumptions (PUE 1.5; 0.65 CNY/kWh flat, the east-China industrial average of
DESIGN §7; 0.5306 kg CO₂/kWh, China's 2023 national grid factor from
``shared/data/energy/china-grid-co2``), and power capacity for every device at
TDP. It is built through the scenario checker, so the same rules apply as to a
YAML scenario.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from suanli.catalog import load_catalog
from suanli.config.build import Builder
from suanli.config.loader import perf_defaults
from suanli.config.schema import ProfileConfig, ScenarioConfig
from suanli.config.yaml_lines import close_matches
from suanli.errors import InputError, Problem, UnknownNameError
from suanli.model.scenario import Scenario
from suanli.trace.format import Trace

NAMED_FLEETS: Mapping[str, tuple[str, str]] = {
    "philly-hetero": (
        "nvidia_v100_sxm2_32g:800:8 nvidia_a100_sxm4_80g:800:8 nvidia_h100_sxm5:400:8",
        "2,000 GPUs of three generations (V100/A100/H100) for heterogeneous Philly replay",
    ),
    "pollux": ("nvidia_t4:64:4", "Pollux's testbed: 16 g4dn.12xlarge nodes of 4 T4"),
}

#: The most devices in one pool of a fleet spec.
MAX_POOL = 10_000_000

DEFAULT_START = "2026-03-02T00:00:00+08:00"
PUE = 1.5
PRICE_CNY_PER_KWH = 0.65
CARBON_KG_PER_KWH = 0.5306


def parse_fleet_spec(spec: str, source: str = "fleet") -> list[tuple[str, int, int | None]]:
    """``"a:8:4 b:16"`` → ``[("a", 8, 4), ("b", 16, None)]`` (InputError on a bad entry)."""
    pools: list[tuple[str, int, int | None]] = []
    for entry in spec.replace(",", " ").split():
        parts = entry.split(":")
        try:
            if len(parts) not in (2, 3):
                raise ValueError
            count = int(parts[1])
            per_node = int(parts[2]) if len(parts) == 3 else None
            if not 1 <= count <= MAX_POOL or (per_node is not None and not 1 <= per_node <= count):
                raise ValueError
        except ValueError:
            raise InputError(
                [
                    Problem(
                        source,
                        "fleet",
                        f"bad pool {entry!r}",
                        "write accelerator:count or accelerator:count:per_node, with "
                        f"1 ≤ per_node ≤ count ≤ {MAX_POOL:,}",
                    )
                ]
            ) from None
        pools.append((parts[0], count, per_node))
    if not pools:
        raise InputError([Problem(source, "fleet", "no pools", "e.g. nvidia_h100_sxm5:64")])
    return pools


def fleet_scenario(
    fleet: str | Trace,
    *,
    tenants: Sequence[str] = (),
    profiles: Mapping[str, Any] | None = None,
    start: str | None = None,
    hours: int = 24 * 7,
    name: str | None = None,
) -> Scenario:
    """A one-site scenario with the pools of ``fleet``.

    ``fleet`` is a :class:`Trace` (its own cluster, from its metadata; tenants,
    profiles and start come from the trace too), a name in :data:`NAMED_FLEETS`,
    or a fleet spec. ``tenants`` lists tenant ids (default: one, ``default``);
    ``profiles`` adds workload profiles (scenario-file form).
    """
    if isinstance(fleet, Trace):
        spec = fleet.meta.get("fleet", "")
        if not spec:
            raise InputError(
                [
                    Problem(
                        fleet.source,
                        "fleet",
                        "this trace has no own fleet",
                        "replay it on a named fleet ("
                        + ", ".join(NAMED_FLEETS)
                        + ") or a fleet spec",
                    )
                ]
            )
        from suanli.trace.replay import trace_profiles, trace_tenants

        tenants = tenants or trace_tenants(fleet)
        profiles = {**trace_profiles(fleet), **(profiles or {})}
        try:
            return fleet_scenario(
                spec,
                tenants=tenants,
                profiles=profiles,
                start=start or fleet.meta.get("start") or None,
                hours=hours,
                name=name or fleet.meta.get("fleet_name") or Path(fleet.source).stem,
            )
        except (InputError, UnknownNameError) as exc:
            raise InputError(_own_fleet_problems(exc, spec, fleet.source)) from None
    label = fleet
    description = f"fleet {fleet}"
    if fleet in NAMED_FLEETS:
        fleet, description = NAMED_FLEETS[fleet]
    elif ":" not in fleet:
        raise UnknownNameError("fleet", fleet, NAMED_FLEETS)
    pools = parse_fleet_spec(fleet, label)
    catalog = load_catalog()
    problems = [
        Problem(label, "fleet", f"unknown accelerator {a!r}", close_matches(a, catalog))
        for a, _, _ in pools
        if a not in catalog
    ]
    if problems:
        raise InputError(problems)
    watts = sum(n * (catalog[a].tdp_w or 0.0) for a, n, _ in pools) * PUE
    capacity = max(0.1, math.ceil(watts / 1e5) / 10)
    data: dict[str, Any] = {
        "name": name or label,
        "description": description,
        "horizon": {"start": _start(start), "hours": hours},
        "sites": [
            {
                "id": "cluster",
                "name": f"{name or label} cluster",
                "location": {"lat": 0.0, "lon": 0.0, "source": "ASSUMPTION: location unknown"},
                "grid_region": "unknown",
                "pue": PUE,
                "power_capacity_mw": capacity,
                "tariff": {
                    "base_per_kwh": PRICE_CNY_PER_KWH,
                    "source": "ASSUMPTION: east-China industrial average (DESIGN §7)",
                },
                "carbon": {
                    "kg_per_kwh": CARBON_KG_PER_KWH,
                    "source": "China national grid factor 2023 (energy/china-grid-co2)",
                },
                "pools": [
                    {"accelerator": a, "count": n, **({"devices_per_node": d} if d else {})}
                    for a, n, d in pools
                ],
            }
        ],
        "tenants": [{"id": t, "name": t} for t in (tenants or ["default"])],
        "profiles": dict(profiles or {}),
    }
    try:
        cfg = ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            [Problem(label, ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
        ) from None
    builder = Builder(cfg, catalog, perf_defaults(), f"fleet:{label}", Path.cwd(), {})
    scenario = builder.build()
    if scenario is None:
        raise InputError(builder.problems)
    return scenario


def _own_fleet_problems(
    exc: InputError | UnknownNameError, spec: str, source: str
) -> list[Problem]:
    """The problems of a trace's own fleet (its ``fleet`` metadata), naming the trace."""
    hint = "write pools accelerator:count[:devices_per_node], space-separated"
    if isinstance(exc, UnknownNameError):
        return [Problem(source, "metadata fleet", f"{spec!r} is not a fleet spec", hint)]
    return [
        Problem(
            source,
            "metadata fleet",
            f"{spec!r}: " + (f"{p.field}: " if p.field and p.field != "fleet" else "") + p.message,
            p.hint or hint,
        )
        for p in exc.problems
    ]


def _start(start: str | None) -> str:
    """An aware ISO start (naive ones are read as UTC)."""
    dt = datetime.fromisoformat(start or DEFAULT_START)
    if dt.tzinfo is None:
        dt = datetime.fromisoformat(dt.isoformat() + "+00:00")
    return dt.isoformat()


def check_profiles(raw: str, source: str) -> dict[str, Any]:
    """The ``profiles`` metadata (JSON) validated against the scenario profile schema."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return {k: ProfileConfig.model_validate(v).model_dump(mode="json") for k, v in data.items()}
    except (ValueError, ValidationError) as exc:
        raise InputError(
            [
                Problem(
                    source,
                    "metadata profiles",
                    f"bad profiles: {exc}",
                    "give a JSON object of id → profile (scenario-file fields)",
                )
            ]
        ) from None
