"""The sites file: which backend runs each site of the scenario, and its settings.

.. code-block:: yaml

    device_types:                  # accelerator id -> the backend's name for it
      nvidia_h100_sxm5: h100       # (Slurm: the GRES Type= of gres.conf)
    sites:
      east:
        backend: slurm
        slurm_conf: /etc/suanli/sites/east/slurm.conf
        partition: gpu             # more settings: suanli.sites.slurm.SlurmSettings
      west:
        backend: slurm
        slurm_conf: /etc/suanli/sites/west/slurm.conf
        device_types: {nvidia_h100_sxm5: h100-80g}   # this site's own names
      lab:
        backend: dry-run           # pretends to run each job
        run_seconds: 5

Every site of the scenario needs an entry, and no other site may have one. ``backend``
is one of the registered backends (:mod:`suanli.sites.registry`); the other keys are
that backend's settings (a backend may check them against the scenario's tenants: Slurm's
Unix users, :mod:`suanli.sites.slurm.backend`). A backend that needs device types (Slurm)
needs one for every accelerator of the site's pools; others use the accelerator id. A
backend that cannot ask for a device type can serve only sites whose pools are all of one
type. Every problem is reported with the file and the field, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from suanli.clock import Clock
from suanli.errors import InputError, Problem, UnknownNameError
from suanli.model.scenario import Scenario
from suanli.sites.base import Feature, SiteBackend
from suanli.sites.registry import BackendSettings, backend, backend_names, supports


@dataclass(frozen=True, slots=True)
class SiteSetup:
    """One site's backend, its validated settings and its device-type names."""

    site: str
    backend: str
    settings: BackendSettings
    device_types: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SitesConfig:
    """Every site of a scenario, set up (see the module docstring)."""

    sites: Mapping[str, SiteSetup]

    def device_type(self, site: str, accelerator: str) -> str:
        """The backend's name for ``accelerator`` at ``site`` (the id if it has none)."""
        return self.sites[site].device_types.get(accelerator, accelerator)

    def build(self, clock: Clock) -> dict[str, SiteBackend]:
        """One backend object per site."""
        return {sid: backend(s.backend)(sid, s.settings, clock) for sid, s in self.sites.items()}

    def supports(self, site: str, feature: Feature) -> bool:
        """Whether ``site``'s backend can do ``feature``."""
        return supports(backend(self.sites[site].backend), feature)


def read_yaml(path: Path) -> Any:
    """A YAML file's content, or an :class:`InputError` naming the file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError([Problem(str(path), "", f"cannot read: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(str(path), "", f"not valid YAML: {exc}")]) from None


def load_sites(
    source: Path | Mapping[str, Any], scenario: Scenario, label: str | None = None
) -> SitesConfig:
    """Read and check a sites file (or an already parsed mapping, named ``label`` in
    errors) against ``scenario``."""
    label = label or (str(source) if isinstance(source, Path) else "sites")
    raw = read_yaml(source) if isinstance(source, Path) else source
    problems: list[Problem] = []
    if not isinstance(raw, Mapping) or not isinstance(raw.get("sites"), Mapping):
        raise InputError(
            [Problem(label, "sites", "missing", "map every site of the scenario to its backend")]
        )
    unknown = sorted(set(raw) - {"sites", "device_types"})
    for key in unknown:
        problems.append(Problem(label, key, "unknown key", "valid keys: device_types, sites"))
    common = _names(raw.get("device_types"), label, "device_types", problems)
    by_id = {s.id: s for s in scenario.sites}
    tenants = [t.id for t in scenario.tenants]
    for sid in sorted(set(raw["sites"]) - set(by_id)):
        problems.append(
            Problem(label, f"sites.{sid}", "not a site of the scenario", f"sites: {list(by_id)}")
        )
    setups: dict[str, SiteSetup] = {}
    for sid, site in by_id.items():
        entry = raw["sites"].get(sid)
        where = f"sites.{sid}"
        if entry is None:
            problems.append(
                Problem(label, where, "missing", f"add it with a backend: {backend_names()}")
            )
            continue
        if not isinstance(entry, Mapping):
            problems.append(Problem(label, where, "must be a mapping with a backend"))
            continue
        values = dict(entry)
        name = values.pop("backend", None)
        if name is None:
            problems.append(
                Problem(label, f"{where}.backend", "missing", f"one of: {backend_names()}")
            )
            continue
        try:
            cls = backend(str(name))
        except UnknownNameError as exc:
            problems.append(
                Problem(label, f"{where}.backend", f"unknown backend {name!r}", f"{exc}")
            )
            continue
        own = _names(values.pop("device_types", None), label, f"{where}.device_types", problems)
        types = {**common, **own}
        accelerators = sorted({p.accelerator for p in site.pools})
        if cls.needs_device_types:
            problems.extend(
                Problem(
                    label,
                    f"device_types.{acc}",
                    f"no device type for {acc} (site {sid}, backend {name})",
                    "map it to the backend's name for it, e.g. the Type= in gres.conf: h100",
                )
                for acc in accelerators
                if acc not in types
            )
        if len(accelerators) > 1 and not supports(cls, Feature.TYPED_DEVICES):
            problems.append(
                Problem(
                    label,
                    where,
                    f"the {name} backend cannot ask for a device type "
                    f"({cls.unsupported[Feature.TYPED_DEVICES]}), but {sid} has pools of "
                    f"{len(accelerators)} types",
                    "give each accelerator type its own site, or use another backend",
                )
            )
        try:
            settings = cls.Settings.model_validate(values)
        except ValidationError as exc:
            problems.extend(
                Problem(
                    label,
                    ".".join((where, *(str(x) for x in e["loc"]))),
                    str(e["msg"]),
                    f"settings of the {name} backend: {', '.join(cls.Settings.model_fields)}",
                )
                for e in exc.errors()
            )
            continue
        check_setup = getattr(cls, "check_setup", None)  # e.g. who runs tenants' jobs
        if check_setup is not None:
            problems.extend(
                Problem(label, f"{where}.{field}", what, fix)
                for field, what, fix in check_setup(settings, tenants)
            )
        setups[sid] = SiteSetup(sid, str(name), settings, types)
    if problems:
        raise InputError(problems)
    return SitesConfig(setups)


def dry_run_sites(scenario: Scenario, run_seconds: float = 1.0) -> SitesConfig:
    """Every site of ``scenario`` a ``dry-run`` site whose jobs run ``run_seconds``."""
    return load_sites(
        {
            "sites": {
                s.id: {"backend": "dry-run", "run_seconds": run_seconds} for s in scenario.sites
            }
        },
        scenario,
    )


def _names(value: Any, label: str, where: str, problems: list[Problem]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        problems.append(
            Problem(
                label, where, "must map accelerator ids to names", "e.g. {nvidia_h100_sxm5: h100}"
            )
        )
        return {}
    return dict(value)
