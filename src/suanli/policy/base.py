"""What a policy sees and what it decides.

A policy is a pure function ``decide(PolicyInput) -> PolicyOutput``: it reads a
snapshot of the world (the jobs waiting, those running, free capacity, prices)
and returns decisions — jobs to start (where, on how many devices), jobs to
preempt — plus, for every job it leaves waiting, a reason. It must not change
the snapshot; :class:`suanli.sim.capacity.Capacity` lets it plan tentatively.

The same policies run in the simulator and in the live control plane.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, overload

from pydantic import BaseModel, ConfigDict

from suanli.sim.capacity import Capacity
from suanli.sim.jobtable import Candidate, JobTable
from suanli.sim.tables import FleetTables


@dataclass(frozen=True, slots=True)
class Running:
    """A running job as a policy sees it."""

    job: int
    candidate: Candidate
    started_s: float
    compute_start_s: float
    expected_end_s: float
    preemptible: bool
    nodes: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Start:
    """Start ``job`` now on ``candidate`` (a pool and a device count)."""

    job: int
    candidate: Candidate


@dataclass(frozen=True, slots=True)
class Preempt:
    """Stop ``job`` now (it loses work since its last checkpoint) and requeue it."""

    job: int
    reason: str


@dataclass(frozen=True, slots=True)
class Defer:
    """Set ``job`` aside until ``until_s`` (e.g. a cheaper hour), queued, with ``reason``."""

    job: int
    until_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """A snapshot of the world for one scheduling round.

    ``waiting`` are job indices in arrival order, also grouped by signature
    (``waiting_of(sig)``; jobs of one signature have the same candidates);
    ``running`` maps job index to :class:`Running`, ``running_on(pool)`` lists the
    jobs on a pool, ``ending_on(pool)`` yields ``(expected end, job)`` in order of
    expected end, ``nodes_of(job)`` the ``(node, devices)`` a running job holds
    (none for a job on a shared device: ``share_of(job)`` gives its ``(device,
    share)``, else ``None``);
    ``capacity`` is the policy's private planning view;
    ``replicas`` holds ``(dataset, site)`` pairs where a data set is present or
    arriving; ``attained(j)`` gives device-seconds of service received so far,
    ``remaining(j)`` the PFLOP still to do, ``resumed(j)`` whether a restart cost is due;
    ``tenant_milli[t]`` the thousandths of a device tenant *t* holds.

    Since the previous round, ``arrived`` jobs joined the queue (new or requeued)
    and capacity was freed on the pools in the bit mask ``freed``; when ``full``
    is true everything may have changed. :class:`JobScan` uses this to
    skip jobs that provably still cannot start. ``requeued`` are the waiting jobs
    that have run before (preempted), the only ones with attained service.
    """

    now: float
    tables: FleetTables
    jobs: JobTable
    waiting: Sequence[int]
    waiting_sigs: Collection[int]
    waiting_of: Callable[[int], Sequence[int]]
    running: Mapping[int, Running]
    running_on: Callable[[int], Collection[int]]
    ending_on: Callable[[int], Iterable[tuple[float, int]]]
    nodes_of: Callable[[int], Sequence[tuple[int, int]]]
    capacity: Capacity
    replicas: frozenset[tuple[int, int]]
    attained: Callable[[int], float]
    remaining: Callable[[int], float]
    resumed: Callable[[int], bool]
    tenant_milli: Sequence[int]
    arrived: Sequence[int] = ()
    freed: int = 0
    full: bool = True
    requeued: Collection[int] = ()
    share_of: Callable[[int], tuple[int, int] | None] = lambda j: None

    @property
    def hour(self) -> int:
        """Horizon hour of ``now``."""
        return self.tables.hour(self.now)


@dataclass(slots=True)
class PolicyOutput:
    """Decisions of one round.

    Deferred jobs leave the queue until their time comes, then return as arrivals.
    A waiting job's reason is ``reasons[job]``, else ``sig_reasons[signature]``,
    else the reason it was given in an earlier round, else ``default_reason``.
    ``again`` asks the control loop for another round at once (e.g. after
    starting jobs, to plan backfilling on the new state).
    """

    starts: list[Start] = field(default_factory=list)
    preempts: list[Preempt] = field(default_factory=list)
    defers: list[Defer] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)
    sig_reasons: dict[int, str] = field(default_factory=dict)
    default_reason: str = "waiting for its turn"
    again: bool = False


class PolicyParams(BaseModel):
    """Base of policy parameter models (scenario ``policies: {name: {...}}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Policy(Protocol):
    """A scheduling policy."""

    name: ClassVar[str]
    #: Seconds between rounds when nothing happens (the loop also runs on arrivals/finishes).
    tick_s: float

    def decide(self, inp: PolicyInput) -> PolicyOutput:
        """Decisions for one round."""
        ...


class WaitingView(Sequence[int]):
    """Job indices of a waiting list kept as a sorted list of ``(submit, job)``, in
    arrival order, read-only (what executors hand policies as ``waiting``)."""

    __slots__ = ("_sl",)

    def __init__(self, sl: Sequence[tuple[float, int]]) -> None:
        self._sl = sl

    def __len__(self) -> int:
        return len(self._sl)

    def __iter__(self) -> Iterator[int]:
        return (j for _, j in self._sl)

    @overload
    def __getitem__(self, i: int) -> int: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[int]: ...
    def __getitem__(self, i: int | slice) -> int | Sequence[int]:
        if isinstance(i, slice):
            return [j for _, j in self._sl[i]]
        return int(self._sl[i][1])


class JobScan:
    """Waiting jobs, in arrival order, that might start now; whole signatures can be skipped.

    Capacity only changes by being freed, by arrivals, or with time: a job that
    could not start in the previous round can only start now if capacity was
    freed on one of its pools, or if it just arrived. Unless ``inp.full``, only
    those are yielded (``pools_of(sig)`` gives the pools a signature cares about; by
    default all its candidates). Within a round capacity only shrinks, so once a job
    of a signature fits nowhere, :meth:`skip` drops the rest of that signature.
    """

    def __init__(
        self,
        inp: PolicyInput,
        freed: int | None = None,
        pools_of: Callable[[int], int] | None = None,
    ) -> None:
        freed = inp.freed if freed is None else freed
        mask = inp.jobs.sig_pools.__getitem__ if pools_of is None else pools_of
        self._submit = inp.jobs.submit
        self._sig_of = inp.jobs.signature
        self._skipped: set[int] = set()
        self._seen: set[int] = set()
        self._heap: list[tuple[float, int, int, Iterator[int]]] = []
        for sig in inp.waiting_sigs:
            if inp.full or mask(sig) & freed:
                self._push(sig, iter(inp.waiting_of(sig)))
        if not inp.full and inp.arrived:
            arrived = sorted(inp.arrived, key=lambda j: (self._submit[j], j))
            self._push(-1, iter(arrived))

    def _push(self, sig: int, it: Iterator[int]) -> None:
        for j in it:
            heapq.heappush(self._heap, (self._submit[j], j, sig, it))
            return

    def skip(self, sig: int) -> None:
        """Yield no more jobs of signature ``sig`` this round."""
        self._skipped.add(sig)

    def __iter__(self) -> Iterator[int]:
        heap, skipped, seen = self._heap, self._skipped, self._seen
        while heap:
            _, j, sig, it = heapq.heappop(heap)
            if sig >= 0 and sig in skipped:
                continue
            self._push(sig, it)
            if j in seen or (sig < 0 and self._sig_of(j) in skipped):
                continue
            seen.add(j)
            yield j


def data_transfer_s(inp: PolicyInput, job: int, cand: Candidate) -> float:
    """Transfer time for ``job`` on ``cand``, zero where its data set already is (or arrives)."""
    d = inp.jobs.dataset[job]
    if d < 0 or cand.transfer_s == 0.0:
        return 0.0
    site = inp.tables.pool_site[cand.pool]
    return 0.0 if (d, site) in inp.replicas else cand.transfer_s


REASONS: Mapping[str, str] = {
    "devices": "not enough free devices in a usable node shape",
    "power": "site power cap reached",
    "quota": "tenant quota reached",
}


def explain(inp: PolicyInput, job: int, fallback: str = "") -> str:
    """Why ``job`` cannot start now, checked against every place it could run."""
    cands = inp.jobs.candidates(job)
    if not cands:
        return "no pool can run it (accepted types/stacks, memory fit, data residency)"
    why: dict[str, list[str]] = {}
    tenant = inp.jobs.tenant[job]
    for c in cands:
        r = inp.capacity.why_not(tenant, c)
        if r is None:
            return fallback or "could start, but the policy chose not to this round"
        why.setdefault(r, []).append(inp.tables.pool_label(c.pool))
    parts = [
        f"{REASONS[r]} ({len(pools)} pool{'s' if len(pools) > 1 else ''})"
        for r, pools in why.items()
    ]
    return "; ".join(parts)


def params_of(model: type[BaseModel], values: Mapping[str, Any] | None) -> Any:
    """Validate policy parameters (raises pydantic ValidationError)."""
    return model.model_validate(dict(values or {}))
