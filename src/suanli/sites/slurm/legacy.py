"""The ``--slurm-config`` file of earlier releases, read as a sites file (deprecated).

.. code-block:: yaml

    gres_types: {nvidia_h100_sxm5: h100}      # now: device_types
    sites:
      east: {slurm_conf: /etc/suanli/sites/east/slurm.conf, gres_types: {}}

becomes a sites file (:mod:`suanli.sites.config`) in which every site has
``backend: slurm`` and ``gres_types`` are ``device_types``. It will be removed in the
next release: :data:`DEPRECATION` says what to write instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from suanli.errors import InputError, Problem
from suanli.model.scenario import Scenario
from suanli.sites.config import SitesConfig, load_sites, read_yaml

DEPRECATION = (
    "--slurm-config is deprecated and will be removed in the next release: write a sites "
    "file (--sites FILE) with `backend: slurm` in every site and `device_types` for "
    "`gres_types` (docs/serve.md, 'The sites file')"
)


def as_sites_file(raw: Any, label: str) -> dict[str, Any]:
    """An old ``--slurm-config`` document as a sites-file document."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("sites"), Mapping):
        raise InputError([Problem(label, "sites", "missing", "map every site to its slurm_conf")])
    out: dict[str, Any] = {"sites": {}}
    for key, value in raw.items():
        if key == "gres_types":
            out["device_types"] = value
        elif key != "sites":
            out[key] = value  # reported as unknown by the sites file's checks
    for sid, entry in raw["sites"].items():
        site = dict(entry) if isinstance(entry, Mapping) else entry
        if isinstance(site, dict):
            if "gres_types" in site:
                site["device_types"] = site.pop("gres_types")
            site = {"backend": "slurm", **site}
        out["sites"][sid] = site
    return out


def load_slurm_config(path: Path, scenario: Scenario) -> SitesConfig:
    """Read an old ``--slurm-config`` file and check it as a sites file."""
    return load_sites(as_sites_file(read_yaml(path), str(path)), scenario, str(path))
