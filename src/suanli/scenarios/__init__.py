"""Built-in scenarios shipped with the package.

``cn-hubs-2026`` — the eight hubs of China's national computing network ("East
Data, West Computing") with a week of AI work and three online inference services
for users in the eastern regions; the default everywhere.

``cn-hubs-2026-batch`` — the same fleet and batch workload without the services, so
that batch benchmarks stay comparable with those measured before the services came.
It is not a second file: its text is the default's, cut at the line that opens the
services section (:data:`SERVICES_MARKER`), under its own name.

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
#: The multi-region fleet in Europe and North America.
EU_NA = "eu-na-2026"
BUILTIN: dict[str, str] = {
    DEFAULT: "cn-hubs-2026.yaml",
    BATCH_ONLY: "cn-hubs-2026.yaml",
    EU_NA: "eu-na-2026.yaml",
}
#: Variants derived from a file: name → the file's scenario they drop the services of.
_BATCH_VARIANTS: dict[str, str] = {BATCH_ONLY: DEFAULT}
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
    text = resources.files(__name__).joinpath(BUILTIN[name]).read_text("utf-8")
    base = _BATCH_VARIANTS.get(name)
    return text if base is None else without_services(text, base, name)


def without_services(text: str, base: str, name: str) -> str:
    """``text`` (the built-in ``base``) cut before its services section and renamed ``name``,
    with a first comment line saying so."""
    head, marker, _ = text.partition("\n" + SERVICES_MARKER)
    renamed, n = re.subn(r"^name: .*$", f"name: {name}", head, count=1, flags=re.M)
    if not marker or n != 1:
        raise RuntimeError(f"built-in {base}: no services section or no name line to derive {name}")
    note = (
        f"# {name} — {base} without its online inference services (user_regions, services):\n"
        f"# the same fleet and batch workload, for batch benchmarks comparable with those before\n"
        f"# the services. Derived from {base} when loaded (suanli.scenarios).\n"
    )
    return note + renamed.rstrip("\n") + "\n"


def builtin_dir() -> Path:
    """Directory that relative paths in built-in scenarios are resolved against."""
    return Path(str(resources.files(__name__)))
