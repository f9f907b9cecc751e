"""Converters from public serving traces into suanli's demand format
(:mod:`suanli.workload.demand_file`), one module each.

:data:`DEMAND_CONVERTERS` maps a ``--from`` name to its function; each takes the source
path and keyword options (``service``, ``region``, ``timezone``, ``peak``,
``shift_hours``, ``window_minutes``; ``None`` for the source's default) and returns a
:class:`DemandConversion`. The request-level readers
:func:`suanli.trace.demand_sources.azure_llm.read_requests` and
:func:`suanli.trace.demand_sources.mooncake.read_requests` are public.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from suanli.errors import UnknownNameError
from suanli.trace.demand_sources.azure_llm import convert_azure_llm
from suanli.trace.demand_sources.common import DemandConversion
from suanli.trace.demand_sources.mooncake import convert_mooncake
from suanli.trace.demand_sources.servegen import convert_servegen

DEMAND_CONVERTERS: Mapping[str, Callable[..., DemandConversion]] = {
    "servegen": convert_servegen,
    "azure-llm": convert_azure_llm,
    "mooncake": convert_mooncake,
}

OPTIONS: tuple[str, ...] = (
    "service",
    "region",
    "timezone",
    "peak",
    "shift_hours",
    "window_minutes",
)
"""The options every demand converter takes."""


def convert_demand(path: Path, source: str, **options: Any) -> DemandConversion:
    """Convert ``path`` from the serving trace format ``source`` (a key of
    :data:`DEMAND_CONVERTERS`)."""
    if source not in DEMAND_CONVERTERS:
        raise UnknownNameError("demand source", source, DEMAND_CONVERTERS)
    return DEMAND_CONVERTERS[source](path, **options)


__all__ = ["DEMAND_CONVERTERS", "OPTIONS", "DemandConversion", "convert_demand"]
