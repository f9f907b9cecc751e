r"""Scaling models of elastic jobs (trace format version 2): the ``scaling`` metadata.

A row's ``scaling`` cell names a model that the trace defines in its ``scaling``
metadata, a JSON object of models by id. A model is the goodput model of
:mod:`suanli.perf.goodput` (docs/elastic.md) with what it was measured on::

    {"pollux-cifar10": {
        "accelerator": "nvidia_t4",
        "devices_per_node": 4,
        "step": {"compute_s": 0.0116, "compute_s_per_example": 0.00078,
                 "intra_latency_s": 0, "intra_transfer_s": 0.034,
                 "inter_latency_s": 0, "inter_transfer_s": 0.0844, "overlap": 2.8},
        "local_batch": 128, "max_batch": 4096,
        "base_batch": 128, "noise_scale": 5943.0,
        "measured": {"1": 2950.0, "2": 5400.0},
        "source": "..."}}

``accelerator`` is the type the step times were measured on; ``devices_per_node``
*d* gives packed placements of ⌈n/d⌉ nodes; ``step`` the seven step-time parameters
(seconds); ``local_batch`` *m* and ``max_batch`` :math:`M_{\max}` (null: no cap) the
batch; ``base_batch`` :math:`M_0` and ``noise_scale`` φ (null: ∞, no statistical
loss) the efficiency. ``measured`` (optional) keeps the measurements: examples/s on
``accelerator`` with *n* devices packed, at the local batch
:math:`m(n) = \min(m, M_{\max}/n)`. ``source`` (optional) says where it comes from.

**Meaning.** A job with ``gang`` *g*, ``gang_max`` *h* and model *G* that runs on
*n* devices, *g* ≤ n ≤ *h*, makes progress :math:`G(n)/G(g)` times as fast as on its
*g* devices (:meth:`ScalingModel.speedup`); its speed on *g* devices is the row's as
before (``duration_s`` or ``work_pflop`` with ``measured_pflops`` or the roofline).
The ratio is measured on ``accelerator``; on other types it is an assumption. A job
without a model that has a ``gang_max`` is elastic with no measured scaling (the
consumer's default, e.g. :func:`suanli.perf.goodput.roofline_step_model`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from suanli.model.job import Job
from suanli.perf.goodput import EfficiencyModel, GoodputModel, StepTimeModel
from suanli.trace.format import MAX_GANG, MAX_TIME_S, Trace

#: The step-time parameters, in :class:`~suanli.perf.goodput.StepTimeModel` order.
STEP_KEYS: tuple[str, ...] = (
    "compute_s",
    "compute_s_per_example",
    "intra_latency_s",
    "intra_transfer_s",
    "inter_latency_s",
    "inter_transfer_s",
    "overlap",
)
#: Keys of a model: required, then optional.
REQUIRED_KEYS: tuple[str, ...] = (
    "accelerator",
    "devices_per_node",
    "step",
    "local_batch",
    "base_batch",
    "noise_scale",
)
OPTIONAL_KEYS: tuple[str, ...] = ("max_batch", "measured", "source")
#: The largest batch (examples) and measured rate (examples/s) a model may give.
MAX_BATCH = 1e12
MAX_RATE = 1e15
#: Step-time parameters below this many seconds are written as 0 (a fit that reached its
#: bound of 0; docs/elastic.md).
NEGLIGIBLE_S = 1e-9
#: The largest overlap exponent γ (``fit_step_time`` bounds it at 10).
MAX_OVERLAP = 100.0

#: What a ``scaling`` metadata value is, for hints.
SCALING_HINT = (
    "give a JSON object of id → {accelerator, devices_per_node, step: {"
    + ", ".join(STEP_KEYS)
    + "}, local_batch, base_batch, noise_scale, max_batch, measured, source} "
    "(docs/trace-format.md)"
)


@dataclass(frozen=True, slots=True)
class ScalingModel:
    """One scaling model: the goodput model, the accelerator it was measured on, the
    measured throughput per packed device count (examples/s) and a source note."""

    accelerator: str
    goodput: GoodputModel
    measured: Mapping[int, float] = field(default_factory=dict)
    source: str = ""

    def speedup(self, gang: int, devices: int) -> float:
        """G(devices) / G(gang): how much faster the job runs on ``devices`` than on its
        ``gang``."""
        base = self.goodput.goodput(gang)
        return self.goodput.goodput(devices) / base if base > 0 else 0.0

    def throughput_ratio(self, gang: int, devices: int) -> float:
        """X(devices) / X(gang): how many more examples per second the job processes on
        ``devices`` than on its ``gang`` (no statistical-efficiency loss)."""
        base = self.goodput.throughput(gang)
        return self.goodput.throughput(devices) / base if base > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """The model in metadata form (numbers rounded to 6 significant digits)."""
        g = self.goodput
        phi = g.efficiency.noise_scale
        out: dict[str, Any] = {
            "accelerator": self.accelerator,
            "devices_per_node": g.devices_per_node,
            "step": {
                k: 0 if v < NEGLIGIBLE_S else _round(v)
                for k, v in zip(STEP_KEYS, g.step.as_vector().tolist(), strict=True)
            },
            "local_batch": _round(g.local_batch),
            "max_batch": None if g.max_batch is None else _round(g.max_batch),
            "base_batch": _round(g.efficiency.base_batch),
            "noise_scale": None if math.isinf(phi) else _round(phi),
        }
        if self.measured:
            out["measured"] = {str(n): _round(v) for n, v in sorted(self.measured.items())}
        if self.source:
            out["source"] = self.source
        return out


def _round(x: float) -> float | int:
    """``x`` to 6 significant digits (whole numbers as integers), so that files do not
    change with the last bits of a fit."""
    x = float(f"{float(x):.6g}")
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def format_scaling(models: Mapping[str, ScalingModel]) -> str:
    """The ``scaling`` metadata value of ``models`` (canonical JSON: keys sorted)."""
    return json.dumps(
        {k: m.as_json() for k, m in models.items()}, sort_keys=True, separators=(",", ":")
    )


def parse_scaling(raw: str) -> dict[str, ScalingModel]:
    """The models of a ``scaling`` metadata value; raises ValueError saying what is wrong
    (the model id and the key)."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object of id → model")
    return {str(k): _model(str(k), v) for k, v in data.items()}


def _model(mid: str, v: Any) -> ScalingModel:
    if not isinstance(v, dict):
        raise ValueError(f"model {mid!r} is not a JSON object")
    unknown = sorted(set(v) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        raise ValueError(f"model {mid!r}: unknown key {unknown[0]!r}")
    missing = [k for k in REQUIRED_KEYS if k not in v]
    if missing:
        raise ValueError(f"model {mid!r}: missing key {missing[0]!r}")
    acc = v["accelerator"]
    if not isinstance(acc, str) or not acc.strip():
        raise ValueError(f"model {mid!r}: accelerator must be an accelerator id")
    step = v["step"]
    if not isinstance(step, dict) or set(step) != set(STEP_KEYS):
        raise ValueError(f"model {mid!r}: step must have exactly the keys {', '.join(STEP_KEYS)}")
    params = [_number(mid, f"step.{k}", step[k], 0.0, MAX_TIME_S) for k in STEP_KEYS[:-1]]
    overlap = _number(mid, "step.overlap", step["overlap"], 1.0, MAX_OVERLAP)
    per_node = _number(mid, "devices_per_node", v["devices_per_node"], 1, MAX_GANG)
    if not per_node.is_integer():
        raise ValueError(f"model {mid!r}: devices_per_node must be a whole number")
    local = _number(mid, "local_batch", v["local_batch"], 0.0, MAX_BATCH, low_open=True)
    base = _number(mid, "base_batch", v["base_batch"], 0.0, MAX_BATCH, low_open=True)
    phi = (
        math.inf
        if v["noise_scale"] is None
        else _number(mid, "noise_scale", v["noise_scale"], 0.0, MAX_BATCH)
    )
    cap = v.get("max_batch")
    max_batch = (
        None if cap is None else _number(mid, "max_batch", cap, 0.0, MAX_BATCH, low_open=True)
    )
    measured_raw = v.get("measured", {})
    if not isinstance(measured_raw, dict):
        raise ValueError(f"model {mid!r}: measured must be an object of devices → examples/s")
    measured: dict[int, float] = {}
    for key, rate in measured_raw.items():
        if not (isinstance(key, str) and key.isdigit() and 1 <= int(key) <= MAX_GANG):
            raise ValueError(
                f"model {mid!r}: measured key {key!r} is not a device count 1 … {MAX_GANG:,}"
            )
        measured[int(key)] = _number(mid, f"measured.{key}", rate, 0.0, MAX_RATE, low_open=True)
    source = v.get("source", "")
    if not isinstance(source, str):
        raise ValueError(f"model {mid!r}: source must be text")
    goodput = GoodputModel(
        step=StepTimeModel(
            params[0], params[1], params[2], params[3], params[4], params[5], overlap
        ),
        efficiency=EfficiencyModel(base, phi),
        local_batch=local,
        max_batch=max_batch,
        devices_per_node=int(per_node),
    )
    return ScalingModel(acc.strip(), goodput, dict(sorted(measured.items())), source)


def _number(
    mid: str, key: str, value: Any, low: float, high: float, *, low_open: bool = False
) -> float:
    """A JSON number within ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"model {mid!r}: {key} must be a number, not {value!r}")
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    above = x > low if low_open else x >= low
    if not (math.isfinite(x) and above and x <= high):
        side = ">" if low_open else "≥"
        raise ValueError(f"model {mid!r}: {key} must be {side} {low:g} and ≤ {high:g}, not {x!r}")
    return x


def with_speedups(jobs: Sequence[Job], models: Mapping[str, ScalingModel]) -> list[Job]:
    """The jobs, each elastic one with a model in ``models`` (by job id) given its
    ``speedup`` over its gang: G(n)/G(gang) for n = gang_min … gang_max, and its
    ``throughput``, X(n)/X(gang)."""
    out = []
    for job in jobs:
        model = models.get(job.id)
        if model is not None and job.elastic:
            sizes = range(job.smallest, job.largest + 1)
            ups = tuple(model.speedup(job.gang, n) for n in sizes)
            xs = tuple(model.throughput_ratio(job.gang, n) for n in sizes)
            if all(math.isfinite(x) and x > 0.0 for x in ups + xs):
                job = replace(job, speedup=ups, throughput=xs)
        out.append(job)
    return out


def trace_scaling(trace: Trace) -> dict[str, ScalingModel]:
    """The scaling models the trace defines (none: empty). The trace was checked, so its
    metadata parses."""
    raw = trace.meta.get("scaling", "").strip()
    return parse_scaling(raw) if raw and trace.version >= 2 else {}


def job_scaling(trace: Trace) -> dict[str, ScalingModel]:
    """Job id → its scaling model, for the rows that name one."""
    models = trace_scaling(trace)
    if not models:
        return {}
    ids = trace.column("id")
    names = trace.column("scaling")
    return {str(i): models[str(s)] for i, s in zip(ids, names, strict=True) if s is not None}
