"""Converters from public trace formats into suanli's trace format, one module each.

:data:`CONVERTERS` maps a ``--from`` name to its function; each takes the source
path, ``strict`` (malformed rows are errors instead of counted skips) and its own
options, and returns a :class:`~suanli.trace.sources.common.Conversion`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from suanli.errors import UnknownNameError
from suanli.trace.sources.common import Conversion
from suanli.trace.sources.openb import convert_openb
from suanli.trace.sources.philly import convert_philly
from suanli.trace.sources.pollux import convert_pollux
from suanli.trace.sources.tiresias import convert_tiresias

CONVERTERS: Mapping[str, Callable[..., Conversion]] = {
    "philly": convert_philly,
    "openb": convert_openb,
    "pollux": convert_pollux,
    "tiresias": convert_tiresias,
}


def convert_source(path: Path, source: str, *, strict: bool = False, **options: Any) -> Conversion:
    """Convert ``path`` from the format ``source`` (a key of :data:`CONVERTERS`)."""
    if source not in CONVERTERS:
        raise UnknownNameError("trace source", source, CONVERTERS)
    return CONVERTERS[source](path, strict=strict, **options)


__all__ = ["CONVERTERS", "Conversion", "convert_source"]
