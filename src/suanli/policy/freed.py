"""What a pool would have free once some of its running jobs stop.

Backfilling asks when the head of the queue could start as running jobs end, in
order of expected end; preemption asks which jobs to stop so that a job fits. Both
stop jobs one after another on one pool — on a copy of its free devices, leaving
the state untouched — and ask whether a candidate fits. :class:`Freed` keeps that
account once for both: wholly free devices per node (a whole-device job gives back
its devices; nodes that are down get nothing back) and free shares per shared
device (a job on a shared device gives back its share, and a device whose last job
stops becomes a wholly free device of its node again).
"""

from __future__ import annotations

from collections.abc import Iterable

from suanli.core.jobtable import Candidate
from suanli.core.policy import PolicyInput
from suanli.core.sharing import MILLI


class Freed:
    """Free capacity of ``pool`` after the jobs passed to :meth:`stop` have stopped."""

    __slots__ = (
        "_inp",
        "best_node",
        "best_share",
        "device_free",
        "free_devices",
        "full_nodes",
        "node_free",
        "pn",
        "sh",
    )

    def __init__(self, inp: PolicyInput, pool: int) -> None:
        st = inp.capacity.state
        self._inp = inp
        self.pn = st.pools[pool]
        self.sh = st.shared[pool]
        #: Wholly free devices of the nodes that got some back.
        self.node_free: dict[int, int] = {}
        #: Free share of the shared devices that got some back.
        self.device_free: dict[int, int] = {}
        #: Wholly free nodes and devices of the pool.
        self.full_nodes = len(self.pn.buckets[self.pn.per_node])
        self.free_devices = self.pn.free_devices
        #: The most wholly free devices on a node, and free share on a shared device,
        #: among those that got some back.
        self.best_node = 0
        self.best_share = 0

    def stop(self, j: int) -> None:
        """Running job *j* (on this pool) stops and gives back what it holds."""
        share = self._inp.share_of(j)
        if share is None:
            for node, n in self._inp.nodes_of(j):
                self._give(node, n)
            return
        key, m = share
        f = self.device_free.get(key, self.sh.free[key]) + m
        self.device_free[key] = f
        if f == MILLI:
            self._give(self.sh.node[key], 1)
        elif f > self.best_share:
            self.best_share = f

    def until_fits(self, cand: Candidate, ends: Iterable[tuple[float, int]]) -> float | None:
        """Stop the jobs of ``ends`` — ``(time, job)`` in time order — until ``cand`` fits;
        return that time (now if it fits already; ``None``: never). The hot path of
        backfilling: the whole-device steps of :meth:`stop` and :meth:`fits` are inlined
        (Philly on philly-hetero under backfill: 13.1 s against 15–17.5 s calling them)."""
        if self.fits(cand):
            return self._inp.now
        pn = self.pn
        d, up, free = pn.per_node, pn.up, pn.free
        node_free = self.node_free
        nodes_of, share_of = self._inp.nodes_of, self._inp.share_of
        shared = len(self.sh) > 0  # else no running job holds a share here
        need, m = cand.devices, cand.share
        gang_nodes = need // d if need >= d and not m else 0
        for t, j in ends:
            if shared and share_of(j) is not None:
                self.stop(j)
            else:
                for node, n in nodes_of(j):
                    if not up[node]:
                        continue
                    f = node_free.get(node, free[node]) + n
                    node_free[node] = f
                    self.free_devices += n
                    if f == d:
                        self.full_nodes += 1
                    if f > self.best_node:
                        self.best_node = f
            if m:
                if self.free_devices > 0 or self.best_share >= m:
                    return t
            elif gang_nodes:
                if self.full_nodes >= gang_nodes:
                    return t
            elif self.best_node >= need:
                return t
        return None

    def _give(self, node: int, n: int) -> None:
        pn = self.pn
        if not pn.up[node]:
            return
        f = self.node_free.get(node, pn.free[node]) + n
        self.node_free[node] = f
        self.free_devices += n
        if f == pn.per_node:
            self.full_nodes += 1
        if f > self.best_node:
            self.best_node = f

    def fits(self, cand: Candidate) -> bool:
        """Whether ``cand``'s devices (or share) would be free (power and quotas aside)."""
        pn = self.pn
        if cand.share:
            return (
                self.free_devices > 0
                or self.best_share >= cand.share
                or self.sh.max_free() >= cand.share
            )
        if cand.devices >= pn.per_node:
            return self.full_nodes >= cand.devices // pn.per_node
        return self.best_node >= cand.devices or pn.fits(cand.devices)
