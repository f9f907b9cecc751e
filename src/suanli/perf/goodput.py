r"""Goodput of an elastic data-parallel training job (Pollux, OSDI'21; Sia, SOSP'23).

An elastic job runs on *n* devices spread over *N* nodes; each device processes a
local batch of *m* examples per step, so the global batch is :math:`M = n\,m`.
*Goodput* is the rate of useful progress: the rate at which examples are processed
(system throughput) times the fraction of each example's worth that survives the larger
batch (statistical efficiency).

**Step time.** One step computes gradients and then all-reduces them:

.. math::

    t_c(m) = \alpha_c + \beta_c\, m, \qquad
    t_s(n, N) = \begin{cases}
        0 & n = 1, \\
        2(n-1)\,a_\ell + \dfrac{2(n-1)}{n}\, b_\ell & n > 1,\ N = 1, \\
        2(n-1)\,a_x + \dfrac{2(n-1)}{n}\, b_x & N > 1,
    \end{cases}

the second being a ring all-reduce: :math:`2(n-1)` hops, each paying a latency
:math:`a`, and :math:`2(n-1)/n` of the gradient crossing each device's link, which
takes :math:`b = S / B` for *S* gradient bytes over a link of bandwidth *B*: the
intra-node link (:math:`\ell`) while the job fits in one node, the slower of the
intra- and inter-node links (:math:`x`) once it spans several. Back-propagation
overlaps part of the all-reduce, which Pollux's form captures with an exponent
:math:`\gamma \ge 1` (1: no overlap; :math:`\to \infty`: perfect overlap):

.. math::

    t(m, n, N) = \left( t_c(m)^{\gamma} + t_s(n, N)^{\gamma} \right)^{1/\gamma},
    \qquad X(n, N) = \frac{n\, m}{t(m, n, N)} \ \text{examples/s}.

Where a trace measured step times (the Pollux traces, ``placements.csv``) the seven
parameters :math:`(\alpha_c, \beta_c, a_\ell, b_\ell, a_x, b_x, \gamma)` are fitted to
them by least squares on :math:`\log t` (relative error). Otherwise they follow from
the roofline (:mod:`suanli.perf.roofline`): :math:`\alpha_c = 0`,
:math:`\beta_c = w / s` for *w* PFLOP per example on a device of speed *s* PFLOP/s,
:math:`b_\ell = S / B_\ell`, :math:`b_x = S / \min(B_\ell, B_x)`, and
:math:`\gamma = 1`; the bandwidths and latencies are labelled assumptions below.
At :math:`n = 1` the throughput in PFLOP/s is then exactly the roofline speed.

**Statistical efficiency.** With the gradient noise scale :math:`\varphi`
(McCandlish et al. 2018, "An empirical model of large-batch training": the per-example
gradient variance over the squared gradient norm, in examples) a step at batch *M*
makes as much progress as :math:`M (\varphi + M_0)/(\varphi + M)` examples at the
job's base batch :math:`M_0`. Efficiency relative to :math:`M_0` is

.. math::

    E(M) = \begin{cases}
        1 & M \le M_0, \\
        \dfrac{\varphi + M_0}{\varphi + M} & M > M_0,
    \end{cases}

equal to 1 at or below the base batch (the largest batch the job's hyper-parameters
were tuned for: smaller batches do not waste examples) and falling towards
:math:`(\varphi + M_0)/M` past it; :math:`\varphi = \infty` means no loss (inference).
Where Pollux's validation runs exist (``validation-<M>.csv``: the same training to the
same quality at several batches), each run gives a measured efficiency
:math:`\hat E(M) = P\, M_0 / (I\, M)` for *P* progress in base-batch steps reached in
*I* steps at batch *M*, and :math:`\varphi` is fitted to them by least squares on
:math:`\log E`. Otherwise :data:`DEFAULT_NOISE_RATIO` gives :math:`\varphi / M_0` per
kind of job.

**Goodput** and the elastic decisions it feeds:

.. math::

    G(n) = X(n, N(n))\, E(n\, m), \qquad
    \Delta G(n) = G(n+1) - G(n), \qquad
    n^{*} = \operatorname*{arg\,max}_{g \le n \le g_{\max}} G(n),

with :math:`N(n) = \lceil n / d \rceil` for *d* devices per node (packed placement)
unless a placement says otherwise, and ties going to the smaller *n*. A global-batch
cap :math:`M_{\max}` (the largest batch the job may use) shrinks the local batch to
:math:`m(n) = \min(m, M_{\max}/n)`, so past it more devices only cut step time.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

from suanli.model.accelerator import Accelerator
from suanli.model.job import JobKind, WorkloadProfile
from suanli.model.scenario import Efficiency
from suanli.perf.roofline import speed_pflops

FloatArray = NDArray[np.float64]

# --- labelled assumptions for the roofline path (no catalog figure exists) ----------------

#: Fraction of the catalog ``interconnect_gbs`` an all-reduce reaches per direction.
#: Vendors quote NVLink-class links as the bidirectional total (H100: 900 GB/s), and NCCL
#: all-reduce bus bandwidth on 8×H100 is reported at roughly 350–480 GB/s: 0.4 × 900 = 360.
INTRA_LINK_EFFICIENCY = 0.4
#: Intra-node all-reduce bandwidth (GB/s) when the catalog has no interconnect figure:
#: PCIe Gen4 ×16 (32 GB/s per direction) at 80 % (assumption).
DEFAULT_INTRA_GBS = 25.0
#: Inter-node all-reduce bandwidth per device (GB/s): one 400 Gb/s NIC per device
#: (InfiniBand NDR / 400GE RoCE, 50 GB/s) at 80 % (assumption; 200G fabrics halve it).
DEFAULT_INTER_GBS = 40.0
#: Per-hop latency of a ring all-reduce inside a node and across nodes (assumption).
DEFAULT_INTRA_LATENCY_S = 5e-6
DEFAULT_INTER_LATENCY_S = 10e-6

#: Gradient noise scale as a multiple of the base batch, φ / M₀, per kind of job
#: (labelled assumptions). Pretraining (and video-generation training) runs usually pick
#: their batch near the critical batch, which McCandlish et al. 2018 put at about φ, so
#: φ/M₀ = 1: doubling the batch keeps 2/3 of each example's worth. Fine-tuning-sized jobs
#: take the median of the Pollux fits for the vision and speech models (46–64, see
#: docs/elastic.md). Inference and evaluation do not learn: no statistical loss.
DEFAULT_NOISE_RATIO: Mapping[JobKind, float] = {
    JobKind.PRETRAIN: 1.0,
    JobKind.VIDEO_GENERATION: 1.0,
    JobKind.FINETUNE: 50.0,
    JobKind.BATCH_INFERENCE: math.inf,
    JobKind.EVALUATION: math.inf,
}

# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepTimeModel:
    """Step time ``t(m, n, N)`` of data-parallel training (seconds; module docstring).

    ``compute_s`` + ``compute_s_per_example`` × m is the gradient computation;
    ``intra_latency_s``/``intra_transfer_s`` (a_ℓ, b_ℓ) the ring all-reduce inside one
    node, ``inter_latency_s``/``inter_transfer_s`` (a_x, b_x) across nodes; ``overlap``
    is γ ≥ 1.
    """

    compute_s: float
    compute_s_per_example: float
    intra_latency_s: float
    intra_transfer_s: float
    inter_latency_s: float
    inter_transfer_s: float
    overlap: float = 1.0

    def __post_init__(self) -> None:
        if self.overlap < 1.0:
            raise ValueError(f"overlap γ={self.overlap} must be ≥ 1")

    def compute_time(self, local_batch: float) -> float:
        """t_c(m): seconds to compute one device's gradient."""
        return self.compute_s + self.compute_s_per_example * local_batch

    def sync_time(self, devices: int, nodes: int = 1) -> float:
        """t_s(n, N): seconds of the ring all-reduce (0 for one device)."""
        _check_placement(devices, nodes)
        if devices == 1:
            return 0.0
        hops = 2.0 * (devices - 1)
        if nodes == 1:
            return hops * self.intra_latency_s + hops / devices * self.intra_transfer_s
        return hops * self.inter_latency_s + hops / devices * self.inter_transfer_s

    def step_time(self, local_batch: float, devices: int, nodes: int = 1) -> float:
        """t(m, n, N) = (t_c^γ + t_s^γ)^(1/γ)."""
        tc = self.compute_time(local_batch)
        ts = self.sync_time(devices, nodes)
        g = self.overlap
        return float((tc**g + ts**g) ** (1.0 / g))

    def step_times(self, samples: StepSamples) -> FloatArray:
        """Vectorised :meth:`step_time` over measured samples (for fitting and errors)."""
        return _step_vector(self.as_vector(), samples)

    def as_vector(self) -> FloatArray:
        """The seven parameters in docstring order."""
        return np.array(
            [
                self.compute_s,
                self.compute_s_per_example,
                self.intra_latency_s,
                self.intra_transfer_s,
                self.inter_latency_s,
                self.inter_transfer_s,
                self.overlap,
            ]
        )


@dataclass(frozen=True, slots=True)
class EfficiencyModel:
    """Statistical efficiency E(M) = (φ + M₀)/(φ + M) past the base batch M₀, else 1."""

    base_batch: float
    noise_scale: float

    def __post_init__(self) -> None:
        if self.base_batch <= 0 or self.noise_scale < 0:
            raise ValueError(
                f"base batch {self.base_batch} must be > 0, noise scale {self.noise_scale} ≥ 0"
            )

    def efficiency(self, batch: float) -> float:
        """E(M) in (0, 1]."""
        if batch <= self.base_batch or math.isinf(self.noise_scale):
            return 1.0
        return (self.noise_scale + self.base_batch) / (self.noise_scale + batch)

    @classmethod
    def default(cls, kind: JobKind, base_batch: float) -> EfficiencyModel:
        """The documented default φ = ratio × M₀ for a kind of job."""
        return cls(base_batch, DEFAULT_NOISE_RATIO[kind] * base_batch)


@dataclass(frozen=True, slots=True)
class GoodputModel:
    """Goodput G(n) of one elastic job on one accelerator type.

    ``local_batch`` is *m* (examples per device per step); ``max_batch`` the cap on the
    global batch (``None``: none); ``devices_per_node`` *d* gives the packed placement
    N(n) = ⌈n/d⌉. Throughput and goodput are in examples per second (goodput counts
    examples at base-batch worth); multiply by PFLOP per example for PFLOP/s.
    """

    step: StepTimeModel
    efficiency: EfficiencyModel
    local_batch: float
    max_batch: float | None = None
    devices_per_node: int = 8

    def __post_init__(self) -> None:
        if self.local_batch <= 0 or self.devices_per_node < 1:
            raise ValueError("local batch must be > 0 and devices per node ≥ 1")

    def nodes(self, devices: int) -> int:
        """N(n): nodes spanned by a packed placement."""
        return -(-devices // self.devices_per_node)

    def local_batch_at(self, devices: int) -> float:
        """m(n) = min(m, M_max / n)."""
        if self.max_batch is None:
            return self.local_batch
        return min(self.local_batch, self.max_batch / devices)

    def batch(self, devices: int) -> float:
        """Global batch M(n) = n · m(n)."""
        return devices * self.local_batch_at(devices)

    def throughput(self, devices: int, nodes: int | None = None) -> float:
        """X(n, N) in examples/s (``nodes`` defaults to the packed placement)."""
        n_nodes = self.nodes(devices) if nodes is None else nodes
        m = self.local_batch_at(devices)
        t = self.step.step_time(m, devices, n_nodes)
        return devices * m / t if t > 0 else 0.0

    def goodput(self, devices: int, nodes: int | None = None) -> float:
        """G(n) = X(n, N) · E(M(n))."""
        return self.throughput(devices, nodes) * self.efficiency.efficiency(self.batch(devices))

    def marginal_goodput(self, devices: int) -> float:
        """ΔG(n) = G(n+1) − G(n): what one more device adds (packed placements)."""
        return self.goodput(devices + 1) - self.goodput(devices)

    def best_devices(self, gang: int, gang_max: int) -> int:
        """n* = argmax G(n) over [gang, gang_max]; ties go to the smaller n."""
        if gang < 1 or gang_max < gang:
            raise ValueError(f"need 1 ≤ gang ≤ gang_max, got {gang}, {gang_max}")
        best, best_g = gang, self.goodput(gang)
        for n in range(gang + 1, gang_max + 1):
            g = self.goodput(n)
            if g > best_g * (1.0 + 1e-12):
                best, best_g = n, g
        return best


def default_speedup(kind: JobKind, gang: int, devices: int) -> float:
    r"""G(n)/G(g) of an elastic job with no measured scaling model.

    Throughput is taken to scale linearly (communication is not modelled without a
    measurement: a trace's ``scaling`` model replaces this) and the job's base batch to
    be the one of its gang, :math:`M_0 = g\,m`, with the default noise scale
    :math:`\varphi = \rho M_0` of its kind (:data:`DEFAULT_NOISE_RATIO`). Then for
    :math:`n \ge g`

    .. math::

        S(n) = \frac{n}{g}\,\frac{E(n\,m)}{E(g\,m)} = \frac{n}{g}\,
               \frac{\rho + 1}{\rho + n/g}
        \qquad (\rho = \infty:\ S(n) = n/g),

    so a pre-training job (ρ = 1) gains 4/3 from twice its gang and never more than 2×,
    a fine-tuning job (ρ = 50) 1.96×, and inference scales linearly. Below its gang the
    batch is below the base batch (no statistical loss): :math:`S(n) = n/g` for
    :math:`n < g`.
    """
    if gang < 1 or devices < 1:
        raise ValueError(f"need gang ≥ 1 and devices ≥ 1, got {gang}, {devices}")
    x = devices / gang
    if x <= 1.0:
        return x
    rho = DEFAULT_NOISE_RATIO[kind]
    return x if math.isinf(rho) else x * (rho + 1.0) / (rho + x)


# --- the roofline path ----------------------------------------------------------------------


def roofline_step_model(
    acc: Accelerator,
    profile: WorkloadProfile,
    eff: Efficiency,
    pflop_per_example: float,
    gradient_bytes: float,
    *,
    inter_gbs: float = DEFAULT_INTER_GBS,
    intra_latency_s: float = DEFAULT_INTRA_LATENCY_S,
    inter_latency_s: float = DEFAULT_INTER_LATENCY_S,
) -> StepTimeModel:
    """Step-time parameters from the roofline speed and a ring all-reduce.

    Intra-node bandwidth is ``INTRA_LINK_EFFICIENCY`` × the catalog ``interconnect_gbs``
    (``DEFAULT_INTRA_GBS`` when missing); inter-node is ``inter_gbs`` per device; no
    overlap (γ = 1). A chip that cannot run the profile gets an infinite compute time.
    """
    speed = speed_pflops(acc, profile, eff)
    per_example = pflop_per_example / speed if speed > 0 else math.inf
    intra_gbs = (
        acc.interconnect_gbs * INTRA_LINK_EFFICIENCY if acc.interconnect_gbs else DEFAULT_INTRA_GBS
    )
    return StepTimeModel(
        compute_s=0.0,
        compute_s_per_example=per_example,
        intra_latency_s=intra_latency_s,
        intra_transfer_s=gradient_bytes / (intra_gbs * 1e9),
        inter_latency_s=inter_latency_s,
        inter_transfer_s=gradient_bytes / (min(intra_gbs, inter_gbs) * 1e9),
        overlap=1.0,
    )


# --- fitting to measurements -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class StepSamples:
    """Measured step times: one row per (devices n, nodes N, local batch m)."""

    devices: FloatArray
    nodes: FloatArray
    local_batch: FloatArray
    step_time: FloatArray

    def __len__(self) -> int:
        return len(self.step_time)

    def select(self, mask: NDArray[np.bool_]) -> StepSamples:
        """The rows where ``mask`` holds."""
        return StepSamples(
            self.devices[mask], self.nodes[mask], self.local_batch[mask], self.step_time[mask]
        )


def _check_placement(devices: int, nodes: int) -> None:
    if devices < 1 or nodes < 1 or nodes > devices:
        raise ValueError(f"placement of {devices} devices on {nodes} nodes is impossible")


def _step_vector(x: FloatArray, s: StepSamples) -> FloatArray:
    n, big_n, m = s.devices, s.nodes, s.local_batch
    tc = x[0] + x[1] * m
    hops = 2.0 * (n - 1.0)
    ts = np.where(
        big_n > 1,
        hops * x[4] + hops / n * x[5],
        hops * x[2] + hops / n * x[3],
    )
    g = x[6]
    out: FloatArray = (tc**g + ts**g) ** (1.0 / g)
    return out


def fit_step_time(samples: StepSamples) -> StepTimeModel:
    """Least squares on log step time; all parameters ≥ 0, 1 ≤ γ ≤ 10. Deterministic."""
    if len(samples) < 7:
        raise ValueError(f"need at least 7 measured steps to fit 7 parameters, got {len(samples)}")
    t = samples.step_time
    single = samples.devices == 1
    t1 = float(np.median(t[single])) if single.any() else float(np.median(t))
    m1 = float(np.median(samples.local_batch))
    x0 = np.array([0.1 * t1, 0.9 * t1 / m1, 1e-3 * t1, 0.1 * t1, 1e-3 * t1, 0.5 * t1, 1.5])

    def residual(x: FloatArray) -> FloatArray:
        r: FloatArray = np.log(np.maximum(_step_vector(x, samples), 1e-300)) - np.log(t)
        return r

    lower = np.zeros(7)
    lower[6] = 1.0
    upper = np.full(7, np.inf)
    upper[6] = 10.0
    sol = least_squares(residual, x0, bounds=(lower, upper), x_scale="jac")
    return StepTimeModel(*(float(v) for v in sol.x))


def relative_errors(model: StepTimeModel, samples: StepSamples) -> FloatArray:
    """|t_model / t_measured − 1| per sample (the same for throughput at equal m, n)."""
    err: FloatArray = np.abs(model.step_times(samples) / samples.step_time - 1.0)
    return err


def fit_noise_scale(batches: FloatArray, efficiencies: FloatArray, base_batch: float) -> float:
    """φ fitted to measured efficiencies E(M) by least squares on log E (φ > 0)."""
    above = batches > base_batch
    if not above.any():
        return math.inf
    m, e = batches[above], efficiencies[above]

    def residual(z: FloatArray) -> FloatArray:
        phi = math.exp(float(z[0]))
        r: FloatArray = np.log((phi + base_batch) / (phi + m)) - np.log(e)
        return r

    sol = least_squares(residual, np.array([math.log(10.0 * base_batch)]))
    return math.exp(float(sol.x[0]))


# --- the Pollux traces -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class PolluxTrace:
    """One model's measurements from the Pollux artifact (``traces/<model>/``).

    ``placements`` (``placements.csv``: up to 16 GPUs on up to 4 nodes) and
    ``scalability`` (``scalability.csv``: 6–64 GPUs on 6–16 nodes) are step times;
    ``validation`` maps each validation batch M to its measured efficiency Ê(M).
    All were measured on AWS g4dn.12xlarge nodes of 4 NVIDIA T4 each.
    """

    name: str
    placements: StepSamples
    scalability: StepSamples
    validation: Mapping[int, float] = field(default_factory=dict)

    @property
    def base_batch(self) -> int:
        """M₀: the smallest validation batch (the runs' progress is counted at it)."""
        return min(self.validation)

    @property
    def max_batch(self) -> int:
        """The largest validation batch."""
        return max(self.validation)


#: Devices per node in the Pollux measurements (g4dn.12xlarge: 4 × T4).
POLLUX_DEVICES_PER_NODE = 4


def _read_placements(path: Path) -> StepSamples:
    n, big_n, m, t = [], [], [], []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            digits = row["placement"].strip()  # one digit per node: its GPU count
            n.append(sum(int(c) for c in digits))
            big_n.append(len(digits))
            m.append(float(row["local_bsz"]))
            t.append(float(row["step_time"]))
    return StepSamples(np.array(n, float), np.array(big_n, float), np.array(m), np.array(t))


def _read_scalability(path: Path) -> StepSamples:
    n, big_n, m, t = [], [], [], []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            n.append(float(row["num_replicas"]))
            big_n.append(float(row["num_nodes"]))
            m.append(float(row["local_bsz"]))
            t.append(float(row["step_time"]))
    return StepSamples(np.array(n), np.array(big_n), np.array(m), np.array(t))


def _read_validation(folder: Path) -> dict[int, float]:
    """Ê(M) = P·M₀ / (I·M) from the last row of each ``validation-<M>.csv``."""
    last: dict[int, tuple[float, float]] = {}
    for path in folder.glob("validation-*.csv"):
        match = re.fullmatch(r"validation-(\d+)\.csv", path.name)
        if match is None:
            continue
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if rows:
            last[int(match.group(1))] = (float(rows[-1]["progress"]), float(rows[-1]["iteration"]))
    if not last:
        return {}
    m0 = min(last)
    return {b: p * m0 / (i * b) for b, (p, i) in sorted(last.items())}


def read_pollux_trace(folder: Path) -> PolluxTrace:
    """Read ``placements.csv``, ``scalability.csv`` and ``validation-*.csv`` of one model."""
    return PolluxTrace(
        name=folder.name,
        placements=_read_placements(folder / "placements.csv"),
        scalability=_read_scalability(folder / "scalability.csv"),
        validation=_read_validation(folder),
    )


def pollux_goodput_model(trace: PolluxTrace) -> GoodputModel:
    """Fit a job's goodput model to its Pollux measurements.

    The step time is fitted to ``placements.csv`` only, so that ``scalability.csv``
    (4× more devices) stays a held-out check. The local batch is the base batch M₀ and
    the global batch is capped at the largest validated batch.
    """
    step = fit_step_time(trace.placements)
    m0 = float(trace.base_batch)
    batches = np.array(sorted(trace.validation), dtype=float)
    effs = np.array([trace.validation[int(b)] for b in batches])
    eff = EfficiencyModel(m0, fit_noise_scale(batches, effs, m0))
    return GoodputModel(
        step=step,
        efficiency=eff,
        local_batch=m0,
        max_batch=float(trace.max_batch),
        devices_per_node=POLLUX_DEVICES_PER_NODE,
    )
