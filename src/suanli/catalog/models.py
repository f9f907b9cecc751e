"""The built-in catalog of served models: ``data/models.yaml`` → :class:`ModelSpec`.

Each entry is a :class:`~suanli.model.service.ServedModel` plus the attention cost the
serving model (:mod:`suanli.perf.serving`) can use, with a source for every figure
(keys ``params``, ``kv_cache``, ``context``, ``attention``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from suanli.errors import InputError, Problem
from suanli.model.service import ServedModel

MODELS_LABEL = "built-in models (suanli/catalog/data/models.yaml)"

#: Source keys every entry must give.
SOURCE_KEYS: tuple[str, ...] = ("params", "kv_cache", "context", "attention")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A served model and its attention cost: FLOPs per token per token of context it
    attends to, in prefill and in decode (they differ for latent attention)."""

    model: ServedModel
    name: str
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def attn_prefill_flops(self) -> float:
        """Attention FLOPs per prefilled token per token of context."""
        return self.model.attn_prefill_flops

    @property
    def attn_decode_flops(self) -> float:
        """Attention FLOPs per decoded token per token of context."""
        return self.model.attn_decode_flops


class ModelEntry(BaseModel):
    """One model as written in ``models.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    name: str
    total_params_b: float = Field(gt=0)
    active_params_b: float = Field(gt=0)
    precision: Literal["fp4", "fp8", "int8", "fp16", "bf16"]
    kv_bytes_per_token: float = Field(gt=0)
    context_tokens: int = Field(gt=0)
    attn_prefill_flops: float = Field(ge=0)
    attn_decode_flops: float = Field(ge=0)
    sources: dict[str, str]

    def to_spec(self) -> ModelSpec:
        """The frozen domain objects."""
        return ModelSpec(
            model=ServedModel(
                id=self.id,
                total_params_b=self.total_params_b,
                active_params_b=self.active_params_b,
                precision=self.precision,
                kv_bytes_per_token=self.kv_bytes_per_token,
                context_tokens=self.context_tokens,
                source="; ".join(f"{k}: {v}" for k, v in self.sources.items()),
                attn_prefill_flops=self.attn_prefill_flops,
                attn_decode_flops=self.attn_decode_flops,
            ),
            name=self.name,
            sources=dict(self.sources),
        )


class ModelsFile(BaseModel):
    """The models file: a list of models."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[ModelEntry]


def parse_models(data: Any, source: str) -> dict[str, ModelSpec]:
    """Validate models data (already parsed YAML) into specs by id (raises InputError)."""
    try:
        parsed = ModelsFile.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            Problem(source, ".".join(str(x) for x in e["loc"]), e["msg"]) for e in exc.errors()
        ) from None
    problems: list[Problem] = []
    specs: dict[str, ModelSpec] = {}
    for i, entry in enumerate(parsed.models):
        where = f"models[{i}]"
        if entry.id in specs:
            problems.append(Problem(source, f"{where}.id", f"duplicate id {entry.id!r}"))
        if entry.active_params_b > entry.total_params_b:
            problems.append(
                Problem(source, f"{where}.active_params_b", "more active than total parameters")
            )
        missing = [k for k in SOURCE_KEYS if not entry.sources.get(k)]
        if missing:
            problems.append(
                Problem(
                    source,
                    f"{where}.sources",
                    f"no source for {', '.join(missing)}",
                    "say where each figure comes from, or 'ASSUMPTION: why'",
                )
            )
        specs[entry.id] = entry.to_spec()
    if problems:
        raise InputError(problems)
    return specs


@cache
def load_model_specs() -> Mapping[str, ModelSpec]:
    """The built-in models with their attention cost, by id (cached; read-only)."""
    text = resources.files("suanli.catalog").joinpath("data/models.yaml").read_text("utf-8")
    return parse_models(yaml.safe_load(text), MODELS_LABEL)


def load_models() -> Mapping[str, ServedModel]:
    """The built-in served models, by id."""
    return {k: v.model for k, v in load_model_specs().items()}
