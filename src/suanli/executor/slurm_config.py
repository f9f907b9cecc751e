"""The operator's file that maps each scenario site to its Slurm cluster.

.. code-block:: yaml

    gres_types:                    # accelerator id -> Slurm GRES type (gres.conf Type=)
      nvidia_h100_sxm5: h100
      huawei_ascend_910b: ascend910b
    sites:
      east:
        slurm_conf: /etc/suanli/sites/east/slurm.conf   # SLURM_CONF for this site
        partition: gpu             # optional
        account: ai                # optional (--account)
        qos: normal                # optional (--qos)
        output: /dev/null          # --output of jobs (Slurm's %j etc. allowed)
        extra_args: ["--time=24:00:00"]
        gres_types: {}             # per-site overrides of the map above
        timeout_s: 30              # per command
      west: {slurm_conf: /etc/suanli/sites/west/slurm.conf}

Every site of the scenario needs an entry, and every accelerator type of its pools a
GRES type; the loader says which are missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suanli.errors import InputError, Problem
from suanli.model.scenario import Scenario


class SiteConfig(BaseModel):
    """How to reach one site's Slurm cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slurm_conf: Path | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    output: str = "/dev/null"
    workdir: Path | None = None
    extra_args: tuple[str, ...] = ()
    gres_types: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    bin_dir: Path | None = None

    def command(self, name: str) -> str:
        """Path of a Slurm command (``bin_dir``/name, or the name to look up on PATH)."""
        return str(self.bin_dir / name) if self.bin_dir else name


class SlurmConfig(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gres_types: dict[str, str] = Field(default_factory=dict)
    sites: dict[str, SiteConfig]


def load_slurm_config(source: Path | Mapping[str, Any], scenario: Scenario) -> SlurmConfig:
    """Read and check the file (or an already parsed mapping) against the scenario."""
    label = str(source) if isinstance(source, Path) else "slurm config"
    if isinstance(source, Path):
        try:
            raw = yaml.safe_load(source.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError([Problem(label, "", f"cannot read: {exc}")]) from None
        except yaml.YAMLError as exc:
            raise InputError([Problem(label, "", f"not valid YAML: {exc}")]) from None
    else:
        raw = dict(source)
    try:
        cfg = SlurmConfig.model_validate(raw)
    except ValidationError as exc:
        raise InputError(
            Problem(label, ".".join(str(x) for x in e["loc"]), str(e["msg"])) for e in exc.errors()
        ) from None
    problems: list[Problem] = []
    site_ids = [s.id for s in scenario.sites]
    for sid in site_ids:
        if sid not in cfg.sites:
            problems.append(
                Problem(label, f"sites.{sid}", "missing", "add the site's slurm_conf path")
            )
    for sid in cfg.sites:
        if sid not in site_ids:
            problems.append(
                Problem(label, f"sites.{sid}", "not a site of the scenario", f"sites: {site_ids}")
            )
    for site in scenario.sites:
        sc = cfg.sites.get(site.id)
        if sc is None:
            continue
        for pool in site.pools:
            if gres_type(cfg, site.id, pool.accelerator) is None:
                problems.append(
                    Problem(
                        label,
                        f"gres_types.{pool.accelerator}",
                        f"no GRES type for {pool.accelerator} (site {site.id})",
                        "map it to the Type= name in the site's gres.conf, e.g. h100",
                    )
                )
    if problems:
        raise InputError(problems)
    return cfg


def gres_type(cfg: SlurmConfig, site: str, accelerator: str) -> str | None:
    """The GRES type of ``accelerator`` at ``site`` (site override, then the global map)."""
    sc = cfg.sites.get(site)
    if sc is not None and accelerator in sc.gres_types:
        return sc.gres_types[accelerator]
    return cfg.gres_types.get(accelerator)
