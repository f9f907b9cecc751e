"""Lookup tables of a scenario's services, computed once: what a replica of service *k*
is on pool *p*, how fast it serves, and which of the service's regions it can reach.

For service *k* with replica shape ``n_{ka}`` devices of accelerator *a* (the first shape
of *a* the service accepts), pool *p* of type *a* at site *s* holds a replica iff
``node_shape(n_{ka}) ≤ count_p``; a replica there serves at most
``μ_{kp} = replica_capacity(perf_{kp}, Ī_k, Ō_k)`` requests/s
(:func:`~suanli.perf.queueing.replica_capacity`, with the replica's
:func:`~suanli.perf.serving.replica_perf` sized for the SLO's TPOT at the mean context
``Ī + Ō/2``). Region *r* of service *k* may be served from site *s* iff the one-way latency
``ℓ_{rs}`` (:func:`~suanli.perf.latency.region_latency_ms`) is within its bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from suanli.core.tables import FleetTables, node_shape
from suanli.model.scenario import Scenario
from suanli.model.service import DemandSpec, Service
from suanli.perf.latency import region_latency_ms
from suanli.perf.queueing import replica_capacity
from suanli.perf.serving import ReplicaPerf, replica_perf
from suanli.perf.serving_defaults import serving_efficiency
from suanli.workload.service_demand import RegionDemand


@dataclass(frozen=True, eq=False)
class ServiceTable:
    """One service's tables (``p`` a pool index, ``r`` the service's region index)."""

    service: Service
    #: Region ids, in the service's order, with their demand on the run's clock.
    regions: tuple[str, ...]
    demand: tuple[RegionDemand, ...]
    #: Per pool: devices per replica (0: no replica there), preference rank, perf, μ.
    devices: tuple[int, ...]
    rank: tuple[int, ...]
    perf: tuple[ReplicaPerf | None, ...]
    mu: np.ndarray
    #: ``latency_s[r, site]`` one way; ``reach[r, site]`` within the region's bound;
    #: ``reach_pool[r, p]`` region *r* may be served from pool *p* (it holds a replica).
    latency_s: np.ndarray
    reach: np.ndarray
    reach_pool: np.ndarray
    mean_input: float
    mean_output: float
    scv_input: float
    scv_output: float
    cold_start_s: float
    drain_s: float
    #: Per region, the pools that may serve it: by the service's preference (``rank``),
    #: then latency, then pool index.
    region_pools: tuple[tuple[int, ...], ...] = ()

    @property
    def pools(self) -> tuple[int, ...]:
        """Pools that can hold a replica."""
        return tuple(p for p, n in enumerate(self.devices) if n > 0)


@dataclass(frozen=True, eq=False)
class ServingTables:
    """The tables of every service of a scenario (empty when it has none)."""

    services: tuple[ServiceTable, ...]

    def __len__(self) -> int:
        return len(self.services)


def build_serving_tables(
    t: FleetTables,
    services: Sequence[Service] | None = None,
    rates: Mapping[str, Mapping[str, float]] | None = None,
) -> ServingTables:
    """Precompute the tables of ``services`` (default: ``t.scenario``'s). ``rates[s][r]``,
    where given, replaces service *s*'s demand curve in region *r* by that constant rate
    (requests/s; the live control plane's demand set over the API), keeping the curve's
    lengths and mean CV."""
    sc = t.scenario
    sites = sc.sites
    out = []
    for svc in sc.services if services is None else services:
        set_rates = (rates or {}).get(svc.id, {})
        demand = tuple(
            _region_demand(sc, svc, sr.region, sr.demand, set_rates.get(sr.region))
            for sr in svc.regions
        )
        weights = np.array([max(d.curve.rate_rps) for d in demand]) + 1e-12
        mi = float(np.average([d.curve.input_tokens.mean for d in demand], weights=weights))
        mo = float(np.average([d.curve.output_tokens.mean for d in demand], weights=weights))
        si = float(np.average([d.curve.input_tokens.scv for d in demand], weights=weights))
        so = float(np.average([d.curve.output_tokens.scv for d in demand], weights=weights))
        shapes: dict[str, tuple[int, int]] = {}
        for i, sh in enumerate(svc.shapes):
            shapes.setdefault(sh.accelerator, (sh.devices, i))
        devices: list[int] = []
        rank: list[int] = []
        perfs: list[ReplicaPerf | None] = []
        mus: list[float] = []
        cache: dict[str, tuple[ReplicaPerf, float]] = {}
        for p in range(t.n_pools):
            acc_id = t.acc_ids[t.pool_acc[p]]
            n, k = shapes.get(acc_id, (0, 0))
            if n and node_shape(n, t.pool_per_node[p], t.pool_in_node_sizes[p]) > t.pool_count[p]:
                n = 0
            if not n:
                devices.append(0)
                rank.append(0)
                perfs.append(None)
                mus.append(0.0)
                continue
            if acc_id not in cache:
                acc = sc.catalog[acc_id]
                perf = replica_perf(
                    svc.model, acc, n, serving_efficiency(acc.stack), svc.slo.tpot_s, mi + mo / 2
                )
                cache[acc_id] = (perf, float(replica_capacity(perf, mi, mo, si, so)))
            perf, mu = cache[acc_id]
            devices.append(n if mu > 0 else 0)
            rank.append(k)
            perfs.append(perf)
            mus.append(mu)
        lat = np.array(
            [
                [region_latency_ms(sc.region(sr.region), s, sc.link) / 1000.0 for s in sites]
                for sr in svc.regions
            ]
        )
        bound = np.array([[sr.max_latency_ms / 1000.0] for sr in svc.regions])
        out_q99 = max(d.curve.output_tokens.quantile(0.99) for d in demand)
        reach = lat <= bound + 1e-12
        reach_pool = reach[:, list(t.pool_site)] & (np.array(devices) > 0)[None, :]
        out.append(
            ServiceTable(
                service=svc,
                regions=tuple(sr.region for sr in svc.regions),
                demand=demand,
                devices=tuple(devices),
                rank=tuple(rank),
                perf=tuple(perfs),
                mu=np.array(mus),
                latency_s=lat,
                reach=reach,
                reach_pool=reach_pool,
                mean_input=mi,
                mean_output=mo,
                scv_input=si,
                scv_output=so,
                cold_start_s=svc.cold_start_s(),
                region_pools=_region_pools(t, reach_pool, rank, lat),
                drain_s=min(600.0, out_q99 * svc.slo.tpot_s),
            )
        )
    return ServingTables(tuple(out))


def _region_demand(
    sc: Scenario, svc: Service, region: str, spec: DemandSpec, rate: float | None
) -> RegionDemand:
    d = RegionDemand.of(spec, svc.id, region, sc.start, sc.region(region).timezone)
    return d if rate is None else d.constant(rate)


def _region_pools(
    t: FleetTables, reach_pool: np.ndarray, rank: Sequence[int], lat: np.ndarray
) -> tuple[tuple[int, ...], ...]:
    """Per region, the pools that may serve it, by preference, latency, index."""
    out = []
    for r in range(reach_pool.shape[0]):
        pools = [p for p in range(t.n_pools) if reach_pool[r, p]]
        pools.sort(key=lambda p: (rank[p], float(lat[r, t.pool_site[p]]), p))
        out.append(tuple(pools))
    return tuple(out)
