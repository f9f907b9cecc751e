"""Serving performance of one replica: prefill and decode speed (DESIGN §3a).

A replica is *r* devices of one accelerator with dense peak *P* (FLOP/s at the precision
it serves in), 16-bit peak *P₁₆*, HBM *m* bytes and bandwidth *B* (bytes/s) each. The
model has *N* total and *A* active parameters at *b* bytes each, so weights of
``W = N·b`` bytes, and a KV cache of *k* bytes per token of context. Attention costs
``a_p`` FLOPs per prefilled token per token of context it attends to, ``a_d`` per
decoded token per token of context (they differ for multi-head latent attention, which
decodes in its compressed form; both are 0 when not given, and attention runs at the
16-bit peak). A software stack reaches fractions ``e_p`` (prefill compute), ``e_c``
(decode compute) and ``e_m`` (decode memory) of peak, and each engine step costs a
fixed overhead ``s₀`` (kernel launches, scheduling, communication not hidden).

**Memory fit.** A fraction *u* of HBM is usable; what the weights leave holds the KV
cache::

    K = (u·r·m − W) / k   tokens,    the replica fits iff K ≥ context length.

**Prefill** is compute-bound. A prefilled token attending to *c* tokens of context on
average (about half its prompt, plus any prefix it reuses from a cache) costs::

    X_p = r·e_p / (2·A/P + a_p·c/P₁₆)   tokens/s.

**Decode** of a batch of *n* sequences with *L* tokens of context each reads the weights
the batch touches and the batch's KV cache, and computes ``2·A`` FLOPs per sequence plus
its attention over the context::

    t(n) = s₀ + max( n·(2·A/P + a_d·L/P₁₆) / (r·e_c),  (W·φ(n) + n·L·k) / (r·B·e_m) ),

where ``φ(n) = 1 − (1 − A/N)ⁿ`` is the fraction of the weights *n* tokens touch (1 for a
dense model; for a mixture of experts, the expected fraction of experts some token of
the batch routes to, taking experts as chosen independently). The weights are spread
over the *r* devices (expert parallelism), so at large *r* each device reads little of
them and the KV cache and attention dominate. The largest batch that meets the TPOT
target τ and fits the cache is

    n* = max { n : t(n) ≤ τ,  n·L ≤ K },

and decode throughput is ``X_d = n* / t(n*)`` tokens/s (0 if even ``n = 1`` misses τ).
A step that mixes prefill and decode (continuous batching) adds the prefill tokens'
FLOPs, at ``e_p``, to the compute term (:meth:`ReplicaPerf.step_s`).

**Requests.** A request with *I* input and *O* output tokens occupies the replica for
``I/X_p + O/X_d`` seconds of its capacity (prefill and decode share the devices), so a
replica serves at most ``μ = 1 / (Ī/X_p + Ō/X_d)`` requests/s at the mean lengths.
Input tokens served from a prefix cache are not computed: with a fraction *h* of them
hits, a replica takes in ``X_p / (1 − h)`` input tokens/s.

**Precision.** A model served at a precision the chip lacks runs at the nearest one it
has of the same width (FP8 ↔ INT8), else at BF16/FP16 with weights of 2 bytes.

The efficiencies per software stack are calibrated in ``suanli/perf/serving.yaml``
against published DeepSeek-V3/R1 deployments (docs/serving.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from suanli.model.accelerator import Accelerator
from suanli.model.job import JobKind, WorkloadProfile
from suanli.model.service import BYTES_PER_PARAM, ServedModel

#: Usable fraction of HBM (runtime, activations, fragmentation): an assumption, as
#: :data:`suanli.perf.memory.USABLE_FRACTION`.
USABLE_FRACTION = 0.9

#: Share of TDP a serving replica's devices draw (ASSUMPTION: decode-heavy serving keeps
#: accelerators busy, below training's draw of about 0.9).
SERVING_POWER_FACTOR = 0.7

#: The profile service replicas run under in the scheduling core: its speed and memory
#: do not matter (a replica's shape and serving model decide them), its power does.
SERVING_PROFILE = WorkloadProfile(
    id="serving",
    kind=JobKind.BATCH_INFERENCE,
    precisions=("fp8", "int8", "bf16", "fp16"),
    flops_per_byte=1.0,
    memory_gb=0.001,
    power_factor=SERVING_POWER_FACTOR,
    source="service replicas; power factor an ASSUMPTION (perf/serving.py)",
)

#: Precisions to try, in order, when the chip lacks the served one.
_FALLBACK = {
    "fp4": ("fp4", "fp8", "int8", "bf16", "fp16"),
    "fp8": ("fp8", "int8", "bf16", "fp16"),
    "int8": ("int8", "fp8", "bf16", "fp16"),
    "bf16": ("bf16", "fp16"),
    "fp16": ("fp16", "bf16"),
}


@dataclass(frozen=True, slots=True)
class ServingEfficiency:
    """Fractions of peak a software stack reaches when serving: ``prefill`` (compute),
    ``decode_compute`` and ``decode_memory``, and the fixed cost of one engine step."""

    stack: str
    prefill: float
    decode_compute: float
    decode_memory: float
    step_overhead_s: float = 0.005
    source: str = ""


@dataclass(frozen=True, slots=True)
class ReplicaPerf:
    """What one replica of a model can do (see the module docstring for the symbols)."""

    accelerator: str
    devices: int
    precision: str
    weight_bytes: float
    kv_capacity_tokens: float
    prefill_tokens_s: float
    #: Decode throughput at the TPOT target and the context length it was sized for.
    decode_tokens_s: float
    max_batch: int
    #: Time per output token at ``max_batch`` (≤ the target).
    tpot_s: float
    peak_flops: float
    mem_bw: float
    active_params: float
    total_params: float
    kv_bytes_per_token: float
    eff: ServingEfficiency
    #: Attention FLOPs per prefilled / decoded token per token of context (``a_p``, ``a_d``).
    attn_prefill_flops: float = 0.0
    attn_decode_flops: float = 0.0
    #: 16-bit peak of the replica, FLOP/s (``r·P₁₆``; attention runs at it).
    attn_peak_flops: float = 0.0
    #: Mean context a prefilled token attends to (``c``), as sized by :func:`replica_perf`.
    prefill_context_tokens: float = 0.0

    @property
    def fits(self) -> bool:
        """Whether the weights and one full context fit (set by :func:`replica_perf`)."""
        return self.kv_capacity_tokens > 0

    def touched(self, n: int) -> float:
        """Fraction φ(n) of the weights a batch of *n* tokens reads."""
        if n <= 0:
            return 0.0
        f = self.active_params / self.total_params
        return 1.0 if f >= 1.0 else 1.0 - (1.0 - f) ** n

    def step_s(
        self,
        prefill_tokens: int,
        decode_seqs: int,
        kv_tokens: float,
        prefill_context: float | None = None,
    ) -> float:
        """Seconds for one engine step that prefills ``prefill_tokens`` tokens and decodes
        one token for each of ``decode_seqs`` sequences holding ``kv_tokens`` tokens of
        context in all (continuous batching; 0 for an empty step). ``prefill_context`` is
        the mean context a prefilled token attends to (None: the replica's
        ``prefill_context_tokens``)."""
        if prefill_tokens <= 0 and decode_seqs <= 0:
            return 0.0
        e = self.eff
        flop = 2.0 * self.active_params
        attn_peak = self.attn_peak_flops or self.peak_flops
        c = self.prefill_context_tokens if prefill_context is None else prefill_context
        prefill = prefill_tokens * (
            flop / self.peak_flops + self.attn_prefill_flops * c / attn_peak
        )
        decode = decode_seqs * flop / self.peak_flops + (
            self.attn_decode_flops * kv_tokens / attn_peak if decode_seqs > 0 else 0.0
        )
        compute = prefill / e.prefill + decode / e.decode_compute
        read = self.weight_bytes * self.touched(decode_seqs + prefill_tokens)
        memory = (read + kv_tokens * self.kv_bytes_per_token) / (self.mem_bw * e.decode_memory)
        return e.step_overhead_s + max(compute, memory)

    def requests_s(self, mean_input: float, mean_output: float) -> float:
        """Requests/s one replica serves at most at these mean lengths (μ)."""
        if self.decode_tokens_s <= 0 or self.prefill_tokens_s <= 0:
            return 0.0
        return 1.0 / (mean_input / self.prefill_tokens_s + mean_output / self.decode_tokens_s)


def serving_precision(acc: Accelerator, precision: str) -> str | None:
    """The precision ``acc`` serves a model stored at ``precision`` in (None: none)."""
    for p in _FALLBACK[precision]:
        if acc.peak(p):
            return p
    return None


def replica_perf(
    model: ServedModel,
    acc: Accelerator,
    devices: int,
    eff: ServingEfficiency,
    tpot_s: float,
    context_tokens: float,
    usable_fraction: float = USABLE_FRACTION,
    *,
    attn_prefill_flops: float | None = None,
    attn_decode_flops: float | None = None,
    prefill_context_tokens: float | None = None,
) -> ReplicaPerf:
    """The model's performance on ``devices`` devices of ``acc`` at TPOT target ``tpot_s``,
    sequences holding ``context_tokens`` tokens on average (input plus half the output is
    a fair mean over a request's decode). ``kv_capacity_tokens`` is ≤ 0 when the replica
    cannot hold the weights and one full context.

    ``attn_prefill_flops`` / ``attn_decode_flops`` are the attention FLOPs per token per
    token of context (``a_p``, ``a_d``; None: the model's), and
    ``prefill_context_tokens`` the mean context a prefilled token attends to (``c``;
    None: half of ``context_tokens``)."""
    prec = serving_precision(acc, model.precision)
    if prec is None or not acc.mem_gb or not acc.mem_bw_tbs:
        raise ValueError(f"accelerator {acc.id} cannot serve {model.id} (no usable precision)")
    if attn_prefill_flops is None:
        attn_prefill_flops = model.attn_prefill_flops
    if attn_decode_flops is None:
        attn_decode_flops = model.attn_decode_flops
    bytes_pp = max(BYTES_PER_PARAM[model.precision], BYTES_PER_PARAM[prec])
    weights = model.total_params_b * 1e9 * bytes_pp
    usable = usable_fraction * devices * acc.mem_gb * 1e9
    kv_cap = (usable - weights) / model.kv_bytes_per_token
    if kv_cap < model.context_tokens:
        kv_cap = min(kv_cap, 0.0)
    peak = float(acc.peak(prec) or 0.0) * 1e12 * devices
    peak16 = float(acc.peak("bf16") or acc.peak("fp16") or 0.0) * 1e12 * devices or peak
    bw = acc.mem_bw_tbs * 1e12 * devices
    c = context_tokens / 2.0 if prefill_context_tokens is None else prefill_context_tokens
    per_token_s = 2.0 * model.active_params_b * 1e9 / peak + attn_prefill_flops * c / peak16
    perf = ReplicaPerf(
        accelerator=acc.id,
        devices=devices,
        precision=prec,
        weight_bytes=weights,
        kv_capacity_tokens=kv_cap,
        prefill_tokens_s=eff.prefill / per_token_s,
        decode_tokens_s=0.0,
        max_batch=0,
        tpot_s=math.inf,
        peak_flops=peak,
        mem_bw=bw,
        active_params=model.active_params_b * 1e9,
        total_params=model.total_params_b * 1e9,
        kv_bytes_per_token=model.kv_bytes_per_token,
        eff=eff,
        attn_prefill_flops=attn_prefill_flops,
        attn_decode_flops=attn_decode_flops,
        attn_peak_flops=peak16,
        prefill_context_tokens=c,
    )
    if kv_cap <= 0:
        return perf
    ctx = max(1.0, context_tokens)
    limit = max(0, int(kv_cap // ctx))

    def t(n: int) -> float:
        return perf.step_s(0, n, n * ctx)

    if limit < 1 or t(1) > tpot_s:
        return perf
    lo, hi = 1, limit  # t is increasing in n: binary search the largest n with t(n) ≤ τ
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if t(mid) <= tpot_s:
            lo = mid
        else:
            hi = mid - 1
    step = t(lo)
    return replace(perf, decode_tokens_s=lo / step, max_batch=lo, tpot_s=step)


def min_replica_devices(
    model: ServedModel, acc: Accelerator, usable_fraction: float = USABLE_FRACTION
) -> int | None:
    """Smallest replica of ``acc`` that holds the weights and one full context: a gang
    size within a node, else whole nodes (None: more than 1,024 nodes)."""
    prec = serving_precision(acc, model.precision)
    if prec is None or not acc.mem_gb:
        return None
    bytes_pp = max(BYTES_PER_PARAM[model.precision], BYTES_PER_PARAM[prec])
    need = model.total_params_b * 1e9 * bytes_pp + model.context_tokens * model.kv_bytes_per_token
    per = usable_fraction * acc.mem_gb * 1e9
    n = math.ceil(need / per - 1e-9)
    for g in sorted(acc.node_gang_sizes):
        if g >= n:
            return g
    nodes = math.ceil(n / acc.devices_per_node)
    return nodes * acc.devices_per_node if nodes <= 1024 else None
