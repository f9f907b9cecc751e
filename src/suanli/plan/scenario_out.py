r"""Write a plan as a scenario file that ``suanli validate`` accepts and ``suanli simulate`` runs.

The plan's scenario is the input scenario with:

* the plan's purchases added to the pools (new pools where a site had none of a
  type), retired devices removed, and each site's ``power_capacity_mw`` raised by its
  expansion (rounded up to 1 kW);
* a workload generator that produces the planned demand: for class *c* with demand
  :math:`D_c` (PFLOP/s), gang :math:`n` and duration :math:`h` on the reference
  accelerator (speed :math:`s_{ref}`), jobs arrive at

  .. math:: \lambda_c = \frac{24\, D_c}{\mathbb{E}[\max(n, n_{min})]\;\mathbb{E}[h]\; s_{ref}}
     \quad \text{per day,}

  so that the generator's sustained work (PFLOP/s) equals :math:`D_c`; the
  expectations are means of 200,000 seeded draws of the generator's own sampler;
* tenant quotas removed: they are operating policy, which the plan does not model,
  and would otherwise keep a tenant's work waiting on capacity the plan bought;
* a profile ``plan-<class>`` per class (a copy of its profile), so that each job's
  profile names its demand class and the simulator's output can be summed per class;
* for a class limited by latency, a tiny data set ``users-<class>`` at ``users_near``
  that may only be used at the sites the class may use: the simulator's residency
  rules then keep its jobs there.

Accepted types of each job class are the types the plan gives it, so the simulated
jobs run where the plan put them.

A class that is an online inference service (``service:``) is written as the service
itself, not as jobs: the scenario's ``services:`` keep the services the plan planned
(with ``user_regions:``), each with its replica shapes narrowed to the types the plan
gives it, most devices first (the devices per replica as the scenario gave them, else
the smallest replica, as the planner sized it), so ``suanli simulate --serving …`` scales
them with a serving policy. Services the plan did not plan are left out: it bought
nothing for them. Demand files are referred to by absolute paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from suanli.config.build import _distribution
from suanli.config.loader import parse_scenario
from suanli.config.schema import DistributionConfig
from suanli.errors import SuanliError
from suanli.perf.memory import min_devices
from suanli.plan.instance import PlanInstance, allowed_sites, profile_speed
from suanli.plan.load import Planning
from suanli.plan.result import Plan
from suanli.workload.generator import sample

SAMPLES = 200_000


class _Dumper(yaml.SafeDumper):
    """A YAML dumper that never writes anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def expected_draw(dist: DistributionConfig, floor: float = 0.0, seed: int = 0) -> float:
    """Mean of ``max(draw, floor)`` over the generator's sampler (seeded, deterministic)."""
    rng = np.random.default_rng(seed)
    return float(np.maximum(sample(_distribution(dist), rng, SAMPLES), floor).mean())


def plan_scenario_data(planning: Planning, plan: Plan, inst: PlanInstance) -> dict[str, Any]:
    """The plan's scenario as YAML-ready data."""
    sc = planning.scenario.scenario
    data: dict[str, Any] = yaml.safe_load(planning.scenario.text)
    pf = planning.file
    data["name"] = f"{sc.name}-plan-{inst.name}"
    data["description"] = (
        f"{sc.name} with the fleet of plan {inst.name!r} ({plan.objective}, "
        f"{plan.horizon_years:g} years) and a workload generator producing its demand. "
        "Written by suanli plan."
    )
    by_site = {s.site: s for s in plan.sites}
    for site in data["sites"]:
        sp = by_site[site["id"]]
        if sp.expansion_mw > 0:
            site["power_capacity_mw"] = _ceil(site["power_capacity_mw"] + sp.expansion_mw, 3)
        pools = {p["accelerator"]: p for p in site.get("pools", [])}
        for p in plan.pools:
            if p.site != site["id"] or not (p.added or p.retired):
                continue
            if p.accelerator in pools:
                pools[p.accelerator]["count"] = p.total
            else:
                site.setdefault("pools", []).append(
                    {
                        "accelerator": p.accelerator,
                        "count": p.total,
                        "source": f"suanli plan {inst.name}: bought",
                    }
                )
        site["pools"] = [p for p in site.get("pools", []) if p["count"] > 0]
        for key in ("tariff", "carbon"):
            series = site.get(key, {}).get("series")
            if series is not None:
                series["path"] = str((planning.scenario.base_dir / series["path"]).resolve())
    for tenant in data.get("tenants", []):
        tenant.pop("quotas", None)  # operating policy, not capacity: the plan does not model it
    data.pop("workload", None)
    classes, datasets, profiles = [], list(data.get("datasets", [])), dict(data.get("profiles", {}))
    ref = sc.catalog[pf.reference_accelerator]
    by_name = {c.name: c for c in plan.classes}
    for cls in pf.classes:
        if cls.jobs is None or cls.profile is None:
            continue
        cp = by_name[cls.name]
        profile = sc.profiles[cls.profile]
        pid = f"plan-{cls.name}"
        profiles[pid] = {
            "kind": profile.kind.value,
            "precisions": list(profile.precisions),
            "flops_per_byte": profile.flops_per_byte,
            "memory_gb": profile.memory_gb,
            "power_factor": profile.power_factor,
            "source": f"copy of profile {profile.id} for demand class {cls.name}",
        }
        gang = expected_draw(cls.jobs.gang, float(min_devices(ref, profile)))
        hours = expected_draw(cls.jobs.hours_on_reference)
        speed = profile_speed(sc, ref, profile)
        used: dict[str, float] = {}
        for _, acc, devices in cp.devices:
            used[acc] = used.get(acc, 0.0) + devices
        entry: dict[str, Any] = {
            "name": cls.name,
            "tenant": cls.jobs.tenant,
            "profile": pid,
            "jobs_per_day": round(24.0 * cp.demand_pflops / (gang * hours * speed), 6),
            "gang": cls.jobs.gang.model_dump(exclude_none=True, exclude_defaults=True),
            "hours_on_reference": cls.jobs.hours_on_reference.model_dump(
                exclude_none=True, exclude_defaults=True
            ),
            "accepted_types": sorted(used, key=lambda a: (-used[a], a)),
        }
        if cls.accepted_stacks:
            entry["accepted_stacks"] = list(cls.accepted_stacks)
        if cls.users_near is not None:
            ok = allowed_sites(sc, cls)
            ds = f"users-{cls.name}"
            datasets.append(
                {
                    "id": ds,
                    "size_tb": 0.001,
                    "home": cls.users_near,
                    "residency": [s.id for s, o in zip(sc.sites, ok, strict=True) if o],
                    "source": f"suanli plan: keeps {cls.name} within {cls.max_latency_ms} ms "
                    f"of {cls.users_near}",
                }
            )
            entry["datasets"] = [ds]
        for key in (
            "deferrable",
            "preemptible",
            "deadline_hours",
            "checkpoint_interval_min",
            "restart_cost_min",
            "priority",
        ):
            value = getattr(cls.jobs, key)
            if value is not None:
                entry[key] = value
        entry["source"] = (
            f"suanli plan {inst.name}: {cp.demand_pflops:,.1f} PFLOP/s sustained "
            f"(E[gang] {gang:.2f}, E[hours] {hours:.3f} on {ref.id})"
        )
        classes.append(entry)
    data["datasets"] = datasets
    data["profiles"] = profiles
    services = _planned_services(planning, plan, data.get("services", []))
    if services:
        data["services"] = services
    else:
        data.pop("services", None)
    if classes:
        data["workload"] = {
            "generator": {
                "seed": 0,
                "reference_accelerator": ref.id,
                "classes": classes,
                "source": f"demand of plan {inst.name} (suanli plan)",
            }
        }
    return data


def _planned_services(
    planning: Planning, plan: Plan, configs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The scenario's services that a class plans, shapes narrowed to the plan's types."""
    planned = {c.service for c in planning.file.classes if c.service is not None}
    out = []
    for cfg in configs:
        if cfg.get("id") not in planned:
            continue
        used: dict[str, float] = {}
        for cp in plan.classes:
            if cp.service == cfg["id"]:
                for _, acc, devices in cp.devices:
                    used[acc] = used.get(acc, 0.0) + devices
        if used:
            given: dict[str, int | None] = {}
            for sh in cfg.get("shapes", []):
                given.setdefault(sh["accelerator"], sh.get("devices"))
            shapes = []
            for acc in sorted(used, key=lambda a: (-used[a], a)):
                shape: dict[str, Any] = {"accelerator": acc}
                if given.get(acc) is not None:
                    shape["devices"] = given[acc]
                shapes.append(shape)
            cfg["shapes"] = shapes
        for region in cfg.get("regions", []):
            demand = region.get("demand", {})
            if demand.get("file") is not None:
                demand["file"] = str((planning.scenario.base_dir / demand["file"]).resolve())
        out.append(cfg)
    return out


def write_plan_scenario(planning: Planning, plan: Plan, inst: PlanInstance, path: Path) -> None:
    """Write the plan's scenario to ``path`` and check that it loads."""
    data = plan_scenario_data(planning, plan, inst)
    header = (
        f"# {data['name']} — written by `suanli plan` from {planning.source} over "
        f"{planning.scenario.source}.\n"
        "# The fleet after the plan and a workload generator that produces the planned demand;\n"
        "# run it with `suanli simulate` to check that the plan delivers it.\n"
    )
    text = header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(text, encoding="utf-8")
    try:
        parse_scenario(text, str(path), path.resolve().parent)
    except SuanliError as exc:  # pragma: no cover - a bug, not a user error
        raise SuanliError(f"internal error: the plan's scenario does not validate: {exc}") from exc


def _ceil(value: float, digits: int) -> float:
    scale = 10**digits
    return float(np.ceil(value * scale - 1e-9) / scale)
