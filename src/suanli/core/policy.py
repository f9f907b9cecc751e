"""The policy interface: what a policy sees and what it decides.

A policy is a pure function ``decide(PolicyInput) -> PolicyOutput``: it reads a
snapshot of the world (the jobs waiting, those running, free capacity, prices)
and returns decisions — jobs to start (where, on how many devices), jobs to
preempt, jobs to set aside until later — each with a reason, plus, for every job it
leaves waiting, a reason. It must not change the snapshot; :class:`~suanli.core.capacity.Capacity`
lets it plan tentatively.

The simulator and the live control plane hand policies the same snapshot, built by
the same :class:`~suanli.core.state.SchedulingState`; the policies themselves live in
:mod:`suanli.policy`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol, overload

from pydantic import BaseModel, ConfigDict

from suanli.core.capacity import Capacity
from suanli.core.jobtable import Candidate, JobTable
from suanli.core.levels import Level
from suanli.core.tables import FleetTables

if TYPE_CHECKING:
    from suanli.core.views import RunningView


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
    #: Whether it may be resized now (elastic, preemptible, its site's backend can).
    resizable: bool = False


@dataclass(frozen=True, slots=True)
class Start:
    """Start ``job`` now on ``candidate`` (a pool and a device count); ``reason`` says why
    there and now, in words (the state adds where: :func:`~suanli.core.reasons.start_reason`)."""

    job: int
    candidate: Candidate
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Preempt:
    """Stop ``job`` now (it loses work since its last checkpoint) and requeue it."""

    job: int
    reason: str


@dataclass(frozen=True, slots=True)
class Migrate:
    """Move running ``job`` to ``candidate`` (another pool) now: it stops as a preempted
    job does (keeping its last checkpoint), its checkpoint is copied to the new site, and
    it starts there at once, paying its restart cost (:mod:`suanli.core.migration`)."""

    job: int
    candidate: Candidate
    reason: str


@dataclass(frozen=True, slots=True)
class Resize:
    """Run elastic ``job`` on ``candidate`` now: another device count within
    ``[gang, gang_max]`` (:meth:`~suanli.core.jobtable.JobTable.resized`), on its pool or
    another. It stops as a preempted job does (keeping its last checkpoint) and starts
    again at once on the new shape, paying its restart cost (and, to another site, the
    copy of its checkpoint), as a :class:`Migrate` does."""

    job: int
    candidate: Candidate
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
    ``running`` maps job index to :class:`Running` (with ``held``, ``compute_start``
    and ``preemptible`` reading one field without building it), ``running_on(pool)`` lists the
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
    ``waiting_levels()`` gives the waiting jobs by effective priority
    (:mod:`suanli.core.levels`), highest first, each level's in arrival order: with
    ``waiting`` itself as the one list while all have one level; kept by the state as jobs
    join and leave the queue, so no round need group the queue.
    """

    now: float
    tables: FleetTables
    jobs: JobTable
    waiting: Sequence[int]
    waiting_sigs: Collection[int]
    waiting_of: Callable[[int], Sequence[int]]
    running: RunningView
    running_on: Callable[[int], Collection[int]]
    ending_on: Callable[[int], Iterable[tuple[float, int]]]
    nodes_of: Callable[[int], Sequence[tuple[int, int]]]
    capacity: Capacity
    replicas: frozenset[tuple[int, int]]
    attained: Callable[[int], float]
    remaining: Callable[[int], float]
    resumed: Callable[[int], bool]
    tenant_milli: Sequence[int]
    waiting_levels: Callable[[], Sequence[tuple[Level, Sequence[int]]]]
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

    They are carried out in order: preemptions, migrations, deferrals, starts, resizes.
    A migration or resize takes room on its new pool as a start does (a resize on its own
    pool may reuse its own devices); the devices it leaves are free for the next pass
    (ask for it with ``again``), not for this round's starts.
    Deferred jobs leave the queue until their time comes, then return as arrivals.
    A waiting job's reason is ``reasons[job]``, else ``sig_reasons[signature]``,
    else the reason it was given in an earlier round, else ``default_reason``.
    ``again`` asks the control loop for another round at once (e.g. after
    starting jobs, to plan backfilling on the new state).
    """

    starts: list[Start] = field(default_factory=list)
    preempts: list[Preempt] = field(default_factory=list)
    migrates: list[Migrate] = field(default_factory=list)
    resizes: list[Resize] = field(default_factory=list)
    defers: list[Defer] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)
    sig_reasons: dict[int, str] = field(default_factory=dict)
    default_reason: str = "waiting for its turn"
    again: bool = False


class PolicyParams(BaseModel):
    """Base of policy parameter models (scenario ``policies: {name: {...}}``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Policy(Protocol):
    """A scheduling policy. One that moves or resizes running jobs (:class:`Migrate`,
    :class:`Resize`) says so with an attribute ``moves_jobs = True``: the control loop then
    runs a round whenever devices free, even with no job waiting."""

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
