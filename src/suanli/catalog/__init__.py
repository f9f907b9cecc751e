"""The accelerator catalog: a data file in the package, loaded into :class:`Accelerator`.

``data/accelerators.yaml`` is built from ``shared/data/catalog/accelerators.csv``
(and, for chips that file lacks figures for, from labelled assumptions). Every
number carries a source in the entry's ``sources`` map, keyed by field group
(:data:`SOURCE_GROUPS`). Export-control figures (TPP, PD, 3A090 class) are not
stored: :mod:`suanli.catalog.export_control` computes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suanli.errors import InputError, Problem
from suanli.model.accelerator import Accelerator

#: Which source key covers which numeric fields of an entry.
SOURCE_GROUPS: Mapping[str, tuple[str, ...]] = {
    "compute": ("bf16_tflops", "fp16_tflops", "fp8_tflops", "int8_tops", "fp4_tflops"),
    "memory": ("mem_gb", "mem_bw_tbs"),
    "power": ("tdp_w", "idle_w"),
    "die_area": ("die_area_mm2",),
    "interconnect": ("interconnect_gbs",),
    "price": ("price_usd",),
}

CATALOG_LABEL = "built-in catalog (suanli/catalog/data/accelerators.yaml)"


class AcceleratorEntry(BaseModel):
    """One accelerator as written in a catalog file (or added by a scenario)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    name: str
    vendor: str
    origin: str = Field(pattern=r"^[A-Z]{2}$", description="ISO country code of the designer")
    stack: str = Field(pattern=r"^[a-z0-9_]+$")
    status: str = ""
    bf16_tflops: float | None = Field(default=None, gt=0)
    fp16_tflops: float | None = Field(default=None, gt=0)
    fp8_tflops: float | None = Field(default=None, gt=0)
    int8_tops: float | None = Field(default=None, gt=0)
    fp4_tflops: float | None = Field(default=None, gt=0)
    mem_gb: float | None = Field(default=None, gt=0)
    mem_bw_tbs: float | None = Field(default=None, gt=0)
    tdp_w: float | None = Field(default=None, gt=0)
    idle_w: float | None = Field(default=None, ge=0)
    die_area_mm2: float | None = Field(default=None, gt=0)
    interconnect_gbs: float | None = Field(default=None, gt=0)
    devices_per_node: int = Field(default=8, ge=1)
    node_gang_sizes: tuple[int, ...] = (1, 2, 4, 8)
    price_usd: float | None = Field(default=None, gt=0)
    sources: dict[str, str] = Field(default_factory=dict)
    notes: str = ""

    def to_model(self) -> Accelerator:
        """The frozen domain object."""
        data = self.model_dump()
        data["sources"] = dict(self.sources)
        return Accelerator(**data)


class CatalogFile(BaseModel):
    """The catalog file: a list of accelerators."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accelerators: list[AcceleratorEntry]


def entry_problems(entry: AcceleratorEntry, source: str, field: str) -> list[Problem]:
    """Problems with an entry that pydantic cannot see (missing sources, bad shapes)."""
    problems: list[Problem] = []
    for group, fields in SOURCE_GROUPS.items():
        present = [f for f in fields if getattr(entry, f) is not None]
        if present and not entry.sources.get(group):
            problems.append(
                Problem(
                    source,
                    f"{field}.sources.{group}",
                    f"{', '.join(present)} given without a source",
                    f"add sources: {{{group}: '<where it comes from, or ASSUMPTION: why>'}}",
                )
            )
    unknown = set(entry.sources) - set(SOURCE_GROUPS) - {"general", "node"}
    if unknown:
        problems.append(
            Problem(
                source,
                f"{field}.sources",
                f"unknown source group(s) {sorted(unknown)}",
                f"use {sorted({*SOURCE_GROUPS, 'general', 'node'})}",
            )
        )
    if any(g < 1 or g > entry.devices_per_node for g in entry.node_gang_sizes):
        problems.append(
            Problem(
                source,
                f"{field}.node_gang_sizes",
                f"sizes {list(entry.node_gang_sizes)} must lie in 1..{entry.devices_per_node}",
                "list the device counts a job may take inside one node",
            )
        )
    return problems


def parse_catalog(data: Any, source: str) -> dict[str, Accelerator]:
    """Validate catalog data (already parsed YAML) into accelerators by id."""
    try:
        parsed = CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            Problem(source, ".".join(str(x) for x in e["loc"]), e["msg"]) for e in exc.errors()
        ) from None
    problems: list[Problem] = []
    catalog: dict[str, Accelerator] = {}
    for i, entry in enumerate(parsed.accelerators):
        problems += entry_problems(entry, source, f"accelerators[{i}]")
        if entry.id in catalog:
            problems.append(Problem(source, f"accelerators[{i}].id", f"duplicate id {entry.id!r}"))
        catalog[entry.id] = entry.to_model()
    if problems:
        raise InputError(problems)
    return catalog


@cache
def load_catalog() -> Mapping[str, Accelerator]:
    """The built-in catalog, by accelerator id (cached; treat as read-only)."""
    text = resources.files("suanli.catalog").joinpath("data/accelerators.yaml").read_text("utf-8")
    return parse_catalog(yaml.safe_load(text), CATALOG_LABEL)
