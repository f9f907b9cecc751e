"""Built-in scenarios shipped with the package.

``cn-hubs-2026`` — the eight hubs of China's national computing network ("East
Data, West Computing") with a week of AI work and three online inference services
for users in the eastern regions; the default everywhere.

``cn-hubs-2026-batch`` — the same fleet and batch workload without the services, so
that batch benchmarks stay comparable with those measured before the services came.
It is not a second file: its text is the default's, cut at the line that opens the
services section (:data:`SERVICES_MARKER`), under its own name.

``cn-hubs-2026-busy`` — a busy national week (issue 13): ``cn-hubs-2026-batch`` with every
job class's arrival rate scaled by one factor so that the generated workload offers
:data:`BUSY_LOAD` of the fleet instead of the default's 0.62 — enough for queues to form, so
that ``fifo``, ``backfill`` and ``las`` differ (on the default week no queue forms and they
give the same schedule). The factor is computed when the scenario is read, by the code
``suanli sweep --loads`` uses (:func:`suanli.config.summary.scaled`, in
:func:`suanli.config.loader.read_scenario_text`), and the scaled rates are written into the
``jobs_per_day`` lines, so that ``suanli scenario export`` gives the
busy week as a plain file. It keeps no services, on purpose: the offered load counts the
batch classes only, the services' replicas would take a share of the fleet that changes with
the serving policy, and without them its batch figures compare with those of
``cn-hubs-2026-batch``.

``eu-na-2026`` — a second fleet, outside China: seven sites in Europe and North America in
four currencies and seven time zones, NVIDIA and AMD accelerators, EU data that stays in the
EU, a week of batch work with deferrable classes, and three online inference services for
users in six regions (docs/scenario-format.md, "eu-na-2026").
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from suanli.errors import UnknownNameError

DEFAULT = "cn-hubs-2026"
#: The national default without its online inference services.
BATCH_ONLY = "cn-hubs-2026-batch"
#: The national default's batch week at a higher offered load (:data:`BUSY_LOAD`).
BUSY = "cn-hubs-2026-busy"
#: The offered load of :data:`BUSY` (``suanli validate cn-hubs-2026-busy`` shows it).
BUSY_LOAD = 0.9
#: The multi-region fleet in Europe and North America.
EU_NA = "eu-na-2026"
BUILTIN: dict[str, str] = {
    DEFAULT: "cn-hubs-2026.yaml",
    BATCH_ONLY: "cn-hubs-2026.yaml",
    BUSY: "cn-hubs-2026.yaml",
    EU_NA: "eu-na-2026.yaml",
}
#: Variants derived from a file: name → the file's scenario they drop the services of.
_BATCH_VARIANTS: dict[str, str] = {BATCH_ONLY: DEFAULT, BUSY: DEFAULT}
#: Variants whose arrival rates are scaled: name → the offered load they are scaled to.
_LOAD_VARIANTS: dict[str, float] = {BUSY: BUSY_LOAD}
#: The comment line that opens the services section of a built-in file; everything from it
#: to the end (``user_regions`` and ``services``) is left out of a batch-only variant.
SERVICES_MARKER = "# --- online inference services"


def builtin_names() -> list[str]:
    """Names of the built-in scenarios."""
    return sorted(BUILTIN)


def builtin_text(name: str) -> str:
    """The YAML text of a built-in scenario (raises UnknownNameError)."""
    if name not in BUILTIN:
        raise UnknownNameError("scenario", name, BUILTIN)
    if name in _LOAD_VARIANTS:
        raise ValueError(
            f"{name} is scaled when loaded: read it with suanli.config.read_scenario_text"
        )
    text = resources.files(__name__).joinpath(BUILTIN[name]).read_text("utf-8")
    base = _BATCH_VARIANTS.get(name)
    return text if base is None else without_services(text, base, name)


def without_services(text: str, base: str, name: str) -> str:
    """``text`` (the built-in ``base``) cut before its services section and renamed ``name``,
    with a first comment line saying so."""
    note = (
        f"# {name} — {base} without its online inference services (user_regions, services):\n"
        f"# the same fleet and batch workload, for batch benchmarks comparable with those before\n"
        f"# the services. Derived from {base} when loaded (suanli.scenarios).\n"
    )
    return note + _cut_services(text, base, name)


def load_variant(name: str) -> tuple[str, float] | None:
    """For a variant whose arrival rates are scaled (:data:`BUSY`): the built-in whose batch
    week it scales and the offered load it is scaled to; ``None`` for the others. Its text
    is made by :func:`suanli.config.loader.read_scenario_text` (scaling needs the parsed
    scenario, a layer above this one)."""
    if name not in _LOAD_VARIANTS:
        return None
    return _BATCH_VARIANTS[name], _LOAD_VARIANTS[name]


def batch_text(name: str) -> str:
    """The batch week a load variant scales: its base's text without services, renamed."""
    base = _BATCH_VARIANTS[name]
    text = resources.files(__name__).joinpath(BUILTIN[name]).read_text("utf-8")
    return _cut_services(text, base, name)


def _cut_services(text: str, base: str, name: str) -> str:
    head, marker, _ = text.partition("\n" + SERVICES_MARKER)
    renamed, n = re.subn(r"^name: .*$", f"name: {name}", head, count=1, flags=re.M)
    if not marker or n != 1:
        raise RuntimeError(f"built-in {base}: no services section or no name line to derive {name}")
    return renamed.rstrip("\n") + "\n"


def builtin_dir() -> Path:
    """Directory that relative paths in built-in scenarios are resolved against."""
    return Path(str(resources.files(__name__)))
