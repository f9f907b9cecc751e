"""Jobs (batch work) and the workload profiles that say how they use an accelerator."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

#: A job's fault-tolerance defaults, wherever a job is made (the scenario's generator, a
#: planning file, a trace, the API, a stored spec): whether it may be preempted, how often
#: it checkpoints, and what a restart costs.
DEFAULT_PREEMPTIBLE = True
DEFAULT_CHECKPOINT_INTERVAL_S = 3600.0
DEFAULT_RESTART_COST_S = 300.0

#: The largest gang any job may ask for (scenario generators and traces alike).
MAX_GANG = 1_000_000


class JobKind(StrEnum):
    """What a job does; selects software-stack efficiencies and power draw."""

    PRETRAIN = "pretrain"
    FINETUNE = "finetune"
    BATCH_INFERENCE = "batch_inference"
    EVALUATION = "evaluation"
    VIDEO_GENERATION = "video_generation"


@dataclass(frozen=True, slots=True)
class WorkloadProfile:
    """How one unit of work uses an accelerator (DESIGN §3).

    A unit of work is 1 PFLOP of useful computation. It moves
    ``1e15 / flops_per_byte`` bytes through HBM, runs at the best of
    ``precisions`` that the accelerator supports, needs ``memory_gb`` of HBM
    across its gang, and keeps busy devices at ``power_factor`` × TDP.
    """

    id: str
    kind: JobKind
    precisions: tuple[str, ...]
    flops_per_byte: float
    memory_gb: float
    power_factor: float = 0.85
    source: str = ""


@dataclass(frozen=True, slots=True)
class Job:
    """A unit of batch work submitted by a tenant.

    ``work_pflop`` is the total useful computation; with ``gang`` devices of a
    type whose speed is *s* PFLOP/s per device the job runs ``work / (gang·s)``
    seconds. ``accepted_types`` lists accelerator ids in order of preference
    (empty: any type; with ``types_ordered`` False a set, every type equally good: the
    job file's ``any_of``); ``accepted_stacks`` limits software stacks (empty: any).
    ``measured_pflops`` overrides the roofline speed per accelerator type.

    A job with ``gang_min`` < ``gang`` or ``gang_max`` > ``gang`` is *elastic*: a policy may
    run it on any device count *n* in ``[gang_min, gang_max]`` and resize it while it runs
    (docs/elastic.md); ``gang`` is what it asks for, and what a fixed-size scheduler gives
    it. ``speedup`` gives how fast it then progresses, ``speedup[n - gang_min]`` =
    G(n)/G(gang) (its goodput ratio, from a trace's measured scaling model; empty: the
    default model, :func:`suanli.perf.goodput.default_speedup`). ``throughput`` (optional,
    beside a measured ``speedup``) gives X(n)/X(gang) for the same *n*: examples processed
    per second, without the statistical-efficiency loss of the larger batch; the
    simulator does not use it (the metrics compare it with ``speedup``; empty: the same as a
    measured ``speedup``, efficiency 1, or n/gang with the default model).

    ``device_fraction`` < 1 asks for a share of one device (``gang`` is then 1):
    several such jobs may share a device while their fractions sum to at most 1,
    and the job runs at ``device_fraction`` × the device's speed (GPU sharing as in
    Alibaba's openb trace; see docs/trace-format.md for what a simulator must do).
    """

    id: str
    tenant: str
    kind: JobKind
    profile: str
    submit_s: float
    gang: int
    work_pflop: float
    accepted_types: tuple[str, ...] = ()
    accepted_stacks: tuple[str, ...] = ()
    gang_max: int | None = None
    gang_min: int | None = None
    dataset: str | None = None
    deadline_s: float | None = None
    deferrable: bool = False
    preemptible: bool = DEFAULT_PREEMPTIBLE
    checkpoint_interval_s: float = DEFAULT_CHECKPOINT_INTERVAL_S
    restart_cost_s: float = DEFAULT_RESTART_COST_S
    priority: int = 0
    measured_pflops: Mapping[str, float] = field(default_factory=dict)
    device_fraction: float = 1.0
    speedup: tuple[float, ...] = ()
    throughput: tuple[float, ...] = ()
    types_ordered: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.device_fraction <= 1.0:
            raise ValueError(
                f"job {self.id}: device_fraction {self.device_fraction} must be in (0, 1]"
            )
        if self.device_fraction < 1.0 and (self.gang != 1 or self.gang_max not in (None, 1)):
            raise ValueError(
                f"job {self.id}: a share of one device (device_fraction "
                f"{self.device_fraction}) needs gang 1, not {self.gang}"
            )
        if not 1 <= self.smallest <= self.gang <= self.largest:
            raise ValueError(
                f"job {self.id}: needs 1 ≤ gang_min ≤ gang ≤ gang_max, not {self.smallest}, "
                f"{self.gang}, {self.largest}"
            )
        if self.speedup:
            low, top = self.smallest, self.largest
            if len(self.speedup) != top - low + 1:
                raise ValueError(
                    f"job {self.id}: speedup has {len(self.speedup)} values, but gang_min "
                    f"{low} to gang_max {top} needs {top - low + 1}"
                )
            if not all(math.isfinite(x) and x > 0.0 for x in self.speedup):
                raise ValueError(f"job {self.id}: speedups must be finite and > 0")
        if self.throughput:
            if len(self.throughput) != len(self.speedup):
                raise ValueError(
                    f"job {self.id}: throughput has {len(self.throughput)} values, but its "
                    f"speedup {len(self.speedup)}"
                )
            if not all(math.isfinite(x) and x > 0.0 for x in self.throughput):
                raise ValueError(f"job {self.id}: throughputs must be finite and > 0")

    @property
    def smallest(self) -> int:
        """The fewest devices it may run on (``gang_min``, else ``gang``)."""
        return self.gang if self.gang_min is None else self.gang_min

    @property
    def largest(self) -> int:
        """The most devices it may run on (``gang_max``, else ``gang``)."""
        return self.gang if self.gang_max is None else self.gang_max

    @property
    def elastic(self) -> bool:
        """Whether the job may run on another device count than its gang."""
        return self.smallest < self.gang or self.largest > self.gang
