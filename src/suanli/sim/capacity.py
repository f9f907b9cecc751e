"""Cluster state: free devices per node, site power and tenant quotas.

Each pool keeps its nodes in buckets by number of free devices, so that the
checks a scheduler makes are O(devices per node):

* a gang of ``n ≥ d`` devices (``d`` per node) needs ``n / d`` wholly free nodes;
* a gang of ``n < d`` goes to one node, the one with the fewest free devices ≥ n
  (best fit, which keeps whole nodes free for large gangs).

Power is *committed* when devices are allocated: a site's committed IT power is
the idle power of all its devices plus, per allocated job, ``devices × (TDP ×
power_factor − idle)``. Committed power never exceeds ``capacity / PUE``, so the
power actually drawn never exceeds the site's capacity.

:class:`Capacity` is a policy's view: it reads the state and records tentative
allocations in an overlay, leaving the cluster untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.sim.jobtable import Candidate
from suanli.sim.tables import FleetTables


class PoolNodes:
    """The nodes of one pool, bucketed by free devices (insertion-ordered, deterministic).

    Wholly free nodes remember since when (``free_since``) and may be put to sleep
    (power saving); whole-node gangs take the most recently freed nodes first, so
    that long-idle nodes stay asleep. ``last_woken`` counts the sleeping nodes the
    last :meth:`allocate` woke.
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
        self.last_woken = 0

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

    def allocate(self, devices: int) -> list[tuple[int, int]]:
        """Take ``devices``; return ``(node, count)`` pairs. Call :meth:`fits` first."""
        d = self.per_node
        taken: list[tuple[int, int]] = []
        woken = 0
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
                    woken += 1
        else:
            k = next(k for k in range(devices, d + 1) if self.buckets[k])
            bucket = self.buckets[k]
            node = next(reversed(bucket)) if k == d else next(iter(bucket))
            del bucket[node]
            self.free[node] = k - devices
            self.buckets[k - devices][node] = None
            taken.append((node, devices))
            if asleep[node]:
                asleep[node] = False
                woken += 1
        self.free_devices -= devices
        self.last_woken = woken
        return taken

    def release(self, taken: list[tuple[int, int]], now: float = 0.0) -> list[int]:
        """Give back what :meth:`allocate` returned (nodes that failed meanwhile stay down);
        return the nodes that became wholly free."""
        emptied = []
        for node, n in taken:
            if not self.up[node]:
                continue
            del self.buckets[self.free[node]][node]
            self.free[node] += n
            self.buckets[self.free[node]][node] = None
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
        for node in nodes:
            if not self.up[node]:
                continue
            del self.buckets[self.free[node]][node]
            self.free_devices -= self.free[node]
            self.up_devices -= self.per_node
            self.up[node] = False
            self.asleep[node] = False

    def recover(self, nodes: list[int], now: float = 0.0) -> None:
        """Bring ``nodes`` back, empty and awake."""
        for node in nodes:
            if self.up[node]:
                continue
            self.up[node] = True
            self.free_since[node] = now
            self.free[node] = self.per_node
            self.buckets[self.per_node][node] = None
            self.free_devices += self.per_node
            self.up_devices += self.per_node


@dataclass(slots=True)
class Allocation:
    """Devices held by a running job."""

    job: int
    pool: int
    devices: int
    nodes: list[tuple[int, int]]
    busy_w: float
    tenant: int


class ClusterState:
    """Mutable state of the fleet: nodes, committed power, quota usage."""

    def __init__(self, tables: FleetTables) -> None:
        self.tables = tables
        self.pools = [
            PoolNodes(c // d, d)
            for c, d in zip(tables.pool_count, tables.pool_per_node, strict=True)
        ]
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
        self.quota_max = [mx for _, _, mx, _ in tables.quotas]
        self.tenant_devices = [0] * len(tables.tenant_ids)
        #: Sites and quotas where a policy found power or the quota to be the limit;
        #: freeing either there makes every job blocked by it worth another look.
        self.power_blocked: set[int] = set()
        self.quota_blocked: set[int] = set()

    def allocate(self, job: int, tenant: int, cand: Candidate) -> Allocation:
        """Allocate ``cand`` for ``job`` (the caller checked it fits)."""
        nodes = self.pools[cand.pool].allocate(cand.devices)
        self.site_committed_w[self.tables.pool_site[cand.pool]] += cand.busy_w
        for qi in self.tenant_quotas[tenant]:
            if self.quota_mask[qi][cand.pool]:
                self.quota_usage[qi] += cand.devices
        self.tenant_devices[tenant] += cand.devices
        return Allocation(job, cand.pool, cand.devices, nodes, cand.busy_w, tenant)

    def release(self, alloc: Allocation, now: float = 0.0) -> list[int]:
        """Free an allocation; return the nodes of its pool that became wholly free."""
        emptied = self.pools[alloc.pool].release(alloc.nodes, now)
        self.site_committed_w[self.tables.pool_site[alloc.pool]] -= alloc.busy_w
        for qi in self.tenant_quotas[alloc.tenant]:
            if self.quota_mask[qi][alloc.pool]:
                self.quota_usage[qi] -= alloc.devices
        self.tenant_devices[alloc.tenant] -= alloc.devices
        return emptied


class Capacity:
    """A policy's view of free capacity, with tentative allocations in an overlay."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self._hist: dict[int, list[int]] = {}
        self._power: dict[int, float] = {}
        self._quota: dict[int, int] = {}

    def hist(self, pool: int) -> list[int]:
        """Free-device histogram of a pool, including tentative allocations."""
        h = self._hist.get(pool)
        return h if h is not None else self.state.pools[pool].hist()

    def free_devices(self, pool: int) -> int:
        """Free devices in a pool, including tentative allocations."""
        h = self._hist.get(pool)
        if h is None:
            return self.state.pools[pool].free_devices
        return sum(k * n for k, n in enumerate(h))

    def power_headroom_w(self, site: int) -> float:
        """IT power a site can still commit."""
        st = self.state
        return st.site_cap_it_w[site] - st.site_committed_w[site] - self._power.get(site, 0.0)

    def adjust(self, tenant: int, pool: int, watts: float, devices: int) -> None:
        """Record a tentative change of power at ``pool``'s site and of ``tenant``'s quotas
        that covers ``pool`` (e.g. a start planned after preempting others)."""
        st = self.state
        site = st.tables.pool_site[pool]
        self._power[site] = self._power.get(site, 0.0) + watts
        for qi in st.tenant_quotas[tenant]:
            if st.quota_mask[qi][pool]:
                self._quota[qi] = self._quota.get(qi, 0) + devices

    def quota_delta(self, qi: int) -> int:
        """Devices of quota ``qi`` taken tentatively this round."""
        return self._quota.get(qi, 0)

    def why_not(self, tenant: int, cand: Candidate) -> str | None:
        """``None`` if ``cand`` can start now for ``tenant``, else the reason."""
        st = self.state
        p = cand.pool
        h = self._hist.get(p)
        if h is None:
            if not st.pools[p].fits(cand.devices):
                return "devices"
        elif not _hist_fits(h, cand.devices):
            return "devices"
        site = st.tables.pool_site[p]
        if cand.busy_w > self.power_headroom_w(site) + 1e-6:
            st.power_blocked.add(site)
            return "power"
        for qi in st.tenant_quotas[tenant]:
            if st.quota_mask[qi][p] and (
                st.quota_usage[qi] + self._quota.get(qi, 0) + cand.devices > st.quota_max[qi]
            ):
                st.quota_blocked.add(qi)
                return "quota"
        return None

    def take(self, tenant: int, cand: Candidate) -> None:
        """Record a tentative allocation (call :meth:`why_not` first)."""
        st = self.state
        p = cand.pool
        h = self._hist.get(p)
        if h is None:
            h = self._hist[p] = st.pools[p].hist()
        _hist_take(h, cand.devices)
        site = st.tables.pool_site[p]
        self._power[site] = self._power.get(site, 0.0) + cand.busy_w
        for qi in st.tenant_quotas[tenant]:
            if st.quota_mask[qi][p]:
                self._quota[qi] = self._quota.get(qi, 0) + cand.devices


def _hist_fits(h: list[int], devices: int) -> bool:
    d = len(h) - 1
    if devices >= d:
        return h[d] >= devices // d
    return any(h[k] for k in range(devices, d + 1))


def _hist_take(h: list[int], devices: int) -> None:
    d = len(h) - 1
    if devices >= d:
        h[d] -= devices // d
        h[0] += devices // d
        return
    k = next(k for k in range(devices, d + 1) if h[k])
    h[k] -= 1
    h[k - devices] += 1
