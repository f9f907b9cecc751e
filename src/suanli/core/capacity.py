"""Cluster state: free devices per node, site power and tenant quotas.

Each pool keeps its nodes in buckets by number of free devices, so that the
checks a scheduler makes are O(devices per node):

* a gang of ``n ≥ d`` devices (``d`` per node) needs ``n / d`` wholly free nodes;
* a gang of ``n < d`` goes to one node, the one with the fewest free devices ≥ n
  (best fit, which keeps whole nodes free for large gangs).

Which node a gang smaller than a node goes to, and which shared device a job
that takes a share of one device goes to, is the pool's placement rule
(:mod:`suanli.core.sharing`: best fit by default, FGD to fight fragmentation).

Power is *committed* when devices are allocated: a site's committed IT power is
the idle power of all its devices plus, per allocated job, ``devices × (TDP ×
power_factor − idle)`` (a share's fraction of that for a share). Committed power
never exceeds ``capacity / PUE``, so the power actually drawn never exceeds the
site's capacity. Quotas and the devices each tenant holds are counted in
thousandths of a device, so shares count as what they are.

:class:`Capacity` is a policy's view: it reads the state and records tentative
allocations in an overlay, leaving the cluster untouched; the overlay places with
the same rule as the cluster, so what fits in a round's plan fits when it is applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sortedcontainers import SortedList

from suanli.core.jobtable import Candidate
from suanli.core.sharing import (
    DEFAULT_PLACEMENT,
    MILLI,
    Fragmentation,
    SharedDevices,
    placement_rule,
)
from suanli.core.tables import FleetTables


class PoolNodes:
    """The nodes of one pool, bucketed by free devices (insertion-ordered, deterministic).

    Wholly free nodes remember since when (``free_since``) and may be put to sleep
    (power saving); whole-node gangs take the most recently freed nodes first, so
    that long-idle nodes stay asleep. ``woken`` lists the sleeping nodes the last
    :meth:`allocate` woke.
    """

    def __init__(self, nodes: int, per_node: int) -> None:
        self.per_node = per_node
        self.free = [per_node] * nodes
        self.up = [True] * nodes
        self.asleep = [False] * nodes
        self.free_since = [0.0] * nodes
        self.buckets: list[dict[int, None]] = [{} for _ in range(per_node + 1)]
        self.buckets[per_node] = dict.fromkeys(range(nodes))
        self.free_devices = nodes * per_node
        self.up_devices = nodes * per_node
        self.woken: list[int] = []
        #: ``T(W)`` per node bucket (:class:`~suanli.core.sharing.Fragmentation`), and
        #: ``Σ_nodes T(W_n)`` kept as nodes move between buckets (0 for every node wholly
        #: free, as T(d) = 0).
        self.t: tuple[float, ...] = (0.0,) * (per_node + 1)
        self.node_term = 0.0
        #: How many times the pool's devices (and shares, :class:`ClusterState`) were
        #: taken, given back, failed or recovered: what was counted of them at one value
        #: holds while it stays.
        self.changes = 0

    def hist(self) -> list[int]:
        """Number of up nodes with exactly k free devices, for k = 0..per_node."""
        return [len(b) for b in self.buckets]

    def fits(self, devices: int) -> bool:
        """Whether a gang of ``devices`` can be placed now."""
        d = self.per_node
        buckets = self.buckets
        if devices >= d:
            return len(buckets[d]) >= devices // d
        for k in range(d, devices - 1, -1):  # noqa: SIM110 (an explicit loop is faster here)
            if buckets[k]:
                return True
        return False

    def allocate(self, devices: int, at: int = -1) -> list[tuple[int, int]]:
        """Take ``devices``; return ``(node, count)`` pairs. Call :meth:`fits` first.

        A gang smaller than a node goes to a node with ``at`` free devices, by
        default the fewest that fit (best fit)."""
        d = self.per_node
        taken: list[tuple[int, int]] = []
        woken: list[int] = []
        asleep = self.asleep
        if devices >= d:
            bucket = self.buckets[d]
            for _ in range(devices // d):
                node = next(reversed(bucket))
                del bucket[node]
                self.free[node] = 0
                self.buckets[0][node] = None
                taken.append((node, d))
                if asleep[node]:
                    asleep[node] = False
                    woken.append(node)
            self.node_term += (self.t[0] - self.t[d]) * (devices // d)
        else:
            k = at if at >= 0 else next(k for k in range(devices, d + 1) if self.buckets[k])
            nodes = self.buckets[k]
            node = next(reversed(nodes)) if k == d else next(iter(nodes))
            del nodes[node]
            self.free[node] = k - devices
            self.buckets[k - devices][node] = None
            self.node_term += self.t[k - devices] - self.t[k]
            taken.append((node, devices))
            if asleep[node]:
                asleep[node] = False
                woken.append(node)
        self.free_devices -= devices
        self.woken = woken
        self.changes += 1
        return taken

    def release(self, taken: list[tuple[int, int]], now: float = 0.0) -> list[int]:
        """Give back what :meth:`allocate` returned (nodes that failed meanwhile stay down);
        return the nodes that became wholly free."""
        emptied = []
        t = self.t
        self.changes += 1
        for node, n in taken:
            if not self.up[node]:
                continue
            f = self.free[node]
            del self.buckets[f][node]
            self.free[node] = f + n
            self.buckets[f + n][node] = None
            self.node_term += t[f + n] - t[f]
            self.free_devices += n
            if self.free[node] == self.per_node:
                self.free_since[node] = now
                emptied.append(node)
        return emptied

    def pick_to_fail(self, count: int) -> list[int]:
        """Up nodes to take down: wholly free ones first, then the emptiest busy ones."""
        order = [node for k in range(self.per_node, -1, -1) for node in self.buckets[k]]
        return order[:count]

    def fail(self, nodes: list[int]) -> None:
        """Take ``nodes`` down (their jobs must be preempted by the caller first)."""
        self.changes += 1
        for node in nodes:
            if not self.up[node]:
                continue
            del self.buckets[self.free[node]][node]
            self.node_term -= self.t[self.free[node]]
            self.free_devices -= self.free[node]
            self.up_devices -= self.per_node
            self.up[node] = False
            self.asleep[node] = False

    def recover(self, nodes: list[int], now: float = 0.0) -> None:
        """Bring ``nodes`` back, empty and awake."""
        self.changes += 1
        for node in nodes:
            if self.up[node]:
                continue
            self.up[node] = True
            self.free_since[node] = now
            self.free[node] = self.per_node
            self.buckets[self.per_node][node] = None
            self.node_term += self.t[self.per_node]
            self.free_devices += self.per_node
            self.up_devices += self.per_node


@dataclass(slots=True)
class Allocation:
    """Devices held by a running job: whole devices on ``nodes``, or ``share``
    thousandths of shared device ``device`` on node ``host``."""

    job: int
    pool: int
    milli: int
    nodes: list[tuple[int, int]]
    busy_w: float
    tenant: int
    device: int = -1
    host: int = -1

    @property
    def share(self) -> int:
        """Thousandths of its shared device (0: whole devices)."""
        return self.milli if self.device >= 0 else 0


class ClusterState:
    """Mutable state of the fleet: nodes, shared devices, committed power, quota usage.

    ``requests[p]`` is pool *p*'s target workload for the placement rule and the
    fragmentation measure (:class:`~suanli.core.sharing.Fragmentation`; none: every
    request is as good as any, and fragmentation reads 0).
    """

    def __init__(
        self,
        tables: FleetTables,
        placement: str = DEFAULT_PLACEMENT,
        requests: Sequence[Mapping[int, int]] | None = None,
    ) -> None:
        self.tables = tables
        self.pools = [
            PoolNodes(c // d, d)
            for c, d in zip(tables.pool_count, tables.pool_per_node, strict=True)
        ]
        self.rule = placement_rule(placement)
        self.frag = [
            Fragmentation(requests[p] if requests is not None else {}, d)
            for p, d in enumerate(tables.pool_per_node)
        ]
        self.shared = [SharedDevices(f.h) for f in self.frag]
        for pn, f in zip(self.pools, self.frag, strict=True):
            pn.t = f.t
        n_sites = len(tables.site_ids)
        self.site_cap_it_w = [
            float(c / u) for c, u in zip(tables.site_cap_w, tables.site_pue, strict=True)
        ]
        self.site_committed_w = [0.0] * n_sites
        for p, site in enumerate(tables.pool_site):
            self.site_committed_w[site] += tables.pool_count[p] * float(tables.pool_idle_w[p])
        self.quota_usage = [0] * len(tables.quotas)
        self.tenant_quotas: list[list[int]] = [[] for _ in tables.tenant_ids]
        for qi, (tenant, _, _, _) in enumerate(tables.quotas):
            self.tenant_quotas[tenant].append(qi)
        self.quota_mask = [tuple(bool(x) for x in mask) for _, mask, _, _ in tables.quotas]
        #: Quota limits and usage in thousandths of a device.
        self.quota_max = [mx * MILLI for _, _, mx, _ in tables.quotas]
        #: Thousandths of a device each tenant holds.
        self.tenant_milli = [0] * len(tables.tenant_ids)
        #: Sites and quotas where a policy found power or the quota to be the limit
        #: (gathered from its :class:`Capacity` after each round); freeing either there
        #: makes every job blocked by it worth another look.
        self.power_blocked: set[int] = set()
        self.quota_blocked: set[int] = set()

    def fits(self, cand: Candidate) -> bool:
        """Whether ``cand``'s devices (or share) are free now (power and quotas aside)."""
        pn = self.pools[cand.pool]
        if cand.share:
            return pn.free_devices > 0 or self.shared[cand.pool].max_free() >= cand.share
        return pn.fits(cand.devices)

    def allocate(self, job: int, tenant: int, cand: Candidate) -> Allocation:
        """Allocate ``cand`` for ``job`` (the caller checked it fits)."""
        p = cand.pool
        pn = self.pools[p]
        milli = cand.milli
        if cand.share:
            alloc = self._allocate_share(job, tenant, cand)
        else:
            bucket = -1
            if self.rule.picks_buckets and cand.devices < pn.per_node:
                bucket = self.rule.bucket(self.frag[p], pn.hist(), cand.devices)
            nodes = pn.allocate(cand.devices, bucket)
            alloc = Allocation(job, p, milli, nodes, cand.busy_w, tenant)
        self.site_committed_w[self.tables.pool_site[p]] += cand.busy_w
        for qi in self.tenant_quotas[tenant]:
            if self.quota_mask[qi][p]:
                self.quota_usage[qi] += milli
        self.tenant_milli[tenant] += milli
        return alloc

    def _allocate_share(self, job: int, tenant: int, cand: Candidate) -> Allocation:
        p, m = cand.pool, cand.share
        pn, sh = self.pools[p], self.shared[p]
        choice = self.rule.share(self.frag[p], sh.by_free, pn.hist(), m)
        assert choice is not None, "allocate a share that fits (check fits first)"
        if choice.key >= 0:
            key = choice.key
            sh.take(key, m)
            pn.woken = []
            pn.changes += 1
        else:
            ((node, _),) = pn.allocate(1, choice.bucket)
            key = sh.open(node, m)
        return Allocation(job, p, m, [], cand.busy_w, tenant, key, sh.node[key])

    def release(self, alloc: Allocation, now: float = 0.0) -> list[int]:
        """Free an allocation; return the nodes of its pool that became wholly free."""
        pn = self.pools[alloc.pool]
        if alloc.share:
            pn.changes += 1  # a share given back (and its device, if it was the last)
            node = self.shared[alloc.pool].give(alloc.device, alloc.share)
            emptied = pn.release([(node, 1)], now) if node >= 0 else []
        else:
            emptied = pn.release(alloc.nodes, now)
        self.site_committed_w[self.tables.pool_site[alloc.pool]] -= alloc.busy_w
        for qi in self.tenant_quotas[alloc.tenant]:
            if self.quota_mask[qi][alloc.pool]:
                self.quota_usage[qi] -= alloc.milli
        self.tenant_milli[alloc.tenant] -= alloc.milli
        return emptied

    def fragmented(self, pool: int) -> float:
        """Expected fragmentation ``F`` of a pool, in devices (:mod:`suanli.core.sharing`),
        kept up to date as nodes and shared devices change."""
        return max(0.0, self.shared[pool].sum_h + self.pools[pool].node_term) / MILLI

    def fragmented_from_scratch(self, pool: int) -> float:
        """:meth:`fragmented` recomputed from the shared devices and the node histogram
        (for checks)."""
        frag = self.frag[pool]
        sum_h = sum(frag.h[f] for f in self.shared[pool].free.values())
        return frag.of(sum_h, self.pools[pool].hist()) / MILLI


class Capacity:
    """A policy's view of free capacity, with tentative allocations in an overlay.

    It never changes the :class:`ClusterState` it reads: the sites and quotas that
    :meth:`why_not` found to be the limit are kept in :attr:`power_blocked` and
    :attr:`quota_blocked` (``None`` until there is one: a round allocates no more than it
    must, which the garbage collector rewards), gathered by the scheduling state after the
    round.
    """

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.power_blocked: set[int] | None = None
        self.quota_blocked: set[int] | None = None
        self._hist: dict[int, list[int]] = {}
        self._shared: dict[int, SortedList] = {}
        self._opened: dict[int, int] = {}
        self._share_delta: dict[int, int] = {}
        self._power: dict[int, float] = {}
        self._quota: dict[int, int] = {}

    def hist(self, pool: int) -> list[int]:
        """Free-device histogram of a pool, including tentative allocations."""
        h = self._hist.get(pool)
        return h if h is not None else self.state.pools[pool].hist()

    def touched(self, pool: int) -> bool:
        """Whether this overlay has changed ``pool``'s devices (then :meth:`release_held`
        is no longer exact there)."""
        return pool in self._hist

    def free_devices(self, pool: int) -> int:
        """Free devices in a pool, including tentative allocations."""
        h = self._hist.get(pool)
        if h is None:
            return self.state.pools[pool].free_devices
        return sum(k * n for k, n in enumerate(h))

    def free_amount(self, pool: int) -> float:
        """Free capacity of a pool in devices: wholly free ones and the free shares of
        shared devices (only shares can use the latter)."""
        shared = self.state.shared[pool].free_total + self._share_delta.get(pool, 0)
        return self.free_devices(pool) + shared / MILLI

    def power_headroom_w(self, site: int) -> float:
        """IT power a site can still commit."""
        st = self.state
        return st.site_cap_it_w[site] - st.site_committed_w[site] - self._power.get(site, 0.0)

    def adjust(self, tenant: int, pool: int, watts: float, milli: int) -> None:
        """Record a tentative change of power at ``pool``'s site and of ``tenant``'s quotas
        that cover ``pool``, in thousandths of a device (e.g. a start planned after
        preempting others)."""
        st = self.state
        site = st.tables.pool_site[pool]
        self._power[site] = self._power.get(site, 0.0) + watts
        for qi in st.tenant_quotas[tenant]:
            if st.quota_mask[qi][pool]:
                self._quota[qi] = self._quota.get(qi, 0) + milli

    def quota_delta(self, qi: int) -> int:
        """Thousandths of a device of quota ``qi`` taken tentatively this round."""
        return self._quota.get(qi, 0)

    def why_not(self, tenant: int, cand: Candidate) -> str | None:
        """``None`` if ``cand`` can start now for ``tenant``, else the reason."""
        st = self.state
        p = cand.pool
        h = self._hist.get(p)
        if cand.share:
            sl = self._shared.get(p)
            room = (sl[-1][0] if sl else 0) if sl is not None else st.shared[p].max_free()
            whole = any(h[1:]) if h is not None else st.pools[p].free_devices > 0
            if room < cand.share and not whole:
                return "devices"
        elif h is None:
            if not st.pools[p].fits(cand.devices):
                return "devices"
        elif not _hist_fits(h, cand.devices):
            return "devices"
        site = st.tables.pool_site[p]
        if cand.busy_w > self.power_headroom_w(site) + 1e-6:
            if self.power_blocked is None:
                self.power_blocked = set()
            self.power_blocked.add(site)
            return "power"
        for qi in st.tenant_quotas[tenant]:
            if st.quota_mask[qi][p] and (
                st.quota_usage[qi] + self._quota.get(qi, 0) + cand.milli > st.quota_max[qi]
            ):
                if self.quota_blocked is None:
                    self.quota_blocked = set()
                self.quota_blocked.add(qi)
                return "quota"
        return None

    def mark(self) -> tuple[dict[int, list[int]], dict[int, float], dict[int, int]]:
        """The tentative changes so far, to :meth:`rollback` to (devices, power, quotas;
        shares are not covered)."""
        return {p: list(h) for p, h in self._hist.items()}, dict(self._power), dict(self._quota)

    def rollback(self, mark: tuple[dict[int, list[int]], dict[int, float], dict[int, int]]) -> None:
        """Undo the tentative changes since :meth:`mark` gave ``mark``."""
        hist, power, quota = mark
        self._hist, self._power, self._quota = (
            {p: list(h) for p, h in hist.items()},
            dict(power),
            dict(quota),
        )

    def release(self, tenant: int, pool: int, devices: int, watts: float) -> None:
        """Count ``devices`` of ``pool`` as freed (tentatively: jobs there are to be
        preempted), filling the fullest partly free nodes first, with their power and
        ``tenant``'s quotas."""
        self._free_fullest(pool, devices)
        self.adjust(tenant, pool, -watts, -1000 * devices)

    def _free_fullest(self, pool: int, devices: int) -> None:
        h = self._hist.get(pool)
        if h is None:
            h = self._hist[pool] = self.state.pools[pool].hist()
        per_node = len(h) - 1
        left = devices
        while left > 0 and per_node > 0:
            size = next((s for s in range(per_node - 1, -1, -1) if h[s]), None)
            if size is None:
                break
            step = min(per_node - size, left)
            h[size] -= 1
            h[size + step] += 1
            left -= step

    def release_held(
        self, tenant: int, p: int, nodes: Sequence[tuple[int, int]], watts: float, milli: int
    ) -> None:
        """Count a running job's whole devices, ``(node, count)`` pairs of pool ``p``, as
        freed node by node (exact on an overlay that has not taken devices of this pool yet;
        after tentative allocations the histogram may no longer have the node's bucket, and
        those devices are released as :meth:`release` does), with their power ``watts``
        and ``milli`` thousandths of ``tenant``'s quotas."""
        h = self._hist.get(p)
        if h is None:
            h = self._hist[p] = self.state.pools[p].hist()
        free = self.state.pools[p].free
        approx = 0
        for node, count in nodes:
            f = free[node]
            if h[f] > 0 and f + count < len(h):
                h[f] -= 1
                h[f + count] += 1
            else:
                approx += count
        if approx:
            self._free_fullest(p, approx)
        self.adjust(tenant, p, -watts, -milli)

    def take(self, tenant: int, cand: Candidate) -> None:
        """Record a tentative allocation (call :meth:`why_not` first); it is placed by
        the cluster's rule, as :meth:`ClusterState.allocate` will place it."""
        st = self.state
        p = cand.pool
        h = self._hist.get(p)
        if h is None:
            h = self._hist[p] = st.pools[p].hist()
        if cand.share:
            self._take_share(p, h, cand.share)
        elif st.rule.picks_buckets and cand.devices < len(h) - 1:
            _hist_take(h, cand.devices, st.rule.bucket(st.frag[p], h, cand.devices))
        else:
            _hist_take(h, cand.devices)
        site = st.tables.pool_site[p]
        self._power[site] = self._power.get(site, 0.0) + cand.busy_w
        for qi in st.tenant_quotas[tenant]:
            if st.quota_mask[qi][p]:
                self._quota[qi] = self._quota.get(qi, 0) + cand.milli

    def _take_share(self, p: int, h: list[int], m: int) -> None:
        st = self.state
        sl = self._shared.get(p)
        if sl is None:
            sl = self._shared[p] = SortedList(st.shared[p].by_free)
        choice = st.rule.share(st.frag[p], sl, h, m)
        assert choice is not None, "take a share that fits (check why_not first)"
        delta = -m if choice.key >= 0 else MILLI - m
        self._share_delta[p] = self._share_delta.get(p, 0) + delta
        if choice.key >= 0:
            sl.remove((choice.f, choice.key))
            sl.add((choice.f - m, choice.key))
        else:
            _hist_take(h, 1, choice.bucket)
            opened = self._opened.get(p, 0)
            self._opened[p] = opened + 1
            sl.add((MILLI - m, st.shared[p].next_key + opened))


def _hist_fits(h: list[int], devices: int) -> bool:
    d = len(h) - 1
    if devices >= d:
        return h[d] >= devices // d
    return any(h[k] for k in range(devices, d + 1))


def _hist_take(h: list[int], devices: int, at: int = -1) -> None:
    """Take ``devices`` in histogram ``h`` as :meth:`PoolNodes.allocate` does: a gang
    smaller than a node from a node with ``at`` free (default: the fewest that fit)."""
    d = len(h) - 1
    if devices >= d:
        h[d] -= devices // d
        h[0] += devices // d
        return
    k = at if at >= 0 else next(k for k in range(devices, d + 1) if h[k])
    h[k] -= 1
    h[k - devices] += 1
