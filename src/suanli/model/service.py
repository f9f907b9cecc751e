"""Online inference services (DESIGN §3a): a model served to users in several regions
within latency bounds.

A :class:`Service` serves one :class:`ServedModel` from *replicas*: each replica is
``devices`` devices of one accelerator type holding the weights (a
:class:`ReplicaShape`), with room left for the KV cache of the requests in flight.
Users sit in :class:`UserRegion` s; a region may be served from a site whose network
latency to it is at most the region's bound (:class:`ServiceRegion`), and that latency
adds to the time to first token. Demand per service and region over time is a
:class:`~suanli.workload.demand.Demand` (a documented, versioned file).

Sizes are in the units people quote: parameters in billions, the KV cache in bytes per
token of context (all layers, at the precision it is stored in), times in seconds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from suanli.model.accelerator import BIT_LENGTH

#: Bytes per parameter of each weight precision.
BYTES_PER_PARAM = {p: bits / 8 for p, bits in BIT_LENGTH.items()}


@dataclass(frozen=True, slots=True)
class ServedModel:
    """The model a service serves.

    ``total_params_b`` decide the weights' size (× bytes per parameter of ``precision``);
    ``active_params_b`` the FLOPs per token (2 per active parameter; equal to the total
    for a dense model, a fraction for a mixture of experts). ``kv_bytes_per_token`` is the
    KV cache one token of context holds over all layers; ``context_tokens`` the longest
    context a request may have. ``attn_prefill_flops`` / ``attn_decode_flops`` are the
    attention FLOPs per token per token of context it attends to, in prefill and decode
    (they differ for latent attention; 0: attention not counted).
    """

    id: str
    total_params_b: float
    active_params_b: float
    precision: str
    kv_bytes_per_token: float
    context_tokens: int
    source: str = ""
    attn_prefill_flops: float = 0.0
    attn_decode_flops: float = 0.0

    @property
    def weight_bytes(self) -> float:
        """Bytes of the weights at the served precision."""
        return self.total_params_b * 1e9 * BYTES_PER_PARAM[self.precision]

    @property
    def is_moe(self) -> bool:
        """A mixture of experts (fewer active than total parameters)."""
        return self.active_params_b < self.total_params_b


@dataclass(frozen=True, slots=True)
class Slo:
    """A service's latency promise: time to first token at the 99th percentile
    (including the network from the user's region) and time per output token, met for
    at least ``attainment`` of requests."""

    ttft_p99_s: float
    tpot_s: float
    attainment: float = 0.99


@dataclass(frozen=True, slots=True)
class UserRegion:
    """Where a service's users are (a city or province), located for the latency from
    distance when no link gives it; ``timezone`` (IANA) shifts demand curves."""

    id: str
    name: str
    lat: float
    lon: float
    timezone: str | None = None
    #: A site in the region's city: latencies to other sites are then the links'.
    site: str | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class DemandSpec:
    """Where a service's demand in one region comes from: a curve of a demand file
    (``file``, the curve ``curve_service``/``curve_region`` in it, rotated by
    ``shift_hours``), or a daily shape given inline (``hourly``: 24 relative rates by the
    region's local hour, or 168 for a week from Monday 00:00) with burstiness ``cv`` and
    token-length histograms ``input_tokens``/``output_tokens`` as ``(tokens, probability)``
    pairs. ``peak_rps`` scales the curve so its busiest window has that rate."""

    peak_rps: float | None = None
    hourly: tuple[float, ...] = ()
    cv: float = 1.0
    input_tokens: tuple[tuple[int, float], ...] = ()
    output_tokens: tuple[tuple[int, float], ...] = ()
    file: str | None = None
    curve_service: str | None = None
    curve_region: str | None = None
    shift_hours: float = 0.0


@dataclass(frozen=True, slots=True)
class ServiceRegion:
    """A region a service has users in, the most network latency (one way, ms) between
    them and a site that serves them, and the region's demand."""

    region: str
    max_latency_ms: float
    demand: DemandSpec = DemandSpec()


@dataclass(frozen=True, slots=True)
class ReplicaShape:
    """``devices`` devices of ``accelerator`` per replica (``devices`` 0: the smallest
    that holds the weights and the KV cache of one full context)."""

    accelerator: str
    devices: int = 0


@dataclass(frozen=True, slots=True)
class Service:
    """A model served to users in ``regions`` within ``slo``.

    ``shapes`` are the replica shapes it accepts, in order of preference (empty: any
    accelerator type whose memory holds the model, at its smallest replica). Replicas
    stay between ``min_replicas`` and ``max_replicas`` (None: no cap); a new replica
    is ready after loading the weights at ``load_gbps`` per replica (its cold start),
    one being removed drains its requests first. ``command`` is what a replica runs at its
    site in the live control plane (its model server; empty: a placeholder that holds
    the devices).
    """

    id: str
    name: str
    tenant: str
    model: ServedModel
    slo: Slo
    regions: tuple[ServiceRegion, ...]
    shapes: tuple[ReplicaShape, ...] = ()
    min_replicas: int = 0
    max_replicas: int | None = None
    load_gbps: float = 10.0
    priority: int = 0
    source: str = ""
    command: str = ""
    #: Seconds a replica's serving engine takes to start before loading weights (30 s:
    #: an assumption, of the order of a vLLM or SGLang start-up).
    startup_s: float = 30.0

    def cold_start_s(self) -> float:
        """Seconds from start to serving: ``startup_s`` (the serving engine's own start)
        plus the weights' bytes over the load bandwidth."""
        return self.startup_s + self.model.weight_bytes * 8 / (self.load_gbps * 1e9)

    def bounded(self, min_replicas: int | None, max_replicas: int | None) -> Service:
        """This service with replica bounds set where given (None: keep its own) — how an
        operator's bounds (``PATCH /v1/services``) override a service's spec."""
        lo = self.min_replicas if min_replicas is None else min_replicas
        hi = self.max_replicas if max_replicas is None else max_replicas
        if (lo, hi) == (self.min_replicas, self.max_replicas):
            return self
        return dataclasses.replace(self, min_replicas=lo, max_replicas=hi)
