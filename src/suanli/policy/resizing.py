"""What the policies that resize elastic jobs share: a job's shapes on a pool, whether a
larger one is worth its devices, and whether a new shape fits (docs/elastic.md; the core's
side is :meth:`~suanli.core.jobtable.JobTable.resized` and
:class:`~suanli.core.policy.Resize`)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from suanli.core.capacity import Capacity
from suanli.core.jobtable import Candidate, JobTable
from suanli.core.policy import PolicyInput, Running


def sizes(jobs: JobTable, j: int, base: Candidate) -> list[Candidate]:
    """Job *j*'s shapes on ``base``'s pool from ``gang_min`` up, one per number of devices
    held (the most devices used for each)."""
    out: dict[int, Candidate] = {}
    for n in range(jobs.gang_min[j], jobs.gang_max[j] + 1):
        c = jobs.resized(j, base, n)
        if c is not None:
            out[c.devices] = c
    return [out[d] for d in sorted(out)]


def efficient(on: Candidate, to: Candidate, eta: float) -> bool:
    """Whether the devices ``to`` adds to ``on`` work at least η as well as ``on``'s."""
    extra = to.devices - on.devices
    return extra > 0 and (to.rate - on.rate) / extra >= eta * on.rate / on.devices


def take_if_fits(cap: Capacity, tenant: int, cand: Candidate) -> bool:
    """Take ``cand`` in ``cap`` if it fits; whether it did."""
    if cap.why_not(tenant, cand) is not None:
        return False
    cap.take(tenant, cand)
    return True


def fits_grown(
    inp: PolicyInput, cap: Capacity, r: Running, to: Candidate, keep: bool = False
) -> bool:
    """Whether running ``r`` fits on shape ``to``: its own devices count towards ``to``
    where ``cap`` has not changed their pool yet (exactly, node by node); elsewhere ``to``
    must fit besides them. With ``keep``, ``cap`` then holds the new shape."""
    tenant, on = inp.jobs.tenant[r.job], r.candidate
    mark = cap.mark()
    if not cap.touched(on.pool):
        cap.release_held(tenant, on.pool, inp.nodes_of(r.job), on.busy_w, on.milli)
    fits = cap.why_not(tenant, to) is None
    if fits and keep:
        cap.take(tenant, to)
    else:
        cap.rollback(mark)
    return fits


@dataclass(slots=True)
class Share:
    """A job in a pool's allocation (:func:`allocate_fitness`): its shapes there, fewest
    devices first (one for a job that is not elastic), the one it runs on (None: waiting),
    its rate on its gang (``unit``: S = rate / unit) and the index of the shape it gets
    (-1: none)."""

    job: int
    shapes: list[Candidate]
    now: Candidate | None
    unit: float
    pick: int = -1

    @property
    def target(self) -> Candidate | None:
        """The shape it gets (None: it waits)."""
        return self.shapes[self.pick] if self.pick >= 0 else None


def allocate_fitness(shares: list[Share], devices: int) -> None:
    r"""Give each share a shape within ``devices`` devices for the best Pollux fitness with
    p = −1 (Qiao et al., OSDI'21): maximise :math:`-\sum_j S_j(n_j)^{-1}` over
    :math:`n_j \in \{0\} \cup` its shapes, :math:`\sum_j d_j(n_j) \le D`. Greedy, exact for
    concave speed-ups (the objective is separable and concave in each :math:`n_j`):

    1. running jobs (``now`` set) keep at least their smallest shape;
    2. the others, in the order given, get their smallest shape while devices remain (a
       job that waits has :math:`S^{-1} = \infty`: any admission raises the fitness);
    3. the devices left go one shape step at a time to the job whose :math:`S^{-1}` falls
       most per device added.
    """
    left = devices
    for s in shares:
        if s.now is not None or s.shapes[0].devices <= left:
            s.pick = 0
            left -= s.shapes[0].devices
    heap: list[tuple[float, int]] = []
    for k, s in enumerate(shares):
        step = _step(s)
        if step is not None:
            heapq.heappush(heap, (-step, k))
    while heap and left > 0:
        _, k = heapq.heappop(heap)
        s = shares[k]
        extra = s.shapes[s.pick + 1].devices - s.shapes[s.pick].devices
        if extra > left:
            continue  # a smaller step of another job may still fit
        left -= extra
        s.pick += 1
        step = _step(s)
        if step is not None:
            heapq.heappush(heap, (-step, k))


def _step(s: Share) -> float | None:
    """How much :math:`S^{-1}` falls per device of ``s``'s next shape (None: no next one
    that is faster)."""
    if s.pick < 0 or s.pick + 1 >= len(s.shapes):
        return None
    a, b = s.shapes[s.pick], s.shapes[s.pick + 1]
    if b.rate <= a.rate:
        return None
    return s.unit * (1.0 / a.rate - 1.0 / b.rate) / (b.devices - a.devices)
