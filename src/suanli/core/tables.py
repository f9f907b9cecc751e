"""Lookup tables of a scenario, computed once and indexed by integers in the hot path.

Pools, sites, accelerators, tenants, profiles and data sets become integer indices;
per-pool and per-site figures become numpy arrays or tuples; the throughput and
memory-fit matrices (profile × accelerator) come from :mod:`suanli.perf`. Prices,
subsidies and carbon intensity are ``(site, hour)`` arrays over the horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from suanli.model.scenario import Scenario
from suanli.perf.energy import subsidy_per_kwh
from suanli.perf.latency import distance_km
from suanli.perf.memory import min_devices
from suanli.perf.roofline import speed_pflops
from suanli.perf.transfer import egress_cost, transfer_seconds


def node_shape(devices: int, per_node: int, in_node_sizes: tuple[int, ...]) -> int:
    """Devices actually taken by a gang of ``devices`` in nodes of ``per_node``.

    Up to one node: the smallest allowed in-node size ≥ ``devices`` (e.g. Ascend
    rings of 1, 2, 4 or 8); beyond: whole nodes.
    """
    if devices <= per_node:
        fitting = [s for s in in_node_sizes if s >= devices]
        return min(fitting) if fitting else per_node
    return -(-devices // per_node) * per_node


@dataclass(frozen=True, eq=False)
class FleetTables:
    """Integer-indexed arrays describing a scenario's fleet (read-only)."""

    scenario: Scenario
    site_ids: tuple[str, ...]
    pool_ids: tuple[str, ...]
    acc_ids: tuple[str, ...]
    tenant_ids: tuple[str, ...]
    profile_ids: tuple[str, ...]
    dataset_ids: tuple[str, ...]
    pool_site: tuple[int, ...]
    pool_acc: tuple[int, ...]
    pool_count: tuple[int, ...]
    pool_per_node: tuple[int, ...]
    pool_in_node_sizes: tuple[tuple[int, ...], ...]
    pool_domestic: tuple[bool, ...]
    pool_tdp_w: np.ndarray
    pool_idle_w: np.ndarray
    pool_sleep_after_s: tuple[float, ...]
    pool_resume_s: tuple[float, ...]
    pool_sleep_w: tuple[float, ...]
    site_pue: tuple[float, ...]
    site_cap_w: np.ndarray
    site_dist_km: np.ndarray
    price: np.ndarray
    pool_subsidy: np.ndarray
    carbon: np.ndarray
    speed: np.ndarray
    nmin: np.ndarray
    profile_power_factor: np.ndarray
    transfer_s: np.ndarray
    egress: np.ndarray
    dataset_home: tuple[int, ...]
    dataset_size_tb: tuple[float, ...]
    dataset_allowed: np.ndarray
    #: Between sites: link bandwidth (Gbit/s; 0 without a link, ∞ within a site), latency
    #: (s) and price per GB — what a migrating job's checkpoint travels over.
    link_gbps: np.ndarray
    link_latency_s: np.ndarray
    link_cost_per_gb: np.ndarray
    #: Per profile, the GB a checkpoint holds (its training state: ``memory_gb``).
    profile_checkpoint_gb: np.ndarray
    tenant_weight: np.ndarray
    tenant_home: tuple[int, ...]
    quotas: tuple[tuple[int, np.ndarray, int, str], ...]
    hours: int
    pool_net_price_cum: tuple[tuple[float, ...], ...]
    site_carbon_cum: tuple[tuple[float, ...], ...]
    pool_net_price_cum_np: np.ndarray
    site_carbon_cum_np: np.ndarray
    #: Where every row of a series is one value over the whole horizon (a fleet with flat
    #: tariffs and carbon, such as a trace's named fleet): that value per row, and each
    #: integral is ``v · (t1 − t0)``; else ``None``.
    pool_net_price_flat: np.ndarray | None = None
    site_carbon_flat: np.ndarray | None = None

    @property
    def n_pools(self) -> int:
        """Number of pools."""
        return len(self.pool_ids)

    def hour(self, t: float) -> int:
        """Horizon hour of time ``t`` (s), wrapping past the end."""
        return int(t // 3600.0) % self.hours

    def net_price_integral(self, pool: int, t0: float, t1: float) -> float:
        """∫ (price − subsidy) dt over [t0, t1] for a pool, in currency·s/kWh (hours wrap)."""
        if self.pool_net_price_flat is not None:
            return float(self.pool_net_price_flat[pool]) * (t1 - t0)
        return _integral(self.pool_net_price_cum[pool], self.hours, t0, t1)

    def carbon_integral(self, site: int, t0: float, t1: float) -> float:
        """∫ carbon intensity dt over [t0, t1] at a site, in kg·s/kWh (hours wrap)."""
        if self.site_carbon_flat is not None:
            return float(self.site_carbon_flat[site]) * (t1 - t0)
        return _integral(self.site_carbon_cum[site], self.hours, t0, t1)

    def net_price_integrals(self, pools: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`net_price_integral` over arrays of pools and times."""
        if self.pool_net_price_flat is not None:
            flat: np.ndarray = self.pool_net_price_flat[pools] * (t1 - t0)
            return flat
        cum = self.pool_net_price_cum_np
        out: np.ndarray = _integrals(cum, pools, self.hours, t1) - _integrals(
            cum, pools, self.hours, t0
        )
        return out

    def carbon_integrals(self, sites: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`carbon_integral` over arrays of sites and times."""
        if self.site_carbon_flat is not None:
            flat: np.ndarray = self.site_carbon_flat[sites] * (t1 - t0)
            return flat
        cum = self.site_carbon_cum_np
        out: np.ndarray = _integrals(cum, sites, self.hours, t1) - _integrals(
            cum, sites, self.hours, t0
        )
        return out

    def pool_label(self, p: int) -> str:
        """Human label: ``accelerator at site``."""
        return f"{self.acc_ids[self.pool_acc[p]]} at {self.site_ids[self.pool_site[p]]}"


def _cumulative(hourly: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Row-wise ``[0, v₀·3600, (v₀+v₁)·3600, …]`` for piecewise-constant integrals."""
    out = np.zeros((hourly.shape[0], hourly.shape[1] + 1))
    out[:, 1:] = np.cumsum(hourly * 3600.0, axis=1)
    return tuple(tuple(float(x) for x in row) for row in out)


def _cumulative_np(hourly: np.ndarray) -> np.ndarray:
    out = np.zeros((hourly.shape[0], hourly.shape[1] + 1))
    out[:, 1:] = np.cumsum(hourly * 3600.0, axis=1)
    return out


def _flat(hourly: np.ndarray) -> np.ndarray | None:
    """Each row's one value, if every row of ``hourly`` is constant; else ``None``."""
    if hourly.size and bool((hourly == hourly[:, :1]).all()):
        return hourly[:, 0].copy()
    return None


def _integral(cum: tuple[float, ...], hours: int, t0: float, t1: float) -> float:
    """∫ over [t0, t1] of the hourly step function whose running sums are ``cum``."""
    period = hours * 3600.0
    total = cum[hours]

    def f(t: float) -> float:
        cycles, rest = divmod(t, period)
        h = int(rest // 3600.0)
        if h >= hours:
            h = hours - 1
        lo = cum[h]
        return cycles * total + lo + (rest - h * 3600.0) * (cum[h + 1] - lo) / 3600.0

    return f(t1) - f(t0)


def _integrals(cum: np.ndarray, rows: np.ndarray, hours: int, t: np.ndarray) -> np.ndarray:
    """``F_row(t)``: running integral of row ``row`` of an hourly step function at ``t``."""
    period = hours * 3600.0
    cycles, rest = np.divmod(t, period)
    h = np.minimum((rest // 3600.0).astype(np.int64), hours - 1)
    lo = cum[rows, h]
    out: np.ndarray = (
        cycles * cum[rows, hours] + lo + (rest - h * 3600.0) * (cum[rows, h + 1] - lo) / 3600.0
    )
    return out


def build_tables(sc: Scenario) -> FleetTables:
    """Precompute every lookup table of ``sc``."""
    site_ids = tuple(s.id for s in sc.sites)
    site_index = {s: i for i, s in enumerate(site_ids)}
    pools = sc.pools
    acc_ids = tuple(sorted({p.accelerator for p in pools}))
    acc_index = {a: i for i, a in enumerate(acc_ids)}
    profile_ids = tuple(sorted(sc.profiles))
    accs = [sc.catalog[a] for a in acc_ids]
    hours = sc.hours

    speed = np.zeros((len(profile_ids), len(acc_ids)))
    nmin = np.zeros((len(profile_ids), len(acc_ids)), dtype=np.int64)
    for i, pid in enumerate(profile_ids):
        prof = sc.profiles[pid]
        for k, acc in enumerate(accs):
            eff = sc.efficiency.get((acc.stack, prof.kind))
            speed[i, k] = speed_pflops(acc, prof, eff) if eff is not None else 0.0
            nmin[i, k] = min_devices(acc, prof)

    n_sites = len(site_ids)
    price = np.zeros((n_sites, hours))
    carbon = np.zeros((n_sites, hours))
    for i, s in enumerate(sc.sites):
        price[i] = [s.tariff.price.at_hour(h) for h in range(hours)]
        carbon[i] = [s.carbon.kg_per_kwh.at_hour(h) for h in range(hours)]
    pool_subsidy = np.zeros((len(pools), hours))
    for j, p in enumerate(pools):
        site = sc.sites[site_index[p.site]]
        domestic = sc.is_domestic(p.accelerator, p.site)
        pool_subsidy[j] = [
            subsidy_per_kwh(price[site_index[p.site], h], site.subsidies, domestic)
            for h in range(hours)
        ]

    dist = np.zeros((n_sites, n_sites))
    transfer = np.full((len(sc.datasets), n_sites), np.inf)
    egress = np.zeros((len(sc.datasets), n_sites))
    allowed = np.zeros((len(sc.datasets), n_sites), dtype=bool)
    link_gbps = np.zeros((n_sites, n_sites))
    link_latency = np.zeros((n_sites, n_sites))
    link_cost = np.zeros((n_sites, n_sites))
    for a in range(n_sites):
        for b in range(n_sites):
            sa, sb = sc.sites[a], sc.sites[b]
            dist[a, b] = distance_km(sa.lat, sa.lon, sb.lat, sb.lon)
            lk = sc.link(sa.id, sb.id) if a != b else None
            if a == b:
                link_gbps[a, b] = np.inf
            elif lk is not None:
                link_gbps[a, b] = lk.bandwidth_gbps
                link_latency[a, b] = lk.latency_ms / 1000.0
                link_cost[a, b] = lk.cost_per_gb
    for d, ds in enumerate(sc.datasets):
        home = site_index[ds.home]
        for si, sid in enumerate(site_ids):
            if si == home:
                transfer[d, si], allowed[d, si] = 0.0, True
                continue
            link = sc.link(ds.home, sid)
            if link is not None and ds.may_use(sid):
                allowed[d, si] = True
                transfer[d, si] = transfer_seconds(ds.size_tb, link)
                egress[d, si] = egress_cost(ds.size_tb, link)

    net_price = np.asarray([price[site_index[p.site]] for p in pools]) - pool_subsidy
    tenant_ids = tuple(t.id for t in sc.tenants)
    quotas = []
    for ti, t in enumerate(sc.tenants):
        for q in t.quotas:
            mask = np.array([p.accelerator in q.accelerators for p in pools], dtype=bool)
            quotas.append((ti, mask, q.max_devices, f"{t.id}: {q.label} ≤ {q.max_devices}"))
    return FleetTables(
        scenario=sc,
        site_ids=site_ids,
        pool_ids=tuple(p.id for p in pools),
        acc_ids=acc_ids,
        tenant_ids=tenant_ids,
        profile_ids=profile_ids,
        dataset_ids=tuple(d.id for d in sc.datasets),
        pool_site=tuple(site_index[p.site] for p in pools),
        pool_acc=tuple(acc_index[p.accelerator] for p in pools),
        pool_count=tuple(p.count for p in pools),
        pool_per_node=tuple(p.devices_per_node for p in pools),
        pool_in_node_sizes=tuple(
            tuple(s for s in sc.catalog[p.accelerator].node_gang_sizes if s <= p.devices_per_node)
            for p in pools
        ),
        pool_domestic=tuple(sc.is_domestic(p.accelerator, p.site) for p in pools),
        pool_tdp_w=np.array([sc.catalog[p.accelerator].tdp_w or 0.0 for p in pools]),
        pool_idle_w=np.array([sc.catalog[p.accelerator].idle_power_w for p in pools]),
        pool_sleep_after_s=tuple(
            ps.idle_s if (ps := sc.sites[site_index[p.site]].power_saving) else math.inf
            for p in pools
        ),
        pool_resume_s=tuple(
            ps.resume_s if (ps := sc.sites[site_index[p.site]].power_saving) else 0.0 for p in pools
        ),
        pool_sleep_w=tuple(
            sc.catalog[p.accelerator].idle_power_w * ps.sleep_fraction
            if (ps := sc.sites[site_index[p.site]].power_saving)
            else sc.catalog[p.accelerator].idle_power_w
            for p in pools
        ),
        site_pue=tuple(s.pue for s in sc.sites),
        site_cap_w=np.array([s.power_capacity_mw * 1e6 for s in sc.sites]),
        site_dist_km=dist,
        price=price,
        pool_subsidy=pool_subsidy,
        carbon=carbon,
        speed=speed,
        nmin=nmin,
        profile_power_factor=np.array([sc.profiles[p].power_factor for p in profile_ids]),
        transfer_s=transfer,
        egress=egress,
        dataset_home=tuple(site_index[d.home] for d in sc.datasets),
        dataset_size_tb=tuple(d.size_tb for d in sc.datasets),
        dataset_allowed=allowed,
        link_gbps=link_gbps,
        link_latency_s=link_latency,
        link_cost_per_gb=link_cost,
        profile_checkpoint_gb=np.array([sc.profiles[p].memory_gb for p in profile_ids]),
        tenant_weight=np.array([t.weight for t in sc.tenants]),
        tenant_home=tuple(site_index[t.home] if t.home else -1 for t in sc.tenants),
        quotas=tuple(quotas),
        hours=hours,
        pool_net_price_cum=_cumulative(net_price),
        site_carbon_cum=_cumulative(carbon),
        pool_net_price_cum_np=_cumulative_np(net_price),
        site_carbon_cum_np=_cumulative_np(carbon),
        pool_net_price_flat=_flat(net_price),
        site_carbon_flat=_flat(carbon),
    )
