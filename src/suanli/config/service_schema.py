"""The scenario file's online inference services: ``user_regions:`` and ``services:``.

Shapes, ranges and units only; references (tenants, regions, accelerators, models, demand
files) and whether a replica fits anywhere are checked by :mod:`suanli.config.services`.
A reference of every field is in ``docs/scenario-format.md`` (section Services).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from suanli.config.schema_base import ID_PATTERN, Identifier, Location, Strict

PrecisionName = Literal["fp4", "fp8", "int8", "fp16", "bf16"]


class UserRegionConfig(Strict):
    """Where users are: a city or province, located; ``site`` names a site in the same
    city (latencies then follow the scenario's links), ``timezone`` is IANA."""

    id: Identifier = Field(pattern=ID_PATTERN)
    name: str = ""
    location: Location
    timezone: str | None = None
    site: str | None = None
    source: str = ""


class ModelConfig(Strict):
    """A served model given inline (else a built-in model's id: ``suanli catalog models``)."""

    id: Identifier = Field(pattern=ID_PATTERN)
    total_params_b: float = Field(gt=0, le=100_000)
    active_params_b: float = Field(gt=0, le=100_000)
    precision: PrecisionName
    kv_bytes_per_token: float = Field(gt=0, le=1e9)
    context_tokens: int = Field(gt=0, le=100_000_000)
    attn_prefill_flops: float = Field(default=0.0, ge=0, le=1e12)
    attn_decode_flops: float = Field(default=0.0, ge=0, le=1e12)
    source: str = ""

    @model_validator(mode="after")
    def _active(self) -> ModelConfig:
        if self.active_params_b > self.total_params_b:
            raise ValueError("active_params_b cannot exceed total_params_b")
        return self


class SloConfig(Strict):
    """Latency promise: TTFT p99 (network included) and TPOT, met for ``attainment``."""

    ttft_p99_ms: float = Field(gt=0, le=3_600_000)
    tpot_ms: float = Field(gt=0, le=60_000)
    attainment: float = Field(default=0.99, gt=0, le=1)


class LengthConfig(Strict):
    """Token lengths: a histogram (``tokens`` with ``probability``), or a ``mean`` with a
    coefficient of variation ``cv`` (a log-normal, cut into 32 equally likely bins)."""

    tokens: list[int] | None = None
    probability: list[float] | None = None
    mean: float | None = Field(default=None, gt=0, le=100_000_000)
    cv: float = Field(default=1.0, ge=0, le=100)

    @model_validator(mode="after")
    def _one_form(self) -> LengthConfig:
        hist = self.tokens is not None or self.probability is not None
        if hist == (self.mean is not None):
            raise ValueError("give either tokens with probability, or mean (and cv)")
        if hist:
            if self.tokens is None or self.probability is None:
                raise ValueError("give tokens and probability together")
            if len(self.tokens) != len(self.probability) or not self.tokens:
                raise ValueError("tokens and probability need the same, non-zero length")
            if any(t < 1 for t in self.tokens):
                raise ValueError("tokens must be at least 1")
            if any(p < 0 for p in self.probability) or abs(sum(self.probability) - 1) > 1e-6:
                raise ValueError("probabilities must be non-negative and sum to 1")
        return self


class CurveRef(Strict):
    """A curve in a demand file, by the service and region it was written for."""

    service: str
    region: str


class DemandConfig(Strict):
    """A service's demand in one region: a curve from a demand file (``file``, ``curve``,
    ``shift_hours``) or an inline daily shape (``hourly`` with ``cv`` and lengths);
    ``peak_rps`` scales either to that peak (required inline)."""

    peak_rps: float | None = Field(default=None, gt=0, le=10_000_000)
    hourly: list[float] | None = None
    cv: float = Field(default=1.0, ge=0, le=100)
    input_tokens: LengthConfig | None = None
    output_tokens: LengthConfig | None = None
    file: str | None = None
    curve: CurveRef | None = None
    shift_hours: float = Field(default=0.0, ge=-168, le=168)

    @model_validator(mode="after")
    def _one_source(self) -> DemandConfig:
        if (self.hourly is None) == (self.file is None):
            raise ValueError("give either hourly (an inline daily shape) or file (a demand file)")
        if self.hourly is not None:
            if len(self.hourly) not in (24, 168):
                raise ValueError(f"hourly needs 24 or 168 values, got {len(self.hourly)}")
            if any(v < 0 for v in self.hourly) or max(self.hourly) <= 0:
                raise ValueError("hourly values must be non-negative, and one positive")
            if self.peak_rps is None:
                raise ValueError("an inline shape needs peak_rps")
            if self.input_tokens is None or self.output_tokens is None:
                raise ValueError("an inline shape needs input_tokens and output_tokens")
            if self.curve is not None or self.shift_hours:
                raise ValueError("curve and shift_hours apply to a demand file only")
        elif self.input_tokens is not None or self.output_tokens is not None:
            raise ValueError("a demand file gives the token lengths; drop input/output_tokens")
        return self


class ServiceRegionConfig(Strict):
    """A region the service's users are in, its latency bound and its demand."""

    region: str
    max_latency_ms: float = Field(gt=0, le=10_000)
    demand: DemandConfig


class ReplicaShapeConfig(Strict):
    """An accelerator type a replica may use, with ``devices`` per replica (default: the
    smallest that holds the model and one full context)."""

    accelerator: str
    devices: int | None = Field(default=None, ge=1, le=1_000_000)


class ReplicasConfig(Strict):
    """Bounds on the number of replicas."""

    min: int = Field(default=0, ge=0, le=1_000_000)
    max: int | None = Field(default=None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _order(self) -> ReplicasConfig:
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class ServiceConfig(Strict):
    """An online inference service (see :class:`suanli.model.service.Service`)."""

    id: Identifier = Field(pattern=ID_PATTERN)
    name: str = ""
    tenant: str
    model: str | ModelConfig
    slo: SloConfig
    regions: list[ServiceRegionConfig] = Field(min_length=1)
    shapes: list[ReplicaShapeConfig] = Field(default_factory=list)
    replicas: ReplicasConfig = Field(default_factory=ReplicasConfig)
    load_gbps: float = Field(default=10.0, gt=0, le=100_000)
    startup_s: float = Field(default=30.0, ge=0, le=86_400)
    priority: int = Field(default=0, ge=-1000, le=1000)
    source: str = ""
    #: What a replica runs at its site in the live control plane (its model server).
    command: str = Field(default="", max_length=10_000)
