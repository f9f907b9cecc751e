"""Built-in scenarios shipped with the package.

``cn-hubs-2026`` — the eight hubs of China's national computing network ("East
Data, West Computing") with a week of AI work; the default everywhere.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from suanli.errors import UnknownNameError

DEFAULT = "cn-hubs-2026"
BUILTIN: dict[str, str] = {"cn-hubs-2026": "cn-hubs-2026.yaml"}


def builtin_names() -> list[str]:
    """Names of the built-in scenarios."""
    return sorted(BUILTIN)


def builtin_text(name: str) -> str:
    """The YAML text of a built-in scenario (raises UnknownNameError)."""
    if name not in BUILTIN:
        raise UnknownNameError("scenario", name, BUILTIN)
    return resources.files(__name__).joinpath(BUILTIN[name]).read_text("utf-8")


def builtin_dir() -> Path:
    """Directory that relative paths in built-in scenarios are resolved against."""
    return Path(str(resources.files(__name__)))
