"""Serving efficiencies per software stack, from ``serving.yaml`` (DESIGN §3a).

Each stack's figures say where they come from: calibrated against which rows of
``data/inference/serving-measurements.csv`` (docs/serving.md), or an ASSUMPTION. A stack
the file does not name gets the ``fallback`` entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suanli.errors import InputError, Problem
from suanli.perf.serving import ServingEfficiency

SERVING_LABEL = "built-in serving efficiencies (suanli/perf/serving.yaml)"


class StackEfficiency(BaseModel):
    """One stack's serving efficiencies as written in the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefill: float = Field(gt=0, le=1)
    decode_compute: float = Field(gt=0, le=1)
    decode_memory: float = Field(gt=0, le=1)
    step_overhead_s: float = Field(ge=0, lt=1)
    source: str = Field(min_length=1)

    def to_model(self, stack: str) -> ServingEfficiency:
        """The frozen domain object for ``stack``."""
        return ServingEfficiency(
            stack=stack,
            prefill=self.prefill,
            decode_compute=self.decode_compute,
            decode_memory=self.decode_memory,
            step_overhead_s=self.step_overhead_s,
            source=self.source,
        )


class ServingFile(BaseModel):
    """The file: efficiencies by stack, and the entry for stacks it does not name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stacks: dict[str, StackEfficiency]
    fallback: StackEfficiency


@cache
def _file() -> ServingFile:
    text = resources.files("suanli.perf").joinpath("serving.yaml").read_text("utf-8")
    try:
        return ServingFile.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise InputError(
            Problem(SERVING_LABEL, ".".join(str(x) for x in e["loc"]), e["msg"])
            for e in exc.errors()
        ) from None


def serving_efficiencies() -> Mapping[str, ServingEfficiency]:
    """The efficiencies of every stack the file names, by stack."""
    return {stack: e.to_model(stack) for stack, e in _file().stacks.items()}


def serving_efficiency(stack: str) -> ServingEfficiency:
    """The efficiencies of ``stack``; the file's fallback for a stack it does not name."""
    f = _file()
    entry = f.stacks.get(stack)
    if entry is None:
        fb = f.fallback.to_model(stack)
        return ServingEfficiency(
            stack=stack,
            prefill=fb.prefill,
            decode_compute=fb.decode_compute,
            decode_memory=fb.decode_memory,
            step_overhead_s=fb.step_overhead_s,
            source=f"fallback for an unknown stack: {fb.source}",
        )
    return entry.to_model(stack)
